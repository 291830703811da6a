// Retention (docs/collector.md, default 730 days): the daily maintenance job purges submissions, rollups and
// report-log rows older than retentionDays, and installations silent for that long.
import { registerAndSubmit, register, startCollector, payloadFor, submit } from '../helpers/collector.js';
import { testEachDatabase, type TestDatabase } from '../helpers/databases.js';

const count = async (db: TestDatabase, table: string) => Number(((await db.knex(table).count({ n: '*' }).first()) as { n: unknown }).n);
const DAY = 86_400_000;

testEachDatabase('old data goes, recent data stays, totals follow', async (t, db) => {
  const c = await startCollector(t, db);
  t.is(c.handle.options.retentionDays, 730);
  c.clock.set('2024-01-10T10:00:00Z');
  const old = await registerAndSubmit(c.url, c.clock); // silent since: will go entirely
  const returning = await registerAndSubmit(c.url, c.clock); // submits again later: stays
  await register(c.url); // registered, never submitted: goes
  c.clock.set('2025-12-01T10:00:00Z');
  const response = await submit(c.url, c.clock, returning, payloadFor(returning.installId, { period: { start: '2025-11-24', end: '2025-12-01' } }));
  t.is(response.status, 202);
  const recent = await registerAndSubmit(c.url, c.clock);
  await db.knex('collector_report_log').insert({ kind: 'test', trigger: 'manual', status: 'sent', recipients: '[]', created_at: new Date('2024-01-01T00:00:00Z') });

  c.clock.set('2026-01-20T10:00:00Z'); // 2024-01-10 is now more than 730 days ago
  t.is((await c.adminJson('/stats/overview')).total, 3, 'the never-submitting registration is not counted');
  const result = await c.handle.maintenance();
  t.like(result, { submissions: 2, installations: 2, reportLog: 1 });
  t.true(result.rollups > 0);

  const left = (await db.knex('collector_installations').pluck('install_id')) as string[];
  t.deepEqual(left.sort(), [returning.installId, recent.installId].sort());
  t.is(await count(db, 'collector_submissions'), 2);
  t.false(((await db.knex('collector_submissions').pluck('install_id')) as string[]).includes(old.installId));
  t.is((await db.knex('collector_daily_rollups').where('day', '<', '2024-01-21').select('day')).length, 0);
  t.is((await db.knex('collector_weekly_rollups').where('week_start', '<', '2024-01-15').select('week_start')).length, 0);
  t.true((await db.knex('collector_daily_rollups').where('day', '2025-12-01').select('day')).length > 0);
  t.is(await count(db, 'collector_report_log'), 0);

  const overview = await c.adminJson('/stats/overview');
  t.is(overview.total, 2);
  // The removal counts as such for the trend (no negative growth artefacts beyond it).
  const trend = (await c.adminJson('/stats/installations?days=7')).trend;
  t.deepEqual(trend.map((p: { total: number }) => p.total), [3, 3, 3, 3, 3, 3, 2]);

  t.deepEqual(await c.handle.maintenance(), { submissions: 0, installations: 0, rollups: 0, reportLog: 0, erasedIds: 0, unconfirmedInstallations: 0, sessions: 0 }, 'idempotent');
});

testEachDatabase('retentionDays is configurable and maintenance is safe to run concurrently', async (t, db) => {
  const c = await startCollector(t, db, { retentionDays: 30 });
  c.clock.set('2026-01-01T10:00:00Z');
  for (let i = 0; i < 5; i++) await registerAndSubmit(c.url, c.clock);
  c.clock.advance(31 * DAY);
  const results = await Promise.all([c.handle.maintenance(), c.handle.maintenance(), c.handle.maintenance()]);
  t.is(results.reduce((sum, r) => sum + r.installations, 0), 5, 'each installation removed (and counted) exactly once');
  t.is(await count(db, 'collector_installations'), 0);
  t.is(await count(db, 'collector_submissions'), 0);
  const removed = await db.knex('collector_daily_rollups').where('dimension', 'removed').sum({ n: 'installations' }).first();
  t.is(Number((removed as { n: unknown }).n), 5);
});
