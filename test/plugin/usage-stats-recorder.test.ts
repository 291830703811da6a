// Local recording (docs/adding-events.md): every track() is also written to the host's database,
// buffered and batched off the request path, bounded when the database fails, flushed on stop(),
// page views counted per route template per hour, guarded by the privacy guard, off with
// localStats: false — and the example host's real actions show up.
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import knex, { type Knex } from 'knex';
import { TABLES } from '../../src/plugin/db/tables.js';
import { DEFAULT_SQLITE_FILE } from '../../src/core/db/connection.js';
import { migrateLatest } from '../../src/plugin/db/migration-source.js';
import { UsageStatsRepository, type EventRow, type PageviewIncrement } from '../../src/plugin/stats/repository.js';
import { LocalStatsRecorder } from '../../src/plugin/stats/recorder.js';
import { APP_STARTED, APP_STOPPED } from '../../src/plugin/runtime.js';
import { UNMATCHED_ROUTE } from '../../src/plugin/middleware/request-tracking.js';
import type { Logger } from '../../src/plugin/types.js';
import { createExampleHost } from '../../example-host/app.js';
import { createTestDatabase } from '../helpers/databases.js';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';
import { waitUntil } from '../helpers/submission-receiver.js';
import { CookieClient } from '../helpers/cookie-client.js';
import { runtimeOf } from '../../src/plugin/internal.js';

const HOUR = 3_600_000;
const tick = () => new Promise<void>((done) => setImmediate(done));
const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

function recordingLogger(): Logger & { warnings: unknown[][]; infos: unknown[][] } {
  const warnings: unknown[][] = [];
  const infos: unknown[][] = [];
  return { debug: () => {}, info: (...a: unknown[]) => void infos.push(a), warn: (...a: unknown[]) => void warnings.push(a), error: () => {}, warnings, infos };
}

interface StoredRow {
  id: number;
  event_type: string;
  metadata: string;
}

async function eventRows(k: Knex): Promise<StoredRow[]> {
  return (await k(TABLES.usageEvents).orderBy('id').select('id', 'event_type', 'metadata')) as StoredRow[];
}

/** A migrated SQLite database and a repository whose recordBatch calls are counted. */
async function sqliteRepository(t: ExecutionContext) {
  const db = await createTestDatabase('sqlite');
  t.teardown(() => db.cleanup());
  await migrateLatest(db.knex);
  const repo = new UsageStatsRepository(db.knex);
  const batches: { events: EventRow[]; pageviews: PageviewIncrement[]; uptime: Date[] }[] = [];
  const original = repo.recordBatch.bind(repo);
  repo.recordBatch = async (events, pageviews, uptime) => {
    batches.push({ events, pageviews, uptime });
    return original(events, pageviews, uptime);
  };
  return { db, repo, batches };
}

async function host(t: ExecutionContext, telemetry: Record<string, unknown> = {}): Promise<HostApp & { dataDir: string }> {
  const dataDir = await tempDirFor(t);
  const app = await startHostApp({ telemetry: { dataDir, recorder: { intervalMs: 20 }, ...telemetry } });
  t.teardown(() => app.close());
  return Object.assign(app, { dataDir });
}

/** A knex on the plugin's default SQLite file in dataDir (for looking after the plugin has stopped). */
function fileKnex(t: ExecutionContext, dataDir: string): Knex {
  const k = knex({ client: 'sqlite3', connection: { filename: join(dataDir, DEFAULT_SQLITE_FILE) }, useNullAsDefault: true });
  t.teardown(() => k.destroy());
  return k;
}

// ------------------------------------------------------------------------------------ one call

