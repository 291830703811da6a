// Erasure is complete at the collector: besides the installation and its submissions, everything it
// added to the daily and weekly rollups is taken back out in the same transaction, so every /stats
// route answers exactly as a collector that never saw it.
import test from 'ava';
import { PATHS, SIGNED, signedHeaders, type SubmissionPayload } from '../../src/core/protocol.js';
import { contributionOf, rollupChange, type ReportedState } from '../../src/collector/storage/rollup-deltas.js';
import { payloadFor, register, startCollector, submit, TestClock, type Installation, type TestCollector } from '../helpers/collector.js';
import { createTestDatabase, testEachDatabase, type TestDatabase } from '../helpers/databases.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ERASED_ID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const KEPT_ID = '7c9e6679-7425-40de-944b-e07fc1f90ae7';

const STATS_ROUTES = [
  '/stats/overview',
  '/stats/installations?days=30',
  '/stats/installations?days=90&interval=week',
  '/stats/deployment-modes?window=30',
  '/stats/versions?window=30',
  '/stats/geography?window=30',
  '/stats/platforms?window=30',
  '/stats/features?window=30',
  '/stats/version-migration?weeks=12',
  '/stats/feature-trends?weeks=12',
  '/stats/errors?weeks=12',
  '/stats/anomalies',
  '/stats/errors-by-version-mode?window=30',
  '/stats/feature-adoption?window=30',
  '/stats/export?window=30&weeks=12&days=30',
];

async function statsOf(c: TestCollector): Promise<Record<string, unknown>> {
  const answers: Record<string, unknown> = {};
  for (const route of STATS_ROUTES) {
    const response = await c.admin(route);
    if (response.status !== 200) throw new Error(`${route} answered ${response.status}: ${await response.text()}`);
    answers[route] = await response.json();
  }
  return answers;
}

async function accepted(c: TestCollector, install: Installation, payload: SubmissionPayload): Promise<void> {
  const response = await submit(c.url, c.clock, install, payload);
  if (response.status !== 202) throw new Error(`submit answered ${response.status}: ${await response.text()}`);
}

/** Rollup rows as a comparable list (shards summed away: the two installations share none). */
async function rollupRows(db: TestDatabase): Promise<unknown[]> {
  const rows = [
    ...(await db.knex('collector_daily_rollups').select({ period: 'day' }, 'dimension', 'bucket', 'installations', 'submissions', 'errors', 'error_installations', 'events')),
    ...(await db.knex('collector_weekly_rollups').select({ period: 'week_start' }, 'dimension', 'bucket', 'installations', 'submissions', 'errors', 'error_installations', 'events')),
  ] as Record<string, unknown>[];
  return rows
    .map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v])))
    .map((r) => JSON.stringify(r))
    .sort();
}

testEachDatabase('an erased installation leaves no trace in any /stats answer: the same answers as a collector that only ever saw the other one', async (t, db) => {
  const withBoth = await startCollector(t, db, { kThreshold: 1, clock: new TestClock('2026-02-23T09:00:00Z') });
  const otherDb = await createTestDatabase(db.kind);
  t.teardown(() => otherDb.cleanup());
  const onlyKept = await startCollector(t, otherDb, { kThreshold: 1, clock: new TestClock('2026-02-23T09:00:00Z') });
  const both = [withBoth, onlyKept];
  const advance = (ms: number) => both.forEach((c) => c.clock.advance(ms));

  const erased = await register(withBoth.url, ERASED_ID);
  const keptHere = await register(withBoth.url, KEPT_ID);
  const keptThere = await register(onlyKept.url, KEPT_ID);
  const kept = async (payload: SubmissionPayload) => {
    await accepted(withBoth, keptHere, payload);
    await accepted(onlyKept, keptThere, payload);
  };
  const ofErased = (over: Partial<SubmissionPayload>) => payloadFor(ERASED_ID, over);
  const ofKept = (over: Partial<SubmissionPayload>) => payloadFor(KEPT_ID, over);
  const week = (start: string, end: string) => ({ period: { start, end } });

  // Week 1: both submit; the erased one twice on one day (a new version and an error: its first
  // buckets give the installation back), and again on the next day.
  await accepted(withBoth, erased, ofErased({ ...week('2026-02-16', '2026-02-23'), app_version: '1.3.0', feature_flags: { sso_enabled: true } }));
  await kept(ofKept({ ...week('2026-02-16', '2026-02-23'), app_version: '1.4.0' }));
  advance(2 * HOUR);
  await accepted(withBoth, erased, ofErased({ ...week('2026-02-09', '2026-02-16'), app_version: '1.4.0', error_count: 3, country: 'FR', feature_flags: { sso_enabled: false, webhooks: true } }));
  advance(DAY);
  await accepted(withBoth, erased, ofErased({ ...week('2026-02-02', '2026-02-09'), app_version: '1.4.0', deployment_type: 'native', platform: 'darwin' }));
  // Week 2: both again, the kept one with errors.
  advance(6 * DAY);
  await accepted(withBoth, erased, ofErased({ ...week('2026-02-23', '2026-03-02'), app_version: '1.5.0', event_counts: { 'timer.started': 40 } }));
  await kept(ofKept({ ...week('2026-02-23', '2026-03-02'), app_version: '1.5.0', error_count: 1 }));
  advance(8 * DAY);
  await kept(ofKept({ ...week('2026-03-02', '2026-03-09'), app_version: '1.5.0' }));
  advance(HOUR);

  const before = await statsOf(withBoth);
  t.notDeepEqual(before, await statsOf(onlyKept), 'control: the erased installation shows before its erasure');

  const response = await fetch(`${withBoth.url}${PATHS.installation(ERASED_ID)}`, {
    method: 'DELETE',
    headers: signedHeaders(SIGNED.erase(ERASED_ID), ERASED_ID, erased.secret, '', withBoth.clock.seconds()),
  });
  t.is(response.status, 200);
  t.like(await response.json(), { deleted: true, submissions_deleted: 4 });

  t.deepEqual(await statsOf(withBoth), await statsOf(onlyKept));
  t.deepEqual(await rollupRows(db), await rollupRows(otherDb), 'the rollup tables hold exactly what the other collector holds');

  // And later activity of the kept installation keeps both collectors in step.
  advance(2 * DAY);
  await kept(ofKept({ ...week('2026-03-09', '2026-03-16'), app_version: '1.6.0' }));
  t.deepEqual(await statsOf(withBoth), await statsOf(onlyKept));
});

