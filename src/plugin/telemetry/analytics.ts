// The detailed analytics layer. One call, track(), feeds the local usage statistics (always, unless
// localStats is off), the OTLP export (analytics consent) and the weekly counts (via local stats).
//
// The request path does constant work: a cached name check and a push onto a bounded intake ring.
// Guarding, enrichment and export happen in drain(), off the request path (setImmediate).
import type { ConsentStore } from '../installation/consent.js';
import type { Pseudonymizer } from '../installation/pseudonym.js';
import type { EventProps, KillSwitchState, Logger } from '../types.js';
import type { RuntimeEnvironment } from './environment.js';
import type { EventAttributes, SinkObservation, TelemetrySink } from './otlp-sink.js';
import type { PrivacyGuard } from './privacy-guard.js';
import { boundedUserAgent, type UserAgentCache, type UserAgentSummary } from './user-agent.js';
import { BASE_EVENT_PREFIX } from './base-schema.js';
import { routeTemplateFrom } from '../../core/route-template.js';
import { describeError } from '../../core/logging.js';
import { RingBuffer } from '../../core/resilience/index.js';
import { BadEventNameWarnings } from './bad-event-names.js';

/** Where accepted events go to be stored in the host's database (the local usage statistics). */
export interface LocalEventRecorder {
  /** `localOnly`: the event may never leave the installation (not even as a weekly count). */
  recordEvent(name: string, props: EventProps, occurredAt: Date, localOnly: boolean): void;
  /** One page view now, by the route the router matched (any value: the recorder keeps only its safe template, and the hour). */
  recordPageView(matchedRoute: unknown): void;
}

interface IntakeItem {
  name: string;
  props: Record<string, unknown> | undefined;
  userId: string | number | null;
  userAgent: string | undefined;
  at: number;
  /** The request carried a privacy signal (Global Privacy Control): nothing it triggers leaves. */
  privacySignal: boolean;
}

/** Which users have opted out of detailed analytics for themselves. */
export interface UserOptOuts {
  isOptedOut(userId: string | number): boolean;
}

export interface AnalyticsDeps {
  guard: PrivacyGuard;
  consent: ConsentStore;
  killSwitch: KillSwitchState;
  environment: RuntimeEnvironment;
  appVersion: string;
  userAgents: UserAgentCache;
  userOptOuts: UserOptOuts;
  intakeCap: number;
  logger: Logger;
  /** The plugin's clock in epoch ms (options.clockMs): events and page views are stamped with it. */
  nowMs: () => number;
}

const PAGEVIEW_KEY_LIMIT = 5_000;
/** Users whose pseudonym attribute is kept ready (the pseudonymizer caches as many). */
const USER_ATTRIBUTES_LIMIT = 1_000;
/** Distinct event names counted for the app.events metric; further names are not counted (memory stays bounded). */
export const EVENT_COUNT_KEY_LIMIT = 1_000;
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'OTHER'];
const METHOD_INDEX: Record<string, number> = Object.fromEntries(METHODS.map((m, i) => [m, i]));

interface PageviewEntry {
  attributes: Record<string, string>;
  count: number;
}
/**
 * Detailed page views queued before they are counted, as runs: consecutive views of one route,
 * method, status and user-agent header are one more in a number on this object; a view that differs
 * closes the run into the queue (QUEUED_FIELDS slots each). The route check, the user-agent lookup
 * and the nested counts (Map lookups that cost several times more over real sockets than in a warm
 * cache) run a queue at a time.
 */
const DETAILED_BATCH = 256;
const QUEUED_FIELDS = 5;
/** The open run's route before any view (a value no router leaves in ctx._matchedRoute). */
const NO_RUN: unique symbol = Symbol('no detailed page-view run');
const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx', 'other'];

export class AnalyticsLayer {
  #sink: TelemetrySink | null = null;
  /** Whether the attached sink sends (or prints) anything; fixed at attach(), read on the hot path. */
  #sinkConfigured = false;
  #pseudonymizer: Pseudonymizer | null = null;
  /** install_id, app_version, deployment_type: the same object on every record of this identity. */
  #installAttributes: EventAttributes | null = null;
  readonly #userAttributesCache = new Map<string | number, EventAttributes>();
  readonly #agentAttributesCache = new Map<UserAgentSummary, EventAttributes>();
  #local: LocalEventRecorder | null = null;

