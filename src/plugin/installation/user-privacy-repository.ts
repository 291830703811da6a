// SQL for telemetry_user_privacy: each signed-in user's own choice about detailed analytics.
import type { Knex } from 'knex';
import { TABLES } from '../db/tables.js';

export class UserPrivacyRepository {
  constructor(private readonly db: Knex) {}

  /** Runs `work` in one transaction (the choice, the consent revision and the receipt commit together). */
  transaction<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(work);
  }

  /** The ids of every user who has opted out (the host's own ids, as strings). */
  async optedOutIds(): Promise<string[]> {
    const rows = (await this.db(TABLES.userPrivacy).where('analytics_opt_out', true).select('user_id')) as { user_id: string }[];
    return rows.map((row) => row.user_id);
  }

  async isOptedOut(userId: string, trx?: Knex.Transaction): Promise<boolean> {
    const row = (await (trx ?? this.db)(TABLES.userPrivacy).where('user_id', userId).first('analytics_opt_out')) as { analytics_opt_out: unknown } | undefined;
    return row !== undefined && (row.analytics_opt_out === true || row.analytics_opt_out === 1);
  }

  async setOptedOut(userId: string, optedOut: boolean, at: Date, trx?: Knex.Transaction): Promise<void> {
    await (trx ?? this.db)(TABLES.userPrivacy)
      .insert({ user_id: userId, analytics_opt_out: optedOut, updated_at: at })
      .onConflict('user_id')
      .merge(['analytics_opt_out', 'updated_at']);
  }
}
