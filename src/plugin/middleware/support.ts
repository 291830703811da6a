// Support, seen from a request: translates ctx (signed-in user, the host's isSupporter/userStats
// callbacks, the session) into the plain inputs SupportService takes.
//
// - supportTemplateState: gives `telemetry.support` (the partials' view model) to templates. It is
//   prepared (host callbacks + one counter read, capped in time) only for GET requests of a
//   signed-in user that accept text/html — pages; any other request gets a function that builds
//   the model without I/O if, and only if, a template reads it.
// - supportRequestApi: `ctx.telemetry.support` (reportGenerated()).
// - the session's prompt state: one soft prompt per session, a pending after_report, when the
//   session started (long_session), and a quiet period after a check that showed nothing.
//
// Nothing here throws into a host page: a failing or slow host callback or database means "no
// stats, no prompt".
import type { Context } from 'koa';
import type { ResolvedOptions } from '../options.js';
import type { TelemetryUser } from '../types.js';
import type { SupportService, PromptSessionState } from '../support/service.js';
import type { PromptVariant } from '../support/events.js';
import { PROMPT_VARIANTS } from '../support/events.js';
import type { PromptDecision } from '../support/prompt-policy.js';
import { EMPTY_USER_STATS, normalizeUserStats, type SupportUserStats } from '../support/user-stats.js';
import { NO_PROMPT, type PromptHints, type SupportViewModel } from '../support/view-model.js';
import { currentUser } from './auth.js';
import type { TemplateState } from './template-state.js';

export const SUPPORT_SESSION_KEY = 'telemetrySupport';
/** The longest a page waits for the host's isSupporter/userStats and the counter read. */
export const HOST_CALLBACK_DEADLINE_MS = 500;
/** After a check that showed nothing, pages do not ask again for this long (a pending after_report still does). */
export const QUIET_AFTER_CHECK_MS = 30 * 60 * 1000;

/** What the plugin keeps in the host's session (small: it may live in a cookie). */
export interface SupportSessionData {
  uid: string;
  /** When this signed-in session was first seen by the plugin (epoch ms, plugin clock). */
  startedAt: number;
  /** The soft prompt already shown this session. */
  shown: PromptVariant | null;
  /** A report was generated since the last prompt decision. */
  pending: boolean;
  /** Pages do not ask for a prompt before this time (epoch ms) unless a report is pending. */
  quietUntil: number;
}

type SessionBag = Record<string, unknown> | null | undefined;

export interface SupportDeps {
  options: ResolvedOptions;
  service: SupportService;
}

function sessionOf(ctx: Context): Record<string, unknown> | null {
  const session = (ctx as unknown as { session?: SessionBag }).session;
  return session && typeof session === 'object' ? session : null;
}

function isVariant(value: unknown): value is PromptVariant {
  return typeof value === 'string' && (PROMPT_VARIANTS as readonly string[]).includes(value);
}

/** Reads the session's support state for `user`, starting a fresh one when there is none or it belongs to someone else. */
export function supportSession(ctx: Context, user: TelemetryUser, nowMs: number): SupportSessionData | null {
  const session = sessionOf(ctx);
  if (!session) return null;
  const uid = String(user.id);
  const stored = session[SUPPORT_SESSION_KEY] as Partial<SupportSessionData> | undefined;
  if (stored && typeof stored === 'object' && stored.uid === uid && typeof stored.startedAt === 'number') {
    return {
      uid,
      startedAt: stored.startedAt,
      shown: isVariant(stored.shown) ? stored.shown : null,
      pending: stored.pending === true,
      quietUntil: typeof stored.quietUntil === 'number' ? stored.quietUntil : 0,
    };
  }
  const fresh: SupportSessionData = { uid, startedAt: nowMs, shown: null, pending: false, quietUntil: 0 };
  session[SUPPORT_SESSION_KEY] = fresh;
  return fresh;
}

function saveSession(ctx: Context, data: SupportSessionData): void {
  const session = sessionOf(ctx);
  if (session) session[SUPPORT_SESSION_KEY] = { ...data };
}

export function promptSessionState(data: SupportSessionData | null): PromptSessionState {
  return {
    shown: data?.shown ?? null,
    afterReportPending: data?.pending ?? false,
    startedAt: data ? new Date(data.startedAt) : null,
  };
}

/** Writes a prompt decision back into the session: what was shown, the pending flag, the quiet period. */
export function applyPromptDecision(ctx: Context, data: SupportSessionData | null, decision: PromptDecision, nowMs: number): void {
  if (!data) return;
  const next: SupportSessionData = { ...data };
  if (decision.consumesAfterReport) next.pending = false;
  if (decision.show) next.shown = decision.variant;
  else if (decision.reason !== 'unavailable' && decision.reason !== 'supporter_unknown') next.quietUntil = nowMs + QUIET_AFTER_CHECK_MS;
  saveSession(ctx, next);
}

export function markReportPending(ctx: Context, user: TelemetryUser, nowMs: number): void {
  const data = supportSession(ctx, user, nowMs);
  if (data && !data.shown && !data.pending) saveSession(ctx, { ...data, pending: true });
}

export function promptHints(data: SupportSessionData | null, nowMs: number, longSessionMinutes: number): PromptHints {
  if (!data || data.shown) return NO_PROMPT;
  return {
    page: data.pending,
    dashboard: data.pending || nowMs >= data.quietUntil,
    // Not before the threshold, and not during a quiet period (at most one long_session check per period).
    longSessionInMs: Math.max(0, data.startedAt + longSessionMinutes * 60_000 - nowMs, data.quietUntil - nowMs),
  };
}

