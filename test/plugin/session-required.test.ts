// The plugin needs koa-session mounted before it. Without it the host keeps working: one clear error
// in the log, the host's routes untouched, and the plugin's own routes a 503 that names the fix.
// Mounted after the plugin, koa-session never commits the plugin's pages' sessions: one clear error too.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import Koa from 'koa';
import session from 'koa-session';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';
import { documented } from '../helpers/openapi.js';
import { keptLogger } from '../helpers/fault-watch.js';
import { SESSION_MISSING_MESSAGE, telemetryPlugin } from '../../src/index.js';
import { SESSION_AFTER_PLUGIN_MESSAGE } from '../../src/plugin/middleware/session-order.js';
import { MOUNT_ORDER_HINT } from '../../src/plugin/middleware/auth.js';

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
  // The OpenAPI document describes that answer on every JSON route.
  for (const [method, path] of [['GET', '/api/v1/usage-stats/status'], ['GET', '/api/v1/usage-stats/me'], ['POST', '/donate/track-support-event']] as const) {
    const own = await host.request(path, { method, user: 'admin' });
    await t.notThrowsAsync(documented(method, path, own), `${method} ${path}`);
  }
  await host.request('/hello');

  t.deepEqual(errors, []);
  const said = logger.lines.filter((line) => line.msg.includes(SESSION_MISSING_MESSAGE));
  t.is(said.length, 1);
  t.is(said[0]!.level, 'error');
  t.regex(SESSION_MISSING_MESSAGE, /app\.use\(session\(app\)\) before app\.use\(telemetryPlugin/);
});

const API = '/api/v1/usage-stats';
const metaToken = (html: string) => /<meta name="csrf-token" content="([^"]+)">/.exec(html)?.[1] ?? null;

async function optIn(host: Awaited<ReturnType<typeof startHostApp>>, token: string) {
  return host.request(`${API}/opt-in`, {
    method: 'POST',
    user: 'admin',
    headers: { 'x-csrf-token': token, 'content-type': 'application/json' },
    body: JSON.stringify({ categories: ['analytics'] }),
  });
}

test('plugin mounted before koa-session: one error says to mount koa-session first, and the 403 the lost session causes hints at it', async (t) => {
  const logger = keptLogger();
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger }, pluginMountedBefore: 'session' });
  t.teardown(() => host.close());

  const page = await host.request('/telemetry/settings', { user: 'admin' });
  t.is(page.status, 200);
  const token = metaToken(await page.text());
  t.truthy(token);
  for (let i = 0; i < 3; i++) {
    const refused = await optIn(host, token!);
    t.is(refused.status, 403);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    t.is(body.error.code, 'csrf_failed');
    t.regex(body.error.message, /This session holds no token: is koa-session mounted before the plugin\?/);
  }
  const errors = logger.lines.filter((line) => line.level === 'error');
  t.deepEqual(errors.map((line) => line.msg), [SESSION_AFTER_PLUGIN_MESSAGE]);
  t.regex(SESSION_AFTER_PLUGIN_MESSAGE, /mounted after the plugin.*app\.use\(session\(app\)\) before app\.use\(telemetryPlugin/);
});

test('mounted in the right order, nothing is reported as the mounting mistake, even for a token sent without its session cookie', async (t) => {
  const logger = keptLogger();
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger } });
  t.teardown(() => host.close());
  const token = metaToken(await (await host.request('/telemetry/settings', { user: 'admin' })).text());
  t.is((await optIn(host, token!)).status, 200, 'the session persists');

  // The same token from a client that lost its session cookie.
  const lost = await fetch(`${host.url}${API}/opt-in`, {
    method: 'POST',
    headers: { 'x-test-user': 'admin', 'x-csrf-token': token!, 'content-type': 'application/json' },
    body: JSON.stringify({ categories: ['analytics'] }),
  });
  t.is(lost.status, 403);
  t.deepEqual(logger.lines.filter((line) => line.level === 'error'), []);
});

test("plugin mounted before the host's user middleware: the admin 401 a signed-in admin gets hints at the mount order", async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: keptLogger() }, pluginMountedBefore: 'user' });
  t.teardown(() => host.close());
  for (const path of [`${API}/status`, '/telemetry/settings']) {
    const response = await host.request(path, { user: 'admin' });
    t.is(response.status, 401, path);
    const body = (await response.json()) as { error: { code: string; message: string } };
    t.is(body.error.code, 'unauthorized');
    t.is(body.error.message, `Sign in as an administrator to use this endpoint. ${MOUNT_ORDER_HINT}`);
  }
  t.regex(MOUNT_ORDER_HINT, /mounted before the middleware that sets the signed-in user: mount it after that middleware/);
});

/** A Koa app on 127.0.0.1:0 with the given middleware; resolves its base URL and a close(). */
async function serve(app: Koa): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(app.callback());
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((done) => server.close(() => done())) };
}

const hello = (app: Koa) => app.use((ctx) => {
  ctx.body = { hello: 'world' };
});

test('a session middleware that sets ctx.session on each request (not koa-session) counts as a session: no 503, no error logged', async (t) => {
  const logger = keptLogger();
  const telemetry = telemetryPlugin({ appName: 'Host', appVersion: '1.0.0', dataDir: await tempDirFor(t), env: {}, jobs: false, logger });
  t.teardown(() => telemetry.stop());
  const app = new Koa();
  app.use(async (ctx, next) => {
    (ctx as unknown as { session: object }).session = {};
    await next();
  });
  app.use(telemetry);
  hello(app);
  const server = await serve(app);
  t.teardown(() => server.close());

  for (let i = 0; i < 2; i++) {
    t.is((await fetch(`${server.url}/hello`)).status, 200);
    // No signed-in admin: the plugin's own answer, not the missing-session one.
    const own = await fetch(`${server.url}${API}/status`);
    t.is(own.status, 401);
  }
  t.deepEqual(logger.lines.filter((line) => line.msg.includes(SESSION_MISSING_MESSAGE)), []);
});

test('one plugin serving an app with koa-session and one without: each app gets its own answer, request after request', async (t) => {
  const logger = keptLogger();
  const telemetry = telemetryPlugin({ appName: 'Host', appVersion: '1.0.0', dataDir: await tempDirFor(t), env: {}, jobs: false, logger });
  t.teardown(() => telemetry.stop());
  const withSession = new Koa();
  withSession.keys = ['test-key'];
  withSession.use(session(withSession));
  withSession.use(telemetry);
  hello(withSession);
  const withoutSession = new Koa();
  withoutSession.use(telemetry);
  hello(withoutSession);
  const [a, b] = await Promise.all([serve(withSession), serve(withoutSession)]);
  t.teardown(() => Promise.all([a.close(), b.close()]).then(() => undefined));

  const statusPath = `${API}/status`;
  for (const [server, expected] of [[a, 401], [b, 503], [a, 401], [b, 503], [b, 503], [a, 401]] as const) {
    t.is((await fetch(`${server.url}${statusPath}`)).status, expected, server.url);
    t.is((await fetch(`${server.url}/hello`)).status, 200);
  }
  t.is(logger.lines.filter((line) => line.msg.includes(SESSION_MISSING_MESSAGE)).length, 1);
});
