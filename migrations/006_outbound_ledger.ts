// The outbound ledger: one row for everything else that leaves this server besides the weekly
// submission (which keeps its own ledger, telemetry_submissions): each OTLP export batch, the
// collector registration and the erasure request — when, where to (no credentials), what (counts,
// never values), how many bytes, and the answer. Bounded by age and row count (see
// src/stats/outbound-ledger.ts).
import type { Knex } from 'knex';

export const name = '006_outbound_ledger';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('telemetry_outbound_ledger', (table) => {
    table.bigIncrements('id').primary();
    table.string('kind', 16).notNullable();
    table.timestamp('sent_at', { useTz: true }).notNullable();
    table.string('method', 8).notNullable();
    table.string('endpoint', 512).notNullable();
    table.text('request_body').nullable();
    table.integer('record_count').nullable();
    table.text('counts').nullable();
    table.bigInteger('bytes').nullable();
    table.integer('attempts').notNullable().defaultTo(1);
    table.string('outcome', 16).notNullable();
    table.integer('response_code').nullable();
    table.text('error').nullable();
    table.text('details').nullable();
    table.index(['sent_at'], 'telemetry_outbound_ledger_sent_at_idx');
    table.index(['kind', 'id'], 'telemetry_outbound_ledger_kind_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('telemetry_outbound_ledger');
}
