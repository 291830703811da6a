// Storage of the local usage statistics: the 002 migration (tables and indexes, up and
// down) and UsageStatsRepository, on SQLite and — with TEST_PG_URL — PostgreSQL.
import knex, { type Knex } from 'knex';
import type { ExecutionContext } from 'ava';
import { migrateLatest, migrateRollbackAll, migratorConfig } from '../../src/plugin/db/migration-source.js';
import { TABLES } from '../../src/plugin/db/tables.js';
import { UsageStatsRepository, type EventRow } from '../../src/plugin/stats/repository.js';
import { testEachDatabase, type TestDatabase } from '../helpers/databases.js';

const USAGE_TABLES = [TABLES.usageEvents, TABLES.pageviewCounts, TABLES.uptimeHours, TABLES.submissions];
const HOUR = 3_600_000;
const DAY = 86_400_000;

const at = (iso: string) => new Date(iso);
const event = (event_type: string, occurred: string | Date, metadata: Record<string, unknown> = {}): EventRow => ({
  event_type,
  occurred_at: typeof occurred === 'string' ? new Date(occurred) : occurred,
  metadata: JSON.stringify(metadata),
});

async function tableNames(db: TestDatabase): Promise<string[]> {
  if (db.kind === 'sqlite') {
    return ((await db.knex('sqlite_master').where('type', 'table').pluck('name')) as string[]).sort();
  }
  return ((await db.knex('information_schema.tables').where('table_schema', db.location).pluck('table_name')) as string[]).sort();
}

