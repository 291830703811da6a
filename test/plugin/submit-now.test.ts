// "Submit now" (POST {api}/submit-now, admin + CSRF): a submission run right away, answered week by
// week, against the REAL collector; the collector's rate limit reaches the admin as 429 + Retry-After.
// Every answer is checked against docs/openapi.json. On SQLite and PostgreSQL.
import type { ExecutionContext } from 'ava';
import { mondayOf } from '../../src/plugin/stats/aggregation.js';
import { runtimeOf } from '../../src/plugin/internal.js';
import { TABLES } from '../../src/plugin/db/tables.js';
import type { Logger } from '../../src/plugin/types.js';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { startCollector, TestClock } from '../helpers/collector.js';
import { createTestDatabase, testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { until } from '../helpers/fault-watch.js';
import { withOpenApiChecks } from '../helpers/openapi.js';
import { tempDirFor } from '../helpers/tmp.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const WEEK = 7 * DAY;
const API = '/api/v1/usage-stats';
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const week = (n: number) => mondayOf(new Date()).getTime() + n * WEEK;

async function setup(t: ExecutionContext, db: TestDatabase): Promise<{ app: HostApp; clock: { at: number }; proxy: FaultProxy }> {
  const clock = { at: week(1) + HOUR };
  const collectorDb = await createTestDatabase(db.kind);
  t.teardown(() => collectorDb.cleanup());
  const now = () => new Date(clock.at);
  const collector = await startCollector(t, collectorDb, { clock: new TestClock(now()), now });
  // Passes everything to the real collector unless a test scripts an answer for /v1/submit.
  const proxy = await startFaultProxy(collector.url, { match: (path) => path.endsWith('/v1/submit') });
  t.teardown(() => proxy.close());
  const app = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      db: db.config(),
      logger: silent,
      collector: { url: proxy.url },
      submission: { retryBaseMs: 20, maxAttempts: 3, timeoutMs: 5_000 },
      now,
    },
  });
  t.teardown(() => app.close());
  withOpenApiChecks(app);
  return { app, clock, proxy };
}

async function csrfToken(app: HostApp): Promise<string> {
  const html = await (await app.request('/telemetry/stats', { user: 'admin' })).text();
  return /<meta name="csrf-token" content="([^"]+)">/.exec(html)![1]!;
}

const submitNow = (app: HostApp, token: string | null, user: 'admin' | 'alice' | null = 'admin') =>
  app.request(`${API}/submit-now`, { method: 'POST', ...(user ? { user } : {}), headers: token ? { 'x-csrf-token': token } : {} });

const ledgerSize = async (app: HostApp) => Number(((await runtimeOf(app.telemetry).knex(TABLES.submissions).count({ n: '*' }).first()) as { n: unknown }).n);