test('track() — handle and ctx.telemetry — lands in telemetry_usage_events (no second API)', async (t) => {
  const app = await host(t);
  t.true(app.telemetry.track('report.exported', { format: 'csv', rows: 12 }));
  const response = await app.request('/timer/start', { method: 'POST', user: 'alice' });
  t.is(response.status, 201);
  const k = runtimeOf(app.telemetry).knex;
  await waitUntil(async () => (await eventRows(k)).some((r) => r.event_type === 'timer.started'), 3_000, 'timer.started row');
  const rows = await eventRows(k);
  const report = rows.find((r) => r.event_type === 'report.exported')!;
  t.deepEqual(JSON.parse(report.metadata), { format: 'csv', rows: 12 });
  t.deepEqual(JSON.parse(rows.find((r) => r.event_type === 'timer.started')!.metadata), { source: 'web' });
  t.false(rows.some((r) => r.metadata.includes('"user') || r.metadata.includes('pseudonym')), 'no user id or pseudonym is stored with a local event');
  // Recorded whatever the sharing consent: both categories are off by default.
  t.deepEqual([app.telemetry.consent.get().analytics, app.telemetry.consent.get().usageStats], [false, false]);
});

test('flush() writes buffered local statistics at once, without waiting for the interval', async (t) => {
  const app = await host(t, { recorder: { intervalMs: 3_600_000 } });
  t.true(app.telemetry.track('report.exported', { format: 'csv' }));
  t.is((await app.request('/hello')).status, 200);
  t.true(await app.telemetry.flush());
  const k = runtimeOf(app.telemetry).knex;
  t.true((await eventRows(k)).some((r) => r.event_type === 'report.exported'));
  t.true(Number(((await k(TABLES.pageviewCounts).sum({ n: 'count' }).first()) as { n: number | string }).n) >= 1, 'the page view is counted');
});

test("the plugin's own app.started is recorded at ready(), app.stopped at stop(), and stop() flushes the buffer", async (t) => {
  const dataDir = await tempDirFor(t);
  // Nothing but stop() would write: huge interval and batch size.
  const app = await startHostApp({ telemetry: { dataDir, recorder: { intervalMs: 600_000, batchSize: 10_000 } } });
  app.telemetry.track('timer.started', { source: 'web' });
  app.telemetry.track('timer.stopped', { source: 'web', duration_minutes: 25 });
  await tick();
  t.is((await eventRows(runtimeOf(app.telemetry).knex)).length, 0, 'still buffered');
  t.true(app.telemetry.status().local_stats.buffered >= 3);
  await app.close();

  const rows = await eventRows(fileKnex(t, dataDir));
  t.deepEqual(rows.map((r) => r.event_type), [APP_STARTED, 'timer.started', 'timer.stopped', APP_STOPPED]);
  t.deepEqual(JSON.parse(rows[0]!.metadata), { app_version: '9.9.9' });
});

// ------------------------------------------------------------------------------------ triggers

test('the batch-size trigger writes one batch (one recordBatch call) without waiting for the interval', async (t) => {
  const { db, repo, batches } = await sqliteRepository(t);
  const recorder = new LocalStatsRecorder(repo, { batchSize: 5, intervalMs: 600_000, cap: 100, logger: recordingLogger(), nowMs: Date.now });
  recorder.start();
  t.teardown(() => recorder.stop());
  for (let i = 0; i < 4; i++) recorder.recordEvent('timer.started', { i }, new Date());
  await sleep(50);
  t.is((await eventRows(db.knex)).length, 0, 'below the batch size nothing is written yet');
  t.is(batches.length, 0);
  recorder.recordEvent('timer.started', { i: 4 }, new Date());
  await waitUntil(async () => (await eventRows(db.knex)).length === 5, 3_000, 'five rows');
  t.is(batches.length, 1, 'one batch, one transaction');
  t.is(batches[0]!.events.length, 5);
  t.is(recorder.written, 5);
  t.is(recorder.depth, 0);
});

test('the interval trigger writes what is buffered', async (t) => {
  const { db, repo } = await sqliteRepository(t);
  const recorder = new LocalStatsRecorder(repo, { batchSize: 1_000, intervalMs: 25, cap: 100, logger: recordingLogger(), nowMs: Date.now });
  recorder.start();
  t.teardown(() => recorder.stop());
  recorder.recordEvent('a.one', {}, new Date());
  recorder.recordEvent('a.two', { ok: true }, new Date());
  await waitUntil(async () => (await eventRows(db.knex)).length === 2, 3_000, 'interval flush');
  t.deepEqual((await eventRows(db.knex)).map((r) => r.event_type), ['a.one', 'a.two']);
  // The interval also notes the hours the app was up.
  t.true(Number(((await db.knex(TABLES.uptimeHours).count({ n: '*' }).first()) as { n: number }).n) >= 1);
});

