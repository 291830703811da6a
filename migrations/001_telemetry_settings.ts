// telemetry_settings: a key/value mirror of installation.json's consent, readable by the host's admin tools.
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
