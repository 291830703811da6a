// Per-user opt-out: a signed-in end user turns detailed analytics off for themselves, whatever the
// admin chose for the installation. Routes {api}/me, the handle's users.*, the stored choice, and
// the proof against a real OTLP receiver that nothing of that user leaves while another user's
// events in the same run arrive.
import test from 'ava';
import { migrateLatest, migrateRollbackAll } from '../../src/plugin/db/migration-source.js';
import { TABLES } from '../../src/plugin/db/tables.js';
import { startHostApp as startPlainHostApp, type HostApp } from '../helpers/host-app.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { testEachDatabase } from '../helpers/databases.js';
import { tempDirFor } from '../helpers/tmp.js';
import { withOpenApiChecks } from '../helpers/openapi.js';

/** A host whose every answer of a documented route is checked against docs/openapi.json. */
const startHostApp = async (...args: Parameters<typeof startPlainHostApp>) => withOpenApiChecks(await startPlainHostApp(...args));

const API = '/api/v1/usage-stats';

async function csrfFor(host: HostApp, user: 'alice' | 'admin'): Promise<string> {
  const html = await (await host.request('/telemetry/me', { user })).text();
  const token = /<meta name="csrf-token" content="([^"]+)">/.exec(html)?.[1];
  if (!token) throw new Error('no csrf-token meta on /telemetry/me');
  return token;
}

function post(host: HostApp, path: string, user: 'alice' | 'admin', token?: string, headers: Record<string, string> = {}) {
  return host.request(`${API}${path}`, {
    method: 'POST',
    user,
    headers: { 'content-type': 'application/json', ...(token ? { 'x-csrf-token': token } : {}), ...headers },
    body: '{}',
  });
}

test('GET {api}/me answers 401 when signed out and the user\'s own choice when signed in', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t) } });
  t.teardown(() => host.close());

  const anonymous = await host.request(`${API}/me`);
  t.is(anonymous.status, 401);
  t.is(((await anonymous.json()) as { error: { code: string } }).error.code, 'unauthorized');

  const me = await host.request(`${API}/me`, { user: 'alice' });
  t.is(me.status, 200);
  t.deepEqual(await me.json(), { analytics: true, gpc: false, installation_analytics: false });
  t.is(me.headers.get('cache-control'), 'no-store');

  // A regular user reaches their own route, but still not the admin's.
  t.is((await host.request(`${API}/status`, { user: 'alice' })).status, 403);
});

test('opting out needs a signed-in user and the CSRF token, is stored, and survives a restart', async (t) => {
  const dataDir = await tempDirFor(t);
  const host = await startHostApp({ telemetry: { dataDir } });
  let closed = false;
  t.teardown(() => (closed ? undefined : host.close()));

  t.is((await host.request(`${API}/me/opt-out`, { method: 'POST' })).status, 401, 'signed out');
  const noToken = await post(host, '/me/opt-out', 'alice');
  t.is(noToken.status, 403);
  t.is(((await noToken.json()) as { error: { code: string } }).error.code, 'csrf_failed');
  t.false(await host.telemetry.users.isOptedOut(2), 'a refused request changed nothing');

  const token = await csrfFor(host, 'alice');
  const out = await post(host, '/me/opt-out', 'alice', token);
  t.is(out.status, 200);
  t.deepEqual(await out.json(), { analytics: false, gpc: false, installation_analytics: false });
  t.true(await host.telemetry.users.isOptedOut(2));
  t.false(await host.telemetry.users.isOptedOut(1), 'another user is untouched');
  t.deepEqual(await (await host.request(`${API}/me`, { user: 'alice' })).json(), { analytics: false, gpc: false, installation_analytics: false });

  // Unknown body fields are refused with the field named, nothing stored.
  const junk = await host.request(`${API}/me/opt-in`, {
    method: 'POST',
    user: 'alice',
    headers: { 'content-type': 'application/json', 'x-csrf-token': token },
    body: JSON.stringify({ analytics: true }),
  });
  t.is(junk.status, 400);
  t.true(await host.telemetry.users.isOptedOut(2));

  await host.close();
  closed = true;
  const again = await startHostApp({ telemetry: { dataDir } });
  t.teardown(() => again.close());
  t.true(await again.telemetry.users.isOptedOut(2), 'the choice is stored, not kept in memory');
  await again.telemetry.users.optIn(2);
  t.false(await again.telemetry.users.isOptedOut(2));
});