test('an idle host is not written to on every interval: the uptime hour is written once per hour', async (t) => {
  const { db, repo, batches } = await sqliteRepository(t);
  const recorder = new LocalStatsRecorder(repo, { batchSize: 1_000, intervalMs: 10, cap: 100, logger: recordingLogger(), nowMs: Date.now });
  recorder.start();
  t.teardown(() => recorder.stop());
  await sleep(300); // some thirty intervals with nothing recorded
  t.is(batches.length, 1, 'one write: the uptime hour, noted at start');
  t.is(batches[0]!.uptime.length, 1);
  t.is(Number(((await db.knex(TABLES.uptimeHours).count({ n: '*' }).first()) as { n: number }).n), 1);
  // After delete-all emptied the tables, the current hour is noted again.
  await db.knex(TABLES.uptimeHours).delete();
  recorder.clear();
  await waitUntil(async () => Number(((await db.knex(TABLES.uptimeHours).count({ n: '*' }).first()) as { n: number }).n) === 1, 3_000, 'uptime noted again');
  t.is(batches.length, 2);
});

test('before start() (tables may not exist yet) flush() keeps buffering and writes nothing', async (t) => {
  const { db, repo, batches } = await sqliteRepository(t);
  const recorder = new LocalStatsRecorder(repo, { batchSize: 1, intervalMs: 25, cap: 100, logger: recordingLogger(), nowMs: Date.now });
  recorder.recordEvent('early.bird', {}, new Date());
  await recorder.flush();
  t.is(batches.length, 0);
  t.is(recorder.depth, 1);
  recorder.start();
  await recorder.flush();
  t.deepEqual((await eventRows(db.knex)).map((r) => r.event_type), ['early.bird']);
  await recorder.stop();
  recorder.recordEvent('after.stop', {}, new Date());
  t.is(recorder.depth, 0, 'nothing is buffered after stop()');
});

// ------------------------------------------------------------------------------------ failures

test('bounded while the database fails: oldest events dropped and counted, one warning, retried when it is back', async (t) => {
  const logger = recordingLogger();
  const written: EventRow[] = [];
  let failing = true;
  const repo = {
    recordBatch: async (events: EventRow[]) => {
      if (failing) throw new Error('SQLITE_BUSY: database is locked');
      written.push(...events);
    },
  } as unknown as UsageStatsRepository;
  const recorder = new LocalStatsRecorder(repo, { batchSize: 1_000, intervalMs: 600_000, cap: 10, logger, nowMs: Date.now });
  recorder.start();
  t.teardown(() => recorder.stop());

  for (let i = 0; i < 25; i++) recorder.recordEvent('e.n', { i }, new Date());
  t.is(recorder.depth, 10, 'never more than the cap in memory');
  t.is(recorder.dropped, 15);
  await t.notThrowsAsync(recorder.flush());
  await t.notThrowsAsync(recorder.flush());
  t.is(recorder.depth, 10, 'the failed batch is kept (within the cap)');
  t.regex(recorder.lastError!, /database is locked/);
  t.is(logger.warnings.length, 1, 'an outage is logged once, not per flush');

  // More events while it is down: still bounded, the oldest go first.
  for (let i = 25; i < 30; i++) recorder.recordEvent('e.n', { i }, new Date());
  await recorder.flush();
  t.is(recorder.depth, 10);
  t.is(recorder.dropped, 20);

  failing = false;
  await recorder.flush();
  t.deepEqual(written.map((e) => JSON.parse(e.metadata).i), [20, 21, 22, 23, 24, 25, 26, 27, 28, 29], 'the newest ten survive, in order');
  t.is(recorder.lastError, null);
  t.is(recorder.depth, 0);
  t.true(logger.infos.some((args) => String(args[0]).includes('written again')), 'recovery is noted');
});