  // Bounded ring of accepted-but-unprocessed events (drop-oldest).
  readonly #intake: RingBuffer<IntakeItem>;
  #drainScheduled = false;

  // Cumulative counts read by the metric reader; cleared on opt-out so nothing waits to be exported.
  readonly #eventCounts = new Map<string, number>();
  // route template → UA summary (cached object) → slot (method × status class). Every key is a string
  // or object reused across requests, so counting a page view builds no string.
  readonly #pageviews = new Map<string, Map<UserAgentSummary, (PageviewEntry | undefined)[]>>();
  #pageviewKeys = 0;
  /** Closed runs of detailed page views not yet counted: QUEUED_FIELDS values each (matched route, method, status, user agent, views). */
  readonly #queued: unknown[] = new Array<unknown>(DETAILED_BATCH * QUEUED_FIELDS).fill(undefined);
  #queuedRuns = 0;
  // The open run: its views share these four values (the header as a bounded copy).
  #runRoute: unknown = NO_RUN;
  #runMethod = '';
  #runStatus = 0;
  #runAgent: string | undefined = undefined;
  #runViews = 0;
  readonly #badNames: BadEventNameWarnings;

  // Read on the request path straight from here: the consent store itself (its own field, assigned
  // with its effective state, not a copy) and the kill switch, which is fixed at construction.
  readonly #consent: ConsentStore;
  readonly #killed: boolean;

  constructor(private readonly deps: AnalyticsDeps) {
    this.#consent = deps.consent;
    this.#killed = deps.killSwitch.disabled;
    this.#intake = new RingBuffer(deps.intakeCap);
    this.#badNames = new BadEventNameWarnings(deps.logger, (name) => deps.guard.nameProblem(name));
    deps.consent.onChange((consent) => {
      if (!consent.analytics) this.#forgetDetailed();
    });
  }

  /** Connects the parts that exist only after ready(): the sink and the install's identity. */
  attach(sink: TelemetrySink, pseudonymizer: Pseudonymizer, installId: string): void {
    this.#sink = sink;
    this.#sinkConfigured = sink.stats().configured;
    this.#pseudonymizer = pseudonymizer;
    this.#userAttributesCache.clear();
    this.#installAttributes = Object.freeze({ install_id: installId, app_version: this.deps.appVersion, deployment_type: this.deps.environment.deployment_type });
    this.#scheduleDrain();
  }

  setLocalRecorder(recorder: LocalEventRecorder | null): void {
    this.#local = recorder;
  }

  /** Exporting detailed events is allowed right now: opted in, not killed, and a sink exists. */
  get exporting(): boolean {
    return this.#sinkConfigured && this.#consent.analyticsGranted && !this.#killed;
  }

  /** Someone counts page views: local statistics are on, or detailed export is allowed. */
  get wantsPageViews(): boolean {
    return this.#local !== null || this.exporting;
  }

  get intakeDepth(): number {
    return this.#intake.size;
  }

  /** Events the full intake overwrote (the oldest go first). */
  get intakeDropped(): number {
    return this.#intake.dropped;
  }

