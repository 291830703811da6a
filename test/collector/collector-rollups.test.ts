// Rollups (docs/collector.md) are maintained on ingest, in the same transaction as the submission: per UTC
// day and ISO week, the distinct installations per breakdown value (each counted once per period
// with its latest state) and the submissions, errors and events they reported. The analytics read
// them, never the raw submissions.
import test from 'ava';
import { payloadFor, register, startCollector, submit, type Installation } from '../helpers/collector.js';
import { testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { rollupChange, shardOf, type ReportedState } from '../../src/collector/storage/rollup-deltas.js';
import { utcDay, weekStart } from '../../src/collector/analytics/time.js';
import type { SubmissionPayload } from '../../src/core/protocol.js';

const state = (over: Partial<ReportedState> = {}): ReportedState => ({
  appVersion: '1.0.0',
  platform: 'linux',
  deploymentType: 'docker',
  country: 'DE',
  features: ['sso'],
  errorCount: 0,
  ...over,
});
const id = '0f8fad5b-d9cb-469f-a165-70867728950e';

test('rollupChange: a first submission adds the installation to every bucket of its day and week', (t) => {
  const change = rollupChange(id, new Date('2026-03-18T10:00:00Z'), state({ errorCount: 2 }), 15, null, null);
  t.is(change.daily[0]!.period, '2026-03-18');
  t.is(change.weekly[0]!.period, '2026-03-16');
  t.deepEqual(
    change.daily.map((r) => [r.dimension, r.bucket, r.installations, r.submissions, r.errors, r.error_installations, r.events]),
    [
      ['all', '', 1, 1, 2, 1, 15],
      ['country', 'DE', 1, 1, 2, 1, 15],
      ['deployment', 'docker', 1, 1, 2, 1, 15],
      ['feature', 'sso', 1, 1, 2, 1, 15],
      ['platform', 'linux', 1, 1, 2, 1, 15],
      ['version', '1.0.0', 1, 1, 2, 1, 15],
    ],
  );
  t.true(change.daily.every((r) => r.shard === shardOf(id)));
});

test('rollupChange: a second submission the same day moves the installation to its new buckets', (t) => {
  const before = state({ errorCount: 3 });
  const after = state({ appVersion: '1.1.0', features: [], errorCount: 0 });
  const change = rollupChange(id, new Date('2026-03-18T15:00:00Z'), after, 4, before, new Date('2026-03-18T10:00:00Z'));
  const daily = Object.fromEntries(change.daily.map((r) => [`${r.dimension}:${r.bucket}`, [r.installations, r.submissions, r.error_installations]]));
  t.deepEqual(daily, {
    'all:': [0, 1, -1],
    'country:DE': [0, 1, -1],
    'deployment:docker': [0, 1, -1],
    'feature:sso': [-1, 0, -1],
    'platform:linux': [0, 1, -1],
    'version:1.0.0': [-1, 0, -1],
    'version:1.1.0': [1, 1, 0],
  });
  // Same week too, so the weekly change is the same move.
  t.deepEqual(change.weekly.map((r) => r.installations), change.daily.map((r) => r.installations));
});

test('rollupChange: another day of the same week counts a new day but moves within the week', (t) => {
  const change = rollupChange(id, new Date('2026-03-20T09:00:00Z'), state({ appVersion: '1.1.0' }), 0, state(), new Date('2026-03-18T10:00:00Z'));
  t.is(change.daily.find((r) => r.dimension === 'all')!.installations, 1);
  t.is(change.weekly.find((r) => r.dimension === 'all')!.installations, 0);
  t.is(change.weekly.find((r) => r.bucket === '1.0.0')!.installations, -1);
  t.is(change.weekly.find((r) => r.bucket === '1.1.0')!.installations, 1);
  const nextWeek = rollupChange(id, new Date('2026-03-23T09:00:00Z'), state(), 0, state(), new Date('2026-03-20T09:00:00Z'));
  t.is(nextWeek.weekly.find((r) => r.dimension === 'all')!.installations, 1);
});

interface RollupTotals {
  installations: number;
  submissions: number;
  errors: number;
  error_installations: number;
  events: number;
}

/** Rollups as stored, summed over shards: key `period|dimension|bucket`. */
async function storedRollups(db: TestDatabase, table: string, period: string): Promise<Map<string, RollupTotals>> {
  const rows = await db.knex(table)
    .select({ period }, 'dimension', 'bucket')
    .sum({ installations: 'installations', submissions: 'submissions', errors: 'errors', error_installations: 'error_installations', events: 'events' })
    .whereIn('dimension', ['all', 'version', 'deployment', 'platform', 'country', 'feature'])
    .groupBy(period, 'dimension', 'bucket');
  const map = new Map<string, RollupTotals>();
  for (const r of rows as Record<string, unknown>[]) {
    const totals = { installations: Number(r.installations), submissions: Number(r.submissions), errors: Number(r.errors), error_installations: Number(r.error_installations), events: Number(r.events) };
    if (Object.values(totals).every((v) => v === 0)) continue;
    map.set(`${r.period}|${r.dimension}|${r.bucket}`, totals);
  }
  return map;
}

/** The same numbers recomputed from the raw submissions (what the rollups must equal). */
async function recomputed(db: TestDatabase, periodOf: (d: Date) => string): Promise<Map<string, RollupTotals>> {
  // A stored submission: its columns, and as JSON only what has no column (event counts, flags).
  const subs = (await db
    .knex('collector_submissions')
    .select('install_id', 'received_at', 'app_version', 'deployment_type', 'platform', 'country', 'error_count', 'payload')) as {
    install_id: string;
    received_at: unknown;
    app_version: string;
    deployment_type: string;
    platform: string;
    country: string;
    error_count: unknown;
    payload: string;
  }[];
  const parsed = subs
    .map((s) => ({
      install: s.install_id,
      at: new Date(typeof s.received_at === 'number' ? s.received_at : String(s.received_at)),
      p: { ...JSON.parse(s.payload), app_version: s.app_version, deployment_type: s.deployment_type, platform: s.platform, country: s.country, error_count: Number(s.error_count) } as SubmissionPayload,
    }))
    .sort((a, b) => a.at.getTime() - b.at.getTime());
  const buckets = (p: SubmissionPayload): [string, string][] => [
    ['all', ''],
    ['version', p.app_version],
    ['deployment', p.deployment_type],
    ['platform', p.platform],
    ['country', p.country],
    ...Object.entries(p.feature_flags).filter(([, on]) => on).map(([f]): [string, string] => ['feature', f]),
  ];
  const map = new Map<string, RollupTotals>();
  const at = (key: string) => {
    let v = map.get(key);
    if (!v) map.set(key, (v = { installations: 0, submissions: 0, errors: 0, error_installations: 0, events: 0 }));
    return v;
  };
  const latest = new Map<string, SubmissionPayload>();
  for (const s of parsed) {
    const period = periodOf(s.at);
    latest.set(`${period}|${s.install}`, s.p);
    for (const [dimension, bucket] of buckets(s.p)) {
      const v = at(`${period}|${dimension}|${bucket}`);
      v.submissions += 1;
      v.errors += s.p.error_count;
      v.events += Object.values(s.p.event_counts).reduce((a, b) => a + b, 0);
    }
  }
  for (const [key, p] of latest) {
    const period = key.split('|')[0]!;
    for (const [dimension, bucket] of buckets(p)) {
      const v = at(`${period}|${dimension}|${bucket}`);
      v.installations += 1;
      v.error_installations += p.error_count > 0 ? 1 : 0;
    }
  }
  for (const [key, v] of map) if (Object.values(v).every((n) => n === 0)) map.delete(key);
  return map;
}

const HOUR = 3_600_000;

async function ingestScenario(c: Awaited<ReturnType<typeof startCollector>>): Promise<Installation[]> {
  let week = 0;
  const send = async (install: Installation, over: Partial<SubmissionPayload>) => {
    const start = new Date(Date.UTC(2026, 0, 5 + 7 * week++)).toISOString().slice(0, 10);
    const end = new Date(Date.parse(start) + 7 * 86_400_000).toISOString().slice(0, 10);
    const response = await submit(c.url, c.clock, install, payloadFor(install.installId, { period: { start, end }, ...over }));
    if (response.status !== 202) throw new Error(`submit answered ${response.status}: ${await response.text()}`);
  };
  const installs: Installation[] = [];
  for (let i = 0; i < 6; i++) installs.push(await register(c.url));
  c.clock.set('2026-03-16T09:00:00Z'); // a Monday
  for (const [i, install] of installs.entries()) {
    await send(install, { app_version: i < 4 ? '1.0.0' : '1.1.0', country: i % 2 ? 'FR' : 'DE', error_count: i === 0 ? 3 : 0, feature_flags: { sso: i < 3, dark_mode: true } });
  }
  c.clock.advance(2 * HOUR); // same day: two installations upgrade and change state
  await send(installs[0]!, { app_version: '1.1.0', error_count: 0, feature_flags: { sso: false, dark_mode: true } });
  await send(installs[1]!, { app_version: '1.1.0', deployment_type: 'native', error_count: 5, feature_flags: { sso: true } });
  c.clock.advance(2 * 86_400_000); // Wednesday, same week
  await send(installs[2]!, { app_version: '1.2.0', feature_flags: {} });
  c.clock.advance(7 * 86_400_000); // the next week
  for (const install of installs.slice(0, 4)) await send(install, { app_version: '1.2.0', error_count: 1 });
  return installs;
}

testEachDatabase('rollups equal a recomputation from the raw submissions, day by day and week by week', async (t, db) => {
  const c = await startCollector(t, db);
  await ingestScenario(c);
  t.deepEqual(Object.fromEntries(await storedRollups(db, 'collector_daily_rollups', 'day')), Object.fromEntries(await recomputed(db, utcDay)));
  t.deepEqual(Object.fromEntries(await storedRollups(db, 'collector_weekly_rollups', 'week_start')), Object.fromEntries(await recomputed(db, weekStart)));
  // The last-seen day counters (what /stats/overview reads) equal a count of the installations by
  // the day of their latest submission: moved on every resubmission, never counted twice.
  const lastSeen = new Map<string, number>();
  for (const row of (await db.knex('collector_last_seen_days').select('day', 'installations')) as { day: string; installations: unknown }[]) {
    if (Number(row.installations) !== 0) lastSeen.set(row.day, (lastSeen.get(row.day) ?? 0) + Number(row.installations));
  }
  const byLastSeen = new Map<string, number>();
  for (const row of (await db.knex('collector_installations').whereNotNull('last_seen_at').select('last_seen_at')) as { last_seen_at: unknown }[]) {
    const day = utcDay(new Date(typeof row.last_seen_at === 'number' ? row.last_seen_at : String(row.last_seen_at)));
    byLastSeen.set(day, (byLastSeen.get(day) ?? 0) + 1);
  }
  t.deepEqual(Object.fromEntries(lastSeen), Object.fromEntries(byLastSeen));
  t.deepEqual(Object.fromEntries(lastSeen), { '2026-03-16': 2, '2026-03-25': 4 });
  // Spot checks of the semantics: Monday counts 6 distinct installations after 8 submissions.
  const daily = await storedRollups(db, 'collector_daily_rollups', 'day');
  t.like(daily.get('2026-03-16|all|'), { installations: 6, submissions: 8, error_installations: 1, errors: 8 });
  t.like(daily.get('2026-03-16|version|1.1.0'), { installations: 4 });
  t.like(daily.get('2026-03-16|version|1.0.0'), { installations: 2 });
  const weekly = await storedRollups(db, 'collector_weekly_rollups', 'week_start');
  t.like(weekly.get('2026-03-16|all|'), { installations: 6, submissions: 9 });
  t.like(weekly.get('2026-03-16|version|1.2.0'), { installations: 1 });
  t.like(weekly.get('2026-03-23|all|'), { installations: 4, error_installations: 4 });
});

testEachDatabase('the analytics read rollups and installations only: emptying the raw submissions changes no answer', async (t, db) => {
  const c = await startCollector(t, db, { kThreshold: 1 });
  await ingestScenario(c);
  const paths = ['/stats/overview', '/stats/installations?days=30', '/stats/installations?interval=week&days=28', '/stats/versions', '/stats/features', '/stats/version-migration?weeks=3', '/stats/feature-trends?weeks=3', '/stats/errors?weeks=3', '/stats/anomalies'];
  const before = await Promise.all(paths.map((p) => c.adminJson(p)));
  await db.knex('collector_submissions').delete();
  const after = await Promise.all(paths.map((p) => c.adminJson(p)));
  t.deepEqual(after, before);
});

testEachDatabase('a failing rollup write leaves nothing half-stored (one transaction)', async (t, db) => {
  const c = await startCollector(t, db);
  const install = await register(c.url);
  // Break the weekly rollups: the daily upsert and the submission insert would succeed alone.
  await db.knex.schema.renameTable('collector_weekly_rollups', 'collector_weekly_rollups_away');
  const response = await submit(c.url, c.clock, install, payloadFor(install.installId));
  t.is(response.status, 500);
  const body = await response.json();
  t.deepEqual(Object.keys(body.error).sort(), ['code', 'message']);
  t.is(body.error.code, 'internal_error');
  t.false(/collector_weekly_rollups|\n\s+at /.test(JSON.stringify(body)), 'no internals in the answer');
  t.is((await db.knex('collector_submissions').select('id')).length, 0);
  t.is((await db.knex('collector_daily_rollups').whereNot('dimension', 'registered').select('day')).length, 0);
  const row = await db.knex('collector_installations').where('install_id', install.installId).first();
  t.is(row.last_seen_at, null);
  t.is(Number(row.submissions_count), 0);

  await db.knex.schema.renameTable('collector_weekly_rollups_away', 'collector_weekly_rollups');
  t.is((await submit(c.url, c.clock, install, payloadFor(install.installId))).status, 202, 'and the retry is accepted (no rate limit from the failed one)');
  t.true(c.logger.lines.some((l) => l.startsWith('error') && l.includes('/v1/submit')), 'the failure was logged');
});
