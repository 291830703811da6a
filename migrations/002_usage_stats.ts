// Local usage statistics: events, hourly page-view counts, hours the app was up, and the
// ledger of every submission attempt ("exactly what was sent, when, and the answer").
import type { Knex } from 'knex';

export const name = '002_usage_stats';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('telemetry_usage_events', (table) => {
    table.bigIncrements('id').primary();
    table.string('event_type', 64).notNullable();
    table.timestamp('occurred_at', { useTz: true }).notNullable();
    table.text('metadata').notNullable().defaultTo('{}');
    table.timestamp('submitted_at', { useTz: true }).nullable();
    table.index(['occurred_at'], 'telemetry_usage_events_occurred_at_idx');
    table.index(['event_type', 'occurred_at'], 'telemetry_usage_events_type_occurred_idx');
    table.index(['submitted_at'], 'telemetry_usage_events_submitted_at_idx');
  });
  await knex.schema.createTable('telemetry_pageview_counts', (table) => {
    table.string('route', 255).notNullable();
    table.timestamp('hour_start', { useTz: true }).notNullable();
    table.integer('count').notNullable().defaultTo(0);
    table.primary(['route', 'hour_start']);
    table.index(['hour_start'], 'telemetry_pageview_counts_hour_idx');
  });
  await knex.schema.createTable('telemetry_uptime_hours', (table) => {
    table.timestamp('hour_start', { useTz: true }).primary();
  });
  await knex.schema.createTable('telemetry_submissions', (table) => {
    table.bigIncrements('id').primary();
    table.string('period_start', 10).notNullable();
    table.string('period_end', 10).notNullable();
    table.string('idempotency_key', 64).notNullable();
    table.text('payload').notNullable();
    table.string('status', 16).notNullable();
    table.integer('attempts').notNullable();
    table.integer('response_code').nullable();
    table.text('response_body').nullable();
    table.text('error').nullable();
    table.timestamp('sent_at', { useTz: true }).notNullable();
    table.index(['sent_at'], 'telemetry_submissions_sent_at_idx');
    table.index(['period_start'], 'telemetry_submissions_period_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('telemetry_submissions');
  await knex.schema.dropTableIfExists('telemetry_uptime_hours');
  await knex.schema.dropTableIfExists('telemetry_pageview_counts');
  await knex.schema.dropTableIfExists('telemetry_usage_events');
}
