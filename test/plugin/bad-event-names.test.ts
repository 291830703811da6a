// track('Timer Started') returns false; the developer also hears why: one warning per distinct bad
// name, naming the rule it broke, never the props, bounded in number.
import test, { type ExecutionContext } from 'ava';
import { telemetryPlugin } from '../../src/index.js';
import { BAD_NAME_WARNING_LIMIT } from '../../src/plugin/telemetry/bad-event-names.js';
import { keptLogger } from '../helpers/fault-watch.js';
import { tempDirFor } from '../helpers/tmp.js';

async function started(t: ExecutionContext) {
  const logger = keptLogger();
  const telemetry = telemetryPlugin({ appName: 'TestHost', appVersion: '1.0.0', dataDir: await tempDirFor(t), jobs: false, env: {}, logger });
  t.teardown(() => telemetry.stop());
  await telemetry.ready();
  const warnings = () => logger.lines.filter((line) => line.level === 'warn' && line.msg.includes('track('));
  return { telemetry, warnings };
}

test("a bad event name (track('Timer Started')) logs one warning naming the rule it broke, once per distinct name, never the props", async (t) => {
  const { telemetry, warnings } = await started(t);
  t.false(telemetry.track('Timer Started', { note: 'secret-note-value' }));
  t.false(telemetry.track('Timer Started', { note: 'secret-note-value' }));
  t.false(telemetry.track('timer.Started'));
  t.false(telemetry.track('$app.started'));
  t.true(telemetry.track('timer.started'));

  const lines = warnings().map((line) => line.msg);
  t.is(lines.length, 3);
  t.regex(lines[0]!, /track\("Timer Started"\) refused: event name must be lowercase snake_case segments separated by dots \(e\.g\. timer\.started\)/);
  t.regex(lines[1]!, /track\("timer\.Started"\) refused: event name must be lowercase snake_case/);
  t.true(lines.every((line) => !line.includes('secret-note-value')));
});

test('a bad event name that looks like personal data is not repeated in the log', async (t) => {
  const { telemetry, warnings } = await started(t);
  t.false(telemetry.track('signup alice@example.com'));
  t.false(telemetry.track(42 as unknown as string));
  const lines = warnings().map((line) => line.msg);
  t.is(lines.length, 2);
  t.false(lines[0]!.includes('alice'));
  t.regex(lines[0]!, /looks like personal data, not shown\)\) refused: event name must be lowercase/);
  t.regex(lines[1]!, /track\(\(a number, not a string\)\) refused: event name must be a string/);
});

test('bad event name warnings are bounded: after the limit one note, then silence', async (t) => {
  const { telemetry, warnings } = await started(t);
  for (let i = 0; i < BAD_NAME_WARNING_LIMIT + 50; i++) telemetry.track(`Bad Name ${String.fromCharCode(97 + (i % 26))}${Math.floor(i / 26)}`);
  const lines = warnings().map((line) => line.msg);
  t.is(lines.length, BAD_NAME_WARNING_LIMIT + 1);
  t.regex(lines.at(-1)!, /further ones are refused without a warning/);
});

test('a logger that throws on the bad-name warning does not reach the caller of track()', async (t) => {
  const logger = { debug() {}, info() {}, warn() { throw new Error('logger down'); }, error() {} };
  const telemetry = telemetryPlugin({ appName: 'TestHost', appVersion: '1.0.0', dataDir: await tempDirFor(t), jobs: false, env: {}, logger });
  t.teardown(() => telemetry.stop());
  await telemetry.ready();
  t.notThrows(() => t.false(telemetry.track('Timer Started')));
});
