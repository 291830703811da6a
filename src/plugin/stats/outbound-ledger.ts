// The outbound ledger: the admin's record of everything this server sends besides the weekly
// submission — each OTLP batch, the collector registration and the erasure request.
//
// Writes happen off the request and export paths: record() is synchronous and O(1), it queues the
// entry and a short unref'd timer writes what is queued in one transaction. A database error is
// logged once and the entries are dropped; the export they describe is never delayed or failed by
// it. The queue is capped (oldest dropped first). The table is bounded by age (retentionDays,
// default 30) and size (maxRows, default 5,000, newest kept), enforced on every write and by the
// daily retention job.
import type { Logger } from '../types.js';
import type { OtlpExportReport } from '../telemetry/otlp-sink.js';
import { OnceLogger } from '../../core/logging.js';
import type { NewOutboundEntry, OutboundEntry, OutboundKind, OutboundLedgerRepository } from './outbound-repository.js';

const DAY_MS = 86_400_000;
/** Entries waiting for their write; beyond this the oldest are dropped (a stuck database must not grow memory). */
export const OUTBOUND_PENDING_CAP = 1_000;
/** Entries recorded within this window are written together (OTLP logs and metrics often go out together). */
export const OUTBOUND_WRITE_DELAY_MS = 250;

export type OutboundRecord = Omit<NewOutboundEntry, 'sent_at'>;

export interface OutboundLedgerDeps {
  repository: OutboundLedgerRepository;
  retentionDays: number;
  maxRows: number;
  logger: Logger;
  now: () => Date;
}

/** The URL as it may be shown and stored: scheme, host, port and path — no userinfo, query or fragment. */
export function credentialFreeUrl(raw: string): string {
  try {
    const url = new URL(raw);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return '(unreadable URL)';
  }
}

function retryNote(report: OtlpExportReport): string {
  if (report.signal === 'metrics') return 'the next export carries the cumulative totals';
  return report.disposition === 'dropped' ? 'the batch was dropped (a final answer)' : 'the batch is kept and sent again';
}

export class OutboundLedger {
  #pending: NewOutboundEntry[] = [];
  #dropped = 0;
  #timer: NodeJS.Timeout | null = null;
  #writing: Promise<void> | null = null;
  #stopped = false;
  readonly #once: OnceLogger;

  constructor(private readonly deps: OutboundLedgerDeps) {
    this.#once = new OnceLogger(deps.logger);
  }

  /** Entries dropped because the queue was full or their write failed. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Queues one entry, stamped with the current time. Sync, never throws. */
  record(entry: OutboundRecord): void {
    if (this.#stopped) return;
    try {
      this.#pending.push({ ...entry, sent_at: this.deps.now() });
      if (this.#pending.length > OUTBOUND_PENDING_CAP) {
        this.#pending.shift();
        this.#dropped++;
      }
      this.#schedule();
    } catch {
      // the ledger must never break what it describes
    }
  }

  /** One OTLP export attempt as reported by the sink. */
  recordOtlp(report: OtlpExportReport): void {
    this.record({
      kind: report.signal === 'logs' ? 'otlp_logs' : 'otlp_metrics',
      method: 'POST',
      endpoint: report.endpoint,
      request_body: null,
      record_count: report.records,
      counts: report.counts,
      bytes: report.bytes,
      attempts: report.attempts,
      outcome: report.ok ? 'accepted' : report.disposition === 'dropped' ? 'rejected' : 'failed',
      response_code: report.status,
      error: report.error,
      details: report.ok ? null : { retry: retryNote(report) },
    });
  }

  /** Writes one entry now (a receipt that must follow something, e.g. the erasure after delete-all). Never rejects. */
  async write(entry: OutboundRecord): Promise<void> {
    if (this.#stopped) return;
    await this.#insert([{ ...entry, sent_at: this.deps.now() }]);
  }

  /** Writes everything queued so far. Never rejects. */
  async flush(): Promise<void> {
    this.#cancelTimer();
    while (this.#writing) await this.#writing;
    if (this.#pending.length === 0) return;
    const rows = this.#pending;
    this.#pending = [];
    this.#writing = this.#insert(rows).finally(() => {
      this.#writing = null;
    });
    await this.#writing;
  }

  list(limit: number, offset: number, kind?: OutboundKind): Promise<{ total: number; entries: OutboundEntry[] }> {
    return this.deps.repository.list(limit, offset, kind);
  }

  /** Every stored entry, oldest first (the queue is written first). */
  async *entries(): AsyncGenerator<OutboundEntry[]> {
    await this.flush();
    yield* this.deps.repository.entries();
  }

  /** Forgets queued entries and deletes every stored one; returns how many rows were deleted. */
  async deleteAll(): Promise<number> {
    this.#cancelTimer();
    this.#pending = [];
    while (this.#writing) await this.#writing;
    return this.deps.repository.deleteAll();
  }

  /** Retention: older than retentionDays, beyond maxRows. */
  async purgeExpired(): Promise<number> {
    await this.flush();
    return this.deps.repository.prune(this.#cutoff(), this.deps.maxRows);
  }

  /** Writes what is queued, then records nothing more. Never rejects. */
  async stop(): Promise<void> {
    await this.flush();
    this.#stopped = true;
    this.#cancelTimer();
  }

  #cutoff(): Date {
    return new Date(this.deps.now().getTime() - this.deps.retentionDays * DAY_MS);
  }

  async #insert(rows: NewOutboundEntry[]): Promise<void> {
    try {
      await this.deps.repository.insert(rows, { cutoff: this.#cutoff(), maxRows: this.deps.maxRows });
      this.#once.reset('outbound-ledger', 'the outbound ledger is written again');
    } catch (err) {
      this.#dropped += rows.length;
      this.#once.warn('outbound-ledger', err, 'could not write the outbound ledger; what it describes was sent regardless, and the entries are dropped');
    }
  }

  #schedule(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.flush();
    }, OUTBOUND_WRITE_DELAY_MS);
    this.#timer.unref();
  }

  #cancelTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
