// SQL for telemetry_settings: key/value rows. The consent rows (consent.*) are the source of truth for
// installation consent, shared by every process on the database; `consent.revision` is a counter
// bumped in the same transaction as every consent change so other processes notice it cheaply.
import type { Knex } from 'knex';
import { TABLES } from '../db/tables.js';

export const REVISION_KEY = 'consent.revision';

export class SettingsRepository {
  constructor(private readonly db: Knex) {}

  /** Runs `work` in one transaction (for a consent change: rows, revision and receipt commit together). */
  transaction<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(work);
  }

  async all(): Promise<Record<string, string>> {
    const rows = await this.db(TABLES.settings).select('key', 'value').orderBy('key');
    return Object.fromEntries(rows.map((row: { key: string; value: string }) => [row.key, row.value]));
  }

  /** The rows whose keys start with `prefix` (e.g. 'consent.'). */
  async withPrefix(prefix: string, trx?: Knex.Transaction): Promise<Record<string, string>> {
    const rows = await (trx ?? this.db)(TABLES.settings).select('key', 'value').where('key', 'like', `${prefix}%`);
    return Object.fromEntries(rows.map((row: { key: string; value: string }) => [row.key, row.value]));
  }

  async setMany(entries: Record<string, string>, now: Date, trx?: Knex.Transaction): Promise<void> {
    const rows = Object.entries(entries).map(([key, value]) => ({ key, value, updated_at: now }));
    if (rows.length === 0) return;
    await (trx ?? this.db)(TABLES.settings).insert(rows).onConflict('key').merge(['value', 'updated_at']);
  }

  /** The consent revision, or null when consent has never been stored in this database. One indexed row. */
  async revision(trx?: Knex.Transaction): Promise<number | null> {
    const row = (await (trx ?? this.db)(TABLES.settings).select('value').where('key', REVISION_KEY).first()) as { value: string } | undefined;
    return row ? Number(row.value) : null;
  }

  /**
   * Creates the revision row (at 0) when it is missing. As the first statement of a transaction it
   * also takes the write lock (SQLite) or waits for a concurrent creator (PostgreSQL), so what the
   * transaction reads next is current.
   */
  async ensureRevision(now: Date, trx: Knex.Transaction): Promise<void> {
    await trx(TABLES.settings).insert({ key: REVISION_KEY, value: '0', updated_at: now }).onConflict('key').ignore();
  }

  /** Adds one to the revision in a single statement (atomic across processes); returns the new value. */
  async bumpRevision(now: Date, trx: Knex.Transaction): Promise<number> {
    await this.ensureRevision(now, trx);
    await trx(TABLES.settings)
      .where('key', REVISION_KEY)
      .update({ value: trx.raw('cast(cast(value as integer) + 1 as varchar(32))'), updated_at: now });
    return (await this.revision(trx)) ?? 0;
  }

  async deleteAll(): Promise<void> {
    await this.db(TABLES.settings).delete();
  }
}
