// The plugin's migrations, served to knex through a migrationSource with its own migrations table,
// so they never mix with a host's knex_migrations (a host can also run them in its own deploy step).
import type { Knex } from 'knex';
import { MIGRATIONS_TABLE } from './tables.js';
import * as settings001 from '../../migrations/001_telemetry_settings.js';
import * as usageStats002 from '../../migrations/002_usage_stats.js';
import * as support003 from '../../migrations/003_support.js';

export interface PluginMigration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

const MIGRATIONS: readonly PluginMigration[] = [settings001, usageStats002, support003];

export const migrationSource: Knex.MigrationSource<PluginMigration> = {
  getMigrations: async () => [...MIGRATIONS],
  getMigrationName: (migration) => migration.name,
  getMigration: async (migration) => migration,
};

/** Config for knex.migrate.*; set explicitly because knex merges the host's config.migrations into it. */
export const migratorConfig: Knex.MigratorConfig = {
  migrationSource,
  tableName: MIGRATIONS_TABLE,
  schemaName: undefined,
  disableTransactions: false,
  disableMigrationsListValidation: false,
};

const MIGRATE_ATTEMPTS = 3;

/**
 * knex creates its migrations table without guarding against a race, so two processes starting on
 * a fresh database can collide there; once the tables exist knex's lock row serializes them, so a
 * short randomized retry is enough.
 */
export async function migrateLatest(db: Knex): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await db.migrate.latest(migratorConfig);
      return;
    } catch (err) {
      if (attempt >= MIGRATE_ATTEMPTS) throw err;
      await new Promise((done) => setTimeout(done, 50 + Math.random() * 200 * attempt));
    }
  }
}

export async function migrateRollbackAll(db: Knex): Promise<void> {
  await db.migrate.rollback(migratorConfig, true);
}
