// telemetry_settings: key/value settings; its consent.* rows are the installation's consent (the source of truth since 0.2).
import type { Knex } from 'knex';

export const name = '001_telemetry_settings';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('telemetry_settings', (table) => {
    table.string('key', 128).primary();
    table.text('value').notNullable();
    table.timestamp('updated_at', { useTz: true }).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('telemetry_settings');
}
