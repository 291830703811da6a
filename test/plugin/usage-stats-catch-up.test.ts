// Missed weeks are never lost (docs/configuration.md, "Missed weeks"): each submission run sends every
// unsubmitted whole UTC week since the last accepted one, oldest first, once each — at the weekly run,
// at start-up when the last accepted submission is over 7 days old, and (capped at 12 weeks) on
// opt-in. Against the REAL collector (its hourly limit included), with one injected clock for both
// sides, on SQLite and PostgreSQL.
import type { ExecutionContext } from 'ava';
import { TABLES } from '../../src/plugin/db/tables.js';
import { MAX_HISTORY_WEEKS, mondayOf } from '../../src/plugin/stats/aggregation.js';
import { runtimeOf } from '../../src/plugin/internal.js';
import { SUBMISSION_JOB } from '../../src/plugin/jobs/submission.js';
import type { Logger } from '../../src/plugin/types.js';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { startCollector, TestClock, type TestCollector } from '../helpers/collector.js';
import { createTestDatabase, testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { until } from '../helpers/fault-watch.js';
import { tempDirFor } from '../helpers/tmp.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const WEEK = 7 * DAY;
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/** Monday 00:00 UTC of the week `n` weeks after the current real week (the plugin's own events land in week 0). */
const week = (n: number) => mondayOf(new Date()).getTime() + n * WEEK;

interface Setup {
  clock: { at: number };
  collector: TestCollector;
  collectorUrl: string;
  dataDir: string;
  db: TestDatabase;
}

async function setup(t: ExecutionContext, db: TestDatabase, at: number, collectorUrl?: (c: TestCollector) => Promise<string>): Promise<Setup> {
  const clock = { at };
  const collectorDb = await createTestDatabase(db.kind);
  t.teardown(() => collectorDb.cleanup());
  const now = () => new Date(clock.at);
  const collector = await startCollector(t, collectorDb, { clock: new TestClock(now()), now });
  return { clock, collector, collectorUrl: collectorUrl ? await collectorUrl(collector) : collector.url, dataDir: await tempDirFor(t), db };
}

async function host(t: ExecutionContext, s: Setup, jobs = false): Promise<HostApp> {
  const app = await startHostApp({
    telemetry: {
      dataDir: s.dataDir,
      db: s.db.config(),
      logger: silent,
      jobs,
      collector: { url: s.collectorUrl },
      submission: { retryBaseMs: 20, maxAttempts: 3, timeoutMs: 5_000 },
      now: () => new Date(s.clock.at),
    },
  });
  t.teardown(() => app.close());
  return app;
}

/** `count` events of week `n` (Wednesday noon) and one uptime hour, as the recorder would have written them. */
async function eventsInWeek(app: HostApp, n: number, count: number): Promise<void> {
  const at = new Date(week(n) + 2 * DAY + 12 * HOUR);
  const events = Array.from({ length: count }, () => ({ event_type: 'timer.started', occurred_at: at, metadata: '{}' }));
  await runtimeOf(app.telemetry).statsRepository.recordBatch(events, [], [at]);
}

async function received(c: TestCollector): Promise<{ start: string; counts: Record<string, number> }[]> {
  const rows = (await c.handle.collector.knex('collector_submissions').orderBy('received_at').orderBy('period_start').select('period_start', 'payload')) as { period_start: string; payload: string }[];
  return rows.map((row) => ({ start: row.period_start, counts: (JSON.parse(row.payload) as { event_counts: Record<string, number> }).event_counts }));
}

async function ledger(app: HostApp) {
  return (await runtimeOf(app.telemetry).knex(TABLES.submissions).orderBy('id').select('period_start', 'status')) as { period_start: string; status: string }[];
}

testEachDatabase('a collector down for ten days: missed weeks are retried, survive a restart, and all arrive when it is back, oldest first, once each', async (t, db) => {
  t.timeout(60_000);
  let proxy!: Awaited<ReturnType<typeof startFaultProxy>>;
  const s = await setup(t, db, week(1) + HOUR, async (c) => {
    proxy = await startFaultProxy(c.url);
    t.teardown(() => proxy.close());
    return proxy.url;
  });
  let app = await host(t, s);
  for (const n of [0, 1, 2]) await eventsInWeek(app, n, n + 1);

  // Monday of week 1: opting in sends week 0.
  await app.telemetry.consent.set({ usageStats: true });
  await until(async () => (await ledger(app)).length === 1, 10_000, 'week 0 accepted');

  // Saturday of week 1 the collector goes down; Monday's run (week 2) cannot reach it, retries, gives up.
  s.clock.at = week(1) + 5 * DAY;
  await proxy.refuse();
  s.clock.at = week(2) + HOUR;
  const down = await runtimeOf(app.telemetry).submission.submitNow();
  t.is(down.status, 'failed');
  t.deepEqual(down.weeks.map((w) => [w.period.start, w.result, w.collector_status]), [[dayOf(week(1)), 'retry_later', null]]);
  await until(async () => (await ledger(app)).filter((e) => e.status === 'failed').length === 3 && !runtimeOf(app.telemetry).submission.retryScheduled, 10_000, 'three failed attempts');

  // Ten days after it went down the collector is back; the host restarts (a new plugin instance, same database).
  await app.close();
  s.clock.at = week(3) + DAY;
  await proxy.accept();
  app = await host(t, s, true);
  await until(async () => (await ledger(app)).filter((e) => e.status === 'accepted').length === 3, 10_000, 'the missed weeks after the restart');

  const weeks = await received(s.collector);
  t.deepEqual(weeks.map((w) => w.start), [dayOf(week(0)), dayOf(week(1)), dayOf(week(2))], 'every week, oldest first, once');
  t.deepEqual(weeks.map((w) => w.counts['timer.started']), [1, 2, 3], 'each week with its own counts');
  const accepted = (await ledger(app)).filter((e) => e.status === 'accepted').map((e) => e.period_start);
  t.deepEqual(accepted, [dayOf(week(0)), dayOf(week(1)), dayOf(week(2))]);

  // Nothing more is due: another run and another restart send nothing.
  t.like(await runtimeOf(app.telemetry).submission.submitNow(), { status: 'skipped', weeks: [] });
  await app.close();
  app = await host(t, s, true);
  await runtimeOf(app.telemetry).scheduler.runNow(SUBMISSION_JOB);
  t.is((await received(s.collector)).length, 3);
});

testEachDatabase('opting in sends the history, capped at 12 weeks; /preview showed exactly those payloads', async (t, db) => {
  t.timeout(60_000);
  const s = await setup(t, db, week(0) + HOUR);
  const app = await host(t, s);
  for (let n = -15; n <= -1; n++) await eventsInWeek(app, n, 1);

  const preview = (await (await app.request('/api/v1/usage-stats/preview', { user: 'admin' })).json()) as { payloads: { period: { start: string } }[] };
  const expected = Array.from({ length: MAX_HISTORY_WEEKS }, (_, i) => dayOf(week(-MAX_HISTORY_WEEKS + i)));
  t.deepEqual(preview.payloads.map((p) => p.period.start), expected, 'the last 12 whole weeks, oldest first');

  await app.telemetry.consent.set({ usageStats: true });
  await until(async () => (await ledger(app)).length === MAX_HISTORY_WEEKS, 15_000, 'the history');
  t.deepEqual((await received(s.collector)).map((w) => w.start), expected, 'one go, in order, none older than the cap');
  // The collector keeps the payload's columns as columns and the rest (event counts, flags) as JSON.
  const stored = (await s.collector.handle.collector
    .knex('collector_submissions')
    .select('period_start', 'period_end', 'app_version', 'error_count', 'payload')
    .orderBy('period_start')) as { period_start: string; period_end: string; app_version: string; error_count: number; payload: string }[];
  const shown = preview.payloads as unknown as { period: { start: string; end: string }; app_version: string; error_count: number; event_counts: unknown; feature_flags: unknown }[];
  t.deepEqual(
    stored.map((r) => ({ period: { start: r.period_start, end: r.period_end }, app_version: r.app_version, error_count: Number(r.error_count), ...pick(JSON.parse(r.payload)) })),
    shown.map((p) => ({ period: p.period, app_version: p.app_version, error_count: p.error_count, ...pick(p) })),
    'exactly what /preview showed',
  );
  t.deepEqual((await (await app.request('/api/v1/usage-stats/preview', { user: 'admin' })).json()).payloads, [], 'nothing left to send');
});

testEachDatabase('a week the collector refuses for its content (422) is recorded, not resent, and does not block the weeks after it', async (t, db) => {
  t.timeout(60_000);
  let proxy!: Awaited<ReturnType<typeof startFaultProxy>>;
  const s = await setup(t, db, week(0) + HOUR, async (c) => {
    proxy = await startFaultProxy(c.url, { match: (path) => path.endsWith('/v1/submit') });
    t.teardown(() => proxy.close());
    return proxy.url;
  });
  const app = await host(t, s);
  for (const n of [-3, -2, -1]) await eventsInWeek(app, n, 1);
  proxy.script([{ status: 422 }]);
  await app.telemetry.consent.set({ usageStats: true });
  await until(async () => (await ledger(app)).length === 3, 10_000, 'the weeks after the refused one');
  t.deepEqual((await received(s.collector)).map((w) => w.start), [dayOf(week(-2)), dayOf(week(-1))]);
  t.deepEqual((await ledger(app)).map((e) => [e.period_start, e.status]), [
    [dayOf(week(-3)), 'rejected'],
    [dayOf(week(-2)), 'accepted'],
    [dayOf(week(-1)), 'accepted'],
  ]);
  s.clock.at = week(1) + HOUR;
  const next = await runtimeOf(app.telemetry).submission.submitNow();
  t.deepEqual(next.weeks.map((w) => w.period.start), [dayOf(week(0))], 'the refused week is not sent again');
});

function pick(payload: { event_counts: unknown; feature_flags: unknown }): { event_counts: unknown; feature_flags: unknown } {
  return { event_counts: payload.event_counts, feature_flags: payload.feature_flags };
}
