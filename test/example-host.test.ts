// End-to-end over HTTP against the example host (example-host/): a real Koa time tracker that
// mounts the plugin. Global fetch with a tiny cookie jar; nothing is exported anywhere.
import test from 'ava';
import knex from 'knex';
import { join } from 'node:path';
import { createExampleHost, type ExampleHost } from '../example-host/app.js';
import { makeTempDir, removeDir, tempDirFor } from './helpers/tmp.js';
import { CookieClient } from './helpers/cookie-client.js';

// Make sure no sink or collector is picked up from the environment.
for (const name of [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'GRAFANA_OTLP_ENDPOINT',
  'GRAFANA_OTLP_TOKEN',
  'TELEMETRY_COLLECTOR_URL',
  'TELEMETRY_COLLECTOR_REGISTRATION_KEY',
]) {
  delete process.env[name];
}

const quiet = { info() {}, error() {} };

interface Ctx {
  host: ExampleHost;
  url: string;
  dataDir: string;
  clock: { ms: number };
}

const shared = {} as Ctx;

test.before(async () => {
  shared.dataDir = await makeTempDir('kct-example-host-');
  shared.clock = { ms: Date.UTC(2025, 2, 12, 12, 0, 0) }; // noon UTC: the same local day in every zone
  shared.host = await createExampleHost({ dataDir: shared.dataDir, now: () => new Date(shared.clock.ms), logger: quiet });
  shared.url = (await shared.host.listen(0, '127.0.0.1')).url;
});

test.after.always(async () => {
  await shared.host?.close();
  if (shared.dataDir) await removeDir(shared.dataDir);
});

test.serial('signed out: pages redirect to /login, the login form renders', async (t) => {
  const c = new CookieClient(shared.url);
  const root = await c.get('/');
  t.is(root.status, 302);
  t.is(root.headers.get('location'), '/login');
  const reports = await c.get('/reports');
  t.is(reports.status, 302);
  t.is(new URL(reports.headers.get('location')!, shared.url).pathname, '/login');
  const login = await c.get('/login');
  t.is(login.status, 200);
  const html = await login.text();
  t.regex(html, /<form method="post" action="\/login"/);
  t.regex(html, /href="\/static\/host\.css"/);
  const css = await c.get('/static/host.css');
  t.is(css.status, 200);
  t.regex(css.headers.get('content-type') ?? '', /text\/css/);
});

test.serial('login: wrong password is 401 with the form, right password signs in (form and JSON)', async (t) => {
  const c = new CookieClient(shared.url);
  const wrong = await c.login('alice', 'nope');
  t.is(wrong.status, 401);
  const body = await wrong.text();
  t.regex(body, /Wrong username or password/);
  t.regex(body, /name="password"/);
  t.is((await c.login('nobody', 'demo')).status, 401);

  const ok = await c.login('alice');
  t.is(ok.status, 303);
  t.is(ok.headers.get('location'), '/');
  const dash = await c.get('/');
  t.is(dash.status, 200);
  t.regex(await dash.text(), /Welcome back, alice/);

  const j = new CookieClient(shared.url);
  const res = await j.request('/login', { json: { username: 'admin', password: 'demo' } });
  t.is(res.status, 303);
  t.is((await j.get('/')).status, 200);
  const bad = await j.request('/login', { json: { username: 'admin', password: 'x' }, headers: { accept: 'application/json' } });
  t.is(bad.status, 401);
  t.is(((await bad.json()) as { error: { code: string } }).error.code, 'invalid_credentials');
});

