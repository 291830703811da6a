// The collector at 1M installations (docs/performance.md).
// 1. Installations counted by the UTC day of their latest accepted submission, maintained on ingest
// (and by erasure and retention), so /stats/overview and the installation gauges read a few
// hundred pre-aggregated rows instead of counting the installations table on every request.
// Sharded like the rollups (shard = first 8 hex digits of the install id mod 8) and summed by readers.
// 2. collector_submissions loses its (install_id, received_at) index: the unique (install_id,
// idempotency_key) index already serves every lookup by installation (erasure, purges, the foreign
// key), so the second one only cost a write and ~60 bytes per row.
import type { Knex } from 'knex';

export const name = '004_ingest_at_scale';

const TABLE = 'collector_last_seen_days';
const SHARDS = 8; // = ROLLUP_SHARDS in src/collector/storage/rollup-deltas.ts

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable(TABLE, (table) => {
    table.string('day', 10).notNullable();
    table.smallint('shard').notNullable();
    table.integer('installations').notNullable().defaultTo(0);
    table.primary(['day', 'shard']);
  });
  await knex.schema.alterTable('collector_submissions', (table) => {
    table.dropIndex(['install_id', 'received_at']);
  });
  // Backfill from the installations that already submitted.
  if (/^(pg|postgres|postgresql|pgnative)$/i.test(String(knex.client.config.client))) {
    await knex.raw(`
      insert into ${TABLE} (day, shard, installations)
      select to_char(last_seen_at at time zone 'UTC', 'YYYY-MM-DD'),
             coalesce(('x' || substr(install_id, 1, 8))::bit(32)::bigint % ${SHARDS}, 0),
             count(*)
      from collector_installations where last_seen_at is not null
      group by 1, 2`);
    return;
  }
  const counts = new Map<string, number>();
  let after = '';
  for (;;) {
    const rows = (await knex('collector_installations')
      .select('install_id', 'last_seen_at')
      .whereNotNull('last_seen_at')
      .andWhere('install_id', '>', after)
      .orderBy('install_id')
      .limit(5000)) as { install_id: string; last_seen_at: unknown }[];
    if (rows.length === 0) break;
    for (const row of rows) {
      const seen = row.last_seen_at instanceof Date ? row.last_seen_at : new Date(row.last_seen_at as number | string);
      const shard = Number.parseInt(row.install_id.slice(0, 8), 16) % SHARDS || 0;
      const key = `${seen.toISOString().slice(0, 10)}|${shard}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    after = rows[rows.length - 1]!.install_id;
  }
  const rows = [...counts].map(([key, installations]) => {
    const [day, shard] = key.split('|');
    return { day, shard: Number(shard), installations };
  });
  for (let i = 0; i < rows.length; i += 200) await knex(TABLE).insert(rows.slice(i, i + 200));
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('collector_submissions', (table) => {
    table.index(['install_id', 'received_at']);
  });
  await knex.schema.dropTableIfExists(TABLE);
}