testEachDatabase('an admin erasure takes the rollups back out too', async (t, db) => {
  const c = await startCollector(t, db, { kThreshold: 1 });
  const install = await register(c.url);
  await accepted(c, install, payloadFor(install.installId));
  t.is((await c.adminJson('/stats/overview')).submissions_today, 1);
  t.is((await c.admin(PATHS.installation(install.installId), { method: 'DELETE' })).status, 200);
  const overview = await c.adminJson('/stats/overview');
  t.like(overview, { total: 0, new_7d: 0, submissions_today: 0, submissions_7d: 0 });
  t.is(Number(((await db.knex('collector_daily_rollups').count({ n: '*' }).first()) as { n: unknown }).n), 0);
  t.is(Number(((await db.knex('collector_weekly_rollups').count({ n: '*' }).first()) as { n: unknown }).n), 0);
});

test('contributionOf: exactly what rollupChange added over an installation\'s submissions, plus its registration', (t) => {
  const state = (over: Partial<ReportedState>): ReportedState => ({ appVersion: '1.0.0', platform: 'linux', deploymentType: 'docker', country: 'DE', features: ['sso'], errorCount: 0, ...over });
  const registeredAt = new Date('2026-03-16T08:00:00Z');
  const sent = [
    { receivedAt: new Date('2026-03-16T09:00:00Z'), state: state({}), events: 5 },
    { receivedAt: new Date('2026-03-16T11:00:00Z'), state: state({ appVersion: '1.1.0', errorCount: 2 }), events: 7 },
    { receivedAt: new Date('2026-03-18T11:00:00Z'), state: state({ features: [] }), events: 1 },
  ];
  // Sum what ingest added, submission by submission, as the collector does.
  const added = new Map<string, number[]>();
  const add = (granularity: string, rows: { period: string; dimension: string; bucket: string; installations: number; submissions: number; errors: number; error_installations: number; events: number }[]) => {
    for (const r of rows) {
      const key = `${granularity}|${r.period}|${r.dimension}|${r.bucket}`;
      const sum = added.get(key) ?? [0, 0, 0, 0, 0];
      added.set(key, [sum[0]! + r.installations, sum[1]! + r.submissions, sum[2]! + r.errors, sum[3]! + r.error_installations, sum[4]! + r.events]);
    }
  };
  let previous: ReportedState | null = null;
  let previousAt: Date | null = null;
  for (const s of sent) {
    const change = rollupChange(ERASED_ID, s.receivedAt, s.state, s.events, previous, previousAt);
    add('day', change.daily);
    add('week', change.weekly);
    previous = s.state;
    previousAt = s.receivedAt;
  }
  add('day', [{ period: '2026-03-16', dimension: 'registered', bucket: '', installations: 1, submissions: 0, errors: 0, error_installations: 0, events: 0 }]);
  add('week', [{ period: '2026-03-16', dimension: 'registered', bucket: '', installations: 1, submissions: 0, errors: 0, error_installations: 0, events: 0 }]);
  const expected = new Map([...added].filter(([, v]) => v.some((n) => n !== 0)));

  const contribution = contributionOf(ERASED_ID, registeredAt, [...sent].reverse());
  const got = new Map<string, number[]>();
  for (const [granularity, rows] of [['day', contribution.daily], ['week', contribution.weekly]] as const) {
    for (const r of rows) got.set(`${granularity}|${r.period}|${r.dimension}|${r.bucket}`, [r.installations, r.submissions, r.errors, r.error_installations, r.events]);
  }
  t.deepEqual(Object.fromEntries([...got].sort()), Object.fromEntries([...expected].sort()));
});
