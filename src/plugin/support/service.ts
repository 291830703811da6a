// SupportService: the reports counter, soft-prompt decisions and the local support funnel.
// It never reads ctx: routes and middleware hand it plain inputs (the user, whether the host says
// they are a supporter, their normalized stats, the session's prompt state).
//
// Reads on a host page's path degrade to "nothing" (no stats, no prompt) when the database fails,
// and after a failure they are skipped for a short while, so a broken database costs host pages
// no waiting.
import type { Logger, TelemetryUser } from '../types.js';
import { OnceLogger } from '../../core/logging.js';
import type { PrivacyGuard } from '../telemetry/privacy-guard.js';
import { PROMPT_VARIANTS, SUPPORT_CLICK_TYPES, SUPPORT_EVENT_PREFIX, SUPPORT_SOURCES, type PromptKind, type PromptVariant, type SupportEvent } from './events.js';
import type { Translator } from '../i18n/catalog.js';
import { CLICK_SUPPRESSION_DAYS, decidePrompt, promptMessage, type PromptDecision } from './prompt-policy.js';
import type { FunnelCount, InteractionRow, SupportRepository } from './repository.js';
import type { PromptSessionState } from './session.js';
import { EMPTY_USER_STATS, type SupportUserStats } from './user-stats.js';
import { buildViewModel, type PromptHints, type SupportSettings, type SupportViewModel } from './view-model.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** After a failed read, skip the database on page paths for this long. */
const READ_BACKOFF_MS = 30_000;

export interface SupportServiceDeps {
  repository: SupportRepository;
  settings: SupportSettings & { sources?: readonly string[] };
  /** Every stored or tracked funnel field goes through it (source, variant, the stats snapshot). */
  guard: PrivacyGuard;
  appName: string;
  donatePath: string;
  /** The consent gate: records locally, exports only with analytics consent. */
  /** `privacySignal`: the request carried Global Privacy Control; the event stays local. */
  track: (name: string, props: Record<string, unknown>, user: TelemetryUser, privacySignal: boolean) => boolean;
  /** False until the plugin's migrations ran (before that the tables may not exist). */
  isReady: () => boolean;
  now: () => Date;
  logger: Logger;
}

/** The session's part of a prompt decision (kept by the caller in the user's session). */
export interface PromptRequest {
  user: TelemetryUser;
  kind: PromptKind;
  /** null when the host's isSupporter failed. */
  isSupporter: boolean | null;
  stats: SupportUserStats;
  session: PromptSessionState;
  /** The language of the prompt's text (English when omitted). */
  translator?: Translator;
}

export interface PromptAnswer {
  decision: PromptDecision;
  /** Set when decision.show. */
  message?: string;
}

export interface SupportEventInput {
  user: TelemetryUser;
  event: SupportEvent;
  variant: string | null;
  source: string | null;
  isSupporter: boolean | null;
  stats: SupportUserStats;
  /** The request carried a privacy signal (Global Privacy Control): the funnel event stays local. */
  privacySignal?: boolean;
}

export interface ViewModelRequest {
  user: TelemetryUser | null;
  isSupporter: boolean | null;
  stats: SupportUserStats;
  /** The reports counter when it was read; null or absent: not shown. */
  reportsGenerated?: number | null;
  prompt: PromptHints;
  translator?: Translator;
}

/** The support part of the plugin handle (`telemetry.support`): for host code outside a request, admin tools and tests. */
export interface SupportApi {
  /** Counts a report for `user` (outside a request there is no session, so no after_report prompt is queued). */
  reportGenerated(user: TelemetryUser): Promise<number | null>;
  reportsGenerated(user: TelemetryUser): Promise<number | null>;
  hasRecentDonationClick(user: TelemetryUser, days?: number): Promise<boolean>;
  /** The local funnel: counts per interaction type, variant and source. */
  funnel(since?: Date): Promise<FunnelCount[]>;
  interactions(options?: { userId?: string | number; since?: Date; limit?: number }): Promise<InteractionRow[]>;
  deleteUser(user: TelemetryUser): Promise<void>;
  deleteAll(): Promise<void>;
}

const userKey = (user: TelemetryUser): string => String(user.id);

function toDateOrNull(value: TelemetryUser['createdAt']): Date | null {
  if (value === null || value === undefined) return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isFinite(date.getTime()) ? date : null;
}

