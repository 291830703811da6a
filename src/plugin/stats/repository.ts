// SQL for the local usage statistics: events, hourly page-view counts, uptime hours and the
// submission ledger. Timestamps go in as Dates and come out as Dates on every client (SQLite stores
// them as epoch milliseconds, PostgreSQL as timestamptz).
import type { Knex } from 'knex';
import { TABLES } from '../db/tables.js';
import { isoFromDb, jsonObjectFromDb, rowsById } from '../../core/db/values.js';
import type { LedgerEntry } from './views.js';

export type { LedgerEntry } from './views.js';

export interface EventRow {
  event_type: string;
  occurred_at: Date;
  metadata: string;
  /** Never leaves the installation: from an opted-out user or a request with Global Privacy Control. */
  local_only?: boolean;
}

export interface PageviewIncrement {
  route: string;
  hour_start: Date;
  count: number;
}

export interface StoredEvent {
  id: number;
  event_type: string;
  occurred_at: string;
  metadata: Record<string, unknown>;
  submitted_at: string | null;
  local_only: boolean;
}

export type NewLedgerEntry = Omit<LedgerEntry, 'id' | 'payload' | 'sent_at'> & { payload: string; sent_at: Date };

/** Events whose name marks a failure (app.error, import.error, sync_error, …) count as errors in the summary. */
export const ERROR_EVENT = /(^|[._])errors?$/;

/** Page-view rows per upsert statement (SQLite's bound-parameter limit is far above 3 × 200). */
const PAGEVIEW_CHUNK = 200;

const iso = (value: unknown): string => isoFromDb(value) ?? new Date(0).toISOString();

export class UsageStatsRepository {
  readonly #sqlite: boolean;

  constructor(private readonly db: Knex) {
    const client = String(db.client.config?.client ?? '');
    this.#sqlite = client.includes('sqlite');
  }

