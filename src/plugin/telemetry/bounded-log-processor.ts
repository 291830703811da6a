// A LogRecordProcessor with a bounded, drop-oldest queue and an explicit retry policy.
//
// The SDK's BatchLogRecordProcessor drops the *newest* records when full, forgets a batch whose
// export failed and has no back-off; this one is built for "background work that degrades
// instead of failing":
// - `push` (and `onEmit`) is O(1) and synchronous: it pushes into a ring buffer of `queueCap` items;
//   when the buffer is full the OLDEST item is overwritten and counted in `dropped`.
// - The queue may hold plain items rather than SDK log records (`toRecords`): the SDK record (a
//   LogRecordImpl, attribute validation, time conversion) is then built at export time, in the
//   batch, not on the path that queued the event.
// - Batches of at most `batchSize` records are exported on an unref'd timer (every
//   `flushIntervalMs`, sooner once a full batch is waiting) and on `flush()`/`forceFlush()`.
//   One export is in flight at a time.
// - The OTLP HTTP transport already retries 429/502/503/504 and network errors (honouring
//   Retry-After) within the per-export deadline. When an export still fails with a network error
//   or a retryable answer (isRetryableStatus: 408, 429, 5xx but 501/505), the batch goes back to
//   the FRONT of the queue (still subject to the cap: the oldest are dropped first), so an outage
//   loses at most the oldest records, and the next background attempt backs off (logExportBackoff:
//   two intervals, x2 per failure, ±20 %, max 5 minutes, reset on success). Any other answer
//   (400, 401, 403, 404, 413, 501, ...) drops the batch (counted in `dropped`) so a
//   misconfiguration cannot loop forever.
// - The options are the resolved ones (src/plugin/options.ts): nothing is re-defaulted here.
// - Nothing here throws into the caller or leaves a promise rejection unhandled; every timer is
//   unref'd so the processor never keeps the process alive.
import { ROOT_CONTEXT, context, createContextKey } from '@opentelemetry/api';
import type { LogRecordExporter, LogRecordProcessor, ReadableLogRecord, SdkLogRecord } from '@opentelemetry/sdk-logs';
import { RingBuffer, backoff, isRetryableStatus, withDeadline, type Backoff } from '../../core/resilience/index.js';

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

/**
 * The background retry policy after failed exports: the first retry waits two intervals, each
 * further one twice as long, ±20 %, at most 5 minutes (or one interval, when that is longer).
 */
export function logExportBackoff(flushIntervalMs: number): Backoff {
  const maxMs = Math.max(flushIntervalMs, MAX_BACKOFF_MS);
  return backoff({ baseMs: Math.min(2 * flushIntervalMs, maxMs), factor: 2, jitter: 0.2, maxMs });
}

/**
 * Starts a one-shot timer that must not keep the process alive and returns its cancel function.
 * The processor's only source of time: tests pass their own to drive the retry schedule step by
 * step (and read the delays it asks for) instead of sleeping.
 */
export type StartTimer = (run: () => void, delayMs: number) => () => void;

export const unrefTimer: StartTimer = (run, delayMs) => {
  const timer = setTimeout(run, delayMs);
  timer.unref();
  return () => clearTimeout(timer);
};

/** What happened to one export attempt. */
export interface BatchOutcome<T = ReadableLogRecord> {
  ok: boolean;
  /** Records in the batch. */
  count: number;
  /** 'sent' | 'requeued' (failed, kept for retry) | 'dropped' (non-retryable, discarded). */
  disposition: 'sent' | 'requeued' | 'dropped';
  error?: unknown;
  /** HTTP status when the failure was an HTTP answer. */
  httpStatus?: number;
  /** The queued items of the attempt (for the outbound ledger's per-event counts). */
  records?: readonly T[];
}

