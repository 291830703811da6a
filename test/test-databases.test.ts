import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import knex, { type Knex } from 'knex';
import {
  createTestDatabase,
  databaseKinds,
  testEachDatabase,
  pgUrl,
} from './helpers/databases.js';
import { makeTempDir, registerCleanup } from './helpers/tmp.js';

const kinds = databaseKinds();
const hasPg = kinds.includes('postgres');
const pgTest = hasPg ? test : test.skip;

/** A tiny inline migration source: one migration creating `widgets`. */
const inlineSource: Knex.MigrationSource<string> = {
  getMigrations: async () => ['001_widgets'],
  getMigrationName: (name) => name,
  getMigration: async () => ({
    up: (k: Knex) => k.schema.createTable('widgets', (t) => {
      t.increments('id');
      t.string('name');
    }),
    down: (k: Knex) => k.schema.dropTable('widgets'),
  }),
};

/** A plain knex on TEST_PG_URL's database (default search_path), to look from outside. */
function outsider(): Knex {
  return knex({ client: 'pg', connection: pgUrl()!, pool: { min: 0, max: 1 } });
}

async function tablesInSchema(schema: string): Promise<string[]> {
  const k = outsider();
  try {
    const rows = await k('information_schema.tables')
      .where({ table_schema: schema })
      .orderBy('table_name')
      .pluck('table_name');
    return rows as string[];
  } finally {
    await k.destroy();
  }
}

test('databaseKinds: sqlite always, postgres only with TEST_PG_URL', (t) => {
  t.is(kinds[0], 'sqlite');
  t.is(hasPg, Boolean(pgUrl()));
});

test('databaseKinds: throws in CI when TEST_PG_URL is missing', (t) => {
  // Synchronous: no other test of this process can observe the temporary env.
  const saved = { url: process.env.TEST_PG_URL, ci: process.env.CI };
  try {
    delete process.env.TEST_PG_URL;
    process.env.CI = 'true';
    t.throws(() => databaseKinds(), { message: /TEST_PG_URL/ });
    process.env.CI = 'false';
    t.deepEqual(databaseKinds(), ['sqlite']);
  } finally {
    if (saved.url === undefined) delete process.env.TEST_PG_URL;
    else process.env.TEST_PG_URL = saved.url;
    if (saved.ci === undefined) delete process.env.CI;
    else process.env.CI = saved.ci;
  }
});

for (const kind of kinds) {
  test(`a table on one database is invisible to another [${kind}]`, async (t) => {
    const a = await createTestDatabase(kind);
    t.teardown(() => a.cleanup());
    const b = await createTestDatabase(kind);
    t.teardown(() => b.cleanup());

    await a.knex.schema.createTable('things', (tb) => {
      tb.increments('id');
      tb.string('name');
    });
    await a.knex('things').insert({ name: 'only in a' });

    t.true(await a.knex.schema.hasTable('things'));
    t.false(await b.knex.schema.hasTable('things'));
    await t.throwsAsync(b.knex('things').select('*'), { any: true });

    // b can create its own table of the same name, independent from a's.
    await b.knex.schema.createTable('things', (tb) => {
      tb.increments('id');
      tb.string('name');
    });
    t.deepEqual(await b.knex('things').pluck('name'), []);
    t.deepEqual(await a.knex('things').pluck('name'), ['only in a']);
  });

  test(`config() reaches the same private database [${kind}]`, async (t) => {
    const db = await createTestDatabase(kind);
    t.teardown(() => db.cleanup());
    await db.knex.schema.createTable('shared', (tb) => tb.string('v'));
    await db.knex('shared').insert({ v: 'x' });

    const other = knex(db.config());
    try {
      t.deepEqual(await other('shared').pluck('v'), ['x']);
    } finally {
      await other.destroy();
    }
  });

  test(`migrate.latest with an inline source keeps its tables private [${kind}]`, async (t) => {
    const db = await createTestDatabase(kind);
    t.teardown(() => db.cleanup());
    const [, applied] = await db.knex.migrate.latest({
      migrationSource: inlineSource,
      tableName: 'x_migrations',
    });
    t.deepEqual(applied, ['001_widgets']);
    for (const name of ['widgets', 'x_migrations', 'x_migrations_lock']) {
      t.true(await db.knex.schema.hasTable(name), name);
    }
    // Idempotent: a second run applies nothing and does not complain.
    const [, again] = await db.knex.migrate.latest({
      migrationSource: inlineSource,
      tableName: 'x_migrations',
    });
    t.deepEqual(again, []);

    const other = await createTestDatabase(kind);
    t.teardown(() => other.cleanup());
    t.false(await other.knex.schema.hasTable('x_migrations'));
  });
}