test('the host keeps working when the plugin database fails (table gone): routes answer, drops are counted', async (t) => {
  const app = await host(t, { recorder: { intervalMs: 20, cap: 10 } });
  await runtimeOf(app.telemetry).knex.schema.dropTable(TABLES.usageEvents);

  const started = Date.now();
  for (let i = 0; i < 40; i++) {
    const response = await app.request(`/projects/${i}`, { user: 'alice' });
    t.is(response.status, 200);
    await response.arrayBuffer();
  }
  t.true(Date.now() - started < 5_000, 'requests are not held up by the failing writes');
  await waitUntil(() => app.telemetry.status().local_stats.dropped > 0 && app.telemetry.status().local_stats.last_error !== null, 3_000, 'drops counted');
  const status = app.telemetry.status().local_stats;
  t.true(status.enabled);
  t.true(status.buffered <= 10);
  t.regex(status.last_error!, /telemetry_usage_events|no such table/);
  t.is((await app.request('/hello')).status, 200);

  // The admin's JSON view fails as a JSON error, not a crash; the status route still answers.
  const local = await app.request('/api/v1/usage-stats/local', { user: 'admin' });
  t.is(local.status, 500);
  t.deepEqual(Object.keys((await local.json()).error).sort(), ['code', 'message']);
  t.is((await app.request('/api/v1/usage-stats/status', { user: 'admin' })).status, 200);

  // stop() still resolves within its cap.
  const stopping = Date.now();
  await app.telemetry.stop();
  t.true(Date.now() - stopping < 3_000);
});

// ------------------------------------------------------------------------------------ page views

test('page views are counted per route template per hour — never the raw URL or query', async (t) => {
  const app = await host(t);
  const paths = ['/projects/4711?email=bob%40example.com&token=abc', '/projects/42', '/projects/42#x', '/hello', '/hello?q=secret-search', '/no/such/page/123', '/boom'];
  for (const path of paths) await (await app.request(path, { user: 'alice' })).arrayBuffer();
  // The plugin's own routes are not host page views.
  await (await app.request('/api/v1/usage-stats/status', { user: 'admin' })).arrayBuffer();
  await runtimeOf(app.telemetry).recorder!.flush();

  const rows = (await runtimeOf(app.telemetry).knex(TABLES.pageviewCounts).select('route', 'hour_start', 'count')) as { route: string; hour_start: unknown; count: number }[];
  const byRoute = new Map<string, number>();
  for (const row of rows) {
    byRoute.set(row.route, (byRoute.get(row.route) ?? 0) + Number(row.count));
    t.is(new Date(row.hour_start as number).getTime() % HOUR, 0, 'bucketed to the hour');
  }
  t.deepEqual(Object.fromEntries(byRoute), { '/projects/:id': 3, '/hello': 2, [UNMATCHED_ROUTE]: 1, '/boom': 1 });
  const dump = JSON.stringify(rows);
  for (const raw of ['4711', 'example.com', 'token', 'secret-search', '/no/such', '?']) t.false(dump.includes(raw), `${raw} is not stored`);
  t.false((await eventRows(runtimeOf(app.telemetry).knex)).some((r) => r.event_type.includes('page')), 'page views are not stored one row per request');

  const local = await (await app.request('/api/v1/usage-stats/local', { user: 'admin' })).json();
  t.deepEqual(
    Object.fromEntries((local.this_week.pageviews_by_route as { route: string; count: number }[]).map((r) => [r.route, r.count])),
    { '/projects/:id': 3, '/hello': 2, [UNMATCHED_ROUTE]: 1, '/boom': 1 },
  );
});

