// The host's own schema: users (with the two demo accounts), projects, time entries.
// Run by knex's ordinary directory-based migrator, recorded in the default `knex_migrations` table.
import type { Knex } from 'knex';
import { hashPasswordSync } from '../security.js';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.increments('id').primary();
    t.string('username', 64).notNullable().unique();
    t.string('password_hash', 255).notNullable();
    t.boolean('is_admin').notNullable().defaultTo(false);
    t.bigInteger('created_at').notNullable(); // epoch ms
  });
  await knex.schema.createTable('projects', (t) => {
    t.increments('id').primary();
    t.string('name', 80).notNullable().unique();
    t.integer('created_by').unsigned().references('users.id').onDelete('SET NULL');
    t.bigInteger('created_at').notNullable();
  });
  await knex.schema.createTable('time_entries', (t) => {
    t.increments('id').primary();
    t.integer('user_id').unsigned().notNullable().references('users.id').onDelete('CASCADE');
    t.integer('project_id').unsigned().notNullable().references('projects.id').onDelete('CASCADE');
    t.bigInteger('started_at').notNullable(); // epoch ms
    t.bigInteger('ended_at').nullable(); // null while the timer runs
    t.index(['user_id', 'started_at']);
  });

  // Demo accounts, both with password "demo". Created 10 days ago so "member since" reads sensibly.
  const createdAt = Date.now() - 10 * 24 * 60 * 60 * 1000;
  await knex('users').insert([
    { username: 'admin', password_hash: hashPasswordSync('demo'), is_admin: true, created_at: createdAt },
    { username: 'alice', password_hash: hashPasswordSync('demo'), is_admin: false, created_at: createdAt },
  ]);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('time_entries');
  await knex.schema.dropTableIfExists('projects');
  await knex.schema.dropTableIfExists('users');
}
