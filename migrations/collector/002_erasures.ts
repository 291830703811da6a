// Erased installation ids, kept as a SHA-256 hash with the time of erasure, so an erased id cannot
// be registered again for a while (see docs/collector.md, "Security model"). The raw id is not
// needed to check a registration against it, so it is not kept.
import type { Knex } from 'knex';

export const name = '002_erasures';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('collector_erased_installations', (table) => {
    table.string('id_hash', 64).primary();
    table.timestamp('erased_at', { useTz: true }).notNullable();
    table.index(['erased_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('collector_erased_installations');
}