test('with the system clock a page view reads no clock: the hour is read once, again after each write, and changes at its end', async (t) => {
  const { db, repo } = await sqliteRepository(t);
  // A clock 30 ms before an hour ends, moved by hand; every read the recorder makes is counted.
  const boundary = Date.UTC(2026, 0, 5, 11);
  let now = boundary - 30;
  let reads = 0;
  const nowMs = () => {
    reads++;
    return now;
  };
  const recorder = new LocalStatsRecorder(repo, { batchSize: 1_000, intervalMs: 600_000, cap: 100, logger: recordingLogger(), nowMs, hourTimer: true });
  recorder.start();
  t.teardown(() => recorder.stop());
  const afterStart = reads;
  for (let i = 0; i < 100; i++) recorder.recordPageView('/projects/:id');
  t.is(reads - afterStart, 1, 'one clock read for a hundred page views');

  await recorder.flush();
  recorder.recordPageView('/projects/:id');
  t.is(reads - afterStart, 2, 'read again after the write');

  // The hour ends: the timer armed for it (30 ms) fires before this later one, and the next page
  // view reads the clock again and lands in the new hour.
  now = boundary + 1;
  await sleep(60);
  for (let i = 0; i < 7; i++) recorder.recordPageView('/projects/:id');
  await recorder.flush();
  const rows = (await db.knex(TABLES.pageviewCounts).select('hour_start', 'count')) as { hour_start: unknown; count: number }[];
  const byHour = new Map<number, number>();
  for (const row of rows) {
    const hour = new Date(row.hour_start as number).getTime();
    byHour.set(hour, (byHour.get(hour) ?? 0) + Number(row.count));
  }
  t.deepEqual(Object.fromEntries(byHour), { [boundary - HOUR]: 101, [boundary]: 7 });
});

test('an injected clock is read for every page view: it may jump at any moment', async (t) => {
  const { db, repo } = await sqliteRepository(t);
  let now = Date.UTC(2026, 0, 5, 10, 30);
  const recorder = new LocalStatsRecorder(repo, { batchSize: 1_000, intervalMs: 600_000, cap: 100, logger: recordingLogger(), nowMs: () => now });
  recorder.start();
  t.teardown(() => recorder.stop());
  recorder.recordPageView('/a');
  now += 7 * 24 * HOUR;
  recorder.recordPageView('/a');
  await recorder.flush();
  const hours = ((await db.knex(TABLES.pageviewCounts).select('hour_start')) as { hour_start: unknown }[]).map((r) => new Date(r.hour_start as number).getTime());
  t.deepEqual(hours.sort(), [Date.UTC(2026, 0, 5, 10), Date.UTC(2026, 0, 12, 10)]);
});

// ------------------------------------------------------------------------------------ guard / off

test('the privacy guard runs before storage: PII keys and unknown values keep only the marker, personal keys are dropped, bad names refused', async (t) => {
  const app = await host(t);
  const before = app.telemetry.status().privacy_guard;
  t.true(
    app.telemetry.track('import.finished', {
      email: 'alice@example.com',
      Username: 'alice',
      Full_Name: 'Alice Liddell',
      note: 'mail me at alice@example.com',
      origin: '203.0.113.7',
      auth: 'Bearer abcdefghijklmnop',
      rows: 3,
      ok: true,
      nested: { deep: 1 },
      list: [1, 2],
      long: 'x'.repeat(300),
      '203.0.113.8': 1,
    }),
  );
  t.false(app.telemetry.track('Import Finished!', { rows: 1 }), 'invalid names are refused');
  t.false(app.telemetry.track('base_telemetry.first_seen', {}), 'the reserved prefix is refused');
  await tick();
  await runtimeOf(app.telemetry).recorder!.flush();

  const rows = await eventRows(runtimeOf(app.telemetry).knex);
  t.deepEqual(rows.map((r) => r.event_type).filter((n) => n !== APP_STARTED), ['import.finished']);
  const R = '[redacted]';
  t.deepEqual(JSON.parse(rows.find((r) => r.event_type === 'import.finished')!.metadata), {
    email: R,
    Username: R,
    Full_Name: R,
    note: R,
    origin: R,
    auth: R,
    rows: 3,
    ok: true,
    nested: R,
    list: R,
    long: R,
  });
  const after = app.telemetry.status().privacy_guard;
  t.is(after.dropped_keys - before.dropped_keys, 1);
  t.is(after.redacted_values - before.redacted_values, 9);
  t.is(after.rejected_events - before.rejected_events, 2);
});

