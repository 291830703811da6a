// Daily purge of local usage statistics older than retentionDays (default 365).
import { dailyAt, type JobScheduler } from '../../core/scheduler.js';

export const RETENTION_JOB = 'usage-stats-retention';
const RETENTION_HOUR = 3;

/** What the retention job needs: the purge of expired local statistics and ledger entries. */
export interface RetentionPurge {
  purgeExpired(): Promise<unknown>;
}

export function scheduleRetention(scheduler: Pick<JobScheduler, 'schedule'>, stats: RetentionPurge): void {
  scheduler.schedule(RETENTION_JOB, dailyAt(RETENTION_HOUR, 17), () => stats.purgeExpired());
}
