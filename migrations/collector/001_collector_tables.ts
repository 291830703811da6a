// The collector's tables (docs/collector.md): installations (one row each, with the latest reported state),
// raw submissions, daily and weekly rollups maintained on ingest, and a log of e-mail reports.
// Days and week starts are stored as 'YYYY-MM-DD' strings (UTC), so SQLite and PostgreSQL compare
// them the same way and no driver turns them into local-time Date objects.
import type { Knex } from 'knex';

export const name = '001_collector_tables';

function rollupTable(periodColumn: 'day' | 'week_start') {
  return (table: Knex.CreateTableBuilder): void => {
    table.string(periodColumn, 10).notNullable();
    // 'all', 'version', 'deployment', 'platform', 'country', 'feature', 'registered', 'removed'
    table.string('dimension', 16).notNullable();
    table.string('bucket', 64).notNullable();
    // Hot rows (today × 'all') are split over a few shards so concurrent ingest transactions rarely
    // wait on each other's row lock; readers sum over shards.
    table.smallint('shard').notNullable();
    table.integer('installations').notNullable().defaultTo(0);
    table.integer('submissions').notNullable().defaultTo(0);
    table.bigInteger('errors').notNullable().defaultTo(0);
    table.integer('error_installations').notNullable().defaultTo(0);
    table.bigInteger('events').notNullable().defaultTo(0);
    table.primary(['dimension', periodColumn, 'bucket', 'shard']);
    table.index([periodColumn]);
  };
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('collector_installations', (table) => {
    table.string('install_id', 36).primary();
    // The per-installation HMAC key handed out at registration (needed as is to verify signatures).
    table.string('secret', 64).notNullable();
    table.timestamp('registered_at', { useTz: true }).notNullable();
    table.timestamp('last_seen_at', { useTz: true }).nullable();
    table.string('app_version', 64).nullable();
    table.string('platform', 32).nullable();
    table.string('deployment_type', 16).nullable();
    table.string('country', 2).nullable();
    // JSON array of the feature flags that were true in the latest submission.
    table.text('feature_flags').nullable();
    table.integer('last_error_count').nullable();
    table.integer('submissions_count').notNullable().defaultTo(0);
    table.index(['last_seen_at']);
    table.index(['registered_at']);
  });

  await knex.schema.createTable('collector_submissions', (table) => {
    table.string('id', 36).primary();
    table.string('install_id', 36).notNullable().references('install_id').inTable('collector_installations').onDelete('CASCADE');
    table.string('idempotency_key', 128).nullable();
    table.timestamp('received_at', { useTz: true }).notNullable();
    table.string('period_start', 10).notNullable();
    table.string('period_end', 10).notNullable();
    table.string('app_version', 64).notNullable();
    table.string('platform', 32).notNullable();
    table.string('deployment_type', 16).notNullable();
    table.string('country', 2).notNullable();
    table.bigInteger('error_count').notNullable();
    table.float('uptime_hours').notNullable();
    table.bigInteger('event_total').notNullable();
    table.text('payload').notNullable();
    // A repeated Idempotency-Key of one installation is recognised by the database itself.
    table.unique(['install_id', 'idempotency_key']);
    table.index(['install_id', 'received_at']);
    table.index(['received_at']);
  });

  await knex.schema.createTable('collector_daily_rollups', rollupTable('day'));
  await knex.schema.createTable('collector_weekly_rollups', rollupTable('week_start'));

  await knex.schema.createTable('collector_report_log', (table) => {
    table.increments('id').primary();
    table.string('kind', 16).notNullable(); // weekly | monthly | test
    table.string('trigger', 16).notNullable(); // schedule | manual
    // Set for scheduled runs only: the unique key lets exactly one of several processes send it.
    table.string('period_key', 32).nullable().unique();
    table.string('status', 16).notNullable(); // sending | sent | failed | skipped
    table.text('recipients').notNullable();
    table.string('message_id', 255).nullable();
    table.text('error').nullable();
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('finished_at', { useTz: true }).nullable();
    table.index(['kind', 'created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('collector_report_log');
  await knex.schema.dropTableIfExists('collector_weekly_rollups');
  await knex.schema.dropTableIfExists('collector_daily_rollups');
  await knex.schema.dropTableIfExists('collector_submissions');
  await knex.schema.dropTableIfExists('collector_installations');
}
