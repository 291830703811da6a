// A LogRecordProcessor with a bounded, drop-oldest queue and an explicit retry policy.
//
// The SDK's BatchLogRecordProcessor drops the *newest* records when full, forgets a batch whose
// export failed and has no back-off; this one is built for "background work that degrades
// instead of failing":
// - `onEmit` is O(1) and synchronous: it pushes into a ring buffer of `queueCap` records; when
//   the buffer is full the OLDEST record is overwritten and counted in `dropped`.
// - Batches of at most `batchSize` records are exported on an unref'd timer (every
//   `flushIntervalMs`, sooner once a full batch is waiting) and on `flush()`/`forceFlush()`.
//   One export is in flight at a time.
// - The OTLP HTTP transport already retries 429/502/503/504 and network errors (honouring
//   Retry-After) within the per-export deadline. When an export still fails, the batch goes back
//   to the FRONT of the queue (still subject to the cap: the oldest are dropped first), so an
//   outage loses at most the oldest records, and the next background attempt backs off
//   exponentially with jitter (base `flushIntervalMs`, x2 per failure, max 5 minutes, reset on
//   success). A non-retryable 4xx answer (400, 401, 403, 404, 413, ...) drops the batch (counted
//   in `dropped`) so a misconfiguration cannot loop forever.
// - Nothing here throws into the caller or leaves a promise rejection unhandled; every timer is
//   unref'd so the processor never keeps the process alive.
import { ROOT_CONTEXT, context, createContextKey } from '@opentelemetry/api';
import type { LogRecordExporter, LogRecordProcessor, ReadableLogRecord, SdkLogRecord } from '@opentelemetry/sdk-logs';

/** `ExportResult` from @opentelemetry/core (not a direct dependency), derived from the exporter type. */
export type ExportResult = Parameters<Parameters<LogRecordExporter['export']>[1]>[0];
export const EXPORT_SUCCESS = 0 as ExportResult['code'];
export const EXPORT_FAILED = 1 as ExportResult['code'];

/**
 * The SDK's suppress-tracing context key (same description as @opentelemetry/core's, and
 * createContextKey uses Symbol.for, so it is the same key). Exports run in a ROOT context with
 * it set, so a host's http instrumentation creates no spans for them and no host trace context
 * leaks into them.
 */
const SUPPRESS_TRACING_KEY = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');
export const EXPORT_CONTEXT = ROOT_CONTEXT.setValue(SUPPRESS_TRACING_KEY, true);

export const MAX_BACKOFF_MS = 5 * 60 * 1000;

/** What happened to one export attempt. */
export interface BatchOutcome {
  ok: boolean;
  /** Records in the batch. */
  count: number;
  /** 'sent' | 'requeued' (failed, kept for retry) | 'dropped' (non-retryable, discarded). */
  disposition: 'sent' | 'requeued' | 'dropped';
  error?: unknown;
  /** HTTP status when the failure was an HTTP answer. */
  httpStatus?: number;
  /** The records of the attempt (for the outbound ledger's per-event counts). */
  records?: readonly ReadableLogRecord[];
}

export interface BoundedLogProcessorOptions {
  exporter: LogRecordExporter;
  queueCap: number;
  batchSize: number;
  flushIntervalMs: number;
  /**
   * Hard deadline for one `exporter.export` call (a safety net: the OTLP transport enforces its
   * own `timeoutMillis`; give this a little more). On expiry the attempt counts as failed.
   */
  exportDeadlineMs: number;
  maxBackoffMs?: number;
  /** Called after every export attempt (success or failure); must not throw (errors are swallowed). */
  onOutcome?: (outcome: BatchOutcome) => void;
}

export interface BoundedLogProcessorStats {
  queueDepth: number;
  queueCap: number;
  dropped: number;
  exported: number;
  failedExports: number;
  consecutiveFailures: number;
  inFlight: number;
}

