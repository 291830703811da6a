// The weekly usage-statistics submission: Mondays, at the install's own minute of the day (the same
// spread as the heartbeat), plus one right after an admin opts in (wired by the runtime).
import schedule from 'node-schedule';
import type { SubmissionClient } from '../stats/submission-client.js';
import { heartbeatMinuteOfDay } from './heartbeat.js';
import type { JobScheduler } from '../../core/scheduler.js';

export const SUBMISSION_JOB = 'usage-stats-submission';
const MONDAY = 1;

export function scheduleSubmission(scheduler: JobScheduler, client: SubmissionClient, installId: string): void {
  const minuteOfDay = heartbeatMinuteOfDay(installId);
  const rule = new schedule.RecurrenceRule();
  rule.dayOfWeek = MONDAY;
  rule.hour = Math.floor(minuteOfDay / 60);
  rule.minute = minuteOfDay % 60;
  rule.second = 0;
  scheduler.schedule(SUBMISSION_JOB, rule, () => client.submitNow());
}