/** Resolved, validated numbers (export.queueCap, export.batchSize, export.intervalMs of the options). */
export interface BoundedLogProcessorOptions<T = ReadableLogRecord> {
  exporter: LogRecordExporter;
  /**
   * Builds the SDK log records of one batch, at export time, from the queued items (default: the
   * items are log records already). A throw drops the batch like a throwing exporter.
   */
  toRecords?: (batch: readonly T[]) => ReadableLogRecord[];
  queueCap: number;
  batchSize: number;
  flushIntervalMs: number;
  /**
   * Hard deadline for one `exporter.export` call (a safety net: the OTLP transport enforces its
   * own `timeoutMillis`; give this a little more). On expiry the attempt counts as failed.
   */
  exportDeadlineMs: number;
  /** Called after every export attempt (success or failure); must not throw (errors are swallowed). */
  onOutcome?: (outcome: BatchOutcome<T>) => void;
  /** Internal (tests): the timer for background exports and retries. Default: unref'd setTimeout. */
  startTimer?: StartTimer;
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

/** The exporter's result, or a failed one when it has not answered within `ms` (never rejects when `exported` does not). */
export function exportWithin(exported: Promise<ExportResult>, ms: number): Promise<ExportResult> {
  return withDeadline(exported, ms, { onTimeout: { code: EXPORT_FAILED, error: new Error(`export deadline of ${ms} ms exceeded`) } });
}

const asRecords = <T>(batch: readonly T[]): ReadableLogRecord[] => batch as unknown as ReadableLogRecord[];

export class BoundedLogProcessor<T = ReadableLogRecord> implements LogRecordProcessor {
  private readonly exporter: LogRecordExporter;
  private readonly toRecords: (batch: readonly T[]) => ReadableLogRecord[];
  private readonly cap: number;
  private readonly batchSize: number;
  private readonly intervalMs: number;
  private readonly deadlineMs: number;
  private readonly retryBackoff: Backoff;
  private readonly onOutcome: ((o: BatchOutcome<T>) => void) | undefined;
  private readonly startTimer: StartTimer;

  private readonly queue: RingBuffer<T>;
  /** Records of batches dropped for a non-retryable answer (the queue counts its own overflow). */
  private rejectedRecords = 0;
  private exported = 0;
  private failedExports = 0;
  private consecutiveFailures = 0;
  private inFlightCount = 0;

  /** Cancels the pending background export, if one is scheduled. */
  private cancelTimer: (() => void) | null = null;
  private kickPending = false;
  private busy: Promise<void> | null = null;
  private stopped = false;
  private exporterShutdown: Promise<void> | null = null;

  constructor(opts: BoundedLogProcessorOptions<T>) {
    this.exporter = opts.exporter;
    this.toRecords = opts.toRecords ?? asRecords;
    this.cap = opts.queueCap;
    this.batchSize = opts.batchSize;
    this.intervalMs = opts.flushIntervalMs;
    this.deadlineMs = opts.exportDeadlineMs;
    this.retryBackoff = logExportBackoff(this.intervalMs);
    this.onOutcome = opts.onOutcome;
    this.startTimer = opts.startTimer ?? unrefTimer;
    this.queue = new RingBuffer(this.cap);
    this.schedule(this.intervalMs);
  }

  // ------------------------------------------------------------ LogRecordProcessor

  onEmit(logRecord: SdkLogRecord): void {
    this.push(logRecord as unknown as T);
  }

