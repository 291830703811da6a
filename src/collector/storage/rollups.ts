// Rollup reads and writes. Writes happen inside the ingest transaction: on PostgreSQL one statement
// for every counter table (daily, weekly, last-seen days, chained so they lock in that order), on
// SQLite one multi-row upsert per table; reads sum over shards and never touch raw submissions.
import type { Knex } from 'knex';
import { COLLECTOR_TABLES } from './tables.js';
import type { Dialect } from './database.js';
import type { Dimension, LastSeenDelta, RollupChange, RollupCounters, RollupDelta } from './rollup-deltas.js';
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

/** A statement with `?` placeholders, as knex's toSQL() gives it. */
export interface SqlPart {
  sql: string;
  bindings: readonly Knex.Value[];
}

/** A column and the PostgreSQL type its values are cast to. */
export interface TypedColumn {
  name: string;
  cast: string;
}

interface CounterTable {
  table: string;
  keys: TypedColumn[];
  counters: TypedColumn[];
  rows: Knex.Value[][];
}

function rollupTable(granularity: Granularity, deltas: RollupDelta[]): CounterTable {
  return {
    table: TABLE[granularity],
    keys: [
      { name: PERIOD[granularity], cast: 'text' },
      { name: 'dimension', cast: 'text' },
      { name: 'bucket', cast: 'text' },
      { name: 'shard', cast: 'smallint' },
    ],
    counters: [
      { name: 'installations', cast: 'int' },
      { name: 'submissions', cast: 'int' },
      { name: 'errors', cast: 'bigint' },
      { name: 'error_installations', cast: 'int' },
      { name: 'events', cast: 'bigint' },
    ],
    rows: deltas.map((d) => [d.period, d.dimension, d.bucket, d.shard, d.installations, d.submissions, d.errors, d.error_installations, d.events]),
  };
}

function lastSeenTable(deltas: LastSeenDelta[]): CounterTable {
  return {
    table: COLLECTOR_TABLES.lastSeenDays,
    keys: [
      { name: 'day', cast: 'text' },
      { name: 'shard', cast: 'smallint' },
    ],
    counters: [{ name: 'installations', cast: 'int' }],
    rows: deltas.map((d) => [d.day, d.shard, d.installations]),
  };
}

/**
 * `select … from unnest(?::t1[], ?::t2[], …) as v (names)`: rows passed as one array per column.
 * The statement's text and its number of bindings are the same however many rows there are, so
 * neither knex (which rewrites every `?`) nor PostgreSQL (which parses and plans every VALUES row)
 * does work per row; unnest yields the rows in array order.
 */
export function unnestRows(columns: TypedColumn[], rows: readonly Knex.Value[][]): SqlPart {
  const names = columns.map((c) => c.name).join(', ');
  return {
    sql: `select * from unnest(${columns.map((c) => `?::${c.cast}[]`).join(', ')}) as v (${names})`,
    // One array per column; pg sends each as an array literal (nulls as NULL).
    bindings: columns.map((_, i) => rows.map((row) => row[i] ?? null) as unknown as Knex.Value),
  };
}

/**
 * PostgreSQL: `before` (data-modifying statements whose order does not matter, e.g. the submission
 * insert) and the counter upserts as ONE statement. Each upsert reads from the one before it, so
 * they run (and take their row locks) strictly in list order: daily, weekly, last-seen days; and
 * within a table in the order of its rows (callers sort them).
 */
function pgCounterStatement(before: SqlPart[], tables: CounterTable[]): SqlPart {
  const ctes: string[] = [];
  const bindings: Knex.Value[] = [];
  before.forEach((part, i) => {
    ctes.push(`b${i} as (${part.sql})`);
    bindings.push(...part.bindings);
  });
  let main = '';
  tables.forEach((t, i) => {
    const columns = [...t.keys, ...t.counters];
    const names = columns.map((c) => c.name).join(', ');
    const conflict = t.keys.map((c) => c.name).join(', ');
    const merge = t.counters.map((c) => `${c.name} = t.${c.name} + excluded.${c.name}`).join(', ');
    const rows = unnestRows(columns, t.rows);
    const source = i === 0 ? rows.sql : `${rows.sql} where (select count(*) from c${i - 1}) >= 0`;
    bindings.push(...rows.bindings);
    const upsert = `insert into ${t.table} as t (${names}) ${source} on conflict (${conflict}) do update set ${merge}`;
    if (i < tables.length - 1) ctes.push(`c${i} as (${upsert} returning 1)`);
    else main = upsert;
  });
  if (main === '') main = 'select 1';
  return { sql: ctes.length > 0 ? `with ${ctes.join(', ')} ${main}` : main, bindings };
}

/**
 * Writes `before` and then a rollup change and a last-seen change, in the given transaction: on
 * PostgreSQL one round trip, on SQLite one statement after another (same order).
 */
export async function writeCounters(trx: Knex.Transaction, dialect: Dialect, before: SqlPart[], change: RollupChange, lastSeen: LastSeenDelta[]): Promise<void> {
  const tables = [rollupTable('day', change.daily), rollupTable('week', change.weekly), lastSeenTable(lastSeen)].filter((t) => t.rows.length > 0);
  if (dialect === 'postgres') {
    const statement = pgCounterStatement(before, tables);
    await trx.raw(statement.sql, statement.bindings as Knex.Value[]);
    return;
  }
  for (const part of before) await trx.raw(part.sql, part.bindings as Knex.Value[]);
  for (const t of tables) {
    const names = [...t.keys, ...t.counters].map((c) => c.name);
    const rows = t.rows.map((row) => Object.fromEntries(names.map((name, i) => [name, row[i]])));
    const merge = Object.fromEntries(t.counters.map((c) => [c.name, trx.raw('??.?? + excluded.??', [t.table, c.name, c.name])]));
    await trx(t.table)
      .insert(rows)
      .onConflict(t.keys.map((k) => k.name))
      .merge(merge);
  }
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

  /**
   * Deletes last-seen day counters left at zero (their installations submitted again later, were
   * erased or purged) of days before `beforeDay`: today's and yesterday's rows are left to ingest.
   */
  async purgeEmptyLastSeenDays(beforeDay: string): Promise<number> {
    return this.knex(COLLECTOR_TABLES.lastSeenDays).where('day', '<', beforeDay).andWhere('installations', 0).delete();
  }

  /** Deletes rollup rows of periods before `beforePeriod`; returns how many rows went. */
  async purgeBefore(granularity: Granularity, beforePeriod: string): Promise<number> {
    return this.knex(TABLE[granularity]).where(PERIOD[granularity], '<', beforePeriod).delete();
  }
}