/** Runs `work`; its value, or `fallback` when it throws, rejects or takes longer than `ms`. */
export async function settle<T>(work: () => T | Promise<T>, fallback: T, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const running = Promise.resolve().then(work);
    running.catch(() => undefined); // a late rejection after the deadline must not go unhandled
    const deadline = new Promise<T>((resolve) => {
      timer = setTimeout(() => resolve(fallback), ms);
      timer.unref();
    });
    return await Promise.race([running, deadline]);
  } catch {
    return fallback;
  } finally {
    clearTimeout(timer);
  }
}

export interface HostSupportInputs {
  /** null when the host's isSupporter failed or did not answer in time. */
  isSupporter: boolean | null;
  stats: SupportUserStats;
}

const UNKNOWN = Symbol('unknown');

/** The host's isSupporter(ctx) and userStats(ctx, user), each capped in time; failures degrade. */
export async function hostSupportInputs(ctx: Context, options: ResolvedOptions, user: TelemetryUser, ms = HOST_CALLBACK_DEADLINE_MS): Promise<HostSupportInputs> {
  const { support } = options;
  const [supporter, rawStats] = await Promise.all([
    settle<boolean | typeof UNKNOWN>(async () => (await support.isSupporter(ctx)) === true, UNKNOWN, ms),
    settle<unknown>(() => support.userStats(ctx, user), undefined, ms),
  ]);
  return { isSupporter: supporter === UNKNOWN ? null : supporter, stats: rawStats === undefined ? EMPTY_USER_STATS : safeNormalize(rawStats) };
}

function safeNormalize(raw: unknown): SupportUserStats {
  try {
    return normalizeUserStats(raw);
  } catch {
    return EMPTY_USER_STATS;
  }
}

/** isSupporter without waiting: a synchronous answer is used, a promise counts as unknown. */
function supporterNow(ctx: Context, options: ResolvedOptions): boolean | null {
  try {
    const answer = options.support.isSupporter(ctx);
    if (typeof answer === 'boolean') return answer;
    if (answer && typeof (answer as Promise<boolean>).then === 'function') (answer as Promise<boolean>).catch(() => undefined);
    return null;
  } catch {
    return null;
  }
}

function isPageRequest(ctx: Context, skip: readonly string[]): boolean {
  if (ctx.method !== 'GET') return false;
  const accept = ctx.get('accept');
  if (!accept.includes('text/html')) return false;
  const path = ctx.path;
  return !skip.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
}

export function supportTemplateState({ options, service }: SupportDeps) {
  const skip = [options.mountPath.api, options.mountPath.donate, options.mountPath.assets];
  const longSession = options.support.longSessionMinutes;

  /** The model from what is at hand (session, a synchronous isSupporter), without I/O. */
  const fallback = (ctx: Context): SupportViewModel => {
    const user = currentUser(ctx, options.getUser);
    if (!user || !service.enabled) return service.staticViewModel({ user, isSupporter: false, stats: EMPTY_USER_STATS, prompt: NO_PROMPT });
    // Only reads the session: a request that did not prepare a page does not start the session clock.
    const stored = sessionOf(ctx)?.[SUPPORT_SESSION_KEY] as SupportSessionData | undefined;
    const data = stored && stored.uid === String(user.id) && typeof stored.startedAt === 'number' ? stored : null;
    return service.staticViewModel({ user, isSupporter: supporterNow(ctx, options), stats: EMPTY_USER_STATS, prompt: promptHints(data, options.now().getTime(), longSession) });
  };

  /** Host callbacks and the counter, each capped in time; never rejects. */
  const prepare = async (ctx: Context, state: TemplateState, user: TelemetryUser): Promise<void> => {
    try {
      const nowMs = options.now().getTime();
      const data = supportSession(ctx, user, nowMs);
      const [host, reports] = await Promise.all([
        hostSupportInputs(ctx, options, user),
        settle(() => service.reportsGenerated(user), null, HOST_CALLBACK_DEADLINE_MS),
      ]);
      state.supportModel = service.staticViewModel({
        user,
        isSupporter: host.isSupporter,
        stats: host.stats,
        reportsGenerated: reports,
        prompt: promptHints(data, nowMs, longSession),
      });
    } catch {
      state.supportModel = null; // the fallback builds one when a template asks
    }
  };

  /**
   * Prepares the support model for this request: null when there is nothing to wait for (every
   * request but a signed-in user's page), otherwise a promise that never rejects. No closure per request.
   */
  return function prepareSupportState(ctx: Context, state: TemplateState): Promise<void> | null {
    state.supportFallback = fallback;
    if (!service.enabled || !isPageRequest(ctx, skip)) return null;
    const user = currentUser(ctx, options.getUser);
    return user ? prepare(ctx, state, user) : null;
  };
}

export interface RequestSupport {
  /** Counts a generated report for the signed-in user and queues the after_report prompt. Never rejects. */
  reportGenerated(): Promise<number | null>;
}

export function supportRequestApi(ctx: Context, { options, service }: SupportDeps): RequestSupport {
  return {
    async reportGenerated() {
      try {
        const user = currentUser(ctx, options.getUser);
        if (!user || !service.enabled) return null;
        markReportPending(ctx, user, options.now().getTime());
        return await service.reportGenerated(user);
      } catch {
        return null;
      }
    },
  };
}