  /** Day bucket (YYYY-MM-DD, UTC) of a timestamp column, per dialect. */
  #day(column: string): Knex.Raw {
    return this.#sqlite
      ? this.db.raw(`strftime('%Y-%m-%d', ?? / 1000, 'unixepoch')`, [column])
      : this.db.raw(`to_char(?? at time zone 'UTC', 'YYYY-MM-DD')`, [column]);
  }

  /** One transaction for a whole buffered batch. */
  async recordBatch(events: EventRow[], pageviews: PageviewIncrement[], uptimeHours: Date[]): Promise<void> {
    if (events.length === 0 && pageviews.length === 0 && uptimeHours.length === 0) return;
    // The common write of a busy host between events: its page-view counts alone, one statement,
    // atomic by itself, so no BEGIN and COMMIT around it (about half the CPU of the write on SQLite).
    if (events.length === 0 && uptimeHours.length === 0 && pageviews.length <= PAGEVIEW_CHUNK) {
      await this.#addPageviews(this.db, pageviews);
      return;
    }
    await this.db.transaction(async (trx) => {
      for (let i = 0; i < events.length; i += 200) await trx(TABLES.usageEvents).insert(events.slice(i, i + 200));
      for (let i = 0; i < pageviews.length; i += PAGEVIEW_CHUNK) await this.#addPageviews(trx, pageviews.slice(i, i + PAGEVIEW_CHUNK));
      if (uptimeHours.length > 0) {
        await trx(TABLES.uptimeHours)
          .insert(uptimeHours.map((hour_start) => ({ hour_start })))
          .onConflict('hour_start')
          .ignore();
      }
    });
  }

  /** One statement per chunk, not per (route, hour): each row adds its count to the stored one. */
  async #addPageviews(db: Knex, pageviews: PageviewIncrement[]): Promise<void> {
    await db(TABLES.pageviewCounts)
      .insert(pageviews)
      .onConflict(['route', 'hour_start'])
      .merge({ count: db.raw('?? + excluded.??', [`${TABLES.pageviewCounts}.count`, 'count']) });
  }

  async countsByType(from?: Date, to?: Date): Promise<{ event_type: string; count: number }[]> {
    const query = this.db(TABLES.usageEvents).select('event_type').count({ count: '*' }).groupBy('event_type').orderBy('count', 'desc').orderBy('event_type');
    if (from) query.where('occurred_at', '>=', from);
    if (to) query.where('occurred_at', '<', to);
    const rows = (await query) as { event_type: string; count: number | string }[];
    return rows.map((row) => ({ event_type: row.event_type, count: Number(row.count) }));
  }

  async countsByDay(from: Date, to: Date): Promise<{ day: string; count: number }[]> {
    const day = this.#day('occurred_at');
    const rows = (await this.db(TABLES.usageEvents)
      .select({ day })
      .count({ count: '*' })
      .where('occurred_at', '>=', from)
      .andWhere('occurred_at', '<', to)
      .groupByRaw(day.toQuery())
      .orderBy('day')) as { day: string; count: number | string }[];
    return rows.map((row) => ({ day: row.day, count: Number(row.count) }));
  }

  async pageviewsByRoute(from: Date, to: Date): Promise<{ route: string; count: number }[]> {
    const rows = (await this.db(TABLES.pageviewCounts)
      .select('route')
      .sum({ count: 'count' })
      .where('hour_start', '>=', from)
      .andWhere('hour_start', '<', to)
      .groupBy('route')
      .orderBy('count', 'desc')) as { route: string; count: number | string }[];
    return rows.map((row) => ({ route: row.route, count: Number(row.count) }));
  }

  async totals(): Promise<{ events: number; unsubmitted: number; first_at: string | null; last_at: string | null }> {
    const row = (await this.db(TABLES.usageEvents)
      .count({ events: '*' })
      .min({ first_at: 'occurred_at' })
      .max({ last_at: 'occurred_at' })
      .first()) as { events: number | string; first_at: unknown; last_at: unknown };
    const pending = (await this.db(TABLES.usageEvents).whereNull('submitted_at').andWhere('local_only', false).count({ n: '*' }).first()) as {
      n: number | string;
    };
    return { events: Number(row.events), unsubmitted: Number(pending.n), first_at: isoFromDb(row.first_at), last_at: isoFromDb(row.last_at) };
  }

  /**
   * Counts of the not-yet-submitted events in [start, end), up to the highest id seen now, so the
   * same events are later marked submitted — and events recorded meanwhile are not.
   */
  async unsubmittedSummary(start: Date, end: Date): Promise<{ maxId: number; counts: Record<string, number>; errorCount: number }> {
    // Local-only events (an opted-out user, a Global Privacy Control request) are never counted.
    const inPeriod = (q: Knex.QueryBuilder) =>
      q.whereNull('submitted_at').andWhere('local_only', false).andWhere('occurred_at', '>=', start).andWhere('occurred_at', '<', end);
    const max = (await inPeriod(this.db(TABLES.usageEvents)).max({ id: 'id' }).first()) as { id: number | string | null };
    const maxId = Number(max?.id ?? 0);
    const rows = (await inPeriod(this.db(TABLES.usageEvents))
      .andWhere('id', '<=', maxId)
      .select('event_type')
      .count({ count: '*' })
      .groupBy('event_type')
      .orderBy('event_type')) as { event_type: string; count: number | string }[];
    const counts: Record<string, number> = {};
    let errorCount = 0;
    for (const row of rows) {
      counts[row.event_type] = Number(row.count);
      if (ERROR_EVENT.test(row.event_type)) errorCount += Number(row.count);
    }
    return { maxId, counts, errorCount };
  }

  async uptimeHours(start: Date, end: Date): Promise<number> {
    const row = (await this.db(TABLES.uptimeHours).where('hour_start', '>=', start).andWhere('hour_start', '<', end).count({ n: '*' }).first()) as { n: number | string };
    return Number(row.n);
  }

  async markSubmitted(start: Date, end: Date, maxId: number, at: Date): Promise<number> {
    return this.db(TABLES.usageEvents)
      .whereNull('submitted_at')
      .andWhere('local_only', false)
      .andWhere('occurred_at', '>=', start)
      .andWhere('occurred_at', '<', end)
      .andWhere('id', '<=', maxId)
      .update({ submitted_at: at });
  }

  async purgeOlderThan(cutoff: Date): Promise<{ events: number; pageviews: number; uptime: number }> {
    return this.db.transaction(async (trx) => ({
      events: await trx(TABLES.usageEvents).where('occurred_at', '<', cutoff).delete(),
      pageviews: await trx(TABLES.pageviewCounts).where('hour_start', '<', cutoff).delete(),
      uptime: await trx(TABLES.uptimeHours).where('hour_start', '<', cutoff).delete(),
    }));
  }

  async deleteAll(): Promise<{ events: number; pageviews: number; submissions: number }> {
    return this.db.transaction(async (trx) => {
      const events = await trx(TABLES.usageEvents).delete();
      const pageviews = await trx(TABLES.pageviewCounts).delete();
      await trx(TABLES.uptimeHours).delete();
      const submissions = await trx(TABLES.submissions).delete();
      return { events, pageviews, submissions };
    });
  }

  /** All events, oldest first, in pages (keyset pagination, so an export never holds the table in memory). */
  async *events(pageSize = 5_000): AsyncGenerator<StoredEvent[]> {
    for await (const rows of rowsById(this.db, TABLES.usageEvents, pageSize)) {
      yield rows.map((row) => ({
        id: Number(row.id),
        event_type: String(row.event_type),
        occurred_at: iso(row.occurred_at),
        metadata: jsonObjectFromDb(row.metadata),
        submitted_at: isoFromDb(row.submitted_at),
        local_only: row.local_only === true || row.local_only === 1,
      }));
    }
  }

  /** The ledger's view of earlier runs (see pendingPeriods): the last accepted period, and the periods refused for their content. */
  async submissionHistory(refusedCodes: readonly number[]): Promise<{ lastAcceptedEnd: string | null; lastAcceptedAt: string | null; refusedStarts: Set<string> }> {
    const accepted = (await this.db(TABLES.submissions).where('status', 'accepted').max({ end: 'period_end' }).max({ at: 'sent_at' }).first()) as { end: unknown; at: unknown } | undefined;
    const refused = (await this.db(TABLES.submissions).distinct('period_start').where('status', 'rejected').whereIn('response_code', [...refusedCodes])) as { period_start: string }[];
    return {
      lastAcceptedEnd: accepted?.end ? String(accepted.end) : null,
      lastAcceptedAt: isoFromDb(accepted?.at),
      refusedStarts: new Set(refused.map((row) => String(row.period_start))),
    };
  }

  /** When the oldest data a submission could report was recorded: an unsubmitted shared event or an uptime hour. */
  async oldestUnsubmittedData(): Promise<Date | null> {
    const event = (await this.db(TABLES.usageEvents).whereNull('submitted_at').andWhere('local_only', false).min({ at: 'occurred_at' }).first()) as { at: unknown } | undefined;
    const hour = (await this.db(TABLES.uptimeHours).min({ at: 'hour_start' }).first()) as { at: unknown } | undefined;
    const times = [isoFromDb(event?.at), isoFromDb(hour?.at)].filter((v): v is string => v !== null).map((v) => Date.parse(v));
    return times.length > 0 ? new Date(Math.min(...times)) : null;
  }

  async insertLedger(entry: NewLedgerEntry): Promise<void> {
    await this.db(TABLES.submissions).insert(entry);
  }

  async ledger(limit: number, offset = 0): Promise<{ total: number; entries: LedgerEntry[] }> {
    const total = (await this.db(TABLES.submissions).count({ n: '*' }).first()) as { n: number | string };
    const rows = (await this.db(TABLES.submissions).orderBy('id', 'desc').limit(limit).offset(offset)) as Record<string, unknown>[];
    return { total: Number(total.n), entries: rows.map(toLedgerEntry) };
  }

  async lastLedgerEntry(): Promise<LedgerEntry | null> {
    const row = (await this.db(TABLES.submissions).orderBy('id', 'desc').first()) as Record<string, unknown> | undefined;
    return row ? toLedgerEntry(row) : null;
  }
}

function toLedgerEntry(row: Record<string, unknown>): LedgerEntry {
  let payload: unknown;
  try {
    payload = JSON.parse(String(row.payload));
  } catch {
    payload = String(row.payload);
  }
  return {
    id: Number(row.id),
    period_start: String(row.period_start),
    period_end: String(row.period_end),
    idempotency_key: String(row.idempotency_key),
    payload,
    status: String(row.status),
    attempts: Number(row.attempts),
    response_code: row.response_code === null || row.response_code === undefined ? null : Number(row.response_code),
    response_body: (row.response_body as string | null) ?? null,
    error: (row.error as string | null) ?? null,
    sent_at: iso(row.sent_at),
  };
}
