/**
 * Isolated databases for tests.
 *
 * Every TestDatabase is private to the test that created it, so ava's parallel test-file
 * processes never share tables:
 * - SQLite: a new file in a new temp dir.
 * - PostgreSQL (only when TEST_PG_URL is set): a new SCHEMA with a random name in
 *   TEST_PG_URL's database; every connection of the knex instance (and of any knex built from
 *   `config`) has `search_path` set to that schema alone, so unqualified tables — including
 *   the tables `knex.migrate` creates (`<tableName>` and `<tableName>_lock`) — land in it.
 *   Connections are tagged with `application_name = <schema>` so cleanup() can end any
 *   connection the code under test forgot to close before it drops the schema.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import knex, { type Knex } from 'knex';
import test, { type ExecutionContext } from 'ava';
import { makeTempDir, removeDir } from './tmp.js';

export type DatabaseKind = 'sqlite' | 'postgres';

export interface TestDatabase {
  kind: DatabaseKind;
  /** A knex instance on the private database. Destroyed by cleanup(). */
  knex: Knex;
  /** SQLite: the database file. PostgreSQL: the private schema's name. */
  location: string;
  /** A fresh knex config (not an instance) for the same private database, for code under test. */
  config(): Knex.Config;
  /** Destroy the knex instance, then drop the schema (CASCADE) / remove the temp dir. Idempotent. */
  cleanup(): Promise<void>;
}

const SCHEMA_PREFIX = 'kct_test_';

/** TEST_PG_URL, or undefined when unset/blank. */
export function pgUrl(): string | undefined {
  const url = process.env.TEST_PG_URL?.trim();
  return url ? url : undefined;
}

/**
 * Which kinds to run: always 'sqlite'; 'postgres' too when TEST_PG_URL is set.
 * In CI (CI === 'true') a missing TEST_PG_URL throws, so the PostgreSQL half is never
 * silently skipped there.
 */
export function databaseKinds(): DatabaseKind[] {
  if (pgUrl()) return ['sqlite', 'postgres'];
  if (process.env.CI === 'true') {
    throw new Error(
      'TEST_PG_URL is not set but CI=true: the PostgreSQL tests must run in CI ' +
        '(.ci/run exports TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test).',
    );
  }
  return ['sqlite'];
}

/**
 * The knex config for a test database.
 * - sqlite: `location` is the database file path.
 * - postgres: `location` is the schema name (it must already exist; see createTestDatabase).
 */
export function knexConfigFor(kind: DatabaseKind, location: string): Knex.Config {
  if (kind === 'sqlite') {
    return {
      client: 'sqlite3',
      connection: { filename: location },
      useNullAsDefault: true,
    };
  }
  const connectionString = requirePgUrl();
  return {
    client: 'pg',
    connection: { connectionString, application_name: location },
    searchPath: [location],
    pool: { min: 0, max: 4 },
    acquireConnectionTimeout: 10_000,
  };
}

/** A fresh, empty database of that kind. */
export async function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  return kind === 'sqlite' ? createSqlite() : createPostgres();
}

/**
 * ava convenience: for each kind of databaseKinds(), declares `test(`${title} [${kind}]`)`
 * that gets a fresh database, torn down after the test (pass or fail).
 */
export function testEachDatabase(
  title: string,
  fn: (t: ExecutionContext, db: TestDatabase) => Promise<void>,
): void {
  for (const kind of databaseKinds()) {
    test(`${title} [${kind}]`, async (t) => {
      const db = await createTestDatabase(kind);
      t.teardown(() => db.cleanup());
      await fn(t, db);
    });
  }
}

// ---------------------------------------------------------------------------------------------

function requirePgUrl(): string {
  const url = pgUrl();
  if (!url) throw new Error('TEST_PG_URL is not set: no PostgreSQL test database available.');
  return url;
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}

async function createSqlite(): Promise<TestDatabase> {
  const dir = await makeTempDir('kct-sqlite-');
  const filename = join(dir, 'test.sqlite3');
  const instance = knex(knexConfigFor('sqlite', filename));
  return {
    kind: 'sqlite',
    knex: instance,
    location: filename,
    config: () => knexConfigFor('sqlite', filename),
    cleanup: once(async () => {
      try {
        await instance.destroy();
      } finally {
        await removeDir(dir);
      }
    }),
  };
}

/** A short-lived single-connection knex on TEST_PG_URL's database (default search_path). */
function adminKnex(): Knex {
  return knex({
    client: 'pg',
    connection: { connectionString: requirePgUrl(), application_name: 'kct_test_admin' },
    pool: { min: 0, max: 1 },
    acquireConnectionTimeout: 10_000,
  });
}

async function createPostgres(): Promise<TestDatabase> {
  const schema = `${SCHEMA_PREFIX}${Date.now().toString(36)}_${randomBytes(5).toString('hex')}`;
  const admin = adminKnex();
  try {
    await admin.raw('create schema ??', [schema]);
  } finally {
    await admin.destroy();
  }
  const instance = knex(knexConfigFor('postgres', schema));
  return {
    kind: 'postgres',
    knex: instance,
    location: schema,
    config: () => knexConfigFor('postgres', schema),
    cleanup: once(async () => {
      try {
        await instance.destroy();
      } finally {
        await dropSchema(schema);
      }
    }),
  };
}

async function dropSchema(schema: string): Promise<void> {
  const admin = adminKnex();
  try {
    // End connections the code under test left open on this schema (they would block the drop).
    await admin.raw(
      'select pg_terminate_backend(pid) from pg_stat_activity where application_name = ? and pid <> pg_backend_pid()',
      [schema],
    );
    await admin.raw('drop schema if exists ?? cascade', [schema]);
  } finally {
    await admin.destroy();
  }
}