test('sqlite cleanup removes the temp dir and is idempotent', async (t) => {
  const db = await createTestDatabase('sqlite');
  await db.knex.schema.createTable('t', (tb) => tb.string('v'));
  await access(db.location);
  await db.cleanup();
  await db.cleanup();
  await t.throwsAsync(access(dirname(db.location)), { code: 'ENOENT' });
});

pgTest('postgres: every table, including knex.migrate tables, lands in the private schema', async (t) => {
  const db = await createTestDatabase('postgres');
  t.teardown(() => db.cleanup());
  t.regex(db.location, /^kct_test_[a-z0-9_]+$/);
  t.is((await db.knex.raw('select current_schema() as s')).rows[0].s, db.location);

  await db.knex.schema.createTable('plain_table', (tb) => tb.increments('id'));
  await db.knex.migrate.latest({ migrationSource: inlineSource, tableName: 'x_migrations' });

  t.deepEqual(await tablesInSchema(db.location), [
    'plain_table',
    'widgets',
    'x_migrations',
    'x_migrations_lock',
  ]);
  const k = outsider();
  try {
    const inPublic = await k('information_schema.tables')
      .where({ table_schema: 'public' })
      .whereIn('table_name', ['plain_table', 'widgets', 'x_migrations', 'x_migrations_lock'])
      .pluck('table_name');
    t.deepEqual(inPublic, []);
  } finally {
    await k.destroy();
  }
});

pgTest('postgres: cleanup drops the schema, even with a connection left open', async (t) => {
  const db = await createTestDatabase('postgres');
  await db.knex.schema.createTable('t', (tb) => tb.string('v'));

  // Code under test that forgets to destroy its knex, holding a lock on the table.
  const leaked = knex(db.config());
  const trx = await leaked.transaction();
  await trx('t').insert({ v: 'locked' });

  await db.cleanup();
  await db.cleanup(); // idempotent

  const k = outsider();
  try {
    const schemas = await k('information_schema.schemata')
      .where({ schema_name: db.location })
      .pluck('schema_name');
    t.deepEqual(schemas, []);
  } finally {
    await k.destroy();
    await trx.rollback().catch(() => {});
    await leaked.destroy().catch(() => {});
  }
});

testEachDatabase('testEachDatabase gives a fresh, empty database', async (t, db) => {
  t.true(kinds.includes(db.kind));
  t.false(await db.knex.schema.hasTable('things'));
  await db.knex.schema.createTable('things', (tb) => tb.string('v'));
  t.true(await db.knex.schema.hasTable('things'));
});

test('tmp helpers: unique dirs; registerCleanup removes the dir and its contents at teardown', async (t) => {
  const a = await makeTempDir();
  const b = await makeTempDir('other-');
  t.teardown(() => Promise.all([a, b].map((dir) => rm(dir, { recursive: true, force: true })))); // if an assertion fails first
  t.not(a, b);
  t.true(basename(b).startsWith('other-'));
  await mkdir(join(a, 'nested'));
  await writeFile(join(a, 'nested', 'file.txt'), 'x');

  // registerCleanup's teardown runs after the test that registered it: collect it from a stand-in
  // context and run it here, so its effect can be checked.
  const teardowns: (() => unknown)[] = [];
  const context = { teardown: (fn: () => unknown) => void teardowns.push(fn) } as unknown as ExecutionContext;
  t.is(registerCleanup(context, a), a);
  t.is(teardowns.length, 1);
  await access(join(a, 'nested', 'file.txt')); // nothing removed before the teardown

  for (const teardown of teardowns) await teardown();
  await t.throwsAsync(access(a), { code: 'ENOENT' });
  await access(b); // only the registered dir
});
