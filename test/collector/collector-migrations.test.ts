// The collector's migrations: own table collector_knex_migrations, reversible, idempotent, safe to
// start from several processes at once, and side by side with the client plugin's migrations.
import knex, { type Knex } from 'knex';
import { testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { collectorMigrationSource, collectorMigratorConfig, migrateCollector, rollbackCollector } from '../../src/collector/storage/migrations.js';
import { COLLECTOR_MIGRATIONS_TABLE, COLLECTOR_TABLES } from '../../src/collector/storage/tables.js';
import { migrateLatest } from '../../src/plugin/db/migration-source.js';
import { collectorPlugin } from '../../src/collector/plugin.js';

async function tables(db: TestDatabase, k: Knex = db.knex): Promise<string[]> {
  if (db.kind === 'sqlite') return ((await k('sqlite_master').where('type', 'table').whereNot('name', 'like', 'sqlite_%').pluck('name')) as string[]).sort();
  return ((await k('information_schema.tables').where('table_schema', db.location).pluck('table_name')) as string[]).sort();
}

testEachDatabase('migrate creates the collector tables and its own migrations table; rollback removes them', async (t, db) => {
  await migrateCollector(db.knex);
  const created = await tables(db);
  for (const table of Object.values(COLLECTOR_TABLES)) t.true(created.includes(table), table);
  t.true(created.includes(COLLECTOR_MIGRATIONS_TABLE));
  t.false(created.includes('knex_migrations'));
  const expected = (await collectorMigrationSource.getMigrations([])).map((m) => m.name);
  t.true(expected.includes('001_collector_tables') && expected.includes('002_erasures') && expected.includes('003_sessions'));
  t.deepEqual(((await db.knex(COLLECTOR_MIGRATIONS_TABLE).pluck('name')) as string[]).map(String).sort(), [...expected].sort());
  await migrateCollector(db.knex);
  t.is((await db.knex(COLLECTOR_MIGRATIONS_TABLE).pluck('name')).length, expected.length, 'idempotent');
  await rollbackCollector(db.knex);
  const after = await tables(db);
  for (const table of Object.values(COLLECTOR_TABLES)) t.false(after.includes(table), table);
});

testEachDatabase('the collector and the client plugin share a database without touching each other', async (t, db) => {
  await migrateLatest(db.knex);
  await migrateCollector(db.knex);
  const all = await tables(db);
  t.true(all.includes('telemetry_knex_migrations'));
  t.true(all.includes(COLLECTOR_MIGRATIONS_TABLE));
  t.deepEqual((await db.knex('telemetry_knex_migrations').pluck('name')).map(String).filter((n) => n.startsWith('001_collector')), []);
  await rollbackCollector(db.knex);
  t.true((await tables(db)).includes('telemetry_settings'), 'rolling back the collector leaves the plugin alone');
  t.is(collectorPlugin({ env: {} }).migrationsTableName, COLLECTOR_MIGRATIONS_TABLE);
  t.is(collectorPlugin({ env: {} }).migrationSource, collectorMigrationSource);
});

testEachDatabase('several processes migrating a fresh database at once all succeed', async (t, db) => {
  const instances = Array.from({ length: 3 }, () => knex(db.config()));
  t.teardown(() => Promise.all(instances.map((k) => k.destroy())));
  await Promise.all(instances.map((k) => migrateCollector(k)));
  t.is((await db.knex(COLLECTOR_MIGRATIONS_TABLE).pluck('name')).length, (await collectorMigrationSource.getMigrations([])).length);
});

testEachDatabase('004 counts the installations that already submitted by the day they were last seen; down drops the counters', async (t, db) => {
  // A database at 003 with a history: two installations last seen on 2026-03-02 (on different
  // shards), one on 2026-03-05, one that never submitted.
  for (let i = 0; i < 3; i++) await db.knex.migrate.up(collectorMigratorConfig);
  t.false(await db.knex.schema.hasTable(COLLECTOR_TABLES.lastSeenDays));
  const installation = (id: string, lastSeen: string | null) => ({
    install_id: id,
    secret: 'a'.repeat(64),
    registered_at: new Date('2026-03-01T00:00:00Z'),
    last_seen_at: lastSeen === null ? null : new Date(lastSeen),
    submissions_count: lastSeen === null ? 0 : 1,
  });
  await db.knex(COLLECTOR_TABLES.installations).insert([
    installation('00000001-0000-4000-8000-000000000000', '2026-03-02T23:59:00Z'),
    installation('00000002-0000-4000-8000-000000000000', '2026-03-02T00:00:00Z'),
    installation('00000009-0000-4000-8000-000000000000', '2026-03-02T10:00:00Z'),
    installation('0000000a-0000-4000-8000-000000000000', '2026-03-05T10:00:00Z'),
    installation('0000000b-0000-4000-8000-000000000000', null),
  ]);
  await migrateCollector(db.knex);
  const rows = (await db.knex(COLLECTOR_TABLES.lastSeenDays).select('day', 'shard', 'installations').orderBy(['day', 'shard'])).map((r) => ({
    day: String(r.day),
    shard: Number(r.shard),
    installations: Number(r.installations),
  }));
  // Shards: 1 % 8, 2 % 8, 9 % 8 = 1, 10 % 8 = 2 — the same as the ingest code's shardOf.
  t.deepEqual(rows, [
    { day: '2026-03-02', shard: 1, installations: 2 },
    { day: '2026-03-02', shard: 2, installations: 1 },
    { day: '2026-03-05', shard: 2, installations: 1 },
  ]);
  await db.knex.migrate.down(collectorMigratorConfig);
  t.false(await db.knex.schema.hasTable(COLLECTOR_TABLES.lastSeenDays));
  t.is(await db.knex(COLLECTOR_TABLES.installations).count({ n: '*' }).first().then((r) => Number(r?.n)), 5, 'down keeps the installations');
});
