// End users' own say: a signed-in user's opt-out of detailed analytics, kept per user in the host's
// database, and a flag on local events that must never leave the installation (the event came from
// an opted-out user or a request carrying Global Privacy Control), so the weekly counts skip them.
import type { Knex } from 'knex';

export const name = '005_user_privacy';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('telemetry_user_privacy', (table) => {
    table.string('user_id', 128).primary();
    table.boolean('analytics_opt_out').notNullable().defaultTo(false);
    table.timestamp('updated_at', { useTz: true }).notNullable();
  });
  await knex.schema.alterTable('telemetry_usage_events', (table) => {
    table.boolean('local_only').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  // 002 may have been rolled back on its own first (it owns the table this adds a column to).
  if (await knex.schema.hasColumn('telemetry_usage_events', 'local_only')) {
    await knex.schema.alterTable('telemetry_usage_events', (table) => {
      table.dropColumn('local_only');
    });
  }
  await knex.schema.dropTableIfExists('telemetry_user_privacy');
}