  /** Queues one item (O(1), never throws); the oldest goes when the queue is full. */
  push(item: T): void {
    if (this.stopped) return;
    this.queue.push(item);
    if (this.queue.size >= this.batchSize && this.consecutiveFailures === 0 && this.busy === null) this.kick();
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
      let remaining = this.queue.size;
      while (ok && remaining > 0 && this.queue.size > 0) {
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
  discard(predicate: (record: T) => boolean): number {
    const test = (r: T): boolean => {
      try {
        return predicate(r);
      } catch {
        return false;
      }
    };
    if (this.inFlightBatch) this.inFlightFilters.push(test);
    return this.queue.removeWhere(test);
  }

  /** Stops the background timer and refuses further records (idempotent). */
  stop(): void {
    this.stopped = true;
    if (this.cancelTimer) {
      this.cancelTimer();
      this.cancelTimer = null;
    }
  }

  stats(): BoundedLogProcessorStats {
    return {
      queueDepth: this.queue.size,
      queueCap: this.cap,
      dropped: this.queue.dropped + this.rejectedRecords,
      exported: this.exported,
      failedExports: this.failedExports,
      consecutiveFailures: this.consecutiveFailures,
      inFlight: this.inFlightCount,
    };
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
  private async callExporter(batch: T[]): Promise<{ result: ExportResult; thrown: boolean }> {
    let thrown = false;
    const exported = new Promise<ExportResult>((resolve) => {
      try {
        const records = this.toRecords(batch);
        context.with(EXPORT_CONTEXT, () => this.exporter.export(records, resolve));
      } catch (error) {
        // A synchronous throw (e.g. serialization) will not get better on retry.
        thrown = true;
        resolve({ code: EXPORT_FAILED, error: toError(error) });
      }
    });
    const result = await exportWithin(exported, this.deadlineMs);
    return { result, thrown };
  }

  private inFlightBatch: T[] | null = null;
  /** discard() predicates registered while `inFlightBatch` was out. */
  private inFlightFilters: ((r: T) => boolean)[] = [];

  private async exportBatch(n: number): Promise<BatchOutcome<T>> {
    const batch = this.queue.take(n);
    if (batch.length === 0) return { ok: true, count: 0, disposition: 'sent' };
    this.inFlightCount = batch.length;
    this.inFlightBatch = batch;
    this.inFlightFilters = [];
    let outcome: BatchOutcome<T>;
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
        if (thrown || (httpStatus !== undefined && !isRetryableStatus(httpStatus))) {
          this.rejectedRecords += batch.length;
          this.rejectedBatches++;
          outcome = { ok: false, count: batch.length, disposition: 'dropped', error: result.error, records: batch };
        } else {
          this.queue.putBack(this.withoutDiscarded(batch));
          outcome = { ok: false, count: batch.length, disposition: 'requeued', error: result.error, records: batch };
        }
        if (httpStatus !== undefined) outcome.httpStatus = httpStatus;
      }
    } catch (error) {
      // Defensive: callExporter never rejects.
      this.failedExports++;
      this.consecutiveFailures++;
      this.queue.putBack(this.withoutDiscarded(batch));
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

  private withoutDiscarded(batch: T[]): T[] {
    const filters = this.inFlightFilters;
    return filters.length === 0 ? batch : batch.filter((r) => !filters.some((f) => f(r)));
  }

  // ------------------------------------------------------------ background scheduling

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.cancelTimer?.();
    this.cancelTimer = this.startTimer(() => {
      this.cancelTimer = null;
      void this.tick();
    }, delayMs);
  }

  /** Export soon (a full batch is waiting), without a timer per record. */
  private kick(): void {
    if (this.kickPending || this.stopped) return;
    this.kickPending = true;
    this.startTimer(() => {
      this.kickPending = false;
      if (this.busy === null && this.consecutiveFailures === 0) void this.tick();
    }, 0);
  }

  private async tick(): Promise<void> {
    try {
      if (this.stopped) return;
      if (this.busy === null && this.queue.size > 0) {
        // Background: drain while it succeeds, one batch at a time.
        let budget = this.queue.size;
        while (budget > 0 && this.queue.size > 0 && !this.stopped) {
          const outcome = await this.exclusive(() => this.exportBatch(Math.min(this.batchSize, budget)));
          if (!outcome.ok || outcome.count === 0) break;
          budget -= outcome.count;
        }
      }
    } catch {
      // never reject from a timer
    } finally {
      if (!this.stopped) {
        this.schedule(this.consecutiveFailures === 0 ? this.intervalMs : this.retryBackoff.delay(this.consecutiveFailures));
      }
    }
  }
}
