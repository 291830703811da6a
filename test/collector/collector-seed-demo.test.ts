// `collector seed-demo` (docs/cli.md, docs/collector.md): a deterministic synthetic fleet written in
// bulk, whose rollups are exactly those ingest keeps for the same submissions; refused on a
// database that holds data unless --force; its own --help.
import test from 'ava';
import type { Knex } from 'knex';
import { createTestDatabase, databaseKinds, testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { databaseEnv } from '../helpers/collector.js';
import { migrateCollector } from '../../src/collector/storage/migrations.js';
import { DemoFleetRepository } from '../../src/collector/storage/demo-fleet.js';
import { InstallationRepository } from '../../src/collector/storage/installations.js';
import { SubmissionRepository } from '../../src/collector/storage/submissions.js';
import { COLLECTOR_TABLES as T } from '../../src/collector/storage/tables.js';
import { demoFleet } from '../../src/collector/demo/fleet.js';
import { seedDemo } from '../../src/collector/demo/seed.js';
import { runCli } from '../../src/cli.js';

const NOW = new Date('2026-03-18T12:00:00Z');
const SMALL = { installations: 20, weeks: 5, seed: 7, now: NOW };

async function migrated(db: TestDatabase): Promise<Knex> {
  await migrateCollector(db.knex);
  return db.knex;
}

/** Every rollup row summed over shards, without all-zero rows, in a stable order. */
async function rollups(knex: Knex): Promise<string[]> {
  const out: string[] = [];
  for (const [table, period] of [[T.dailyRollups, 'day'], [T.weeklyRollups, 'week_start']] as const) {
    const rows = await knex(table)
      .select({ period }, 'dimension', 'bucket')
      .sum({ i: 'installations', s: 'submissions', e: 'errors', ei: 'error_installations', ev: 'events' })
      .groupBy(period, 'dimension', 'bucket');
    for (const r of rows as Record<string, unknown>[]) {
      const counters = [r.i, r.s, r.e, r.ei, r.ev].map(Number);
      if (counters.every((c) => c === 0)) continue;
      out.push(`${table} ${String(r.period)} ${String(r.dimension)} ${String(r.bucket)} ${counters.join(',')}`);
    }
  }
  // The per-day last-seen counters the overview reads.
  for (const r of (await knex(T.lastSeenDays).select('day', 'shard', 'installations')) as Record<string, unknown>[]) {
    if (Number(r.installations) !== 0) out.push(`${T.lastSeenDays} ${String(r.day)} ${String(r.shard)} ${Number(r.installations)}`);
  }
  return out.sort();
}

async function installationsDump(knex: Knex): Promise<string[]> {
  const rows = await knex(T.installations).select('install_id', 'app_version', 'platform', 'deployment_type', 'country', 'feature_flags', 'last_error_count', 'submissions_count').orderBy('install_id');
  return rows.map((r: Record<string, unknown>) => Object.values(r).map(String).join(' '));
}

testEachDatabase('seed-demo writes the rollups ingest keeps for the same submissions', async (t, db) => {
  t.timeout(120_000);
  const bulk = await migrated(db);
  const result = await seedDemo(new DemoFleetRepository(bulk), { ...SMALL, force: false });
  t.is(result.outcome, 'seeded');

  // The same fleet, one accepted submission at a time, through the ingest storage path.
  const other = await createTestDatabase(db.kind);
  t.teardown(() => other.cleanup());
  const ingest = await migrated(other);
  const dialect = db.kind === 'postgres' ? 'postgres' : 'sqlite';
  const installations = new InstallationRepository(ingest, dialect);
  const submissions = new SubmissionRepository(ingest, dialect);
  const fleet = demoFleet(SMALL);
  for (const install of fleet) t.is(await installations.register(install.installId, install.secret, install.registeredAt), 'created');
  const timeline = fleet.flatMap((i) => i.submissions.map((s) => ({ installId: i.installId, ...s }))).sort((a, b) => a.receivedAt.getTime() - b.receivedAt.getTime());
  for (const s of timeline) {
    const outcome = await submissions.withLockedInstallation({ installId: s.installId, idempotencyKey: null }, (locked) => locked!.commit(s.payload, { now: s.receivedAt, windowSeconds: 1, limited: () => true }));
    t.is(outcome.outcome, 'accepted');
  }

  const expected = await rollups(ingest);
  t.true(expected.length > 50);
  t.deepEqual(await rollups(bulk), expected);
  t.deepEqual(await installationsDump(bulk), await installationsDump(ingest));
  const count = async (k: Knex) => Number(((await k(T.submissions).count({ n: '*' }).first()) as { n: unknown }).n);
  t.is(await count(bulk), timeline.length);
  t.is(result.outcome === 'seeded' && result.submissions, timeline.length);
});

test('the demo fleet is deterministic and looks like a fleet: versions roll out, some errors, churn', (t) => {
  const options = { installations: 200, weeks: 26, seed: 3, now: NOW };
  const a = demoFleet(options);
  // (Compared as JSON: a structural diff of thousands of submissions is slow.)
  const json = JSON.stringify(a);
  t.true(JSON.stringify(demoFleet(options)) === json, 'the same fleet again');
  // The same day at another time: the same fleet (nothing is dated today).
  t.true(JSON.stringify(demoFleet({ ...options, now: new Date('2026-03-18T23:59:00Z') })) === json, 'the same fleet later that day');
  t.true(a.every((i) => i.submissions.every((s) => s.receivedAt < new Date('2026-03-18T00:00:00Z'))));
  t.notDeepEqual(demoFleet({ ...options, seed: 4 }).map((i) => i.installId), a.map((i) => i.installId));
  t.true(a.length > 170);
  const all = a.flatMap((i) => i.submissions);
  t.true(all.every((s) => s.receivedAt.getTime() <= NOW.getTime()));
  const weeks = new Set(all.map((s) => s.payload.period.end));
  t.is(weeks.size, 26);
  // Early submissions are on the first release, the last week mostly on the newest ones.
  const first = all.filter((s) => s.payload.period.end === [...weeks].sort()[0]);
  t.true(first.every((s) => s.payload.app_version === '1.0.0'));
  const latest = a.map((i) => i.submissions[i.submissions.length - 1]!.payload.app_version);
  t.true(latest.filter((v) => v.startsWith('2.')).length > latest.length / 2);
  t.true(all.some((s) => s.payload.error_count > 0));
  t.true(all.filter((s) => s.payload.error_count > 0).length < all.length / 4);
  t.deepEqual(new Set(all.map((s) => s.payload.deployment_type)), new Set(['docker', 'native']));
  t.true(new Set(all.map((s) => s.payload.country)).size > 10);
});

testEachDatabase('seed-demo refuses a database that holds data; force replaces it', async (t, db) => {
  const knex = await migrated(db);
  const repository = new DemoFleetRepository(knex);
  t.is((await seedDemo(repository, { ...SMALL, installations: 10, force: false })).outcome, 'seeded');
  t.deepEqual(await seedDemo(repository, { ...SMALL, installations: 10, force: false }), { outcome: 'refused_not_empty' });
  const replaced = await seedDemo(repository, { ...SMALL, installations: 20, seed: 8, force: true });
  t.is(replaced.outcome, 'seeded');
  const installations = Number(((await knex(T.installations).count({ n: '*' }).first()) as { n: unknown }).n);
  t.is(installations, replaced.outcome === 'seeded' ? replaced.installations : -1);
  t.true(installations > 10);
});

// The CLI reads $DATABASE_URL: these tests change this process's environment, so they run serially.
for (const kind of databaseKinds()) {
  test.serial(`collector seed-demo from the CLI: seeds, refuses a second time, --force replaces, bad sizes are usage errors [${kind}]`, async (t) => {
    t.timeout(120_000);
    const db = await createTestDatabase(kind);
    t.teardown(() => db.cleanup());
    const saved = { ...process.env };
    t.teardown(() => {
      for (const key of ['DATABASE_URL', 'DATABASE_SCHEMA', 'DATABASE_APPLICATION_NAME']) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    });
    Object.assign(process.env, databaseEnv(db));
    const lines: string[] = [];
    const out = (line: string) => void lines.push(line);
    t.is(await runCli(['collector', 'seed-demo', '--installations', '25', '--weeks', '4'], out), 0);
    const report = JSON.parse(lines.pop()!) as { outcome: string; installations: number };
    t.is(report.outcome, 'seeded');
    t.true(report.installations > 15);
    t.is(await runCli(['collector', 'seed-demo', '--installations', '25'], out), 1);
    t.regex(lines.pop()!, /refused: the collector database already holds data; --force/);
    t.is(await runCli(['collector', 'seed-demo', '--installations', '40', '--weeks', '4', '--force'], out), 0);
    t.true((JSON.parse(lines.pop()!) as { installations: number }).installations > report.installations);
    t.is(await runCli(['collector', 'seed-demo', '--weeks', '0'], out), 2);
    t.regex(lines.pop()!, /--weeks must be a whole number from 1 to 104/);
    t.is(await runCli(['status', '--force'], out), 2);
    t.regex(lines.pop()!, /--force belongs to `collector seed-demo`/);
  });
}

test('collector seed-demo --help is its own', async (t) => {
  const lines: string[] = [];
  t.is(await runCli(['collector', 'seed-demo', '--help'], (l) => lines.push(l)), 0);
  t.regex(lines[0]!, /^Usage: koa-consent-telemetry collector seed-demo \[--force\]/);
  t.regex(lines[0]!, /--installations N/);
  lines.length = 0;
  t.is(await runCli(['collector', '--help'], (l) => lines.push(l)), 0);
  t.regex(lines[0]!, /collector seed-demo/);
});
