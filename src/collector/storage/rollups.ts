// Rollup reads and writes. Writes happen inside the ingest transaction (one multi-row upsert per
// granularity); reads sum over shards and never touch raw submissions.
import type { Knex } from 'knex';
import { COLLECTOR_TABLES } from './tables.js';
import type { Dimension, RollupChange, RollupCounters, RollupDelta } from './rollup-deltas.js';
import { toNumber } from '../analytics/time.js';

export type Granularity = 'day' | 'week';

const TABLE: Record<Granularity, string> = { day: COLLECTOR_TABLES.dailyRollups, week: COLLECTOR_TABLES.weeklyRollups };
const PERIOD: Record<Granularity, string> = { day: 'day', week: 'week_start' };
const COUNTERS = ['installations', 'submissions', 'errors', 'error_installations', 'events'] as const;

export interface RollupRow extends RollupCounters {
  period: string;
  bucket: string;
}

/** The multi-row upsert of one granularity's deltas (null when there is nothing to write). */
function upsertQuery(trx: Knex | Knex.Transaction, granularity: Granularity, deltas: RollupDelta[]): Knex.QueryBuilder | null {
  if (deltas.length === 0) return null;
  const table = TABLE[granularity];
  const period = PERIOD[granularity];
  const rows = deltas.map((d) => ({
    [period]: d.period,
    dimension: d.dimension,
    bucket: d.bucket,
    shard: d.shard,
    installations: d.installations,
    submissions: d.submissions,
    errors: d.errors,
    error_installations: d.error_installations,
    events: d.events,
  }));
  const merge = Object.fromEntries(COUNTERS.map((c) => [c, trx.raw('??.?? + excluded.??', [table, c, c])]));
  return trx(table).insert(rows).onConflict(['dimension', period, 'bucket', 'shard']).merge(merge);
}

/** The statements that apply a rollup change: daily, then weekly, each in a stable row order. */
export function rollupUpserts(k: Knex | Knex.Transaction, change: RollupChange): Knex.QueryBuilder[] {
  return [upsertQuery(k, 'day', change.daily), upsertQuery(k, 'week', change.weekly)].filter((q): q is Knex.QueryBuilder => q !== null);
}

export class RollupRepository {
  constructor(private readonly knex: Knex) {}

  /** Applies a change (daily, then weekly, each in a stable row order) on the given transaction. */
  async apply(trx: Knex.Transaction, change: RollupChange): Promise<void> {
    for (const query of rollupUpserts(trx, change)) await query;
  }

  /**
   * Takes a change back out (erasure): each counter of each existing row goes down by the change.
   * A row that does not exist any more (retention took its period) is left alone. Rows left at
   * zero in every counter go: an accepted submission always leaves `submissions` ≥ 1 and a
   * registration or removal `installations` ≥ 1, so only a fully taken-back row is all zero.
   */
  async subtract(trx: Knex.Transaction, change: RollupChange): Promise<void> {
    for (const granularity of ['day', 'week'] as const) {
      const deltas = granularity === 'day' ? change.daily : change.weekly;
      if (deltas.length === 0) continue;
      const table = TABLE[granularity];
      const period = PERIOD[granularity];
      for (const d of deltas) {
        await trx(table)
          .where({ dimension: d.dimension, [period]: d.period, bucket: d.bucket, shard: d.shard })
          .update(Object.fromEntries(COUNTERS.map((c) => [c, trx.raw('?? - ?', [c, d[c]])])));
      }
      const periods = [...new Set(deltas.map((d) => d.period))];
      await trx(table)
        .whereIn(period, periods)
        .andWhere(Object.fromEntries(COUNTERS.map((c) => [c, 0])))
        .delete();
    }
  }

  /** Per period and bucket, summed over shards, for `from` ≤ period ≤ `to`. */
  async series(granularity: Granularity, dimension: Dimension, from: string, to: string): Promise<RollupRow[]> {
    const period = PERIOD[granularity];
    const rows = await this.knex(TABLE[granularity])
      .select({ period }, 'bucket')
      .sum({ installations: 'installations', submissions: 'submissions', errors: 'errors', error_installations: 'error_installations', events: 'events' })
      .where('dimension', dimension)
      .andWhere(period, '>=', from)
      .andWhere(period, '<=', to)
      .groupBy(period, 'bucket')
      .orderBy(period);
    return rows.map((r: Record<string, unknown>) => ({
      period: String(r.period),
      bucket: String(r.bucket),
      installations: toNumber(r.installations),
      submissions: toNumber(r.submissions),
      errors: toNumber(r.errors),
      error_installations: toNumber(r.error_installations),
      events: toNumber(r.events),
    }));
  }

  /** Deletes rollup rows of periods before `beforePeriod`; returns how many rows went. */
  async purgeBefore(granularity: Granularity, beforePeriod: string): Promise<number> {
    return this.knex(TABLE[granularity]).where(PERIOD[granularity], '<', beforePeriod).delete();
  }
}
