// The collector's migrations, served to knex through a migrationSource with its own table
// (collector_knex_migrations), so they never mix with a host's knex_migrations or the client plugin's.
import type { Knex } from 'knex';
import { COLLECTOR_MIGRATIONS_TABLE } from './tables.js';
import * as tables001 from '../../../migrations/collector/001_collector_tables.js';

export interface CollectorMigration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

const MIGRATIONS: readonly CollectorMigration[] = [tables001];

export const collectorMigrationSource: Knex.MigrationSource<CollectorMigration> = {
  getMigrations: async () => [...MIGRATIONS],
  getMigrationName: (migration) => migration.name,
  getMigration: async (migration) => migration,
};

/** Set explicitly: knex merges the host knex's config.migrations into whatever we pass. */
export const collectorMigratorConfig: Knex.MigratorConfig = {
  migrationSource: collectorMigrationSource,
  tableName: COLLECTOR_MIGRATIONS_TABLE,
  schemaName: undefined,
  disableTransactions: false,
  disableMigrationsListValidation: false,
};

/** Errors of another process migrating at the same moment. */
function isMigrationRace(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string };
  return (
    e?.name === 'MigrationLocked' ||
    /already locked|already exists|SQLITE_BUSY|database is locked/i.test(String(e?.message)) ||
    ['SQLITE_BUSY', '23505', '42P07', '40P01'].includes(String(e?.code))
  );
}

/** How long a starting process keeps retrying while another one holds the migration lock. */
const MIGRATE_PATIENCE_MS = 60_000;

/**
 * Several collector processes may start together on one fresh database. knex creates its
 * migrations table without guarding that race, and answers "already locked" while another process
 * migrates (SQLite may also answer SQLITE_BUSY); once the tables exist knex's lock row serializes
 * them. So: retry with a randomized, growing pause for up to a minute, then give up with the error.
 */
export async function migrateCollector(db: Knex, patienceMs = MIGRATE_PATIENCE_MS): Promise<void> {
  const deadline = Date.now() + patienceMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await db.migrate.latest(collectorMigratorConfig);
      return;
    } catch (err) {
      // Anything else (an unreachable database, a permission error) fails after a few tries.
      if (Date.now() >= deadline || (!isMigrationRace(err) && attempt >= 3)) throw err;
      await new Promise((done) => setTimeout(done, Math.min(1000, 50 * attempt) + Math.random() * 150));
    }
  }
}

export async function rollbackCollector(db: Knex): Promise<void> {
  await db.migrate.rollback(collectorMigratorConfig, true);
}
