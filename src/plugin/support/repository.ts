// SQL for the support tables (the only place that speaks it): the per-user reports counter, the
// per-user prompt state (last dismissal) and the local funnel rows.
import type { Knex } from 'knex';
import { TABLES } from '../db/tables.js';
import { dateFromDb, jsonObjectFromDb } from '../../core/db/values.js';

export interface InteractionRow {
  id: number;
  user_id: string;
  interaction_type: string;
  source: string | null;
  variant: string | null;
  snapshot: Record<string, unknown>;
  created_at: Date;
}

export interface NewInteraction {
  userId: string;
  type: string;
  source: string | null;
  variant: string | null;
  snapshot: Record<string, unknown>;
  createdAt: Date;
}

export interface FunnelCount {
  interaction_type: string;
  variant: string | null;
  source: string | null;
  count: number;
}

export class SupportRepository {
  constructor(private readonly db: Knex) {}

  /** Adds one to the user's reports_generated and returns the new value. */
  async incrementReports(userId: string, now: Date): Promise<number> {
    const table = TABLES.supportCounters;
    return this.db.transaction(async (trx) => {
      await trx(table)
        .insert({ user_id: userId, reports_generated: 1, updated_at: now })
        .onConflict('user_id')
        .merge({ reports_generated: trx.raw('?? + 1', [`${table}.reports_generated`]), updated_at: now });
      const row = await trx(table).where({ user_id: userId }).first('reports_generated');
      return Number(row?.reports_generated ?? 0);
    });
  }

  async reportsGenerated(userId: string): Promise<number> {
    const row = await this.db(TABLES.supportCounters).where({ user_id: userId }).first('reports_generated');
    return Number(row?.reports_generated ?? 0);
  }

  async lastDismissal(userId: string): Promise<Date | null> {
    const row = await this.db(TABLES.supportPromptState).where({ user_id: userId }).first('last_dismissed_at');
    return dateFromDb(row?.last_dismissed_at);
  }

  async recordDismissal(userId: string, variant: string | null, at: Date): Promise<void> {
    await this.db(TABLES.supportPromptState)
      .insert({ user_id: userId, last_dismissed_at: at, last_dismissed_variant: variant, updated_at: at })
      .onConflict('user_id')
      .merge(['last_dismissed_at', 'last_dismissed_variant', 'updated_at']);
  }

  async insertInteraction(row: NewInteraction): Promise<void> {
    await this.db(TABLES.donationInteractions).insert({
      user_id: row.userId,
      interaction_type: row.type,
      source: row.source,
      variant: row.variant,
      snapshot: JSON.stringify(row.snapshot),
      created_at: row.createdAt,
    });
  }

  /** The latest interaction of one of `types` by the user at or after `since`, or null. */
  async lastInteractionAt(userId: string, types: readonly string[], since: Date): Promise<Date | null> {
    const row = await this.db(TABLES.donationInteractions)
      .where({ user_id: userId })
      .whereIn('interaction_type', [...types])
      .where('created_at', '>=', since)
      .max({ at: 'created_at' })
      .first();
    return dateFromDb((row as { at?: unknown } | undefined)?.at);
  }

  /** Interactions of one of `types` by the user strictly after `since`. */
  async countInteractions(userId: string, types: readonly string[], since: Date): Promise<number> {
    const row = await this.db(TABLES.donationInteractions)
      .where({ user_id: userId })
      .whereIn('interaction_type', [...types])
      .where('created_at', '>', since)
      .count({ n: '*' })
      .first();
    return Number((row as { n?: unknown } | undefined)?.n ?? 0);
  }

  /** Funnel rows, newest first (an admin's view; `userId` narrows it to one user). */
  async interactions(options: { userId?: string; since?: Date; limit?: number } = {}): Promise<InteractionRow[]> {
    const query = this.db(TABLES.donationInteractions).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(options.limit ?? 1000);
    if (options.userId !== undefined) query.where({ user_id: options.userId });
    if (options.since) query.where('created_at', '>=', options.since);
    const rows = (await query.select()) as Record<string, unknown>[];
    return rows.map((row) => ({
      id: Number(row.id),
      user_id: String(row.user_id),
      interaction_type: String(row.interaction_type),
      source: (row.source as string | null) ?? null,
      variant: (row.variant as string | null) ?? null,
      snapshot: jsonObjectFromDb(row.snapshot),
      created_at: dateFromDb(row.created_at) ?? new Date(0),
    }));
  }

  /** Counts per interaction type, variant and source (the local funnel). */
  async funnel(since?: Date): Promise<FunnelCount[]> {
    const query = this.db(TABLES.donationInteractions)
      .select('interaction_type', 'variant', 'source')
      .count({ n: '*' })
      .groupBy('interaction_type', 'variant', 'source')
      .orderBy(['interaction_type', 'variant', 'source']);
    if (since) query.where('created_at', '>=', since);
    const rows = (await query) as { interaction_type: string; variant: string | null; source: string | null; n: unknown }[];
    return rows.map((row) => ({ interaction_type: row.interaction_type, variant: row.variant ?? null, source: row.source ?? null, count: Number(row.n) }));
  }

  /** Everything the support feature stored about one user (erasure on request). */
  async deleteUser(userId: string): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx(TABLES.donationInteractions).where({ user_id: userId }).delete();
      await trx(TABLES.supportPromptState).where({ user_id: userId }).delete();
      await trx(TABLES.supportCounters).where({ user_id: userId }).delete();
    });
  }

  /** Every support row (the admin's "delete everything"). */
  async deleteAll(): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx(TABLES.donationInteractions).delete();
      await trx(TABLES.supportPromptState).delete();
      await trx(TABLES.supportCounters).delete();
    });
  }
}
