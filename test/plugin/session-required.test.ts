// The plugin needs koa-session mounted before it. Without it the host keeps working: one clear error
// in the log, the host's routes untouched, and the plugin's own routes a 503 that names the fix.
import test from 'ava';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';
import { keptLogger } from '../helpers/fault-watch.js';
import { SESSION_MISSING_MESSAGE } from '../../src/index.js';

test('koa-session missing entirely: the host still answers, the plugin answers 503 naming the fix, and the log says it once', async (t) => {
  const logger = keptLogger();
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger }, session: false });
  t.teardown(() => host.close());
  const errors: Error[] = [];
  host.app.on('error', (err: Error) => errors.push(err));

  const hello = await host.request('/hello');
  t.is(hello.status, 200);
  t.deepEqual(await hello.json(), { hello: 'world' });
  // A host route that uses ctx.telemetry keeps working too.
  const started = await host.request('/timer/start', { method: 'POST' });
  t.is(started.status, 201);

  for (const path of ['/telemetry/settings', '/api/v1/usage-stats/status', '/donate/track-support-event']) {
    const own = await host.request(path, { user: 'admin' });
    t.is(own.status, 503, path);
    t.deepEqual(await own.json(), { error: { code: 'session_missing', message: SESSION_MISSING_MESSAGE } }, path);
  }
  await host.request('/hello');

  t.deepEqual(errors, []);
  const said = logger.lines.filter((line) => line.msg.includes(SESSION_MISSING_MESSAGE));
  t.is(said.length, 1);
  t.is(said[0]!.level, 'error');
  t.regex(SESSION_MISSING_MESSAGE, /app\.use\(session\(app\)\) before app\.use\(telemetryPlugin/);
});