test('localStats: false records nothing at all (events, page views, start/stop)', async (t) => {
  const dataDir = await tempDirFor(t);
  const app = await startHostApp({ telemetry: { dataDir, localStats: false, recorder: { intervalMs: 20 } } });
  t.is(runtimeOf(app.telemetry).recorder, null);
  t.false(app.telemetry.status().local_stats.enabled);
  app.telemetry.track('timer.started', { source: 'web' });
  await (await app.request('/projects/1', { user: 'alice' })).arrayBuffer();
  const local = await (await app.request('/api/v1/usage-stats/local', { user: 'admin' })).json();
  t.deepEqual(local.recorder, { disabled: true });
  t.is(local.totals.events, 0);
  await app.close();

  const k = fileKnex(t, dataDir);
  t.is((await eventRows(k)).length, 0);
  t.is(Number(((await k(TABLES.pageviewCounts).count({ n: '*' }).first()) as { n: number }).n), 0);
  t.is(Number(((await k(TABLES.uptimeHours).count({ n: '*' }).first()) as { n: number }).n), 0);
});

// ------------------------------------------------------------------------------------ example host

test("the example host's real actions (login, project, timers, report export, errors from its error handler) show up locally", async (t) => {
  const dataDir = await tempDirFor(t);
  const example = await createExampleHost({ dataDir, logger: { info() {}, error() {} }, telemetry: { env: {}, jobs: false, recorder: { intervalMs: 20 } } });
  const server = await example.listen(0, '127.0.0.1');
  t.teardown(async () => {
    await server.close();
    await example.close();
  });
  const client = new CookieClient(server.url);
  t.is((await client.request('/login', { form: { username: 'admin', password: 'demo' } })).status, 303);
  const csrf = await client.csrf('/projects');
  t.is((await client.request('/projects', { form: { _csrf: csrf, name: 'Website' } })).status, 303);
  const projectPage = await (await client.request('/')).text();
  const projectId = /<option value="(\d+)"/.exec(projectPage)![1]!;
  t.is((await client.request('/timer/start', { form: { _csrf: csrf, project_id: projectId } })).status, 303);
  t.is((await client.request('/timer/stop', { form: { _csrf: csrf } })).status, 303);
  t.is((await client.request('/reports/export.csv')).status, 200);
  t.is((await client.request('/reports?from=not-a-date&to=2026-01-01')).status, 400, 'the host error handler answers');

  const counts = async () => {
    const local = await (await client.request('/api/v1/usage-stats/local')).json();
    return Object.fromEntries((local.by_type as { event_type: string; count: number }[]).map((r) => [r.event_type, r.count]));
  };
  await waitUntil(async () => (await counts())['app.error'] === 1, 3_000, 'app.error recorded');
  const byType = await counts();
  for (const name of ['app.started', 'auth.login', 'project.created', 'timer.started', 'timer.stopped', 'report.exported', 'app.error']) {
    t.true((byType[name] ?? 0) >= 1, `${name} is recorded (${JSON.stringify(byType)})`);
  }
  const rows = await eventRows(runtimeOf(example.telemetry).knex);
  t.deepEqual(JSON.parse(rows.find((r) => r.event_type === 'app.error')!.metadata), { status_code: 400, route: '/reports' });
});

test('page views still waiting to be counted when their hour ends are counted in that hour', async (t) => {
  const { db, repo } = await sqliteRepository(t);
  const boundary = Date.UTC(2026, 0, 5, 11);
  let now = boundary - 30;
  const recorder = new LocalStatsRecorder(repo, { batchSize: 1_000, intervalMs: 600_000, cap: 100, logger: recordingLogger(), nowMs: () => now, hourTimer: true });
  recorder.start();
  t.teardown(() => recorder.stop());
  for (let i = 0; i < 5; i++) recorder.recordPageView('/projects/:id');
  // The hour ends before any write: its timer (30 ms) counts what was batched in it.
  now = boundary + 1;
  await sleep(60);
  for (let i = 0; i < 3; i++) recorder.recordPageView('/projects/:id');
  await recorder.flush();
  const rows = (await db.knex(TABLES.pageviewCounts).select('hour_start', 'count')) as { hour_start: unknown; count: number }[];
  t.deepEqual(Object.fromEntries(rows.map((row) => [new Date(row.hour_start as number).getTime(), Number(row.count)])), { [boundary - HOUR]: 5, [boundary]: 3 });
});

