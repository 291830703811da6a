// The daily heartbeat, at a minute of the day derived from install_id so installs spread their load.
import { createHash } from 'node:crypto';
import { dailyAt, type JobScheduler } from '../../core/scheduler.js';

export const HEARTBEAT_JOB = 'heartbeat';

export function heartbeatMinuteOfDay(installId: string): number {
  return createHash('sha256').update(installId).digest().readUInt32BE(0) % (24 * 60);
}

/** What the heartbeat job needs: the base layer's sender. */
export interface HeartbeatSender {
  sendHeartbeat(): Promise<unknown>;
}

export function scheduleHeartbeat(scheduler: Pick<JobScheduler, 'schedule'>, base: HeartbeatSender, installId: string): void {
  const minuteOfDay = heartbeatMinuteOfDay(installId);
  scheduler.schedule(HEARTBEAT_JOB, dailyAt(Math.floor(minuteOfDay / 60), minuteOfDay % 60), () => base.sendHeartbeat());
}
