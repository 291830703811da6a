// Admin access (docs/collector.md): deny by default; the bearer token (constant-time compare); the host's
// isAdmin when mounted; the standalone sign-in form starting a server-side session (HttpOnly
// SameSite=Strict cookie; see collector-sessions.test.ts); sign-in failures throttled per client;
// CSRF on state-changing requests that a cookie authenticates.
import test from 'ava';
import Koa from 'koa';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ADMIN_TOKEN, AddressedClient, startCollector } from '../helpers/collector.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { collectorPlugin, type CollectorOptions } from '../../src/collector/plugin.js';
import { SESSION_COOKIE, CSRF_COOKIE } from '../../src/collector/auth.js';
import { checkCollectorAnswers } from '../helpers/openapi.js';

/** fetch with a cookie jar, like a browser on one origin. */
function browser(base: string) {
  const jar = new Map<string, string>();
  const setCookies: string[] = [];
  return {
    jar,
    setCookies,
    async fetch(path: string, init: RequestInit = {}) {
      const headers = new Headers(init.headers);
      if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
      const response = await fetch(`${base}${path}`, { ...init, headers, redirect: 'manual' });
      for (const c of response.headers.getSetCookie()) {
        setCookies.push(c);
        const [pair] = c.split(';');
        const [name, ...value] = pair!.split('=');
        if (/expires=Thu, 01 Jan 1970/i.test(c) || value.join('=') === '') jar.delete(name!);
        else jar.set(name!, value.join('='));
      }
      return response;
    },
  };
}

