// The first start of an installation logs one short notice (what is collected, detailed analytics off
// until an admin opts in, where the settings page is, how to turn everything off); later starts and
// starts under a kill switch say nothing.
import test from 'ava';
import { telemetryPlugin, type TelemetryOptions } from '../../src/index.js';
import { keptLogger } from '../helpers/fault-watch.js';
import { tempDirFor } from '../helpers/tmp.js';

async function start(dataDir: string, extra: Partial<TelemetryOptions> = {}) {
  const logger = keptLogger();
  const telemetry = telemetryPlugin({ appName: 'TestHost', appVersion: '1.0.0', dataDir, jobs: false, env: {}, logger, ...extra });
  await telemetry.ready();
  await telemetry.stop();
  return logger.lines.filter((line) => line.msg.includes('first start of this installation'));
}

test('the first start of an installation logs one notice: what is collected, analytics off until an admin opts in, the settings page, DO_NOT_TRACK=1', async (t) => {
  const dataDir = await tempDirFor(t);
  const first = await start(dataDir);
  t.is(first.length, 1);
  t.is(first[0]!.level, 'warn', 'shown by the quiet default logger');
  const notice = first[0]!.msg;
  t.regex(notice, /local usage statistics/);
  t.regex(notice, /Detailed analytics and the weekly summary stay off until an admin opts in at \/telemetry\/settings/);
  t.regex(notice, /DO_NOT_TRACK=1/);

  t.deepEqual(await start(dataDir), [], 'not on a later start');
});

test('the first-run notice names the settings page under a custom mount path', async (t) => {
  const [notice] = await start(await tempDirFor(t), { mountPath: { pages: '/admin/telemetry' } });
  t.regex(notice!.msg, /opts in at \/admin\/telemetry\/settings/);
});

test('no first-run notice under a kill switch (DO_NOT_TRACK=1, TELEMETRY_DISABLED=1): telemetry is already off', async (t) => {
  t.deepEqual(await start(await tempDirFor(t), { env: { DO_NOT_TRACK: '1' } }), []);
  t.deepEqual(await start(await tempDirFor(t), { env: { TELEMETRY_DISABLED: '1' } }), []);
});