/** Why a funnel field was refused: the route answers 400 with this code. */
export interface FunnelFieldProblem {
  code: 'unknown_source' | 'unknown_variant';
  message: string;
  /** The allowed values, for a message in the reader's language. */
  expected: readonly string[];
}

export class SupportService implements SupportApi {
  readonly #deps: SupportServiceDeps;
  readonly #once: OnceLogger;
  #readsPausedUntil = 0;
  /** The allow-lists of the funnel's free fields: documented entry points and the host's, prompt variants and tier keys. */
  readonly #sources: ReadonlySet<string>;
  readonly #variants: ReadonlySet<string>;

  constructor(deps: SupportServiceDeps) {
    this.#deps = deps;
    this.#once = new OnceLogger(deps.logger);
    this.#sources = new Set([...SUPPORT_SOURCES, ...(deps.settings.sources ?? [])]);
    this.#variants = new Set([...PROMPT_VARIANTS, ...deps.settings.urls.tiers.map((tier) => tier.key)]);
  }

  /** The allowed funnel `source` values, in a stable order (for error messages and docs). */
  get sources(): string[] {
    return [...this.#sources];
  }

  /** Null when `source` and `variant` are on their allow-lists (or absent); the refusal otherwise. Never echoes the value. */
  funnelFieldProblem(source: string | null, variant: string | null): FunnelFieldProblem | null {
    if (source !== null && !this.#sources.has(source)) {
      return { code: 'unknown_source', message: `Unknown source: expected one of ${this.sources.join(', ')} (a host adds its own with the support.sources option).`, expected: [...this.sources] };
    }
    if (variant !== null && !this.#variants.has(variant)) {
      return { code: 'unknown_variant', message: `Unknown variant: expected one of ${[...this.#variants].join(', ')}.`, expected: [...this.#variants] };
    }
    return null;
  }

  /** The field when it is on its allow-list and passes the privacy guard; null otherwise (never stored as sent). */
  #allowed(field: 'source' | 'variant', value: string | null): string | null {
    if (value === null) return null;
    const list = field === 'source' ? this.#sources : this.#variants;
    if (!list.has(value)) {
      this.#deps.guard.counters.byReason.undeclared_value++;
      this.#deps.guard.counters.redactedValues++;
      return null;
    }
    const checked = this.#deps.guard.checkValue(field, value);
    return typeof checked === 'string' ? checked : null;
  }

  get enabled(): boolean {
    return this.#deps.settings.enabled;
  }

  get settings(): SupportSettings {
    return this.#deps.settings;
  }

  /** Adds one to the user's reports_generated; the new value, or null when support is off or it failed. */
  async reportGenerated(user: TelemetryUser): Promise<number | null> {
    if (!this.enabled || !this.#deps.isReady()) return null;
    try {
      const count = await this.#deps.repository.incrementReports(userKey(user), this.#deps.now());
      this.#once.reset('support-write', 'the support counter is written again');
      return count;
    } catch (err) {
      this.#once.warn('support-write', err, 'the support reports counter could not be updated; the host page is unaffected');
      return null;
    }
  }

  /** The user's reports_generated, or null when it cannot be read right now. */
  reportsGenerated(user: TelemetryUser): Promise<number | null> {
    return this.#read(() => this.#deps.repository.reportsGenerated(userKey(user)), null);
  }

  /**
   * True when the user clicked through to support (a tier, the license or a host's own support
   * link) within `days`. Throws when the database cannot answer (callers decide how to degrade).
   */
  async hasRecentDonationClick(user: TelemetryUser, days = CLICK_SUPPRESSION_DAYS): Promise<boolean> {
    const since = new Date(this.#deps.now().getTime() - days * DAY_MS);
    return (await this.#deps.repository.countInteractions(userKey(user), SUPPORT_CLICK_TYPES, since)) > 0;
  }

  /** Decides whether to show a soft prompt now; any failure is "no prompt". */
  async decidePrompt(request: PromptRequest): Promise<PromptAnswer> {
    const now = this.#deps.now();
    const { settings } = this.#deps;
    const base = {
      kind: request.kind,
      now,
      enabled: settings.enabled,
      isSupporter: request.isSupporter,
      shownThisSession: request.session.shown,
      afterReportPending: request.session.afterReportPending,
      userCreatedAt: toDateOrNull(request.user.createdAt),
      hoursToday: request.stats.hoursToday,
      sessionStartedAt: request.session.startedAt,
      longSessionMinutes: settings.longSessionMinutes,
    };
    // Rules that need no database first: most requests end here without a query.
    const early = decidePrompt({ ...base, lastDismissedAt: null, lastSupportClickAt: null });
    if (!early.show) return { decision: early };
    const state = await this.#read(async () => {
      const id = userKey(request.user);
      const [lastDismissedAt, lastSupportClickAt] = await Promise.all([
        this.#deps.repository.lastDismissal(id),
        this.#deps.repository.lastInteractionAt(id, SUPPORT_CLICK_TYPES, new Date(now.getTime() - CLICK_SUPPRESSION_DAYS * DAY_MS)),
      ]);
      return { lastDismissedAt, lastSupportClickAt };
    }, null);
    if (state === null) return { decision: { show: false, reason: 'unavailable', consumesAfterReport: false } };
    const decision = decidePrompt({ ...base, ...state });
    if (!decision.show) return { decision };
    return { decision, message: promptMessage(decision.variant, this.#deps.appName, request.stats.hoursToday, request.translator) };
  }

  /**
   * Records one funnel event: `support.<event>` through the consent gate (local usage statistics
   * always, export only with analytics consent) and a local telemetry_donation_interactions row
   * with a snapshot of the user's stats. A dismissal also starts the 14-day prompt pause.
   * Resolves false when the row could not be stored.
   */
  async recordEvent(input: SupportEventInput): Promise<boolean> {
    const source = this.#allowed('source', input.source);
    const variant = this.#allowed('variant', input.variant);
    const props: Record<string, unknown> = {};
    if (variant) props.variant = variant;
    if (source) props.source = source;
    this.#deps.track(`${SUPPORT_EVENT_PREFIX}${input.event}`, props, input.user, input.privacySignal === true);
    if (!this.#deps.isReady()) return false;
    const now = this.#deps.now();
    const id = userKey(input.user);
    try {
      const reports = await this.#deps.repository.reportsGenerated(id).catch(() => null);
      const snapshot = this.#deps.guard.checkRecord(`${SUPPORT_EVENT_PREFIX}${input.event}`, {
        ...input.stats.snapshot,
        reports_generated: reports,
        is_supporter: input.isSupporter,
      });
      await this.#deps.repository.insertInteraction({ userId: id, type: input.event, source, variant, snapshot, createdAt: now });
      if (input.event === 'prompt_dismissed') await this.#deps.repository.recordDismissal(id, variant, now);
      this.#once.reset('support-write', 'support funnel rows are written again');
      return true;
    } catch (err) {
      this.#once.warn('support-write', err, 'a support funnel row could not be stored');
      return false;
    }
  }

  /** The view model from what is at hand, without any I/O. */
  staticViewModel(request: ViewModelRequest): SupportViewModel {
    return buildViewModel({
      settings: this.#deps.settings,
      appName: this.#deps.appName,
      donatePath: this.#deps.donatePath,
      signedIn: request.user !== null,
      isSupporter: request.isSupporter,
      stats: request.stats ?? EMPTY_USER_STATS,
      reportsGenerated: request.reportsGenerated ?? null,
      prompt: request.prompt,
      translator: request.translator,
    });
  }

  /** Counts per interaction type, variant and source since `since` (default: all time). */
  funnel(since?: Date): Promise<FunnelCount[]> {
    return this.#deps.repository.funnel(since);
  }

  interactions(options?: { userId?: string | number; since?: Date; limit?: number }): Promise<InteractionRow[]> {
    return this.#deps.repository.interactions({ ...options, userId: options?.userId === undefined ? undefined : String(options.userId) });
  }

  deleteUser(user: TelemetryUser): Promise<void> {
    return this.#deps.repository.deleteUser(userKey(user));
  }

  deleteAll(): Promise<void> {
    return this.#deps.repository.deleteAll();
  }

  async #read<T>(read: () => Promise<T>, fallback: T): Promise<T> {
    if (!this.#deps.isReady() || Date.now() < this.#readsPausedUntil) return fallback;
    try {
      const value = await read();
      this.#once.reset('support-read', 'support data can be read again');
      return value;
    } catch (err) {
      this.#readsPausedUntil = Date.now() + READ_BACKOFF_MS;
      this.#once.warn('support-read', err, 'support data could not be read; support prompts and stats are skipped for now');
      return fallback;
    }
  }
}
