// Dashboard sessions, kept server-side so every collector process on the database shares them and
// sign-out really ends one. Only a hash of the session id is stored (the id itself lives in the
// browser's HttpOnly cookie), with a fingerprint of the admin token it was made under: rotating the
// token ends every session.
import type { Knex } from 'knex';

export const name = '003_sessions';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('collector_sessions', (table) => {
    // sha256 of the session id, hex.
    table.string('id_hash', 64).primary();
    // sha256 of the admin token the session was signed in with, hex.
    table.string('token_fingerprint', 64).notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('last_used_at', { useTz: true }).notNullable();
    // Absolute expiry (created_at + sessionHours).
    table.timestamp('expires_at', { useTz: true }).notNullable();
    table.index(['expires_at']);
    table.index(['last_used_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('collector_sessions');
}