test('delete-all also drops the page views not yet counted', async (t) => {
  const { db, repo } = await sqliteRepository(t);
  const recorder = new LocalStatsRecorder(repo, { batchSize: 1_000, intervalMs: 600_000, cap: 100, logger: recordingLogger(), nowMs: () => Date.now(), hourTimer: true });
  recorder.start();
  t.teardown(() => recorder.stop());
  for (let i = 0; i < 10; i++) recorder.recordPageView('/projects/:id');
  recorder.clear();
  await recorder.flush();
  t.deepEqual(await db.knex(TABLES.pageviewCounts).select('route'), []);
  recorder.recordPageView('/after');
  await recorder.flush();
  t.deepEqual((await db.knex(TABLES.pageviewCounts).select('route', 'count')).map((row: { route: string; count: number }) => [row.route, Number(row.count)]), [['/after', 1]]);
});

test('a matched route is kept only as its safe template: e-mails, long numbers, RegExp routes and overlong strings share the unmatched bucket', async (t) => {
  const { db, repo } = await sqliteRepository(t);
  const recorder = new LocalStatsRecorder(repo, { batchSize: 1_000, intervalMs: 600_000, cap: 100, logger: recordingLogger(), nowMs: () => Date.now(), hourTimer: true });
  recorder.start();
  t.teardown(() => recorder.stop());
  for (const matched of ['/users/jane@example.com', '/orders/12345678', /^\/legacy\/(\d+)$/, `/${'x'.repeat(10_000)}`, undefined, '/projects/:id', '/projects/:id']) recorder.recordPageView(matched);
  await recorder.flush();
  const rows = (await db.knex(TABLES.pageviewCounts).select('route', 'count')) as { route: string; count: number }[];
  t.deepEqual(Object.fromEntries(rows.map((row) => [row.route, Number(row.count)])), { [UNMATCHED_ROUTE]: 5, '/projects/:id': 2 });
});

test('page views in runs and in alternation are counted exactly, across batches', async (t) => {
  const { db, repo } = await sqliteRepository(t);
  const recorder = new LocalStatsRecorder(repo, { batchSize: 1_000, intervalMs: 600_000, cap: 100, logger: recordingLogger(), nowMs: () => Date.now(), hourTimer: true });
  recorder.start();
  t.teardown(() => recorder.stop());
  // Equal templates in new strings, the unmatched bucket reached by two values, runs of 1 to 40 views
  // and single views in between, then routes alternating view by view (more runs than a batch of
  // 256 holds); 1,600 views in all.
  const matched: unknown[] = ['/projects/:id', ['/projects', ':id'].join('/'), '/hello', undefined, '/users/jane@example.com'];
  const expectedRoute = ['/projects/:id', '/projects/:id', '/hello', UNMATCHED_ROUTE, UNMATCHED_ROUTE];
  const expected: Record<string, number> = {};
  let views = 0;
  for (let run = 0; views < 1_600; run++) {
    const which = (run * 7) % matched.length;
    const length = views >= 1_000 ? 1 : Math.min(run % 3 === 0 ? 1 : 1 + ((run * 13) % 40), 1_000 - views);
    for (let i = 0; i < length; i++) recorder.recordPageView(matched[which]);
    expected[expectedRoute[which]!] = (expected[expectedRoute[which]!] ?? 0) + length;
    views += length;
  }
  await recorder.flush();
  const rows = (await db.knex(TABLES.pageviewCounts).select('route', 'count')) as { route: string; count: number }[];
  t.deepEqual(Object.fromEntries(rows.map((row) => [row.route, Number(row.count)])), expected);
});
