// A host whose plugin submits to a real local submission receiver (helpers/submission-receiver.ts).
// The clock can be moved forward (untilNextWeek) so that events tracked "today" fall into the
// reported period (the last whole UTC week, Monday to Monday); the receiver's skew check follows the
// same clock unless told otherwise.
import type { ExecutionContext } from 'ava';
import type { Logger } from '../../src/plugin/types.js';
import { mondayOf } from '../../src/plugin/stats/aggregation.js';
import { startHostApp, type HostApp } from './host-app.js';
import { startSubmissionReceiver, type SubmissionReceiver, type SubmissionReceiverOptions } from './submission-receiver.js';
import { tempDirFor } from './tmp.js';

const DAY = 86_400_000;

/**
 * The clock offset to one hour into the Monday `weeks` weeks after this week's: from there, this
 * week is whole and is the reported one (whatever weekday the tests run on).
 */
export const untilNextWeek = (weeks = 1): number => mondayOf(new Date()).getTime() + weeks * 7 * DAY + 3_600_000 - Date.now();

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export interface ReceiverHost {
  app: HostApp;
  receiver: SubmissionReceiver;
  clock: { offset: number };
  dataDir: string;
}

/** `telemetry` overrides the defaults; its `collector` is merged over the receiver's URL. */
export async function startReceiverHost(t: ExecutionContext, telemetry: Record<string, unknown> = {}, receiverOptions: SubmissionReceiverOptions = {}): Promise<ReceiverHost> {
  const { collector, ...rest } = telemetry as { collector?: Record<string, unknown> };
  const clock = { offset: 0 };
  const receiver = await startSubmissionReceiver({ nowMs: () => Date.now() + clock.offset, ...receiverOptions });
  t.teardown(() => receiver.close());
  const dataDir = await tempDirFor(t);
  const app = await startHostApp({
    telemetry: {
      dataDir,
      logger: silent,
      submission: { retryBaseMs: 20, maxAttempts: 3, timeoutMs: 2_000 },
      recorder: { intervalMs: 20 },
      now: () => new Date(Date.now() + clock.offset),
      ...rest,
      collector: { url: receiver.url, ...collector },
    },
  });
  t.teardown(() => app.close());
  return { app, receiver, clock, dataDir };
}
