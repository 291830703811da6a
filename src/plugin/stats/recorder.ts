// Buffers guarded events and page-view counts in memory and writes them in one transaction per
// batch (size or interval trigger, and on stop()). Bounded: when the database is down the oldest
// events are dropped and counted; the host never waits on, or hears of, a failed write.
import type { LocalEventRecorder } from '../telemetry/analytics.js';
import type { EventProps, Logger } from '../types.js';
import type { EventRow, UsageStatsRepository } from './repository.js';
import { OnceLogger } from '../../core/logging.js';
import { RingBuffer } from '../../core/resilience/index.js';
import { routeTemplateFrom } from '../../core/route-template.js';

/** Distinct (route, hour) page-view keys kept in memory between flushes. */
const PAGEVIEW_KEY_CAP = 2_000;
const HOUR_MS = 3_600_000;
/**
 * Runs of page views held as the router matched them before they are counted. Over real sockets a
 * Map lookup per request (the route check and the hour's count) cost ~1 % of a whole request, and
 * so does memory a request touches that the one before did not: a view of the same route as the one
 * before is one more in a number, a new route closes the run into this batch (two slots), and the
 * lookups run a batch at a time.
 */
export const PAGE_VIEW_BATCH = 256;
/** The open run's route before any view (a value no router leaves in ctx._matchedRoute). */
const NO_RUN: unique symbol = Symbol('no page-view run');

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
  /**
   * True for the system clock: a page view goes into the current hour, which is read from the clock
   * once after every write and at the hour's end (a timer), not once per request. An injected clock
   * can jump at any moment, so it is read for every page view.
   */
  hourTimer?: boolean;
}

export class LocalStatsRecorder implements LocalEventRecorder {
  /** Events waiting to be written: bounded by `cap`, the oldest dropped first. */
  readonly #events: RingBuffer<EventRow>;
  /** hour start (ms) → route template → count */
  #pageviews = new Map<number, Map<string, number>>();
  #pageviewKeys = 0;
  /** The current hour's counts (null: read the clock at the next page view) and where that hour ends. */
  #hourCounts: Map<string, number> | null = null;
  #hourEnd = 0;
  /** Forgets the current hour at its end (hourTimer); unref'd. */
  #hourTimer: NodeJS.Timeout | null = null;
  #hourTimerEnd = 0;
  #uptimeHours = new Set<number>();
  /** The last hour handed to a write: an idle host writes once an hour, not on every interval. */
  #uptimeNoted = -1;
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> | null = null;
  #started = false;
  #stopped = false;
  readonly #once: OnceLogger;
  /**
   * Page views not yet counted, as runs: the open run (consecutive views of one matched route, counted
   * by a number on this object) and up to PAGE_VIEW_BATCH closed runs, two slots each (matched route,
   * views). Tallied when full, at every write and at the hour's end.
   */
  readonly #batch: unknown[] = new Array<unknown>(PAGE_VIEW_BATCH * 2).fill(undefined);
  #batched = 0;
  #runRoute: unknown = NO_RUN;
  #runViews = 0;
  /** With an injected clock, which may jump at any moment, every page view is counted at once. */
  readonly #countEachView: boolean;
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
    this.#countEachView = !options.hourTimer;
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

  /**
   * Hot path: one page view, by the route the router matched (ctx._matchedRoute, any value: it is
   * checked when counted, and only its safe template is ever kept). Counted in the current hour.
   */
  recordPageView(matchedRoute: unknown): void {
    // A view of the open run's route is one more in a number: no store, no check (see #newRun).
    if (matchedRoute === this.#runRoute) this.#runViews++;
    else this.#newRun(matchedRoute);
  }

  #newRun(matchedRoute: unknown): void {
    if (this.#runViews > 0) {
      this.#closeRun();
      if (this.#batched === PAGE_VIEW_BATCH) this.#tally();
    }
    this.#runRoute = matchedRoute;
    this.#runViews = 1;
    // Not knowing the hour (after a write, at the hour's end) the first view is counted at once: that
    // reads the clock and arms the hour's timer, which counts the views batched until then in that hour.
    if (this.#hourCounts === null || this.#countEachView) this.#tally();
  }

  /** Moves the open run into the batch (a full batch is tallied at once, so there is always room). */
  #closeRun(): void {
    const at = this.#batched++ * 2;
    this.#batch[at] = this.#runRoute;
    this.#batch[at + 1] = this.#runViews;
    this.#runRoute = NO_RUN;
    this.#runViews = 0;
  }

  /** Drops the open run and the batch, uncounted. */
  #dropBatch(): void {
    this.#batch.fill(undefined, 0, this.#batched * 2);
    this.#batched = 0;
    this.#runRoute = NO_RUN;
    this.#runViews = 0;
  }