const csrfFrom = (html: string) => /<meta name="csrf-token" content="([^"]+)">/.exec(html)?.[1] ?? '';
const form = (fields: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

async function sqlite(t: import('ava').ExecutionContext): Promise<TestDatabase> {
  const db = await createTestDatabase('sqlite');
  t.teardown(() => db.cleanup());
  return db;
}

test('deny by default: without a token or isAdmin, every admin route is 401 and the dashboard says why', async (t) => {
  const c = await startCollector(t, await sqlite(t), { adminToken: null });
  checkCollectorAnswers(t, c.url);
  for (const [method, path] of [
    ['GET', '/stats/overview'],
    ['GET', '/stats/export'],
    ['GET', '/metrics'],
    ['GET', '/reports/email-status'],
    ['POST', '/reports/weekly'],
    ['DELETE', '/v1/installations/0f8fad5b-d9cb-469f-a165-70867728950e'],
  ]) {
    const response = await fetch(`${c.url}${path}`, { method, headers: { authorization: 'Bearer ' } });
    t.is(response.status, 401, `${method} ${path}`);
  }
  const page = await (await fetch(`${c.url}/dashboard`)).text();
  t.regex(page, /No admin token is configured/);
  t.false(page.includes('data-sign-in-form'));
  t.is((await fetch(`${c.url}/health`)).status, 200, 'health stays public');
});

test('sign-in form: wrong token → 401 page; right token → 303 and an HttpOnly SameSite=Strict session kept server-side', async (t) => {
  const db = await sqlite(t);
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const b = browser(c.url);
  const signIn = await b.fetch('/dashboard');
  t.is(signIn.status, 200);
  const html = await signIn.text();
  t.regex(html, /data-sign-in-form/);
  t.regex(signIn.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  const csrf = csrfFrom(html);
  t.is(csrf.length, 43);
  t.true(b.jar.has(CSRF_COOKIE));

  const wrong = await b.fetch('/dashboard/sign-in', form({ token: 'not-the-token-at-all', _csrf: csrf }));
  t.is(wrong.status, 401);
  t.regex(await wrong.text(), /That token is not right/);
  t.false(b.jar.has(SESSION_COOKIE));

  const noCsrf = await b.fetch('/dashboard/sign-in', form({ token: ADMIN_TOKEN }));
  t.is(noCsrf.status, 403, 'login CSRF is refused');

  const right = await b.fetch('/dashboard/sign-in', form({ token: ADMIN_TOKEN, _csrf: csrf }));
  t.is(right.status, 303);
  t.is(right.headers.get('location'), '/dashboard');
  const cookie = b.setCookies.find((c2) => c2.startsWith(`${SESSION_COOKIE}=`))!;
  t.regex(cookie, /httponly/i);
  t.regex(cookie, /samesite=strict/i);
  t.regex(cookie, /path=\//);
  t.regex(b.jar.get(SESSION_COOKIE)!, /^[A-Za-z0-9_-]{43}$/, 'a random 32-byte id, base64url');
  t.false(b.jar.get(SESSION_COOKIE)!.includes(ADMIN_TOKEN), 'the token itself is not in the cookie');
  const stored = await db.knex('collector_sessions').select('*');
  t.is(stored.length, 1);
  t.not(stored[0].id_hash, b.jar.get(SESSION_COOKIE), 'only a hash of the id is stored');

  const dashboard = await b.fetch('/dashboard');
  t.is(dashboard.status, 200);
  const dashboardHtml = await dashboard.text();
  t.regex(dashboardHtml, /id="chart-versions"/);
  t.is((await b.fetch('/stats/overview')).status, 200, 'the session also opens the JSON API (GET)');
  const sessionCsrf = csrfFrom(dashboardHtml);
  t.not(sessionCsrf, csrf, 'signing in issues a new CSRF token');

  // A state-changing request with the session needs the session's CSRF token.
  t.is((await b.fetch('/reports/weekly', { method: 'POST' })).status, 403);
  t.is((await b.fetch('/reports/weekly', { method: 'POST', headers: { 'x-csrf-token': csrf } })).status, 403, "the sign-in page's token is refused once signed in");
  const withToken = await b.fetch('/reports/weekly', { method: 'POST', headers: { 'x-csrf-token': sessionCsrf } });
  t.is(withToken.status, 409, 'past auth and CSRF: SMTP is simply not configured');

  // A made-up session id is ignored.
  const forged = browser(c.url);
  forged.jar.set(SESSION_COOKIE, 'A'.repeat(43));
  t.regex(await (await forged.fetch('/dashboard')).text(), /data-sign-in-form/);

  const out = await b.fetch('/dashboard/sign-out', form({ _csrf: sessionCsrf }));
  t.is(out.status, 303);
  t.false(b.jar.has(SESSION_COOKIE));
  t.is((await b.fetch('/stats/overview')).status, 401);
});

test('sessions end when they expire or when the admin token changes', async (t) => {
  const db = await sqlite(t);
  const c = await startCollector(t, db, { sessionHours: 1 });
  checkCollectorAnswers(t, c.url);
  const b = browser(c.url);
  const csrf = csrfFrom(await (await b.fetch('/dashboard')).text());
  await b.fetch('/dashboard/sign-in', form({ token: ADMIN_TOKEN, _csrf: csrf }));
  t.is((await b.fetch('/stats/overview')).status, 200);
  c.clock.advance(3_601_000);
  t.is((await b.fetch('/stats/overview')).status, 401, 'expired');
  await c.close();

  const rotated = await startCollector(t, db, { adminToken: 'a-brand-new-admin-token-123456' });

  checkCollectorAnswers(t, rotated.url);
  const again = browser(rotated.url);
  for (const [k, v] of b.jar) again.jar.set(k, v);
  t.is((await again.fetch('/stats/overview')).status, 401, 'a session of the old token is void');
});

test('sign-in failures are throttled per client (429 with Retry-After after 10 in a minute)', async (t) => {
  const c = await startCollector(t, await sqlite(t));
  checkCollectorAnswers(t, c.url);
  const b = browser(c.url);
  const csrf = csrfFrom(await (await b.fetch('/dashboard')).text());
  for (let i = 0; i < 10; i++) t.is((await b.fetch('/dashboard/sign-in', form({ token: `wrong-${i}`, _csrf: csrf }))).status, 401);
  const throttled = await b.fetch('/dashboard/sign-in', form({ token: `wrong-again`, _csrf: csrf }));
  t.is(throttled.status, 429);
  t.is(throttled.headers.get('retry-after'), '60');
  c.clock.advance(61_000);
  t.is((await b.fetch('/dashboard/sign-in', form({ token: ADMIN_TOKEN, _csrf: csrf }))).status, 303);
});

test('eleven wrong tokens from an attacker do not lock out the admin', async (t) => {
  const c = await startCollector(t, await sqlite(t));
  checkCollectorAnswers(t, c.url);
  const attacker = new AddressedClient(c.url, '127.0.0.2');
  const attackerCsrf = await attacker.csrf();
  const statuses = [];
  for (let i = 0; i < 11; i++) statuses.push((await attacker.form('/dashboard/sign-in', { token: `guess-${i}-0123456789abcdef`, _csrf: attackerCsrf })).status);
  t.deepEqual(statuses, [...Array(10).fill(401), 429]);

  const admin = new AddressedClient(c.url, '127.0.0.1');
  const signIn = await admin.form('/dashboard/sign-in', { token: ADMIN_TOKEN, _csrf: await admin.csrf() });
  t.is(signIn.status, 303, 'the admin signs in from their own address');
  t.is((await admin.request('/stats/overview')).status, 200);

  // Behind a proxy (trustProxy) the client is the X-Forwarded-For address, so the same holds.
  const proxied = await startCollector(t, await sqlite(t), { trustProxy: true });
  const viaProxy = new AddressedClient(proxied.url, '127.0.0.1');
  const csrf = await viaProxy.csrf();
  for (let i = 0; i < 11; i++) await viaProxy.form('/dashboard/sign-in', { token: `guess-${i}-0123456789abcdef`, _csrf: csrf }, { 'x-forwarded-for': '203.0.113.66' });
  t.is((await viaProxy.form('/dashboard/sign-in', { token: 'guess-x-0123456789abcdef', _csrf: csrf }, { 'x-forwarded-for': '203.0.113.66' })).status, 429);
  t.is((await viaProxy.form('/dashboard/sign-in', { token: ADMIN_TOKEN, _csrf: csrf }, { 'x-forwarded-for': '198.51.100.1' })).status, 303);
});

async function mountedHost(t: import('ava').ExecutionContext, options: Partial<CollectorOptions>) {
  const db = await sqlite(t);
  const collector = collectorPlugin({ db: db.config(), jobs: false, env: {}, logger: { debug() {}, info() {}, warn() {}, error() {} }, ...options });
  const app = new Koa();
  app.keys = ['host-key-0123456789abcdef'];
  app.use(async (ctx, next) => {
    // The host's own auth: x-user: admin | alice
    const name = ctx.get('x-user');
    if (name) ctx.state.user = { name, isAdmin: name === 'admin' };
    await next();
  });
  app.use(collector);
  await collector.ready();
  const server = http.createServer(app.callback()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    server.closeAllConnections();
    server.close();
    await collector.stop();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/collector`;
}

test('mounted: the host\'s isAdmin opens the admin routes; cookie-borne admin needs CSRF to change state', async (t) => {
  const url = await mountedHost(t, { mountPath: '/collector', isAdmin: (ctx) => (ctx.state.user as { isAdmin?: boolean } | undefined)?.isAdmin === true });
  t.is((await fetch(`${url}/stats/overview`)).status, 401);
  t.is((await fetch(`${url}/stats/overview`, { headers: { 'x-user': 'alice' } })).status, 401);
  t.is((await fetch(`${url}/stats/overview`, { headers: { 'x-user': 'admin' } })).status, 200);
  t.is((await fetch(`${url}/metrics`, { headers: { 'x-user': 'admin' } })).status, 200);

  const b = browser(url.replace(/\/collector$/, ''));
  const page = await b.fetch('/collector/dashboard', { headers: { 'x-user': 'admin' } });
  const html = await page.text();
  t.regex(html, /id="chart-installations"/);
  t.regex(html, /src="\/collector\/dashboard\/assets\/chart\.umd\.min\.js\?v=[0-9a-f]{12}"/);
  t.false(html.includes('data-sign-out'), 'no sign-out button: the host owns the session');
  const csrf = csrfFrom(html);
  t.is((await b.fetch('/collector/reports/weekly', { method: 'POST', headers: { 'x-user': 'admin' } })).status, 403);
  t.is((await b.fetch('/collector/reports/weekly', { method: 'POST', headers: { 'x-user': 'admin', 'x-csrf-token': csrf } })).status, 409);
  t.is((await b.fetch('/collector/reports/weekly', { method: 'POST', headers: { 'x-user': 'admin', 'x-csrf-token': `${csrf.slice(1)}x` } })).status, 403);
});

test('an isAdmin that throws denies (401), it does not crash', async (t) => {
  const url = await mountedHost(t, {
    isAdmin: () => {
      throw new Error('host auth broke');
    },
  });
  const root = url.replace(/\/collector$/, '');
  const response = await fetch(`${root}/stats/overview`);
  t.is(response.status, 401);
});