test.serial('projects, timer, dashboard, reports and CSV export', async (t) => {
  const c = new CookieClient(shared.url);
  t.is((await c.login('admin')).status, 303);

  // CSRF: a state-changing form without the token is refused.
  const noToken = await c.post('/projects', { name: 'Sneaky' });
  t.is(noToken.status, 403);

  const csrf = await c.csrf('/projects');
  const created = await c.post('/projects', { _csrf: csrf, name: 'Website <redesign>' });
  t.is(created.status, 303);
  t.is(created.headers.get('location'), '/projects');
  const list = await (await c.get('/projects')).text();
  t.true(list.includes('Website &lt;redesign&gt;'), 'names are autoescaped');
  t.false(list.includes('Website <redesign>'));
  t.is((await c.post('/projects', { _csrf: csrf, name: 'website <REDESIGN>' })).status, 303); // duplicate → flash
  t.regex(await (await c.get('/projects')).text(), /already exists/);

  const dash0 = await (await c.get('/')).text();
  const projectId = /<option value="(\d+)"[^>]*>Website &lt;redesign&gt;<\/option>/.exec(dash0)?.[1];
  t.truthy(projectId);

  const started = await c.post('/timer/start', { _csrf: csrf, project_id: projectId! });
  t.is(started.status, 303);
  const running = await (await c.get('/')).text();
  t.regex(running, /data-running-project>Website &lt;redesign&gt;</);
  t.regex(running, /class="pill">running</);

  shared.clock.ms += 90 * 60 * 1000;
  const stopped = await c.post('/timer/stop', { _csrf: csrf });
  t.is(stopped.status, 303);
  const dash = await (await c.get('/')).text();
  t.notRegex(dash, /data-running-project/);
  t.regex(dash, /data-today-total>1:30</);
  t.regex(dash, /<td>Website &lt;redesign&gt;<\/td><td>[^<]+<\/td><td class="num">1:30<\/td>/);
  t.is((await c.post('/timer/stop', { _csrf: csrf })).status, 303); // nothing running → flash, no crash

  const report = await c.get('/reports?from=2025-03-01&to=2025-03-31');
  t.is(report.status, 200);
  const reportHtml = await report.text();
  t.regex(reportHtml, /<td>Website &lt;redesign&gt;<\/td>/);
  t.regex(reportHtml, /data-total>1:30</);
  t.regex(reportHtml, /data-grand-total>1:30</);
  t.regex(await (await c.get('/reports')).text(), /data-grand-total>1:30</, 'the default range (this week) includes today');
  t.is((await c.get('/reports?from=2025-13-01&to=2025-03-31')).status, 400);

  const csv = await c.get('/reports/export.csv?from=2025-03-01&to=2025-03-31');
  t.is(csv.status, 200);
  t.regex(csv.headers.get('content-type') ?? '', /^text\/csv/);
  t.regex(csv.headers.get('content-disposition') ?? '', /^attachment; filename="timetracker-2025-03-01-to-2025-03-31\.csv"/);
  const lines = (await csv.text()).trim().split('\r\n');
  t.is(lines[0], 'date,project,start,end,duration_minutes');
  t.is(lines.length, 2);
  t.regex(lines[1]!, /^\d{4}-\d{2}-\d{2},Website <redesign>,\d{2}:\d{2},\d{4}-\d{2}-\d{2} \d{2}:\d{2},90$/);

  // JSON clients get JSON answers.
  const apiStart = await c.request('/timer/start', { json: { project_id: Number(projectId) }, headers: { 'x-csrf-token': csrf, accept: 'application/json' } });
  t.is(apiStart.status, 201);
  const apiStop = await c.request('/timer/stop', { json: {}, headers: { 'x-csrf-token': csrf, accept: 'application/json' } });
  t.is(apiStop.status, 200);
  t.is(((await apiStop.json()) as { entry: { duration_minutes: number } }).entry.duration_minutes, 0);
});

test.serial('settings: preferences are saved per user; admin settings are admin-only', async (t) => {
  const alice = new CookieClient(shared.url);
  await alice.login('alice');
  const csrf = await alice.csrf('/settings');
  t.is((await alice.post('/settings', { _csrf: csrf, week_start: 'sunday', duration_format: 'decimal' })).status, 303);
  const page = await (await alice.get('/settings')).text();
  t.regex(page, /<option value="sunday" selected>/);
  t.regex(page, /Preferences saved/);
  t.is((await alice.post('/settings', { _csrf: csrf, week_start: 'friday', duration_format: 'hm' })).status, 303);

  const forbidden = await alice.get('/admin/settings');
  t.is(forbidden.status, 403);
  t.regex(await forbidden.text(), /You do not have access/);
  const forbiddenJson = await alice.get('/admin/settings', { accept: 'application/json' });
  t.is(forbiddenJson.status, 403);
  t.deepEqual(Object.keys(((await forbiddenJson.json()) as { error: object }).error).sort(), ['code', 'message']);

  const admin = new CookieClient(shared.url);
  await admin.login('admin');
  const adminPage = await admin.get('/admin/settings');
  t.is(adminPage.status, 200);
  const html = await adminPage.text();
  t.regex(html, /<td>alice<\/td>/);
  t.regex(await (await admin.get('/settings')).text(), /<option value="monday" selected>/, 'preferences are per user');
});

test.serial('unknown routes render a 404 page (or JSON)', async (t) => {
  const c = new CookieClient(shared.url);
  const html = await c.get('/no/such/page');
  t.is(html.status, 404);
  t.regex(await html.text(), /Page not found/);
  const json = await c.get('/no/such/page', { accept: 'application/json' });
  t.is(json.status, 404);
  t.is(((await json.json()) as { error: { code: string } }).error.code, 'not_found');
});

test.serial("the plugin's own routes are mounted by its middleware: usage-stats status is admin-only", async (t) => {
  const anon = new CookieClient(shared.url);
  t.is((await anon.get('/api/v1/usage-stats/status', { accept: 'application/json' })).status, 401);
  const alice = new CookieClient(shared.url);
  await alice.login('alice');
  t.is((await alice.get('/api/v1/usage-stats/status', { accept: 'application/json' })).status, 403);
  const admin = new CookieClient(shared.url);
  await admin.login('admin');
  const res = await admin.get('/api/v1/usage-stats/status', { accept: 'application/json' });
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /application\/json/);
  const body = (await res.json()) as { consent?: { analytics?: unknown }; sink?: { configured?: unknown } };
  t.is(body.consent?.analytics, false, 'detailed analytics are off until an admin opts in');
  t.is(body.sink?.configured, false, 'no OTLP endpoint: nothing is exported anywhere');
});