test('an opted-out user\'s events and page views never reach a real OTLP receiver, while another user\'s do', async (t) => {
  const receiver = await startOtlpReceiver();
  const host = await startHostApp({
    telemetry: { dataDir: await tempDirFor(t), otlp: { endpoint: receiver.url }, export: { intervalMs: 60_000, metricIntervalMs: 60_000 } },
    routes: (router) => {
      router.get('/alice-only', (ctx) => {
        ctx.telemetry.track('alice.only', { source: 'web' });
        ctx.body = 'ok';
      });
      router.get('/admin-only', (ctx) => {
        ctx.telemetry.track('admin.only', { source: 'web' });
        ctx.body = 'ok';
      });
    },
  });
  t.teardown(async () => {
    await host.close();
    await receiver.close();
  });
  await host.telemetry.consent.set({ analytics: true });
  await host.telemetry.users.optOut(2); // alice

  await host.request('/alice-only', { user: 'alice' });
  await host.request('/timer/start', { method: 'POST', user: 'alice' });
  host.telemetry.track('alice.handle', { source: 'web' }, { user: { id: 2 } });
  host.telemetry.identify({ id: 2 }, { plan: 'pro' });
  await host.request('/admin-only', { user: 'admin' });
  host.telemetry.track('admin.handle', { source: 'web' }, { user: { id: 1 } });
  t.true(await host.telemetry.flush());

  const logs = await receiver.waitForLogs(2);
  const names = logs.map((l) => l.body);
  t.true(names.includes('admin.only'), 'another user\'s event arrives');
  t.true(names.includes('admin.handle'));
  for (const name of ['alice.only', 'timer.started', 'alice.handle', 'user.identified']) t.false(names.includes(name), `${name} of the opted-out user must not leave`);

  const pageviews = await receiver.waitForMetric('app.pageviews', 5000, (points) => points.some((p) => p.attributes['http.route'] === '/admin-only'));
  t.false(pageviews.some((p) => p.attributes['http.route'] === '/alice-only'), 'the opted-out user\'s page view is not exported');
  t.false(pageviews.some((p) => p.attributes['http.route'] === '/timer/start'));
  const counted = receiver.latestMetric('app.events').map((p) => p.attributes['event.name']);
  t.false(counted.includes('alice.only'), 'not even as a count');
  t.true(counted.includes('admin.only'));
});

test('an opted-out user\'s events stay in local statistics but are not counted in the weekly payload', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), recorder: { intervalMs: 60_000 } } });
  t.teardown(() => host.close());
  await host.telemetry.users.optOut(2);
  // In the last whole UTC week (Monday to Monday), the period the next submission covers.
  const DAY = 86_400_000;
  const today = Math.floor(Date.now() / DAY) * DAY;
  const thisMonday = today - ((new Date(today).getUTCDay() + 6) % 7) * DAY;
  const lastWeek = thisMonday - 3.5 * DAY;
  const realNow = Date.now;
  Date.now = () => lastWeek;
  try {
    host.telemetry.track('timer.started', { source: 'web' }, { user: { id: 2 } });
    host.telemetry.track('timer.started', { source: 'web' }, { user: { id: 1 } });
    host.telemetry.track('report.exported', { format: 'csv' }, { user: { id: 2 } });
  } finally {
    Date.now = realNow;
  }
  await host.telemetry.flush();

  const admin = { user: 'admin' as const };
  const local = (await (await host.request(`${API}/local`, admin)).json()) as { by_type: { event_type: string; count: number }[] };
  const byType = Object.fromEntries(local.by_type.map((r) => [r.event_type, r.count]));
  t.is(byType['timer.started'], 2, 'both users\' events are in the admin\'s local view');
  t.is(byType['report.exported'], 1);

  const { payloads } = (await (await host.request(`${API}/preview`, admin)).json()) as { payloads: { period: { end: string }; event_counts: Record<string, number> }[] };
  const preview = payloads.find((p) => p.period.end === new Date(thisMonday).toISOString().slice(0, 10));
  if (!preview) return t.fail(`no payload for the last whole week in ${JSON.stringify(payloads.map((p) => p.period))}`);
  t.is(preview.event_counts['timer.started'], 1, 'only the other user\'s event is counted for the collector');
  t.false('report.exported' in preview.event_counts);

  const exported = await (await host.request(`${API}/export`, admin)).text();
  t.true(exported.includes('"local_only":true'), 'the export shows which events stay local');
});

