// Per-user display preferences (a second migration, to show the host's chain growing over time).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.string('week_start', 8).notNullable().defaultTo('monday'); // 'monday' | 'sunday'
    t.string('duration_format', 8).notNullable().defaultTo('hm'); // 'hm' (1:30) | 'decimal' (1.50)
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('week_start');
    t.dropColumn('duration_format');
  });
}
