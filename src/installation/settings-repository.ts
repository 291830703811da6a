// SQL for telemetry_settings: the database mirror of consent (installation.json stays the source of truth).
import type { Knex } from 'knex';
import { TABLES } from '../db/tables.js';

export class SettingsRepository {
  constructor(private readonly db: Knex) {}

  async all(): Promise<Record<string, string>> {
    const rows = await this.db(TABLES.settings).select('key', 'value').orderBy('key');
    return Object.fromEntries(rows.map((row: { key: string; value: string }) => [row.key, row.value]));
  }

  async setMany(entries: Record<string, string>, now: Date): Promise<void> {
    const rows = Object.entries(entries).map(([key, value]) => ({ key, value, updated_at: now }));
    if (rows.length === 0) return;
    await this.db(TABLES.settings).insert(rows).onConflict('key').merge(['value', 'updated_at']);
  }

  async deleteAll(): Promise<void> {
    await this.db(TABLES.settings).delete();
  }
}
