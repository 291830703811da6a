// telemetry_consent_receipts: the append-only log of every consent change (the installation's and a
// user's own), kept as proof of what was chosen, when, under which privacy notice and by whom (a
// pseudonym). A trigger refuses UPDATE on both databases, so no code path can rewrite history;
// rows are only ever appended, or all deleted by delete-all (which then appends its own receipt).
import type { Knex } from 'knex';

export const name = '004_consent_receipts';

const TABLE = 'telemetry_consent_receipts';
const TRIGGER = 'telemetry_consent_receipts_no_update';
const PG_FUNCTION = 'telemetry_consent_receipts_refuse_update';

const isPostgres = (knex: Knex): boolean => (knex.client as { dialect?: string }).dialect === 'postgresql';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable(TABLE, (table) => {
    table.bigIncrements('id').primary();
    table.timestamp('created_at', { useTz: true }).notNullable();
    /** 'installation' or 'user'. */
    table.string('scope', 16).notNullable();
    /** The user's pseudonym for scope 'user'; null for the installation. */
    table.string('subject', 64).nullable();
    /** Who made the change: cli | api | system | admin:<pseudonym> | user:<pseudonym>. */
    table.string('actor', 80).notNullable();
    /** 'change', 'import' (consent brought over from installation.json) or 'deleted' (delete-all). */
    table.string('action', 16).notNullable();
    /** JSON: the categories whose value changed. */
    table.text('categories').notNullable();
    /** JSON: every category's value before and after. */
    table.text('previous').notNullable();
    table.text('next').notNullable();
    table.integer('notice_version').notNullable();
    table.index(['scope', 'subject', 'id'], 'telemetry_consent_receipts_scope_subject_idx');
  });
  if (isPostgres(knex)) {
    await knex.raw(
      `create or replace function ${PG_FUNCTION}() returns trigger language plpgsql as $$
       begin raise exception 'telemetry_consent_receipts is append-only'; end $$`,
    );
    await knex.raw(`create trigger ${TRIGGER} before update on ${TABLE} for each row execute function ${PG_FUNCTION}()`);
  } else {
    await knex.raw(`create trigger ${TRIGGER} before update on ${TABLE} begin select raise(abort, 'telemetry_consent_receipts is append-only'); end`);
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists(TABLE); // drops its trigger too
  if (isPostgres(knex)) {
    await knex.raw(`drop function if exists ${PG_FUNCTION}()`);
  }
}
