// Daily purge of local usage statistics older than retentionDays (default 365).
import type { StatsService } from '../stats/service.js';
import { dailyAt, type JobScheduler } from '../../core/scheduler.js';

export const RETENTION_JOB = 'usage-stats-retention';
const RETENTION_HOUR = 3;

export function scheduleRetention(scheduler: JobScheduler, stats: StatsService): void {
  scheduler.schedule(RETENTION_JOB, dailyAt(RETENTION_HOUR, 17), () => stats.purgeExpired());
}
