// The plugin needs koa-session mounted before it: without it, a clear error says so.
import test from 'ava';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';
import { SESSION_MISSING_MESSAGE } from '../../src/index.js';

test('without koa-session the first request fails with an error that says to mount it first', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t) }, session: false });
  t.teardown(() => host.close());
  const errors: Error[] = [];
  host.app.on('error', (err: Error) => errors.push(err));
  const response = await host.request('/hello');
  t.is(response.status, 500);
  t.is(errors[0]?.message, SESSION_MISSING_MESSAGE);
  t.regex(SESSION_MISSING_MESSAGE, /app\.use\(session\(app\)\) before app\.use\(telemetryPlugin/);
});