test('the page {pages}/me is open to any signed-in user, says what stays local, and escapes', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), appName: '<b>Tracker</b>' } });
  t.teardown(() => host.close());

  const anonymous = await host.request('/telemetry/me', { headers: { accept: 'text/html' } });
  t.is(anonymous.status, 401);
  t.regex(anonymous.headers.get('content-type') ?? '', /html/);

  const page = await host.request('/telemetry/me', { user: 'alice', headers: { accept: 'text/html' } });
  t.is(page.status, 200);
  const html = await page.text();
  t.true(html.includes('data-telemetry-user-privacy'));
  t.true(html.includes('<meta name="csrf-token"'));
  t.true(html.includes('data-telemetry-stays-local'));
  t.true(html.includes('data-telemetry-installation-off'), 'says the admin has not turned analytics on');
  t.false(html.includes('<b>Tracker</b>'));
  t.true(html.includes('&lt;b&gt;Tracker&lt;/b&gt;'));
  // Still admin only: the admin pages.
  t.is((await host.request('/telemetry/settings', { user: 'alice' })).status, 403);
  t.is((await host.request('/telemetry/stats', { user: 'alice' })).status, 403);
  t.is((await host.request('/telemetry/privacy-policy', { user: 'alice' })).status, 403);
});

testEachDatabase('migration 005 creates the per-user table and the local-only flag, and rolls back', async (t, db) => {
  await migrateLatest(db.knex);
  t.true(await db.knex.schema.hasTable(TABLES.userPrivacy));
  t.true(await db.knex.schema.hasColumn(TABLES.usageEvents, 'local_only'));
  await db.knex(TABLES.userPrivacy).insert({ user_id: '2', analytics_opt_out: true, updated_at: new Date() });
  await t.throwsAsync(db.knex(TABLES.userPrivacy).insert({ user_id: '2', analytics_opt_out: false, updated_at: new Date() }), undefined, 'one row per user');
  await migrateRollbackAll(db.knex);
  t.false(await db.knex.schema.hasTable(TABLES.userPrivacy));
  t.false(await db.knex.schema.hasTable(TABLES.usageEvents));
  await migrateLatest(db.knex);
  t.true(await db.knex.schema.hasColumn(TABLES.usageEvents, 'local_only'));
});

testEachDatabase('a user\'s opt-out is kept in the host\'s own database (host knex)', async (t, db) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), db: db.knex } });
  t.teardown(() => host.close());
  await host.telemetry.users.optOut('user-42');
  const rows = await db.knex(TABLES.userPrivacy).select('user_id', 'analytics_opt_out');
  t.is(rows.length, 1);
  t.is(rows[0].user_id, 'user-42');
  t.truthy(rows[0].analytics_opt_out);
  await host.telemetry.users.optIn('user-42');
  t.false(await host.telemetry.users.isOptedOut('user-42'));
});

