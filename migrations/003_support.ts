// Support (docs/support.md): the per-user reports counter, the per-user soft-prompt state (last dismissal,
// which suppresses prompts for 14 days across sessions) and the local support funnel.
import type { Knex } from 'knex';

export const name = '003_support';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('telemetry_support_counters', (table) => {
    table.string('user_id', 128).primary();
    table.integer('reports_generated').notNullable().defaultTo(0);
    table.timestamp('updated_at', { useTz: true }).notNullable();
  });
  await knex.schema.createTable('telemetry_support_prompt_state', (table) => {
    table.string('user_id', 128).primary();
    table.timestamp('last_dismissed_at', { useTz: true }).nullable();
    table.string('last_dismissed_variant', 32).nullable();
    table.timestamp('updated_at', { useTz: true }).notNullable();
  });
  await knex.schema.createTable('telemetry_donation_interactions', (table) => {
    table.increments('id').primary();
    table.string('user_id', 128).notNullable();
    table.string('interaction_type', 32).notNullable();
    table.string('source', 64).nullable();
    table.string('variant', 32).nullable();
    table.text('snapshot').notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.index(['user_id', 'interaction_type', 'created_at'], 'telemetry_donation_interactions_user_type_at');
    table.index(['created_at'], 'telemetry_donation_interactions_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('telemetry_donation_interactions');
  await knex.schema.dropTableIfExists('telemetry_support_prompt_state');
  await knex.schema.dropTableIfExists('telemetry_support_counters');
}
