// The collector's migrations, served to knex through a migrationSource with its own table
// (collector_knex_migrations), so they never mix with a host's knex_migrations or the client plugin's.
import { COLLECTOR_MIGRATIONS_TABLE } from './tables.js';
import * as tables001 from '../../../migrations/collector/001_collector_tables.js';
import * as erasures002 from '../../../migrations/collector/002_erasures.js';
import * as sessions003 from '../../../migrations/collector/003_sessions.js';
import * as scale004 from '../../../migrations/collector/004_ingest_at_scale.js';

import { defineMigrations, type Migration } from '../../core/db/migrator.js';

export type CollectorMigration = Migration;

const collector = defineMigrations([tables001, erasures002, sessions003, scale004], COLLECTOR_MIGRATIONS_TABLE);

export const collectorMigrationSource = collector.migrationSource;
export const collectorMigratorConfig = collector.migratorConfig;
export const migrateCollector = collector.migrateLatest;
export const rollbackCollector = collector.rollbackAll;