  /** Keys held for page-view and event counting (bounded; shown to tests and the status route). */
  get countingKeys(): { pageviewAgents: number; pageviewSlots: number; eventNames: number } {
    this.#countQueued();
    let agents = 0;
    for (const byAgent of this.#pageviews.values()) agents += byAgent.size;
    return { pageviewAgents: agents, pageviewSlots: this.#pageviewKeys, eventNames: this.#eventCounts.size };
  }

  /** Hot path. Returns false when the event is refused outright (invalid name) or goes nowhere. */
  track(name: string, props: Record<string, unknown> | undefined, userId: string | number | null, userAgent?: string, privacySignal = false): boolean {
    if (!this.deps.guard.isValidEventName(name)) {
      this.deps.guard.counters.rejectedEvents++;
      this.#badNames.warn(name);
      return false;
    }
    // Before attach() the destination is not known yet; keep it (bounded) so startup events are not lost.
    if (this.#sink !== null && this.#local === null && !this.exporting) return false;
    this.#push({ name, props, userId, userAgent, at: this.deps.nowMs(), privacySignal });
    return true;
  }

  /**
   * Hot path: one request answered, counted locally per route template (never the raw URL).
   * True when the detailed page view is wanted too (exportPageView): only then does the caller
   * read the method, status and user agent.
   */
  countPageView(matchedRoute: unknown): boolean {
    const local = this.#local;
    if (local !== null) local.recordPageView(matchedRoute);
    return this.exporting;
  }

  /**
   * Hot path, opted in only: the detailed page view (per route, method, status class, browser and
   * device), kept as the request left it: one more view of the open run when all four values are the
   * previous view's (no store, no string kept), else a new run (see #countQueued).
   */
  exportPageView(matchedRoute: unknown, method: string, status: number, userAgent: string | undefined): void {
    if (matchedRoute === this.#runRoute && status === this.#runStatus && method === this.#runMethod && userAgent === this.#runAgent) this.#runViews++;
    else this.#newRun(matchedRoute, method, status, userAgent);
  }

  #newRun(matchedRoute: unknown, method: string, status: number, userAgent: string | undefined): void {
    if (this.#runViews > 0) {
      this.#closeRun();
      if (this.#queuedRuns === DETAILED_BATCH) this.#countQueued();
    }
    this.#runRoute = matchedRoute;
    this.#runMethod = method;
    this.#runStatus = status;
    this.#runAgent = userAgent === undefined ? undefined : boundedUserAgent(userAgent);
    this.#runViews = 1;
  }

  #closeRun(): void {
    const queue = this.#queued;
    const at = this.#queuedRuns++ * QUEUED_FIELDS;
    queue[at] = this.#runRoute;
    queue[at + 1] = this.#runMethod;
    queue[at + 2] = this.#runStatus;
    queue[at + 3] = this.#runAgent;
    queue[at + 4] = this.#runViews;
    this.#dropRun();
  }

  #dropRun(): void {
    this.#runRoute = NO_RUN;
    this.#runAgent = undefined;
    this.#runViews = 0;
  }

  /**
   * Counts the queued runs and the open one (when the queue is full, and before every read of the
   * counts), or drops them when exporting is no longer allowed. Runs of one browser one after another
   * are summarized once: the same header text is compared, not hashed again.
   */
  #countQueued(): void {
    if (this.#runViews > 0) this.#closeRun();
    const n = this.#queuedRuns;
    if (n === 0) return;
    this.#queuedRuns = 0;
    const queue = this.#queued;
    if (this.exporting) {
      let lastAgent: unknown = NO_RUN;
      let summary: UserAgentSummary | null = null;
      for (let at = 0; at < n * QUEUED_FIELDS; at += QUEUED_FIELDS) {
        const agent = queue[at + 3] as string | undefined;
        if (summary === null || agent !== lastAgent) summary = this.deps.userAgents.summarize(agent);
        lastAgent = agent;
        this.#countDetailed(routeTemplateFrom(queue[at]), queue[at + 1] as string, queue[at + 2] as number, summary, queue[at + 4] as number);
      }
    }
    queue.fill(undefined, 0, n * QUEUED_FIELDS);
  }

  #countDetailed(routeTemplate: string, method: string, status: number, ua: UserAgentSummary, views: number): void {
    let byAgent = this.#pageviews.get(routeTemplate);
    if (byAgent === undefined) {
      if (this.#pageviewKeys >= PAGEVIEW_KEY_LIMIT) return;
      byAgent = new Map();
      this.#pageviews.set(routeTemplate, byAgent);
    }
    let slots = byAgent.get(ua);
    if (slots === undefined) {
      // Checked before inserting: a new agent under a known route is a new key too.
      if (this.#pageviewKeys >= PAGEVIEW_KEY_LIMIT) return;
      slots = [];
      byAgent.set(ua, slots);
    }
    const methodIndex = METHOD_INDEX[method] ?? METHODS.length - 1;
    const statusIndex = Math.min(Math.floor(status / 100), STATUS_CLASSES.length - 1);
    const slot = methodIndex * STATUS_CLASSES.length + statusIndex;
    const entry = slots[slot];
    if (entry !== undefined) {
      entry.count += views;
    } else if (this.#pageviewKeys < PAGEVIEW_KEY_LIMIT) {
      this.#pageviewKeys++;
      slots[slot] = {
        attributes: {
          'http.route': routeTemplate,
          'http.method': METHODS[methodIndex]!,
          'http.status_class': STATUS_CLASSES[statusIndex]!,
          'browser.family': ua.browser,
          'device.class': ua.device,
        },
        count: views,
      };
    }
  }

  /** Processes everything in the intake: guard, record locally, export when consented. */
  drain(): void {
    this.#drainScheduled = false;
    if (this.#sink === null) return;
    for (let item = this.#intake.shift(); item !== undefined; item = this.#intake.shift()) {
      try {
        this.#process(item);
      } catch (err) {
        this.deps.logger.warn({ err: describeError(err) }, 'dropped a telemetry event that could not be processed');
      }
    }
  }

  /** Read at metric collection (once a minute), so flattening here keeps the request path cheap. */
  observation(): SinkObservation {
    this.#countQueued();
    const pageviews = new Map<string, PageviewEntry>();
    let n = 0;
    for (const byAgent of this.#pageviews.values()) for (const slots of byAgent.values()) for (const entry of slots) if (entry) pageviews.set(String(n++), entry);
    return { activeInstall: null, events: this.#eventCounts, pageviews };
  }

  #process(item: IntakeItem): void {
    const checked = this.deps.guard.check(item.name, item.props);
    if (!checked.ok) return;
    // Decided here, not at intake: a user's opt-out stored meanwhile (or loaded at start) still counts.
    const localOnly = item.privacySignal || (item.userId !== null && this.deps.userOptOuts.isOptedOut(item.userId));
    this.#local?.recordEvent(checked.name, checked.props, new Date(item.at), localOnly);
    if (localOnly || !this.exporting) return;
    const counted = this.#eventCounts.get(checked.name);
    if (counted !== undefined) this.#eventCounts.set(checked.name, counted + 1);
    else if (this.#eventCounts.size < EVENT_COUNT_KEY_LIMIT) this.#eventCounts.set(checked.name, 1);
    // The record's attributes, in this order: the props, the install's, the user's pseudonym, the
    // browser's. Handed over as parts (the last three shared between events) and merged when the
    // export batch is built, not here.
    const sink = this.#sink!;
    const user = item.userId === null ? null : this.#userAttributes(item.userId);
    const agent = item.userAgent ? this.#agentAttributes(this.deps.userAgents.summarize(item.userAgent)) : null;
    if (user === null) {
      if (agent === null) sink.emit(checked.name, checked.props, this.#installAttributes!);
      else sink.emit(checked.name, checked.props, this.#installAttributes!, agent);
    } else if (agent === null) sink.emit(checked.name, checked.props, this.#installAttributes!, user);
    else sink.emit(checked.name, checked.props, this.#installAttributes!, user, agent);
  }

  /** `user.pseudonym` of a user, one object per user (bounded like the pseudonymizer's own cache). */
  #userAttributes(userId: string | number): EventAttributes {
    let attributes = this.#userAttributesCache.get(userId);
    if (attributes === undefined) {
      attributes = Object.freeze({ 'user.pseudonym': this.#pseudonymizer!.pseudonym(userId) });
      if (this.#userAttributesCache.size >= USER_ATTRIBUTES_LIMIT) this.#userAttributesCache.clear();
      this.#userAttributesCache.set(userId, attributes);
    }
    return attributes;
  }

  /** The browser attributes of a summary (summaries are interned and bounded, so are these). */
  #agentAttributes(ua: UserAgentSummary): EventAttributes {
    let attributes = this.#agentAttributesCache.get(ua);
    if (attributes === undefined) {
      attributes = Object.freeze({ 'browser.family': ua.browser, 'os.family': ua.os, 'device.class': ua.device });
      this.#agentAttributesCache.set(ua, attributes);
    }
    return attributes;
  }

  #push(item: IntakeItem): void {
    this.#intake.push(item);
    this.#scheduleDrain();
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled || this.#sink === null || this.#intake.size === 0) return;
    this.#drainScheduled = true;
    setImmediate(() => this.drain());
  }

  #forgetDetailed(): void {
    this.#queued.fill(undefined, 0, this.#queuedRuns * QUEUED_FIELDS);
    this.#queuedRuns = 0;
    this.#dropRun();
    this.#eventCounts.clear();
    this.#pageviews.clear();
    this.#pageviewKeys = 0;
    this.#sink?.discard((eventName) => !eventName.startsWith(BASE_EVENT_PREFIX));
  }
}