testEachDatabase('POST {api}/submit-now: admin + CSRF only; answers each week it sent; the collector\'s 429 reaches the admin with Retry-After', async (t, db) => {
  t.timeout(60_000);
  const { app, clock, proxy } = await setup(t, db);
  const token = await csrfToken(app);

  t.is((await submitNow(app, null)).status, 403, 'no CSRF token');
  t.is((await submitNow(app, token, 'alice')).status, 403, 'not an admin');
  t.is((await submitNow(app, token, null)).status, 401, 'not signed in');

  const off = await submitNow(app, token);
  t.is(off.status, 409, 'usage statistics are off');
  t.is(((await off.json()) as { error: { code: string } }).error.code, 'submission_blocked');

  await app.telemetry.consent.set({ usageStats: true });
  await until(async () => (await ledgerSize(app)) === 1, 10_000, 'the opt-in run');

  // Two weeks later: two whole weeks with data are due, sent oldest first in one run.
  for (const n of [1, 2]) {
    const at = new Date(week(n) + 2 * DAY);
    await runtimeOf(app.telemetry).statsRepository.recordBatch([{ event_type: 'timer.started', occurred_at: at, metadata: '{}' }], [], [at]);
  }
  clock.at = week(3) + HOUR;
  const ran = await submitNow(app, token);
  t.is(ran.status, 200);
  const report = (await ran.json()) as { status: string; weeks: { period: { start: string }; result: string; collector_status: number }[] };
  t.is(report.status, 'accepted');
  t.deepEqual(report.weeks.map((w) => [w.period.start, w.result, w.collector_status]), [
    [dayOf(week(1)), 'accepted', 202],
    [dayOf(week(2)), 'accepted', 202],
  ]);

  // Nothing due: an answer saying so, nothing sent.
  const idle = (await (await submitNow(app, token)).json()) as { status: string; reason: string; weeks: unknown[] };
  t.like(idle, { status: 'skipped', weeks: [] });
  t.regex(idle.reason, /nothing to send/);

  // The collector refuses with its rate limit: 429 and its Retry-After, the run retried later by itself.
  clock.at = week(4) + HOUR;
  proxy.script([{ status: 429, retryAfter: '1800' }]);
  const limited = await submitNow(app, token);
  t.is(limited.status, 429);
  t.is(limited.headers.get('retry-after'), '1800');
  const error = ((await limited.json()) as { error: { code: string; details: { weeks: { result: string; collector_status: number; retry_after_seconds: number }[]; retry_in_seconds: number } } }).error;
  t.is(error.code, 'collector_rate_limited');
  t.like(error.details.weeks[0], { result: 'retry_later', collector_status: 429, retry_after_seconds: 1800 });
  t.is(error.details.retry_in_seconds, 1800);
  t.true(runtimeOf(app.telemetry).submission.retryScheduled, 'the week is not lost: a retry is scheduled');
});

testEachDatabase('turning analytics on sends one opt-in install ping per change to on: not at start, not when it is on already', async (t, db) => {
  t.timeout(60_000);
  const { startOtlpReceiver } = await import('../helpers/otlp-receiver.js');
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const dataDir = await tempDirFor(t);
  const start = (env: Record<string, string> = {}) =>
    startHostApp({ telemetry: { dataDir, db: db.config(), logger: silent, env, otlp: { endpoint: receiver.url }, export: { queueCap: 1000, batchSize: 50, intervalMs: 600_000, metricIntervalMs: 600_000 } } });
  const pings = () => receiver.logs.filter((log) => log.body === 'base_telemetry.opt_in');

  let app = await start();
  await app.telemetry.flush();
  t.is(pings().length, 0, 'not at start');
  await app.telemetry.consent.set({ analytics: true });
  await until(() => pings().length === 1, 10_000, 'the ping');
  const [ping] = pings();
  t.is(ping!.attributes.install_id, app.telemetry.status().install_id);
  t.deepEqual(Object.keys(ping!.attributes).filter((k) => !['install_id', 'app_version', 'platform', 'os_version', 'architecture', 'locale', 'timezone', 'first_seen_at', 'last_seen_at', 'release_channel', 'deployment_type'].includes(k)), [], 'base schema only');

  await app.telemetry.consent.set({ analytics: true }); // on already
  await app.telemetry.consent.set({ usageStats: true }); // another category
  await app.close();
  app = await start(); // a restart with analytics on
  await app.telemetry.flush();
  t.is(pings().length, 1, 'no ping for a repeated opt-in, another category or a restart');

  await app.telemetry.consent.set({ analytics: false });
  await app.telemetry.consent.set({ analytics: true });
  await until(() => pings().length === 2, 10_000, 'the second change to on');
  await app.close();

  // A kill switch: nothing leaves, the ping included.
  app = await start({ DO_NOT_TRACK: '1' });
  await app.telemetry.consent.set({ analytics: false });
  await app.telemetry.consent.set({ analytics: true });
  await app.telemetry.flush();
  t.is(pings().length, 2, 'DO_NOT_TRACK: no ping');
  await app.close();
});
