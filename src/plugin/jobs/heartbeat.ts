// The daily heartbeat, at a minute of the day derived from install_id so installs spread their load.
import { createHash } from 'node:crypto';
import type { BaseLayer } from '../telemetry/base-layer.js';
import { dailyAt, type JobScheduler } from '../../core/scheduler.js';

export const HEARTBEAT_JOB = 'heartbeat';

export function heartbeatMinuteOfDay(installId: string): number {
  return createHash('sha256').update(installId).digest().readUInt32BE(0) % (24 * 60);
}

export function scheduleHeartbeat(scheduler: JobScheduler, base: BaseLayer, installId: string): void {
  const minuteOfDay = heartbeatMinuteOfDay(installId);
  scheduler.schedule(HEARTBEAT_JOB, dailyAt(Math.floor(minuteOfDay / 60), minuteOfDay % 60), () => base.sendHeartbeat());
}
