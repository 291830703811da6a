// Buffers guarded events and page-view counts in memory and writes them in one transaction per
// batch (size or interval trigger, and on stop()). Bounded: when the database is down the oldest
// events are dropped and counted; the host never waits on, or hears of, a failed write.
import type { LocalEventRecorder } from '../telemetry/analytics.js';
import type { EventProps, Logger } from '../types.js';
import type { EventRow, UsageStatsRepository } from './repository.js';
import { OnceLogger } from '../logging.js';

/** Distinct (route, hour) page-view keys kept in memory between flushes. */
const PAGEVIEW_KEY_CAP = 2_000;
const HOUR_MS = 3_600_000;

export interface RecorderOptions {
  batchSize: number;
  intervalMs: number;
  cap: number;
  logger: Logger;
}

export class LocalStatsRecorder implements LocalEventRecorder {
  #events: EventRow[] = [];
  #pageviews = new Map<string, { route: string; hour: number; count: number }>();
  #uptimeHours = new Set<number>();
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> | null = null;
  #started = false;
  #stopped = false;
  readonly #once: OnceLogger;
  dropped = 0;
  written = 0;
  lastError: string | null = null;

  constructor(
    private readonly repository: UsageStatsRepository,
    private readonly options: RecorderOptions,
  ) {
    this.#once = new OnceLogger(options.logger);
  }

  /** Starts the interval flush (unref'd: it never keeps the process alive). */
  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#started = true;
    this.#noteUptime(Date.now());
    this.#timer = setInterval(() => {
      this.#noteUptime(Date.now());
      void this.flush();
    }, this.options.intervalMs);
    this.#timer.unref();
  }

  get depth(): number {
    return this.#events.length;
  }

  recordEvent(name: string, props: EventProps, occurredAt: Date): void {
    if (this.#stopped) return;
    if (this.#events.length >= this.options.cap) {
      this.#events.shift();
      this.dropped++;
    }
    this.#events.push({ event_type: name, occurred_at: occurredAt, metadata: JSON.stringify(props) });
    if (this.#events.length >= this.options.batchSize) void this.flush();
  }

  recordPageView(routeTemplate: string, occurredAtMs: number): void {
    if (this.#stopped) return;
    const hour = occurredAtMs - (occurredAtMs % HOUR_MS);
    const key = `${hour}|${routeTemplate}`;
    const entry = this.#pageviews.get(key);
    if (entry) entry.count++;
    else if (this.#pageviews.size < PAGEVIEW_KEY_CAP) this.#pageviews.set(key, { route: routeTemplate.slice(0, 255), hour, count: 1 });
    else this.dropped++;
  }

  /** Writes everything buffered now; one write at a time. Never rejects. */
  flush(): Promise<void> {
    // Before start() the tables may not exist yet (migrations run in ready()): keep buffering.
    if (!this.#started) return Promise.resolve();
    if (this.#flushing) return this.#flushing.then(() => (this.#events.length > 0 || this.#pageviews.size > 0 ? this.flush() : undefined));
    this.#flushing = this.#write().finally(() => {
      this.#flushing = null;
    });
    return this.#flushing;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#noteUptime(Date.now());
    await this.flush();
    this.#stopped = true;
  }

  /** Drops what is buffered (delete-all: nothing recorded before it may reappear after it). */
  clear(): void {
    this.#events = [];
    this.#pageviews.clear();
  }

  #noteUptime(now: number): void {
    this.#uptimeHours.add(now - (now % HOUR_MS));
  }

  async #write(): Promise<void> {
    const events = this.#events;
    const pageviews = this.#pageviews;
    const uptime = this.#uptimeHours;
    if (events.length === 0 && pageviews.size === 0 && uptime.size === 0) return;
    this.#events = [];
    this.#pageviews = new Map();
    this.#uptimeHours = new Set();
    try {
      await this.repository.recordBatch(
        events,
        [...pageviews.values()].map((p) => ({ route: p.route, hour_start: new Date(p.hour), count: p.count })),
        [...uptime].map((hour) => new Date(hour)),
      );
      this.written += events.length;
      this.lastError = null;
      this.#once.reset('write', 'local usage statistics are being written again');
    } catch (err) {
      this.lastError = err instanceof Error ? err.message.slice(0, 200) : String(err);
      this.#once.warn('write', err, 'could not write local usage statistics; keeping them in memory (bounded) and retrying');
      // Put the batch back in front of anything recorded meanwhile, within the cap (oldest dropped first).
      const merged = events.concat(this.#events);
      const overflow = Math.max(0, merged.length - this.options.cap);
      this.dropped += overflow;
      this.#events = merged.slice(overflow);
      for (const [key, value] of pageviews) {
        const current = this.#pageviews.get(key);
        if (current) current.count += value.count;
        else if (this.#pageviews.size < PAGEVIEW_KEY_CAP) this.#pageviews.set(key, value);
      }
      for (const hour of uptime) this.#uptimeHours.add(hour);
    }
  }
}