export function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** HTTP status carried by an OTLPExporterError (`code`), if any. */
export function httpStatusOf(error: unknown): number | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === 'number' && Number.isInteger(code) && code >= 100 && code <= 599) return code;
  }
  return undefined;
}

/**
 * True for answers that will not get better by sending the same batch again: 4xx except
 * 408 (request timeout) and 429 (too many requests). 5xx are kept and retried with back-off.
 */
export function isNonRetryableStatus(status: number | undefined): boolean {
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** Next background delay after `failures` consecutive failures: base x 2^n, capped, ±20 % jitter. */
export function backoffDelay(baseMs: number, failures: number, maxMs: number): number {
  if (failures <= 0) return baseMs;
  const raw = Math.min(baseMs * 2 ** Math.min(failures, 30), maxMs);
  const jittered = raw * (0.8 + Math.random() * 0.4);
  return Math.max(1, Math.min(Math.round(jittered), maxMs));
}

export class BoundedLogProcessor implements LogRecordProcessor {
  private readonly exporter: LogRecordExporter;
  private readonly cap: number;
  private readonly batchSize: number;
  private readonly intervalMs: number;
  private readonly deadlineMs: number;
  private readonly maxBackoffMs: number;
  private readonly onOutcome: ((o: BatchOutcome) => void) | undefined;

  // Ring buffer.
  private readonly buf: (ReadableLogRecord | undefined)[];
  private head = 0;
  private len = 0;

  private dropped = 0;
  private exported = 0;
  private failedExports = 0;
  private consecutiveFailures = 0;
  private inFlightCount = 0;

  private timer: NodeJS.Timeout | null = null;
  private kickPending = false;
  private busy: Promise<void> | null = null;
  private stopped = false;
  private exporterShutdown: Promise<void> | null = null;

  constructor(opts: BoundedLogProcessorOptions) {
    this.exporter = opts.exporter;
    this.cap = Math.max(1, Math.floor(opts.queueCap) || 1);
    this.batchSize = Math.max(1, Math.floor(opts.batchSize) || 1);
    this.intervalMs = Math.max(1, Math.floor(opts.flushIntervalMs) || 1);
    this.deadlineMs = Math.max(1, Math.floor(opts.exportDeadlineMs) || 1);
    this.maxBackoffMs = Math.max(this.intervalMs, opts.maxBackoffMs ?? MAX_BACKOFF_MS);
    this.onOutcome = opts.onOutcome;
    this.buf = new Array<ReadableLogRecord | undefined>(this.cap);
    this.schedule(this.intervalMs);
  }

  // ------------------------------------------------------------ LogRecordProcessor

  onEmit(logRecord: SdkLogRecord): void {
    if (this.stopped) return;
    this.push(logRecord);
    if (this.len >= this.batchSize && this.consecutiveFailures === 0 && this.busy === null) this.kick();
  }

  /** Exports everything queued now; never rejects. */
  async forceFlush(): Promise<void> {
    await this.flush();
  }

  /**
   * Stops the background timer, refuses new records and shuts the exporter down. It does NOT
   * export what is still queued (call `flush()` first, within your own time budget): shutdown
   * must stay fast even when the receiver hangs.
   */
  async shutdown(): Promise<void> {
    this.stop();
    if (!this.exporterShutdown) {
      this.exporterShutdown = (async () => {
        try {
          await this.exporter.shutdown();
        } catch {
          // ignore: best effort
        }
      })();
    }
    await this.exporterShutdown;
  }

  // ------------------------------------------------------------ own API

  /**
   * Exports every record queued when called (awaiting an export already in flight first), in
   * batches of `batchSize`. Resolves true only if all of them were accepted; stops at the first
   * failure (the failed batch is requeued or, for a non-retryable answer, dropped). Never rejects.
   */
  async flush(): Promise<boolean> {
    try {
      // A background export in flight holds records that were "queued" from the caller's view:
      // wait for it. If it failed they are back in the queue (and retried below); if they were
      // dropped as non-retryable, this flush cannot succeed.
      const rejectedBefore = this.rejectedBatches;
      while (this.busy) await this.busy;
      let ok = this.rejectedBatches === rejectedBefore;
      let remaining = this.len;
      while (ok && remaining > 0 && this.len > 0) {
        const outcome = await this.exclusive(() => this.exportBatch(Math.min(this.batchSize, remaining)));
        if (!outcome.ok) ok = false;
        if (outcome.count === 0) break;
        remaining -= outcome.count;
      }
      return ok;
    } catch {
      return false;
    }
  }

  /**
   * Removes every queued record matching `predicate` (e.g. detailed events after consent was
   * revoked) and returns how many were removed. They are not counted in `dropped` (discarded on
   * purpose, not lost). A batch in flight cannot be recalled, but if its export fails the
   * matching records are not put back. A predicate that throws keeps the record.
   */
  discard(predicate: (record: ReadableLogRecord) => boolean): number {
    const test = (r: ReadableLogRecord): boolean => {
      try {
        return predicate(r);
      } catch {
        return false;
      }
    };
    if (this.inFlightBatch) this.inFlightFilters.push(test);
    if (this.len === 0) return 0;
    const kept: ReadableLogRecord[] = [];
    let removed = 0;
    for (const r of this.take(this.len)) {
      if (test(r)) removed++;
      else kept.push(r);
    }
    this.head = 0;
    for (const r of kept) this.push(r);
    return removed;
  }

  /** Stops the background timer and refuses further records (idempotent). */
  stop(): void {
    this.stopped = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  stats(): BoundedLogProcessorStats {
    return {
      queueDepth: this.len,
      queueCap: this.cap,
      dropped: this.dropped,
      exported: this.exported,
      failedExports: this.failedExports,
      consecutiveFailures: this.consecutiveFailures,
      inFlight: this.inFlightCount,
    };
  }

  // ------------------------------------------------------------ ring buffer

  private push(rec: ReadableLogRecord): void {
    if (this.len === this.cap) {
      // Full: overwrite the oldest (at head) and advance.
      this.buf[this.head] = rec;
      this.head = (this.head + 1) % this.cap;
      this.dropped++;
    } else {
      this.buf[(this.head + this.len) % this.cap] = rec;
      this.len++;
    }
  }

  private take(n: number): ReadableLogRecord[] {
    const count = Math.min(n, this.len);
    const out = new Array<ReadableLogRecord>(count);
    for (let i = 0; i < count; i++) {
      out[i] = this.buf[this.head] as ReadableLogRecord;
      this.buf[this.head] = undefined;
      this.head = (this.head + 1) % this.cap;
    }
    this.len -= count;
    return out;
  }

  /** Puts a failed batch back in front (it is older than anything queued); oldest dropped first. */
  private putBack(items: ReadableLogRecord[]): void {
    const room = this.cap - this.len;
    const start = Math.max(0, items.length - room);
    this.dropped += start;
    for (let i = items.length - 1; i >= start; i--) {
      this.head = (this.head - 1 + this.cap) % this.cap;
      this.buf[this.head] = items[i];
      this.len++;
    }
  }

  // ------------------------------------------------------------ exporting

  /** Batches dropped because of a non-retryable answer (for flush()'s verdict). */
  private rejectedBatches = 0;

  /** Runs `fn` when no other export is in flight (one at a time). */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.busy) await this.busy;
    let release!: () => void;
    this.busy = new Promise<void>((r) => (release = r));
    try {
      return await fn();
    } finally {
      this.busy = null;
      release();
    }
  }

  /** Calls the exporter with a hard deadline; `thrown` marks a synchronous throw. Never rejects. */
  private callExporter(batch: ReadableLogRecord[]): Promise<{ result: ExportResult; thrown: boolean }> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (r: ExportResult, thrown = false): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve({ result: r, thrown });
      };
      const deadline = setTimeout(
        () => finish({ code: EXPORT_FAILED, error: new Error(`export deadline of ${this.deadlineMs} ms exceeded`) }),
        this.deadlineMs,
      );
      deadline.unref();
      try {
        context.with(EXPORT_CONTEXT, () => this.exporter.export(batch, finish));
      } catch (error) {
        // A synchronous throw (e.g. serialization) will not get better on retry.
        finish({ code: EXPORT_FAILED, error: toError(error) }, true);
      }
    });
  }

  private inFlightBatch: ReadableLogRecord[] | null = null;
  /** discard() predicates registered while `inFlightBatch` was out. */
  private inFlightFilters: ((r: ReadableLogRecord) => boolean)[] = [];

  private async exportBatch(n: number): Promise<BatchOutcome> {
    const batch = this.take(n);
    if (batch.length === 0) return { ok: true, count: 0, disposition: 'sent' };
    this.inFlightCount = batch.length;
    this.inFlightBatch = batch;
    this.inFlightFilters = [];
    let outcome: BatchOutcome;
    try {
      const { result, thrown } = await this.callExporter(batch);
      if (result.code === EXPORT_SUCCESS) {
        this.exported += batch.length;
        this.consecutiveFailures = 0;
        outcome = { ok: true, count: batch.length, disposition: 'sent', records: batch };
      } else {
        this.failedExports++;
        this.consecutiveFailures++;
        const httpStatus = httpStatusOf(result.error);
        if (thrown || isNonRetryableStatus(httpStatus)) {
          this.dropped += batch.length;
          this.rejectedBatches++;
          outcome = { ok: false, count: batch.length, disposition: 'dropped', error: result.error, records: batch };
        } else {
          this.putBack(this.withoutDiscarded(batch));
          outcome = { ok: false, count: batch.length, disposition: 'requeued', error: result.error, records: batch };
        }
        if (httpStatus !== undefined) outcome.httpStatus = httpStatus;
      }
    } catch (error) {
      // Defensive: callExporter never rejects.
      this.failedExports++;
      this.consecutiveFailures++;
      this.putBack(this.withoutDiscarded(batch));
      outcome = { ok: false, count: batch.length, disposition: 'requeued', error, records: batch };
    } finally {
      this.inFlightCount = 0;
      this.inFlightBatch = null;
      this.inFlightFilters = [];
    }
    if (this.onOutcome) {
      try {
        this.onOutcome(outcome);
      } catch {
        // never let a reporting hook break the pipeline
      }
    }
    return outcome;
  }

  private withoutDiscarded(batch: ReadableLogRecord[]): ReadableLogRecord[] {
    const filters = this.inFlightFilters;
    return filters.length === 0 ? batch : batch.filter((r) => !filters.some((f) => f(r)));
  }

  // ------------------------------------------------------------ background scheduling

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.tick();
    }, delayMs);
    this.timer.unref();
  }

  /** Export soon (a full batch is waiting), without a timer per record. */
  private kick(): void {
    if (this.kickPending || this.stopped) return;
    this.kickPending = true;
    const t = setTimeout(() => {
      this.kickPending = false;
      if (this.busy === null && this.consecutiveFailures === 0) void this.tick();
    }, 0);
    t.unref();
  }

  private async tick(): Promise<void> {
    try {
      if (this.stopped) return;
      if (this.busy === null && this.len > 0) {
        // Background: drain while it succeeds, one batch at a time.
        let budget = this.len;
        while (budget > 0 && this.len > 0 && !this.stopped) {
          const outcome = await this.exclusive(() => this.exportBatch(Math.min(this.batchSize, budget)));
          if (!outcome.ok || outcome.count === 0) break;
          budget -= outcome.count;
        }
      }
    } catch {
      // never reject from a timer
    } finally {
      if (!this.stopped) {
        this.schedule(backoffDelay(this.intervalMs, this.consecutiveFailures, this.maxBackoffMs));
      }
    }
  }
}