test('a user\'s choice writes a user receipt under their pseudonym, shown on their page and in the export', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t) } });
  t.teardown(() => host.close());
  const token = await csrfFor(host, 'alice');
  t.is((await post(host, '/me/opt-out', 'alice', token)).status, 200);
  t.is((await post(host, '/me/opt-out', 'alice', token)).status, 200, 'the same choice again is no change');
  await host.telemetry.users.optIn(2); // the host, through the handle

  const receipts = (await (await host.request(`${API}/receipts?scope=user`, { user: 'admin' })).json()) as {
    receipts: { subject: string; actor: string; previous: { analytics: boolean }; next: { analytics: boolean } }[];
  };
  t.is(receipts.receipts.length, 2);
  const [byHost, byUser] = receipts.receipts;
  t.regex(byUser!.subject, /^[0-9a-f]{16}$/);
  t.is(byUser!.actor, `user:${byUser!.subject}`, 'the user made it themself');
  t.deepEqual([byUser!.previous.analytics, byUser!.next.analytics], [true, false]);
  t.is(byHost!.actor, 'api');
  t.is(byHost!.subject, byUser!.subject);

  const page = await (await host.request('/telemetry/me', { user: 'alice' })).text();
  t.is((page.match(/data-telemetry-receipt=/g) ?? []).length, 2, 'the user sees their own history');
  const other = await (await host.request('/telemetry/me', { user: 'admin' })).text();
  t.is((other.match(/data-telemetry-receipt=/g) ?? []).length, 0, 'and nobody else\'s');
  const exported = await (await host.request(`${API}/export`, { user: 'admin' })).text();
  t.true(exported.includes(`"actor":"user:${byUser!.subject}"`));
});

test('opting back in answers the user\'s view, and a wrong body names the expected one', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t) } });
  t.teardown(() => host.close());
  const token = await csrfFor(host, 'alice');
  t.is((await post(host, '/me/opt-out', 'alice', token)).status, 200);
  const back = await post(host, '/me/opt-in', 'alice', token);
  t.is(back.status, 200);
  t.deepEqual(await back.json(), { analytics: true, gpc: false, installation_analytics: false });
  const wrong = await host.request(`${API}/me/opt-out`, { method: 'POST', user: 'alice', headers: { 'content-type': 'application/json', 'x-csrf-token': token }, body: '{"analytics":false}' });
  t.is(wrong.status, 400);
  t.regex(((await wrong.json()) as { error: { message: string } }).error.message, /expected no body/);
  t.false(await host.telemetry.users.isOptedOut(2), 'the wrong body changed nothing');
});

// Regression (a careless host): getUser returned an id longer than the table's 128-character key,
// and /me/opt-out answered 500 instead of storing the choice.
test('a host user id longer than 128 characters (or empty) can opt out, and the choice holds', async (t) => {
  const longId = 'u'.repeat(300);
  let current: string = longId;
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), getUser: () => ({ id: current }) } });
  t.teardown(() => host.close());
  for (const id of [longId, '']) {
    current = id;
    const html = await (await host.request('/telemetry/me')).text();
    const token = /<meta name="csrf-token" content="([^"]+)">/.exec(html)![1]!;
    const out = await host.request(`${API}/me/opt-out`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': token }, body: '{}' });
    t.is(out.status, 200, `id of ${id.length} characters`);
    t.deepEqual(await out.json(), { analytics: false, gpc: false, installation_analytics: false });
    t.true(await host.telemetry.users.isOptedOut(id));
  }
  t.false(await host.telemetry.users.isOptedOut('u'.repeat(299)), 'another id is untouched');
});

// Regression (a hostile signed-in user): every change of one's own choice writes a consent receipt,
// so flipping the switch in a loop grew telemetry_consent_receipts without bound.
test('a signed-in user cannot flood the consent receipts by flipping their choice in a loop', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t) } });
  t.teardown(() => host.close());
  const token = await csrfFor(host, 'alice');
  let limited: Response | null = null;
  for (let i = 0; i < 30 && !limited; i++) {
    const answer = await post(host, i % 2 === 0 ? '/me/opt-out' : '/me/opt-in', 'alice', token);
    if (answer.status === 429) limited = answer;
    else t.is(answer.status, 200);
  }
  t.truthy(limited, 'refused before 30 changes');
  t.is(((await limited!.json()) as { error: { code: string } }).error.code, 'rate_limited');
  t.regex(limited!.headers.get('retry-after') ?? '', /^\d+$/);
  const receipts = (await (await host.request(`${API}/receipts?scope=user`, { user: 'admin' })).json()) as { total: number };
  t.true(receipts.total <= 10, `${receipts.total} receipts stored`);
  // Another user is not affected.
  t.is((await post(host, '/me/opt-out', 'admin', await csrfFor(host, 'admin'))).status, 200);
});