test.serial('support: every entry point and the modal are on the pages; a CSV export is counted and queues the after_report prompt', async (t) => {
  const c = new CookieClient(shared.url);
  await c.login('alice');
  const html = { accept: 'text/html' };
  const dash = await (await c.get('/', html)).text();
  for (const source of ['header', 'sidebar', 'user_menu', 'dashboard_card']) t.regex(dash, new RegExp(`data-support-open data-support-source="${source}"`), source);
  t.regex(dash, /<meta name="csrf-token" content="[^"]+">/);
  t.regex(dash, /src="\/telemetry\/assets\/support\.js\?v=/);
  t.regex(dash, /role="dialog" aria-modal="true"[^>]*data-support-modal/);
  t.regex(dash, /data-support-tier="coffee"/);
  t.regex(dash, /data-support-toasts/);
  t.regex(dash, /data-support-stats-line>[\d.,]+ hours tracked · \d+ entries · \d+ reports generated</);
  for (const page of ['/settings', '/projects', '/reports']) {
    const body = await (await c.get(page, html)).text();
    t.regex(body, /data-support-modal/, `${page} has the modal`);
    t.regex(body, /data-support-source="header"/, `${page} has the header button`);
  }
  t.regex(await (await c.get('/settings', html)).text(), /data-support-settings[\s\S]*Support &amp; Community[\s\S]*data-support-source="settings"/);

  const alice = (await shared.host.db('users').where({ username: 'alice' }).first('id')) as { id: number };
  const count = async () => Number(((await shared.host.db('telemetry_support_counters').where({ user_id: String(alice.id) }).first()) as { reports_generated?: number } | undefined)?.reports_generated ?? 0);
  const before = await count();
  t.is((await c.get('/reports/export.csv?from=2025-03-01&to=2025-03-31')).status, 200);
  t.is((await c.get('/reports?from=2025-03-01&to=2025-03-31', html)).status, 200, 'a custom report view counts too');
  t.is(await count(), before + 2);
  const next = await (await c.get('/projects', html)).text();
  t.regex(next, /data-support-prompt-page/, 'the next page asks for the after_report prompt');
  t.regex(next, /data-support-stat="reports_generated"><dd>2<\/dd>/);

  // Signed out: none of it.
  const anonymous = await (await new CookieClient(shared.url).get('/login', html)).text();
  t.notRegex(anonymous, /data-support-(open|modal|toasts)/);
});

test.serial('logout ends the session', async (t) => {
  const c = new CookieClient(shared.url);
  await c.login('alice');
  const csrf = await c.csrf('/');
  t.is((await c.post('/logout', { _csrf: 'wrong' })).status, 403);
  const out = await c.post('/logout', { _csrf: csrf });
  t.is(out.status, 303);
  t.is(out.headers.get('location'), '/login');
  t.is((await c.get('/')).status, 302);
});

test('host and plugin migrations coexist in host.sqlite3, and a restart on the same dataDir is fine', async (t) => {
  const dataDir = await tempDirFor(t, 'kct-example-host-restart-');
  const first = await createExampleHost({ dataDir, logger: quiet });
  const tables = async () =>
    (await first.db.raw("SELECT name FROM sqlite_master WHERE type = 'table'")).map((r: { name: string }) => r.name) as string[];
  const names = await tables();
  t.true(names.includes('knex_migrations'), 'the host’s own migrations table');
  t.true(names.includes('telemetry_knex_migrations'), 'the plugin’s migrations table');
  t.true(names.includes('users') && names.includes('projects') && names.includes('time_entries'));
  const hostMigrations = (await first.db('knex_migrations').select('name')).map((r: { name: string }) => r.name);
  t.deepEqual(hostMigrations, ['20250101000000_initial.ts', '20250102000000_user_preferences.ts', '20250103000000_user_language.ts']);
  const pluginMigrations = (await first.db('telemetry_knex_migrations').count({ n: '*' }).first()) as { n: number };
  t.true(Number(pluginMigrations.n) > 0);
  await first.close();

  const second = await createExampleHost({ dataDir, logger: quiet });
  t.teardown(() => second.close());
  t.is(Number(((await second.db('knex_migrations').count({ n: '*' }).first()) as { n: number }).n), 3);
  t.is(Number(((await second.db('telemetry_knex_migrations').count({ n: '*' }).first()) as { n: number }).n), Number(pluginMigrations.n));
  t.is(Number(((await second.db('users').count({ n: '*' }).first()) as { n: number }).n), 2, 'demo users seeded once');
  const { url } = await second.listen();
  const c = new CookieClient(url);
  t.is((await c.login('admin')).status, 303);
  t.is((await c.get('/')).status, 200);

  // The file is an ordinary SQLite database another knex can read.
  const reader = knex({ client: 'sqlite3', connection: { filename: join(dataDir, 'host.sqlite3') }, useNullAsDefault: true });
  t.teardown(() => reader.destroy());
  t.truthy(await reader('users').where({ username: 'alice' }).first());
});
