// The plugin's migrations, served to knex through a migrationSource with its own migrations table,
// so they never mix with a host's knex_migrations (a host can also run them in its own deploy step).
import { MIGRATIONS_TABLE } from './tables.js';
import * as settings001 from '../../../migrations/001_telemetry_settings.js';
import * as usageStats002 from '../../../migrations/002_usage_stats.js';
import * as support003 from '../../../migrations/003_support.js';
import * as consentReceipts004 from '../../../migrations/004_consent_receipts.js';
import * as userPrivacy005 from '../../../migrations/005_user_privacy.js';
import * as outboundLedger006 from '../../../migrations/006_outbound_ledger.js';
import { defineMigrations, type Migration } from '../../core/db/migrator.js';

export type PluginMigration = Migration;

const plugin = defineMigrations([settings001, usageStats002, support003, consentReceipts004, userPrivacy005, outboundLedger006], MIGRATIONS_TABLE);

export const migrationSource = plugin.migrationSource;
/** Config for knex.migrate.*; set explicitly because knex merges the host's config.migrations into it. */
export const migratorConfig = plugin.migratorConfig;
export const migrateLatest = plugin.migrateLatest;
export const migrateRollbackAll = plugin.rollbackAll;
