// The weekly usage-statistics submission: Mondays, at the install's own minute of the day (the same
// spread as the heartbeat), plus one right after an admin opts in (wired by the runtime).
import { heartbeatMinuteOfDay } from './heartbeat.js';
import { weeklyAt, type JobScheduler } from '../../core/scheduler.js';

export const SUBMISSION_JOB = 'usage-stats-submission';
const MONDAY = 1;

/** What the submission job needs: one submission attempt now. */
export interface WeeklySubmitter {
  submitNow(): Promise<unknown>;
}

export function scheduleSubmission(scheduler: Pick<JobScheduler, 'schedule'>, client: WeeklySubmitter, installId: string): void {
  const minuteOfDay = heartbeatMinuteOfDay(installId);
  const rule = weeklyAt(MONDAY, Math.floor(minuteOfDay / 60), minuteOfDay % 60);
  scheduler.schedule(SUBMISSION_JOB, rule, () => client.submitNow());
}
