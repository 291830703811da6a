// The base layer (install footprint) end to end, against a REAL OTLP/HTTP receiver:
// - its fixed schema is enforced at run time: a key outside BASE_SCHEMA_KEYS never leaves;
// - the daily heartbeat job, fired by the scheduler at the installation's minute (the clock is moved
//   to just before that minute, nothing calls runNow), reaches the receiver.
// Serial: the heartbeat test moves this process's clock (Date) for its duration.
import test, { type ExecutionContext } from 'ava';
import { InstallationFile } from '../../src/plugin/installation/installation-file.js';
import { BaseLayer } from '../../src/plugin/telemetry/base-layer.js';
import { BASE_EVENTS, BASE_SCHEMA_KEYS } from '../../src/plugin/telemetry/base-schema.js';
import { detectEnvironment, type RuntimeEnvironment } from '../../src/plugin/telemetry/environment.js';
import { createOtlpSink, type TelemetrySink } from '../../src/plugin/telemetry/otlp-sink.js';
import { JobScheduler } from '../../src/core/scheduler.js';
import { heartbeatMinuteOfDay, scheduleHeartbeat } from '../../src/plugin/jobs/heartbeat.js';
import type { Logger } from '../../src/plugin/types.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { tempDirFor } from '../helpers/tmp.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

async function receiverFor(t: ExecutionContext): Promise<OtlpReceiver> {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  return receiver;
}

function sinkTo(t: ExecutionContext, receiver: OtlpReceiver, installId: string): TelemetrySink {
  const sink = createOtlpSink({
    endpoint: receiver.url,
    headers: {},
    timeoutMs: 5000,
    debug: false,
    resource: { serviceName: 'base-test', serviceVersion: '1.0.0', instanceId: installId },
    // No background exports: what arrives was flushed by the base layer itself.
    export: { queueCap: 100, batchSize: 50, intervalMs: 600_000, metricIntervalMs: 600_000 },
    logger: quiet,
    observe: () => ({ activeInstall: null, events: new Map(), pageviews: new Map() }),
  });
  t.teardown(() => sink.shutdown(1000));
  return sink;
}

async function baseLayer(t: ExecutionContext, receiver: OtlpReceiver, environment: RuntimeEnvironment) {
  const file = new InstallationFile(await tempDirFor(t));
  await file.load();
  const base = new BaseLayer({
    file,
    environment,
    appVersion: '1.0.0',
    releaseChannel: 'stable',
    killSwitch: { disabled: false, reason: null, debug: false },
    logger: quiet,
    now: () => new Date(),
  });
  base.attach(sinkTo(t, receiver, file.current.install_id));
  return { base, installId: file.current.install_id };
}

test.serial('a key outside the base schema is dropped before export: it never reaches the OTLP receiver', async (t) => {
  const receiver = await receiverFor(t);
  // What a careless change could add to the environment facts or a record.
  const environment = { ...detectEnvironment('native'), hostname: 'db-prod-7.internal', user_email: 'ada@example.com' } as RuntimeEnvironment;
  const { base, installId } = await baseLayer(t, receiver, environment);

  t.true(await base.sendHeartbeat(), 'the receiver accepted the export');
  const [log] = await receiver.waitForLogs(1, 10_000);
  t.is(log!.body, BASE_EVENTS.heartbeat);
  t.is(log!.attributes.install_id, installId, 'the schema keys themselves go out');
  t.is(log!.attributes.platform, process.platform);
  const allowed = new Set<string>(BASE_SCHEMA_KEYS);
  t.deepEqual(Object.keys(log!.attributes).filter((key) => !allowed.has(key)), [], 'only schema keys are exported');
  const wire = JSON.stringify(receiver.requests.map((request) => request.body));
  t.false(wire.includes('db-prod-7'), 'the unknown key\'s value is nowhere in what was sent');
  t.false(wire.includes('ada@example.com'));
});

/** Moves this process's clock (Date and Date.now) by `offsetMs`; returns the undo. */
function shiftClock(offsetMs: number): () => void {
  const RealDate = Date;
  const now = () => RealDate.now() + offsetMs;
  globalThis.Date = new Proxy(RealDate, {
    construct: (target, args, newTarget) => (args.length === 0 ? new RealDate(now()) : Reflect.construct(target, args, newTarget)),
    apply: () => new RealDate(now()).toString(),
    get: (target, key, receiver) => (key === 'now' ? now : Reflect.get(target, key, receiver)),
  });
  return () => {
    globalThis.Date = RealDate;
  };
}

test.serial('the scheduled heartbeat fires at the installation\'s minute of the day and reaches the OTLP receiver', async (t) => {
  const receiver = await receiverFor(t);
  const { base, installId } = await baseLayer(t, receiver, detectEnvironment('native'));
  const minute = heartbeatMinuteOfDay(installId);

  const scheduler = new JobScheduler(quiet);
  t.teardown(() => scheduler.stop());
  let restore = () => {};
  t.teardown(() => restore());
  // The next local time at that minute, and the clock moved to 300 ms before it. On a busy machine
  // the scheduler may arm only after that moment has passed, and then wait a day: read what it armed,
  // and move the clock again until it armed this one.
  for (let attempt = 1; ; attempt++) {
    restore();
    const realNow = Date.now();
    const due = new Date(realNow);
    due.setHours(Math.floor(minute / 60), minute % 60, 0, 0);
    if (due.getTime() <= realNow + 1000) due.setDate(due.getDate() + 1);
    restore = shiftClock(due.getTime() - 300 - realNow);
    scheduleHeartbeat(scheduler, base, installId);
    if (scheduler.list()[0]?.nextRunAt === due.toISOString()) break;
    if (attempt === 20) return t.fail(`the scheduler never armed the heartbeat for ${due.toISOString()}`);
  }

  const [log] = await receiver.waitForLogs(1, 15_000);
  t.is(log!.body, BASE_EVENTS.heartbeat);
  t.is(log!.attributes.install_id, installId);
  const sentAt = new Date(String(log!.attributes.heartbeat_at));
  t.is(sentAt.getHours() * 60 + sentAt.getMinutes(), minute, 'sent in the installation\'s minute (on the moved clock)');
});
