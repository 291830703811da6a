// The plugin's migrations: own table telemetry_knex_migrations, idempotent, reversible, and living
// side by side with a host's own file-based migrations in knex_migrations.
//
// Host migration files are written as `.cjs`: knex 3 loads `.cjs` by default (DEFAULT_LOAD_EXTENSIONS
// has .js/.cjs/.ts but not .mjs); `.mjs` files are only picked up with `loadExtensions: ['.mjs']`
// (then imported as ESM). Both are exercised below.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import knex, { type Knex } from 'knex';
import type { ExecutionContext } from 'ava';
import { migrateLatest, migrateRollbackAll, migratorConfig, migrationSource } from '../../src/plugin/db/migration-source.js';
import { MIGRATIONS_TABLE, TABLES } from '../../src/plugin/db/tables.js';
import { testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { tempDirFor } from '../helpers/tmp.js';

const PLUGIN_MIGRATIONS = (await migrationSource.getMigrations([])).map((m) => migrationSource.getMigrationName(m));

/** Every table of the test database (SQLite: the file; PostgreSQL: the private schema). */
async function tableNames(db: TestDatabase, k: Knex = db.knex): Promise<string[]> {
  if (db.kind === 'sqlite') {
    const rows = (await k('sqlite_master').where('type', 'table').whereNot('name', 'like', 'sqlite_%').pluck('name')) as string[];
    return rows.sort();
  }
  const rows = (await k('information_schema.tables').where('table_schema', db.location).pluck('table_name')) as string[];
  return rows.sort();
}

async function migrationNames(k: Knex, table: string): Promise<string[]> {
  return ((await k(table).orderBy('id').pluck('name')) as string[]).map(String);
}

function cjsMigration(table: string): string {
  return [
    'exports.up = (knex) => knex.schema.createTable(' + JSON.stringify(table) + ', (t) => { t.increments("id"); t.string("name"); });',
    'exports.down = (knex) => knex.schema.dropTable(' + JSON.stringify(table) + ');',
    '',
  ].join('\n');
}

function mjsMigration(table: string): string {
  return [
    'export async function up(knex) { await knex.schema.createTable(' + JSON.stringify(table) + ', (t) => { t.increments("id"); }); }',
    'export async function down(knex) { await knex.schema.dropTable(' + JSON.stringify(table) + '); }',
    '',
  ].join('\n');
}

async function hostMigrationsDir(t: ExecutionContext): Promise<string> {
  const dir = join(await tempDirFor(t, 'kct-host-migrations-'), 'migrations');
  await mkdir(dir);
  return dir;
}

/** A second knex on the same private database, destroyed when the test ends. */
function extraKnex(t: ExecutionContext, db: TestDatabase, extra: Partial<Knex.Config> = {}): Knex {
  const k = knex({ ...db.config(), ...extra });
  t.teardown(() => k.destroy());
  return k;
}

// ------------------------------------------------------------------------------------ plugin alone

testEachDatabase('migrateLatest creates telemetry_settings and telemetry_knex_migrations', async (t, db) => {
  t.is(MIGRATIONS_TABLE, 'telemetry_knex_migrations');
  await migrateLatest(db.knex);
  const tables = await tableNames(db);
  t.true(tables.includes(TABLES.settings));
  t.true(tables.includes('telemetry_settings'));
  t.true(tables.includes('telemetry_knex_migrations'));
  t.false(tables.includes('knex_migrations'), 'the shared default table is never touched');
  t.deepEqual(await migrationNames(db.knex, 'telemetry_knex_migrations'), PLUGIN_MIGRATIONS);

  // The table is usable: key/value/updated_at, key unique.
  await db.knex('telemetry_settings').insert({ key: 'k', value: 'v', updated_at: new Date() });
  await t.throwsAsync(db.knex('telemetry_settings').insert({ key: 'k', value: 'w', updated_at: new Date() }));
  const rows = await db.knex('telemetry_settings').select('key', 'value');
  t.deepEqual(rows.map((r: { key: string; value: string }) => [r.key, r.value]), [['k', 'v']]);
});

testEachDatabase('every plugin table carries the telemetry_ prefix', async (t, db) => {
  const before = new Set(await tableNames(db));
  await migrateLatest(db.knex);
  const created = (await tableNames(db)).filter((n) => !before.has(n));
  t.true(created.length > 0);
  for (const name of created) t.true(name.startsWith('telemetry_'), `${name} has the telemetry_ prefix`);
});

testEachDatabase('running migrateLatest twice is a no-op and keeps the data', async (t, db) => {
  await migrateLatest(db.knex);
  await db.knex('telemetry_settings').insert({ key: 'consent.analytics', value: 'true', updated_at: new Date() });
  const tablesBefore = await tableNames(db);
  await migrateLatest(db.knex);
  t.deepEqual(await tableNames(db), tablesBefore);
  t.deepEqual(await migrationNames(db.knex, 'telemetry_knex_migrations'), PLUGIN_MIGRATIONS);
  t.is((await db.knex('telemetry_settings').where('key', 'consent.analytics').first())?.value, 'true');
});

testEachDatabase('migrateRollbackAll drops every plugin table (down), and migrateLatest again (up) works', async (t, db) => {
  await migrateLatest(db.knex);
  await migrateRollbackAll(db.knex);
  const remaining = (await tableNames(db)).filter((n) => n.startsWith('telemetry_'));
  // Only knex's own bookkeeping (the migrations table and its lock) may stay behind.
  t.deepEqual(
    remaining.filter((n) => n !== MIGRATIONS_TABLE && n !== `${MIGRATIONS_TABLE}_lock`),
    [],
    `left behind after rollback: ${remaining.join(', ')}`,
  );
  t.false(await db.knex.schema.hasTable('telemetry_settings'));
  t.deepEqual(await migrationNames(db.knex, MIGRATIONS_TABLE), []);

  await migrateLatest(db.knex);
  t.true(await db.knex.schema.hasTable('telemetry_settings'));
  t.deepEqual(await migrationNames(db.knex, MIGRATIONS_TABLE), PLUGIN_MIGRATIONS);
  await db.knex('telemetry_settings').insert({ key: 'x', value: 'y', updated_at: new Date() });
  t.is((await db.knex('telemetry_settings').first())?.value, 'y');
});

testEachDatabase('migrationSource + migratorConfig are usable by a host deploy step (knex.migrate.latest)', async (t, db) => {
  const [done, pending] = (await db.knex.migrate.list(migratorConfig)) as [unknown[], { file?: string; name?: string }[]];
  t.is(done.length, 0);
  t.is(pending.length, PLUGIN_MIGRATIONS.length);
  await db.knex.migrate.latest({ migrationSource, tableName: MIGRATIONS_TABLE });
  t.true(await db.knex.schema.hasTable('telemetry_settings'));
  await migrateLatest(db.knex); // the plugin's own ready() afterwards: nothing to do
  t.deepEqual(await migrationNames(db.knex, MIGRATIONS_TABLE), PLUGIN_MIGRATIONS);
});

// ------------------------------------------------------------------------------------ with a host

testEachDatabase('a host with its own migrations directory and knex_migrations keeps working around the plugin', async (t, db) => {
  const dir = await hostMigrationsDir(t);
  await writeFile(join(dir, '20240101000000_host_widgets.cjs'), cjsMigration('host_widgets'));
  await writeFile(join(dir, '20240102000000_host_notes.cjs'), cjsMigration('host_notes'));
  const host = { directory: dir }; // default tableName: knex_migrations

  await db.knex.migrate.latest(host);
  await migrateLatest(db.knex);
  // The host's next deploy: must not fail with "migration directory is corrupt".
  await t.notThrowsAsync(db.knex.migrate.latest(host));

  // A new host migration added later.
  await writeFile(join(dir, '20240103000000_host_tags.cjs'), cjsMigration('host_tags'));
  await t.notThrowsAsync(db.knex.migrate.latest(host));
  await migrateLatest(db.knex);
  await t.notThrowsAsync(db.knex.migrate.latest(host));

  const tables = await tableNames(db);
  for (const name of ['host_widgets', 'host_notes', 'host_tags', 'telemetry_settings', 'knex_migrations', 'telemetry_knex_migrations']) {
    t.true(tables.includes(name), `${name} exists`);
  }
  t.deepEqual(await migrationNames(db.knex, 'knex_migrations'), [
    '20240101000000_host_widgets.cjs',
    '20240102000000_host_notes.cjs',
    '20240103000000_host_tags.cjs',
  ]);
  t.deepEqual(await migrationNames(db.knex, 'telemetry_knex_migrations'), PLUGIN_MIGRATIONS);

  // The host rolling back all of its own migrations leaves the plugin's tables alone, and vice versa.
  await db.knex.migrate.rollback(host, true);
  t.true(await db.knex.schema.hasTable('telemetry_settings'));
  t.false(await db.knex.schema.hasTable('host_widgets'));
  await db.knex.migrate.latest(host);
  await migrateRollbackAll(db.knex);
  t.true(await db.knex.schema.hasTable('host_widgets'));
  t.false(await db.knex.schema.hasTable('telemetry_settings'));
  t.is((await migrationNames(db.knex, 'knex_migrations')).length, 3);
});

testEachDatabase('the plugin migrating first, then the host, works too', async (t, db) => {
  const dir = await hostMigrationsDir(t);
  await writeFile(join(dir, '001_host_widgets.cjs'), cjsMigration('host_widgets'));
  await migrateLatest(db.knex);
  await t.notThrowsAsync(db.knex.migrate.latest({ directory: dir }));
  await t.notThrowsAsync(db.knex.migrate.latest({ directory: dir }));
  t.deepEqual(await migrationNames(db.knex, 'knex_migrations'), ['001_host_widgets.cjs']);
  t.deepEqual(await migrationNames(db.knex, MIGRATIONS_TABLE), PLUGIN_MIGRATIONS);
});

testEachDatabase('a host knex with config.migrations {directory, tableName: knex_migrations} still runs the plugin into telemetry_knex_migrations', async (t, db) => {
  const dir = await hostMigrationsDir(t);
  await writeFile(join(dir, '001_host_widgets.cjs'), cjsMigration('host_widgets'));
  const hostKnex = extraKnex(t, db, { migrations: { directory: dir, tableName: 'knex_migrations' } });

  await hostKnex.migrate.latest(); // the host's own deploy step, configured in its knexfile
  await migrateLatest(hostKnex); // knex merges config.migrations into the plugin's config
  await t.notThrowsAsync(hostKnex.migrate.latest());

  await writeFile(join(dir, '002_host_notes.cjs'), cjsMigration('host_notes'));
  await t.notThrowsAsync(hostKnex.migrate.latest());
  await migrateLatest(hostKnex);

  t.deepEqual(await migrationNames(hostKnex, 'knex_migrations'), ['001_host_widgets.cjs', '002_host_notes.cjs']);
  t.deepEqual(await migrationNames(hostKnex, 'telemetry_knex_migrations'), PLUGIN_MIGRATIONS);
  t.true(await hostKnex.schema.hasTable('telemetry_settings'));
  t.true(await hostKnex.schema.hasTable('host_notes'));

  await migrateRollbackAll(hostKnex);
  t.false(await hostKnex.schema.hasTable('telemetry_settings'));
  t.true(await hostKnex.schema.hasTable('host_widgets'), 'the host tables are untouched by the plugin rollback');
});

testEachDatabase('a host knex with ESM (.mjs) migrations, loadExtensions, disableTransactions and its own tableName in config.migrations', async (t, db) => {
  const dir = await hostMigrationsDir(t);
  await writeFile(join(dir, '001_host_widgets.mjs'), mjsMigration('host_widgets'));
  const hostKnex = extraKnex(t, db, {
    migrations: { directory: dir, tableName: 'host_schema_versions', loadExtensions: ['.mjs'], disableTransactions: true },
  });

  await hostKnex.migrate.latest();
  await migrateLatest(hostKnex);
  await writeFile(join(dir, '002_host_notes.mjs'), mjsMigration('host_notes'));
  await t.notThrowsAsync(hostKnex.migrate.latest());

  t.deepEqual(await migrationNames(hostKnex, 'host_schema_versions'), ['001_host_widgets.mjs', '002_host_notes.mjs']);
  t.deepEqual(await migrationNames(hostKnex, 'telemetry_knex_migrations'), PLUGIN_MIGRATIONS);
  t.true(await hostKnex.schema.hasTable('telemetry_settings'));
  t.false(await hostKnex.schema.hasTable('knex_migrations'));
});

testEachDatabase('contrast: plugin migrations in the shared knex_migrations table would break the host ("migration directory is corrupt")', async (t, db) => {
  // Documents why the plugin has its own table: the host's FS migrations validate that every row of
  // their table has a file, so a foreign row there makes the host's next deploy fail.
  const dir = await hostMigrationsDir(t);
  await writeFile(join(dir, '001_host_widgets.cjs'), cjsMigration('host_widgets'));
  const shared = { migrationSource, tableName: 'knex_migrations' };

  // Plugin first, host next: the host's deploy fails.
  await db.knex.migrate.latest(shared);
  await t.throwsAsync(db.knex.migrate.latest({ directory: dir }), { message: /migration directory is corrupt/ });

  // Host first, plugin next (fresh tables): the plugin's start fails the same way.
  await db.knex.schema.dropTable('knex_migrations');
  await db.knex.schema.dropTableIfExists('telemetry_settings');
  await db.knex.migrate.latest({ directory: dir });
  await t.throwsAsync(db.knex.migrate.latest(shared), { message: /migration directory is corrupt/ });
});

// ------------------------------------------------------------------------------------ concurrency

/** An empty migration source: running it creates knex's bookkeeping tables and nothing else. */
const emptySource: Knex.MigrationSource<string> = {
  getMigrations: async () => [],
  getMigrationName: (name) => name,
  getMigration: async () => ({ up: async () => {}, down: async () => {} }),
};

testEachDatabase('two app instances starting at once on a fresh database both finish migrateLatest', async (t, db) => {
  // Two replicas (or a web and a worker process) sharing one database call ready() together.
  const a = extraKnex(t, db);
  const b = extraKnex(t, db);
  const results = await Promise.allSettled([migrateLatest(a), migrateLatest(b)]);
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason).slice(0, 200)] : []));
  t.deepEqual(failures, [], 'neither instance fails to start');
  t.deepEqual(await migrationNames(db.knex, MIGRATIONS_TABLE), PLUGIN_MIGRATIONS);
});