/** index name → its columns, in order (primary keys and SQLite autoindexes excluded). */
async function indexesOf(db: TestDatabase, table: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (db.kind === 'sqlite') {
    const names = (await db.knex('sqlite_master').where({ type: 'index', tbl_name: table }).whereNot('name', 'like', 'sqlite_autoindex%').pluck('name')) as string[];
    for (const name of names) {
      const cols = (await db.knex.raw('select name from pragma_index_info(?) order by seqno', [name])) as { name: string }[];
      out.set(name, cols.map((c) => c.name));
    }
    return out;
  }
  const rows = (await db.knex('pg_indexes').where({ schemaname: db.location, tablename: table }).select('indexname', 'indexdef')) as { indexname: string; indexdef: string }[];
  for (const row of rows) {
    if (row.indexname.endsWith('_pkey')) continue;
    const cols = /\(([^)]*)\)\s*$/.exec(row.indexdef)![1]!.split(',').map((c) => c.trim().replace(/"/g, ''));
    out.set(row.indexname, cols);
  }
  return out;
}

async function migrated(db: TestDatabase): Promise<UsageStatsRepository> {
  await migrateLatest(db.knex);
  return new UsageStatsRepository(db.knex);
}

async function count(k: Knex, table: string): Promise<number> {
  const row = (await k(table).count({ n: '*' }).first()) as { n: number | string };
  return Number(row.n);
}

/** A second knex on the same database, torn down with the test. */
function extraKnex(t: ExecutionContext, db: TestDatabase, extra: Partial<Knex.Config> = {}): Knex {
  const k = knex({ ...db.config(), ...extra });
  t.teardown(() => k.destroy());
  return k;
}

// ------------------------------------------------------------------------------------ migrations

testEachDatabase('migration 002 creates the usage tables with their indexes', async (t, db) => {
  await migrateLatest(db.knex);
  const tables = await tableNames(db);
  for (const table of [...USAGE_TABLES, TABLES.settings]) t.true(tables.includes(table), `${table} exists`);

  const eventIndexes = [...(await indexesOf(db, TABLES.usageEvents)).values()].map((cols) => cols.join(','));
  t.true(eventIndexes.includes('occurred_at'), `index on (occurred_at): ${eventIndexes.join(' | ')}`);
  t.true(eventIndexes.includes('event_type,occurred_at'), 'index on (event_type, occurred_at)');
  t.true(eventIndexes.includes('submitted_at'), 'index on (submitted_at)');

  const pageviewIndexes = [...(await indexesOf(db, TABLES.pageviewCounts)).values()].map((cols) => cols.join(','));
  t.true(pageviewIndexes.includes('hour_start'), 'page views can be read by hour range');
  const ledgerIndexes = [...(await indexesOf(db, TABLES.submissions)).values()].map((cols) => cols.join(','));
  t.true(ledgerIndexes.includes('sent_at'));

  // Columns of the spec's event table.
  const columns = Object.keys(await db.knex(TABLES.usageEvents).columnInfo()).sort();
  t.deepEqual(columns, ['event_type', 'id', 'local_only', 'metadata', 'occurred_at', 'submitted_at']);
  const ledgerColumns = Object.keys(await db.knex(TABLES.submissions).columnInfo());
  for (const column of ['period_start', 'period_end', 'payload', 'status', 'attempts', 'response_code', 'sent_at', 'idempotency_key']) {
    t.true(ledgerColumns.includes(column), `ledger column ${column}`);
  }
});

testEachDatabase('migration 002 goes down alone (other plugin tables stay) and up again with its indexes', async (t, db) => {
  await migrateLatest(db.knex);
  const repo = new UsageStatsRepository(db.knex);
  await repo.recordBatch([event('timer.started', '2026-03-02T10:00:00Z')], [], []);

  await db.knex.migrate.down({ ...migratorConfig, name: '002_usage_stats' });
  let tables = await tableNames(db);
  for (const table of USAGE_TABLES) t.false(tables.includes(table), `${table} dropped by down()`);
  t.true(tables.includes(TABLES.settings), 'telemetry_settings (001) is untouched');
  t.true(tables.includes(TABLES.supportCounters), 'the support tables (003) are untouched');

  await db.knex.migrate.up({ ...migratorConfig, name: '002_usage_stats' });
  tables = await tableNames(db);
  for (const table of USAGE_TABLES) t.true(tables.includes(table), `${table} back after up()`);
  t.is((await indexesOf(db, TABLES.usageEvents)).size, 3);
  t.is(await count(db.knex, TABLES.usageEvents), 0, 'down() really dropped the data');

  await migrateRollbackAll(db.knex);
  tables = await tableNames(db);
  for (const table of USAGE_TABLES) t.false(tables.includes(table));
  await migrateLatest(db.knex);
  t.is((await indexesOf(db, TABLES.usageEvents)).size, 3);
});

// ------------------------------------------------------------------------------------ recordBatch

testEachDatabase('recordBatch writes events, page views and uptime hours (more than one insert chunk)', async (t, db) => {
  const repo = await migrated(db);
  const events = Array.from({ length: 450 }, (_, i) => event(i % 2 ? 'timer.started' : 'timer.stopped', new Date(Date.UTC(2026, 2, 2, 10) + i * 1000), { i }));
  await repo.recordBatch(events, [{ route: '/projects/:id', hour_start: at('2026-03-02T10:00:00Z'), count: 3 }], [at('2026-03-02T10:00:00Z')]);
  t.is(await count(db.knex, TABLES.usageEvents), 450);
  t.is(await count(db.knex, TABLES.pageviewCounts), 1);
  t.is(await count(db.knex, TABLES.uptimeHours), 1);
  // Empty batch: no-op (and no transaction needed).
  await repo.recordBatch([], [], []);
  t.is(await count(db.knex, TABLES.usageEvents), 450);
});

testEachDatabase('recordBatch is one transaction: a failing row rolls back the whole batch', async (t, db) => {
  const repo = await migrated(db);
  await repo.recordBatch([event('kept.before', '2026-03-02T09:00:00Z')], [], []);
  const batch: EventRow[] = [
    ...Array.from({ length: 250 }, () => event('timer.started', '2026-03-02T10:00:00Z')),
    { event_type: null as unknown as string, occurred_at: at('2026-03-02T10:00:00Z'), metadata: '{}' }, // NOT NULL violation
  ];
  await t.throwsAsync(repo.recordBatch(batch, [{ route: '/a', hour_start: at('2026-03-02T10:00:00Z'), count: 1 }], [at('2026-03-02T10:00:00Z')]));
  t.is(await count(db.knex, TABLES.usageEvents), 1, 'none of the 250 valid rows of the failed batch stayed (the first chunk of 200 was rolled back too)');
  t.is(await count(db.knex, TABLES.pageviewCounts), 0);
  t.is(await count(db.knex, TABLES.uptimeHours), 0);
});

testEachDatabase('page views are upserted per (route, hour): counts add up, hours stay apart', async (t, db) => {
  const repo = await migrated(db);
  const h10 = at('2026-03-02T10:00:00Z');
  const h11 = at('2026-03-02T11:00:00Z');
  await repo.recordBatch([], [{ route: '/projects/:id', hour_start: h10, count: 2 }, { route: '/reports', hour_start: h10, count: 1 }], []);
  await repo.recordBatch([], [{ route: '/projects/:id', hour_start: h10, count: 5 }], []);
  await repo.recordBatch([], [{ route: '/projects/:id', hour_start: h11, count: 1 }], []);
  t.is(await count(db.knex, TABLES.pageviewCounts), 3, 'one row per route and hour');
  const row = (await db.knex(TABLES.pageviewCounts).where({ route: '/projects/:id', hour_start: h10 }).first()) as { count: number | string };
  t.is(Number(row.count), 7);

  t.deepEqual(await repo.pageviewsByRoute(h10, at('2026-03-02T12:00:00Z')), [
    { route: '/projects/:id', count: 8 },
    { route: '/reports', count: 1 },
  ]);
  t.deepEqual(await repo.pageviewsByRoute(h11, at('2026-03-02T12:00:00Z')), [{ route: '/projects/:id', count: 1 }], 'the range is on hour_start');

  // A batch of many keys (more than one statement's chunk), half of them already stored: each adds up.
  const many = Array.from({ length: 250 }, (_, i) => ({ route: `/r/${i}`, hour_start: h11, count: i + 1 }));
  await repo.recordBatch([], many.slice(0, 125), []);
  await repo.recordBatch([], many, []);
  const stored = (await db.knex(TABLES.pageviewCounts).where('route', 'like', '/r/%').select('route', 'count')) as { route: string; count: number | string }[];
  t.is(stored.length, 250);
  t.true(stored.every((r) => Number(r.count) === (Number(r.route.slice(3)) + 1) * (Number(r.route.slice(3)) < 125 ? 2 : 1)));

  // Uptime hours: inserted once, duplicates ignored.
  await repo.recordBatch([], [], [h10, h11]);
  await repo.recordBatch([], [], [h10]);
  t.is(await count(db.knex, TABLES.uptimeHours), 2);
  t.is(await repo.uptimeHours(h10, h11), 1);
  t.is(await repo.uptimeHours(h10, at('2026-03-03T00:00:00Z')), 2);
});

// ------------------------------------------------------------------------------------ counts

testEachDatabase('countsByType and countsByDay bucket by UTC day, whatever the session time zone', async (t, db) => {
  await migrateLatest(db.knex);
  // PostgreSQL: read through sessions in UTC+14, where 23:30 UTC is already the next calendar day.
  const reader = db.kind === 'postgres'
    ? extraKnex(t, db, {
        pool: {
          min: 0,
          max: 2,
          afterCreate: (conn: { query: (sql: string, cb: (err: Error | null) => void) => void }, done: (err: Error | null, conn: unknown) => void) =>
            conn.query("SET TIME ZONE 'Pacific/Kiritimati'", (err) => done(err, conn)),
        },
      })
    : db.knex;
  if (db.kind === 'postgres') {
    const tz = (await reader.raw('show timezone')) as { rows: { TimeZone: string }[] };
    t.is(tz.rows[0]!.TimeZone, 'Pacific/Kiritimati');
  }
  const repo = new UsageStatsRepository(reader);
  await new UsageStatsRepository(db.knex).recordBatch(
    [
      event('timer.started', '2026-03-01T00:00:00.000Z'),
      event('timer.started', '2026-03-01T23:30:00.000Z'),
      event('timer.stopped', '2026-03-01T23:59:59.999Z'),
      event('timer.started', '2026-03-02T00:00:00.000Z'),
      event('report.exported', '2026-03-03T12:00:00.000Z'),
      event('timer.started', '2026-02-28T23:59:59.999Z'), // before the range
      event('timer.started', '2026-03-04T00:00:00.000Z'), // at the (exclusive) end
    ],
    [],
    [],
  );
  t.deepEqual(await repo.countsByDay(at('2026-03-01T00:00:00Z'), at('2026-03-04T00:00:00Z')), [
    { day: '2026-03-01', count: 3 },
    { day: '2026-03-02', count: 1 },
    { day: '2026-03-03', count: 1 },
  ]);
  t.deepEqual(await repo.countsByType(at('2026-03-01T00:00:00Z'), at('2026-03-04T00:00:00Z')), [
    { event_type: 'timer.started', count: 3 },
    { event_type: 'report.exported', count: 1 },
    { event_type: 'timer.stopped', count: 1 },
  ]);
  t.deepEqual(await repo.countsByType(), [
    { event_type: 'timer.started', count: 5 },
    { event_type: 'report.exported', count: 1 },
    { event_type: 'timer.stopped', count: 1 },
  ], 'without a range: everything, most frequent first, then by name');

  const totals = await repo.totals();
  t.is(totals.events, 7);
  t.is(totals.unsubmitted, 7);
  t.is(totals.first_at, '2026-02-28T23:59:59.999Z');
  t.is(totals.last_at, '2026-03-04T00:00:00.000Z');
});

testEachDatabase('totals of an empty table', async (t, db) => {
  const repo = await migrated(db);
  t.deepEqual(await repo.totals(), { events: 0, unsubmitted: 0, first_at: null, last_at: null });
  t.deepEqual(await repo.countsByType(), []);
  t.deepEqual(await repo.countsByDay(at('2026-03-01T00:00:00Z'), at('2026-03-08T00:00:00Z')), []);
  t.is((await repo.unsubmittedSummary(at('2026-03-01T00:00:00Z'), at('2026-03-08T00:00:00Z'))).maxId, 0);
  t.is(await repo.lastLedgerEntry(), null);
});

// ------------------------------------------------------------------------------------ submitted

testEachDatabase('markSubmitted marks only unsubmitted events of the period with id ≤ maxId', async (t, db) => {
  const repo = await migrated(db);
  const start = at('2026-03-02T00:00:00Z');
  const end = at('2026-03-09T00:00:00Z');
  await repo.recordBatch(
    [
      event('before.period', '2026-03-01T23:59:59.999Z'),
      event('timer.started', '2026-03-02T00:00:00.000Z'),
      event('timer.started', '2026-03-05T12:00:00.000Z'),
      event('app.error', '2026-03-08T23:59:59.999Z'),
      event('at.end', '2026-03-09T00:00:00.000Z'),
    ],
    [],
    [],
  );
  const earlier = at('2026-03-01T00:00:00Z');
  await db.knex(TABLES.usageEvents).where('event_type', 'timer.started').andWhere('occurred_at', '>=', at('2026-03-05T00:00:00Z')).update({ submitted_at: earlier });

  const summary = await repo.unsubmittedSummary(start, end);
  t.deepEqual(summary.counts, { 'app.error': 1, 'timer.started': 1 }, 'the already-submitted event is not counted again');
  t.is(summary.errorCount, 1);

  // Recorded after the summary was taken, inside the period: must stay unsubmitted.
  await repo.recordBatch([event('timer.started', '2026-03-06T08:00:00Z')], [], []);
  const marked = await repo.markSubmitted(start, end, summary.maxId, at('2026-03-09T08:00:00Z'));
  t.is(marked, 2);

  const rows = (await db.knex(TABLES.usageEvents).orderBy('id').select('event_type', 'occurred_at', 'submitted_at')) as { event_type: string; occurred_at: unknown; submitted_at: unknown }[];
  const state = rows.map((r) => [r.event_type, r.submitted_at === null ? null : new Date(r.submitted_at as string | number).toISOString()]);
  t.deepEqual(state, [
    ['before.period', null],
    ['timer.started', '2026-03-09T08:00:00.000Z'],
    ['timer.started', earlier.toISOString()], // untouched: keeps its first submission time
    ['app.error', '2026-03-09T08:00:00.000Z'],
    ['at.end', null],
    ['timer.started', null], // id > maxId
  ]);
  t.is((await repo.totals()).unsubmitted, 3);
  t.deepEqual((await repo.unsubmittedSummary(start, end)).counts, { 'timer.started': 1 });
});

// ------------------------------------------------------------------------------------ purge / delete

testEachDatabase('purgeOlderThan removes events, page views and uptime hours before the cutoff only', async (t, db) => {
  const repo = await migrated(db);
  const cutoff = at('2026-03-02T00:00:00Z');
  await repo.recordBatch(
    [event('old.one', '2025-01-01T00:00:00Z'), event('old.two', '2026-03-01T23:59:59.999Z'), event('kept.edge', cutoff), event('kept.new', '2026-03-05T00:00:00Z')],
    [
      { route: '/old', hour_start: at('2026-03-01T23:00:00Z'), count: 4 },
      { route: '/new', hour_start: cutoff, count: 1 },
    ],
    [at('2026-03-01T22:00:00Z'), at('2026-03-01T23:00:00Z'), cutoff],
  );
  await repo.insertLedger({ period_start: '2025-01-01', period_end: '2025-01-08', idempotency_key: 'k', payload: '{}', status: 'accepted', attempts: 1, response_code: 202, response_body: null, error: null, sent_at: at('2025-01-08T00:00:00Z') });

  t.deepEqual(await repo.purgeOlderThan(cutoff), { events: 2, pageviews: 1, uptime: 2 });
  t.deepEqual(((await db.knex(TABLES.usageEvents).orderBy('id').pluck('event_type')) as string[]), ['kept.edge', 'kept.new']);
  t.deepEqual(((await db.knex(TABLES.pageviewCounts).pluck('route')) as string[]), ['/new']);
  t.is(await count(db.knex, TABLES.uptimeHours), 1);
  t.is(await count(db.knex, TABLES.submissions), 1, 'the ledger is not part of the event retention');
  t.deepEqual(await repo.purgeOlderThan(cutoff), { events: 0, pageviews: 0, uptime: 0 });
});

testEachDatabase('deleteAll empties events, page views, uptime and the ledger but keeps telemetry_settings', async (t, db) => {
  const repo = await migrated(db);
  await repo.recordBatch([event('a.b', '2026-03-02T00:00:00Z'), event('a.c', '2026-03-02T00:00:00Z')], [{ route: '/x', hour_start: at('2026-03-02T00:00:00Z'), count: 2 }], [at('2026-03-02T00:00:00Z')]);
  await repo.insertLedger({ period_start: '2026-02-23', period_end: '2026-03-02', idempotency_key: 'k', payload: '{"a":1}', status: 'accepted', attempts: 1, response_code: 202, response_body: '{}', error: null, sent_at: at('2026-03-02T00:00:00Z') });
  await db.knex(TABLES.settings).insert({ key: 'consent.analytics', value: 'true', updated_at: new Date() });

  t.deepEqual(await repo.deleteAll(), { events: 2, pageviews: 1, submissions: 1 });
  for (const table of USAGE_TABLES) t.is(await count(db.knex, table), 0, `${table} is empty`);
  t.is(await count(db.knex, TABLES.settings), 1, 'consent is not usage data');
});

// ------------------------------------------------------------------------------------ reading

testEachDatabase('events() pages through every event, oldest id first, with parsed metadata', async (t, db) => {
  const repo = await migrated(db);
  const rows = Array.from({ length: 12 }, (_, i) => event(`e.n${i}`, new Date(Date.UTC(2026, 2, 2) + (12 - i) * HOUR), { i, ok: true }));
  rows[3] = { ...rows[3]!, metadata: 'not json' };
  await repo.recordBatch(rows, [], []);
  await db.knex(TABLES.usageEvents).where('event_type', 'e.n0').update({ submitted_at: at('2026-03-10T00:00:00Z') });

  const pages = [];
  for await (const page of repo.events(5)) pages.push(page);
  t.deepEqual(pages.map((p) => p.length), [5, 5, 2]);
  const all = pages.flat();
  t.deepEqual(all.map((e) => e.event_type), rows.map((r) => r.event_type), 'in insertion (id) order, not by time');
  t.true(all.every((e, i) => i === 0 || e.id > all[i - 1]!.id));
  t.deepEqual(all[0]!.metadata, { i: 0, ok: true });
  t.deepEqual(all[3]!.metadata, {}, 'unreadable metadata comes out as {}');
  t.is(all[0]!.occurred_at, new Date(Date.UTC(2026, 2, 2) + 12 * HOUR).toISOString());
  t.is(all[0]!.submitted_at, '2026-03-10T00:00:00.000Z');
  t.is(all[1]!.submitted_at, null);

  const none = [];
  for await (const page of new UsageStatsRepository(db.knex).events()) none.push(page);
  t.is(none.flat().length, 12, 'default page size reads everything in one page');
});

testEachDatabase('the ledger reads newest first with limit/offset, payload parsed', async (t, db) => {
  const repo = await migrated(db);
  for (let i = 1; i <= 5; i++) {
    await repo.insertLedger({
      period_start: '2026-02-23',
      period_end: '2026-03-02',
      idempotency_key: `key-${i}`,
      payload: JSON.stringify({ attempt: i }),
      status: i === 5 ? 'accepted' : 'failed',
      attempts: i,
      response_code: i === 5 ? 202 : 500,
      response_body: i === 5 ? '{"submission_id":"x"}' : null,
      error: i === 5 ? null : 'collector answered 500',
      sent_at: new Date(Date.UTC(2026, 2, 2) + i * DAY),
    });
  }
  const first = await repo.ledger(2, 0);
  t.is(first.total, 5);
  t.deepEqual(first.entries.map((e) => e.attempts), [5, 4]);
  t.deepEqual(first.entries[0]!.payload, { attempt: 5 });
  t.is(first.entries[0]!.response_code, 202);
  t.is(first.entries[1]!.response_code, 500);
  t.is(first.entries[1]!.error, 'collector answered 500');
  t.is(first.entries[0]!.sent_at, new Date(Date.UTC(2026, 2, 2) + 5 * DAY).toISOString());
  t.deepEqual((await repo.ledger(2, 4)).entries.map((e) => e.attempts), [1]);
  t.deepEqual((await repo.ledger(2, 10)).entries, []);
  t.is((await repo.lastLedgerEntry())!.idempotency_key, 'key-5');
});
