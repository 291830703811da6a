// A named set of knex migrations served through a migrationSource with its own migrations table,
// so it never mixes with a host's knex_migrations (used by the plugin and by the collector).
import type { Knex } from 'knex';

export interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** How long a starting process keeps retrying while another one holds the migration lock. */
export const MIGRATE_PATIENCE_MS = 60_000;

/** Errors that no retry can fix (knex also wraps these as MigrationLocked when taking its lock fails). */
const PERMANENT = /SQLITE_READONLY|readonly database|SQLITE_CANTOPEN|permission denied|read-only transaction/i;

/** Errors of another process migrating at the same moment. */
function isMigrationRace(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string };
  if (PERMANENT.test(String(e?.message))) return false;
  return (
    e?.name === 'MigrationLocked' ||
    /already locked|already exists|SQLITE_BUSY|database is locked/i.test(String(e?.message)) ||
    ['SQLITE_BUSY', '23505', '42P07', '40P01'].includes(String(e?.code))
  );
}

export function defineMigrations(migrations: readonly Migration[], tableName: string) {
  const migrationSource: Knex.MigrationSource<Migration> = {
    getMigrations: async () => [...migrations],
    getMigrationName: (migration) => migration.name,
    getMigration: async (migration) => migration,
  };
  /** Set explicitly: knex merges the host knex's config.migrations into whatever we pass. */
  const migratorConfig: Knex.MigratorConfig = {
    migrationSource,
    tableName,
    schemaName: undefined,
    disableTransactions: false,
    disableMigrationsListValidation: false,
  };
  /**
   * Several processes may start together on one fresh database. knex creates its migrations table
   * without guarding that race and answers "already locked" while another process migrates; once
   * the tables exist knex's lock row serializes them. So: retry with a randomized, growing pause
   * while it looks like that race (up to `patienceMs`), anything else after three tries.
   */
  async function migrateLatest(db: Knex, patienceMs = MIGRATE_PATIENCE_MS): Promise<void> {
    // Already set up and nothing pending: take no lock, so a read-only but up-to-date database
    // still starts. (On a fresh database list() would create knex's tables itself: skip it there.)
    if (await alreadySetUp(db)) {
      const pending = await db.migrate.list(migratorConfig).then(
        ([, todo]: [unknown, unknown[]]) => todo.length,
        () => -1,
      );
      if (pending === 0) return;
    }
    const deadline = Date.now() + patienceMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await db.migrate.latest(migratorConfig);
        return;
      } catch (err) {
        if (Date.now() >= deadline || (!isMigrationRace(err) && attempt >= 3)) throw err;
        if (isMigrationRace(err)) await keepOneLockRow(db);
        await new Promise((done) => setTimeout(done, Math.min(1000, 50 * attempt) + Math.random() * 150));
      }
    }
  }
  async function alreadySetUp(db: Knex): Promise<boolean> {
    try {
      return (await db.schema.hasTable(tableName)) && (await db.schema.hasTable(`${tableName}_lock`));
    } catch {
      return false;
    }
  }
  /**
   * knex creates its lock table and inserts the lock row without guarding against a second process
   * doing the same: two processes starting on a fresh database can leave two rows, and knex then
   * answers "already locked" to everyone, forever (it takes the lock only when exactly one row
   * changes). Deleting all but the first row is safe: with two rows nobody can hold the lock.
   */
  async function keepOneLockRow(db: Knex): Promise<void> {
    const lockTable = `${tableName}_lock`;
    try {
      const rows = (await db(lockTable).select('index').orderBy('index')) as { index: number }[];
      if (rows.length > 1) await db(lockTable).where('index', '>', rows[0]!.index).delete();
    } catch {
      // not created yet, or another process repaired it first: the next attempt tells
    }
  }
  async function rollbackAll(db: Knex): Promise<void> {
    await db.migrate.rollback(migratorConfig, true);
  }
  return { migrationSource, migratorConfig, migrateLatest, rollbackAll };
}