testEachDatabase('two app instances upgrading at once (pending plugin migration) both finish migrateLatest', async (t, db) => {
  await db.knex.migrate.latest({ migrationSource: emptySource, tableName: MIGRATIONS_TABLE });
  const a = extraKnex(t, db);
  const b = extraKnex(t, db);
  const results = await Promise.allSettled([migrateLatest(a), migrateLatest(b)]);
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason).slice(0, 200)] : []));
  t.deepEqual(failures, [], 'neither instance fails to start');
  t.deepEqual(await migrationNames(db.knex, MIGRATIONS_TABLE), PLUGIN_MIGRATIONS);
  t.true(await db.knex.schema.hasTable('telemetry_settings'));
});

// Regression (MigrationLocked when instances start together): knex inserts its lock row with a
// select-then-insert, so two processes on a fresh database can leave two rows, after which knex
// answers "already locked" to everyone, forever. migrateLatest repairs it and goes on.
testEachDatabase('a lock table left with two rows by a start-up race does not block migrating', async (t, db) => {
  await db.knex.schema.createTable(`${MIGRATIONS_TABLE}_lock`, (table) => {
    table.increments('index').primary();
    table.integer('is_locked');
  });
  await db.knex(`${MIGRATIONS_TABLE}_lock`).insert([{ is_locked: 0 }, { is_locked: 0 }]);
  await migrateLatest(db.knex, 20_000);
  t.deepEqual(await migrationNames(db.knex, MIGRATIONS_TABLE), PLUGIN_MIGRATIONS);
  t.is(Number((await db.knex(`${MIGRATIONS_TABLE}_lock`).count({ n: '*' }).first())!.n), 1, 'one lock row again');
});