  /** Counts the batched page views, the open run included, in the current hour (with the hour timer, no clock read). */
  #tally(): void {
    if (this.#runViews > 0) this.#closeRun();
    const n = this.#batched;
    if (n === 0) return;
    if (this.#stopped) {
      this.#dropBatch();
      return;
    }
    this.#batched = 0;
    const batch = this.#batch;
    const counts = this.#hourCounts !== null && this.options.hourTimer ? this.#hourCounts : this.#currentHour(this.options.nowMs());
    for (let at = 0; at < n * 2; at += 2) {
      this.#addPageviews(counts, routeTemplateFrom(batch[at]), batch[at + 1] as number);
      batch[at] = undefined;
    }
  }

  /** The counts of the hour `now` lies in, kept as the current hour until it ends or the next write. */
  #currentHour(now: number): Map<string, number> {
    if (this.#hourCounts !== null && now < this.#hourEnd && now >= this.#hourEnd - HOUR_MS) return this.#hourCounts;
    const hour = now - (now % HOUR_MS);
    this.#hourEnd = hour + HOUR_MS;
    this.#hourCounts = this.#countsOf(hour);
    if (this.options.hourTimer && this.#hourTimerEnd !== this.#hourEnd) this.#armHourTimer(this.#hourEnd, this.#hourEnd - now);
    return this.#hourCounts;
  }

  #armHourTimer(hourEnd: number, delayMs: number): void {
    if (this.#hourTimer) clearTimeout(this.#hourTimer);
    this.#hourTimerEnd = hourEnd;
    // A timer may fire a little before the wall clock reaches the hour's end: the next page view then
    // reads the same hour and arms the timer again for the rest.
    this.#hourTimer = setTimeout(() => {
      // The hour's page views still batched belong to it.
      this.#tally();
      this.#hourTimer = null;
      this.#hourTimerEnd = 0;
      this.#hourCounts = null;
    }, delayMs);
    this.#hourTimer.unref();
  }

  #countsOf(hour: number): Map<string, number> {
    let counts = this.#pageviews.get(hour);
    if (counts === undefined) {
      counts = new Map<string, number>();
      this.#pageviews.set(hour, counts);
    }
    return counts;
  }

  #addPageviews(counts: Map<string, number>, routeTemplate: string, n: number): void {
    const count = counts.get(routeTemplate);
    if (count !== undefined) counts.set(routeTemplate, count + n);
    else if (this.#pageviewKeys < PAGEVIEW_KEY_CAP) {
      counts.set(routeTemplate, n);
      this.#pageviewKeys++;
    } else this.#pageviewsDropped++;
  }

  /** Writes everything buffered now; one write at a time. Never rejects. */
  flush(): Promise<void> {
    // Before start() the tables may not exist yet (migrations run in ready()): keep buffering.
    if (!this.#started) return Promise.resolve();
    if (this.#flushing) return this.#flushing.then(() => (this.#events.size > 0 || this.#pageviews.size > 0 || this.#batched > 0 || this.#runViews > 0 ? this.flush() : undefined));
    this.#flushing = this.#write().finally(() => {
      this.#flushing = null;
    });
    return this.#flushing;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#hourTimer) clearTimeout(this.#hourTimer);
    this.#hourTimer = null;
    this.#hourTimerEnd = 0;
    this.#noteUptime(this.options.nowMs());
    await this.flush();
    this.#stopped = true;
  }

  /** Drops what is buffered (delete-all: nothing recorded before it may reappear after it). */
  clear(): void {
    this.#dropBatch();
    this.#events.clear();
    this.#resetPageviews();
    this.#uptimeNoted = -1; // delete-all emptied the uptime table: note this hour again
  }

  #resetPageviews(): Map<number, Map<string, number>> {
    const previous = this.#pageviews;
    this.#pageviews = new Map();
    this.#pageviewKeys = 0;
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
    this.#tally();
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
      for (const [hour, routes] of pageviews) for (const [route, count] of routes) this.#addPageviews(this.#countsOf(hour), route, count);
      for (const hour of uptime) this.#uptimeHours.add(hour);
    }
  }
}
