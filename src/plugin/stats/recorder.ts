// Buffers guarded events and page-view counts in memory and writes them in one transaction per
// batch (size or interval trigger, and on stop()). Bounded: when the database is down the oldest
// events are dropped and counted; the host never waits on, or hears of, a failed write.
import type { LocalEventRecorder } from '../telemetry/analytics.js';
import type { EventProps, Logger } from '../types.js';
import type { EventRow, UsageStatsRepository } from './repository.js';
import { OnceLogger } from '../../core/logging.js';
import { RingBuffer } from '../../core/resilience/index.js';

/** Distinct (route, hour) page-view keys kept in memory between flushes. */
const PAGEVIEW_KEY_CAP = 2_000;
const HOUR_MS = 3_600_000;

/**
 * What went wrong, for the admin: knex prefixes driver errors with the full SQL (values included),
 * so keep the driver's code and the text after the SQL, never the statement itself.
 */
export function databaseErrorCause(err: unknown): string {
  if (!(err instanceof Error)) return String(err).slice(0, 200);
  const code = (err as { code?: unknown }).code;
  const message = err.message.includes(' - ') ? err.message.slice(err.message.lastIndexOf(' - ') + 3) : err.message;
  const text = typeof code === 'string' && !message.startsWith(code) ? `${code}: ${message}` : message;
  return text.slice(0, 200);
}

export interface RecorderOptions {
  batchSize: number;
  intervalMs: number;
  cap: number;
  logger: Logger;
  /** The plugin's clock in epoch ms: the uptime hours are those of the clock the weeks are counted by. */
  nowMs: () => number;
}

export class LocalStatsRecorder implements LocalEventRecorder {
  /** Events waiting to be written: bounded by `cap`, the oldest dropped first. */
  readonly #events: RingBuffer<EventRow>;
  /** hour start (ms) → route template → count */
  #pageviews = new Map<number, Map<string, number>>();
  #pageviewKeys = 0;
  #hourEnd = 0;
  #hourCounts: Map<string, number> | null = null;
  #uptimeHours = new Set<number>();
  /** The last hour handed to a write: an idle host writes once an hour, not on every interval. */
  #uptimeNoted = -1;
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> | null = null;
  #started = false;
  #stopped = false;
  readonly #once: OnceLogger;
  /** Page-view keys refused for want of room (events count their own drops). */
  #pageviewsDropped = 0;
  written = 0;
  lastError: string | null = null;

  constructor(
    private readonly repository: UsageStatsRepository,
    private readonly options: RecorderOptions,
  ) {
    this.#once = new OnceLogger(options.logger);
    this.#events = new RingBuffer(options.cap);
  }

  /** Events and page-view counts lost to the bounds while the database could not be written. */
  get dropped(): number {
    return this.#events.dropped + this.#pageviewsDropped;
  }

  /** Starts the interval flush (unref'd: it never keeps the process alive). */
  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#started = true;
    this.#noteUptime(this.options.nowMs());
    this.#timer = setInterval(() => {
      this.#noteUptime(this.options.nowMs());
      void this.flush();
    }, this.options.intervalMs);
    this.#timer.unref();
  }

  get depth(): number {
    return this.#events.size;
  }

  recordEvent(name: string, props: EventProps, occurredAt: Date, localOnly = false): void {
    if (this.#stopped) return;
    this.#events.push({ event_type: name, occurred_at: occurredAt, metadata: JSON.stringify(props), local_only: localOnly });
    if (this.#events.size >= this.options.batchSize) void this.flush();
  }

  recordPageView(routeTemplate: string, occurredAtMs: number): void {
    if (!this.#stopped) this.#addPageviews(routeTemplate, occurredAtMs, 1);
  }

  #addPageviews(routeTemplate: string, occurredAtMs: number, n: number): void {
    // Hot path: the hour's bucket is looked up once per hour, then one Map increment per request.
    if (occurredAtMs >= this.#hourEnd || occurredAtMs < this.#hourEnd - HOUR_MS) {
      const hour = occurredAtMs - (occurredAtMs % HOUR_MS);
      this.#hourEnd = hour + HOUR_MS;
      this.#hourCounts = this.#pageviews.get(hour) ?? this.#newHour(hour);
    }
    const counts = this.#hourCounts!;
    const count = counts.get(routeTemplate);
    if (count !== undefined) counts.set(routeTemplate, count + n);
    else if (this.#pageviewKeys < PAGEVIEW_KEY_CAP) {
      counts.set(routeTemplate, n);
      this.#pageviewKeys++;
    } else this.#pageviewsDropped++;
  }

  #newHour(hour: number): Map<string, number> {
    const counts = new Map<string, number>();
    this.#pageviews.set(hour, counts);
    return counts;
  }

  /** Writes everything buffered now; one write at a time. Never rejects. */
  flush(): Promise<void> {
    // Before start() the tables may not exist yet (migrations run in ready()): keep buffering.
    if (!this.#started) return Promise.resolve();
    if (this.#flushing) return this.#flushing.then(() => (this.#events.size > 0 || this.#pageviews.size > 0 ? this.flush() : undefined));
    this.#flushing = this.#write().finally(() => {
      this.#flushing = null;
    });
    return this.#flushing;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#noteUptime(this.options.nowMs());
    await this.flush();
    this.#stopped = true;
  }

  /** Drops what is buffered (delete-all: nothing recorded before it may reappear after it). */
  clear(): void {
    this.#events.clear();
    this.#resetPageviews();
    this.#uptimeNoted = -1; // delete-all emptied the uptime table: note this hour again
  }

  #resetPageviews(): Map<number, Map<string, number>> {
    const previous = this.#pageviews;
    this.#pageviews = new Map();
    this.#pageviewKeys = 0;
    this.#hourEnd = 0;
    this.#hourCounts = null;
    return previous;
  }

  #noteUptime(now: number): void {
    const hour = now - (now % HOUR_MS);
    if (hour === this.#uptimeNoted) return;
    this.#uptimeNoted = hour;
    this.#uptimeHours.add(hour);
  }

  async #write(): Promise<void> {
    const uptime = this.#uptimeHours;
    if (this.#events.size === 0 && this.#pageviews.size === 0 && uptime.size === 0) return;
    const events = this.#events.take();
    const pageviews = this.#resetPageviews();
    this.#uptimeHours = new Set();
    try {
      await this.repository.recordBatch(
        events,
        [...pageviews].flatMap(([hour, routes]) => [...routes].map(([route, count]) => ({ route: route.slice(0, 255), hour_start: new Date(hour), count }))),
        [...uptime].map((hour) => new Date(hour)),
      );
      this.written += events.length;
      this.lastError = null;
      this.#once.reset('write', 'local usage statistics are being written again');
    } catch (err) {
      this.lastError = databaseErrorCause(err);
      this.#once.warn('write', err, 'could not write local usage statistics; keeping them in memory (bounded) and retrying');
      // Put the batch back in front of anything recorded meanwhile, within the cap (oldest dropped first).
      this.#events.putBack(events);
      for (const [hour, routes] of pageviews) for (const [route, count] of routes) this.#addPageviews(route, hour, count);
      for (const hour of uptime) this.#uptimeHours.add(hour);
    }
  }
}
