// SQL for the outbound ledger (telemetry_outbound_ledger): insert with pruning in one transaction,
// paged reads newest first, a keyset walk for the JSON export, retention and delete-all.
import type { Knex } from 'knex';
import { TABLES } from '../db/tables.js';
import { isoFromDb, jsonObjectFromDb, rowsById } from '../../core/db/values.js';

export const OUTBOUND_KINDS = ['otlp_logs', 'otlp_metrics', 'registration', 'erasure'] as const;
export type OutboundKind = (typeof OUTBOUND_KINDS)[number];
/** accepted: the receiver took it; rejected: a final "no" (4xx), not retried; failed: no answer or a retryable one. */
export type OutboundOutcome = 'accepted' | 'rejected' | 'failed';

export interface OutboundEntry {
  id: number;
  kind: OutboundKind;
  sent_at: string;
  method: string;
  /** Scheme, host, port and path only: never userinfo, query or headers. */
  endpoint: string;
  /** The body as sent, for the small collector requests; null for OTLP batches (see counts). */
  request_body: string | null;
  /** OTLP: log records or metric data points in the batch. */
  record_count: number | null;
  /** OTLP: log records per event name, or data points per metric name. */
  counts: Record<string, number> | null;
  /** Bytes written to the network for it, headers included, across all attempts. */
  bytes: number | null;
  attempts: number;
  outcome: OutboundOutcome;
  response_code: number | null;
  /** Why it failed: an error code or message, never a credential. */
  error: string | null;
  /** Anything else worth knowing about the answer, e.g. { secret_received: true } (never the secret). */
  details: Record<string, unknown> | null;
}

export type NewOutboundEntry = Omit<OutboundEntry, 'id' | 'sent_at'> & { sent_at: Date };

const INSERT_CHUNK = 100;

export class OutboundLedgerRepository {
  constructor(private readonly db: Knex) {}

  /**
   * Inserts the rows, then drops what is older than `cutoff` and everything but the newest
   * `maxRows`, in one transaction, so the table never outgrows its bounds between two purges.
   */
  async insert(rows: NewOutboundEntry[], bounds: { cutoff: Date; maxRows: number }): Promise<void> {
    if (rows.length === 0) return;
    await this.db.transaction(async (trx) => {
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) await trx(TABLES.outboundLedger).insert(rows.slice(i, i + INSERT_CHUNK).map(toRow));
      await prune(trx, bounds.cutoff, bounds.maxRows);
    });
  }

  /** Retention: rows older than `cutoff`, and all but the newest `maxRows`; returns how many went. */
  async prune(cutoff: Date, maxRows: number): Promise<number> {
    return this.db.transaction((trx) => prune(trx, cutoff, maxRows));
  }

  async list(limit: number, offset: number, kind?: OutboundKind): Promise<{ total: number; entries: OutboundEntry[] }> {
    const scoped = () => (kind ? this.db(TABLES.outboundLedger).where('kind', kind) : this.db(TABLES.outboundLedger));
    const total = (await scoped().count({ n: '*' }).first()) as { n: number | string };
    const rows = (await scoped().orderBy('id', 'desc').limit(limit).offset(offset)) as Record<string, unknown>[];
    return { total: Number(total.n), entries: rows.map(fromRow) };
  }

  /** Every row, oldest first, in pages (keyset pagination). */
  async *entries(pageSize = 1_000): AsyncGenerator<OutboundEntry[]> {
    for await (const rows of rowsById(this.db, TABLES.outboundLedger, pageSize)) yield rows.map(fromRow);
  }

  async deleteAll(): Promise<number> {
    return this.db(TABLES.outboundLedger).delete();
  }
}

async function prune(trx: Knex.Transaction, cutoff: Date, maxRows: number): Promise<number> {
  const old = await trx(TABLES.outboundLedger).where('sent_at', '<', cutoff).delete();
  // The id of the newest row beyond the cap (NULL when there are fewer rows: nothing matches).
  const beyondCap = trx(TABLES.outboundLedger).select('id').orderBy('id', 'desc').limit(1).offset(Math.max(0, Math.floor(maxRows)));
  const surplus = await trx(TABLES.outboundLedger).where('id', '<=', beyondCap).delete();
  return old + surplus;
}

function toRow(entry: NewOutboundEntry): Record<string, unknown> {
  return {
    ...entry,
    counts: entry.counts === null ? null : JSON.stringify(entry.counts),
    details: entry.details === null ? null : JSON.stringify(entry.details),
  };
}

const numberOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

function fromRow(row: Record<string, unknown>): OutboundEntry {
  return {
    id: Number(row.id),
    kind: String(row.kind) as OutboundKind,
    sent_at: isoFromDb(row.sent_at) ?? new Date(0).toISOString(),
    method: String(row.method),
    endpoint: String(row.endpoint),
    request_body: (row.request_body as string | null) ?? null,
    record_count: numberOrNull(row.record_count),
    counts: row.counts === null || row.counts === undefined ? null : (jsonObjectFromDb(row.counts) as Record<string, number>),
    bytes: numberOrNull(row.bytes),
    attempts: Number(row.attempts),
    outcome: String(row.outcome) as OutboundOutcome,
    response_code: numberOrNull(row.response_code),
    error: (row.error as string | null) ?? null,
    details: row.details === null || row.details === undefined ? null : jsonObjectFromDb(row.details),
  };
}
