// ready() on a data folder the app cannot use rejects with an error that names the package, the
// folder, the `dataDir` option and TELEMETRY_DATA_DIR, not a bare `EACCES: permission denied, mkdir`.
// (The tests run as root, for whom permissions do not apply: a path below a regular file fails the
// same way for everyone.)
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { telemetryPlugin } from '../../src/index.js';
import { tempDirFor } from '../helpers/tmp.js';

test('ready() on an unusable dataDir rejects with a clear, prefixed error and can be caught to start the host anyway', async (t) => {
  const dir = await tempDirFor(t);
  const file = join(dir, 'not-a-folder');
  await writeFile(file, 'x');
  const dataDir = join(file, 'data');
  const telemetry = telemetryPlugin({ appName: 'T', appVersion: '1.0.0', dataDir, jobs: false, env: {} });
  t.teardown(() => telemetry.stop());
  const error = await t.throwsAsync(telemetry.ready());
  t.regex(error!.message, /^koa-consent-telemetry: cannot use the data folder /);
  t.true(error!.message.includes(dataDir), 'names the folder');
  t.true(error!.message.includes('`dataDir`'), 'names the option');
  t.true(error!.message.includes('TELEMETRY_DATA_DIR'), 'names the environment variable');
  t.true(error!.message.includes('ENOTDIR'), 'keeps the cause code');
  t.is((error!.cause as { code?: string }).code, 'ENOTDIR');
  // The handle keeps working as a no-op: tracking never throws into the host.
  t.notThrows(() => telemetry.track('timer.started', { source: 'web' }));
});
