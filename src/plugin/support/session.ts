// The support state a signed-in user's session carries: one soft prompt per session, a pending
// after_report, when the session started (long_session), and a quiet period after a check that
// showed nothing. Works on the host's session object (whatever koa-session or the host put on
// `ctx.session`); it never sees the rest of the request.
import type { TelemetryUser } from '../types.js';
import { PROMPT_VARIANTS, type PromptVariant } from './events.js';
import type { PromptDecision } from './prompt-policy.js';

const SUPPORT_SESSION_KEY = 'telemetrySupport';
/** After a check that showed nothing, pages do not ask again for this long (a pending after_report still does). */
const QUIET_AFTER_CHECK_MS = 30 * 60 * 1000;

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

/** The host's session object, or null when the host has no sessions. */
export type SessionBag = Record<string, unknown> | null;

/** `ctx.session` when the host set one up (koa-session or similar). */
export function sessionBagOf(holder: object): SessionBag {
  const session = (holder as { session?: unknown }).session;
  return session && typeof session === 'object' ? (session as Record<string, unknown>) : null;
}

function isVariant(value: unknown): value is PromptVariant {
  return typeof value === 'string' && (PROMPT_VARIANTS as readonly string[]).includes(value);
}

/** The stored state when it belongs to `user`, without starting a session (no write). */
export function peekSupportSession(bag: SessionBag, user: TelemetryUser): SupportSessionData | null {
  const stored = bag?.[SUPPORT_SESSION_KEY] as Partial<SupportSessionData> | undefined;
  if (!stored || typeof stored !== 'object' || stored.uid !== String(user.id) || typeof stored.startedAt !== 'number') return null;
  return {
    uid: stored.uid,
    startedAt: stored.startedAt,
    shown: isVariant(stored.shown) ? stored.shown : null,
    pending: stored.pending === true,
    quietUntil: typeof stored.quietUntil === 'number' ? stored.quietUntil : 0,
  };
}

/** The session's support state for `user`, starting a fresh one when there is none or it belongs to someone else. */
export function supportSession(bag: SessionBag, user: TelemetryUser, nowMs: number): SupportSessionData | null {
  if (!bag) return null;
  const stored = peekSupportSession(bag, user);
  if (stored) return stored;
  const fresh: SupportSessionData = { uid: String(user.id), startedAt: nowMs, shown: null, pending: false, quietUntil: 0 };
  bag[SUPPORT_SESSION_KEY] = fresh;
  return fresh;
}

function save(bag: SessionBag, data: SupportSessionData): void {
  if (bag) bag[SUPPORT_SESSION_KEY] = { ...data };
}

/** The session's part of a prompt decision, as SupportService takes it. */
/** What the prompt policy needs to know of this session. */
export interface PromptSessionState {
  shown: PromptVariant | null;
  afterReportPending: boolean;
  startedAt: Date | null;
}

export function promptSessionState(data: SupportSessionData | null): PromptSessionState {
  return {
    shown: data?.shown ?? null,
    afterReportPending: data?.pending ?? false,
    startedAt: data ? new Date(data.startedAt) : null,
  };
}

/** Writes a prompt decision back into the session: what was shown, the pending flag, the quiet period. */
export function applyPromptDecision(bag: SessionBag, data: SupportSessionData | null, decision: PromptDecision, nowMs: number): void {
  if (!data) return;
  const next: SupportSessionData = { ...data };
  if (decision.consumesAfterReport) next.pending = false;
  if (decision.show) next.shown = decision.variant;
  else if (decision.reason !== 'unavailable' && decision.reason !== 'supporter_unknown') next.quietUntil = nowMs + QUIET_AFTER_CHECK_MS;
  save(bag, next);
}

/** A report was generated: the next page asks for the after_report prompt (unless one was shown already). */
export function markReportPending(bag: SessionBag, user: TelemetryUser, nowMs: number): void {
  const data = supportSession(bag, user, nowMs);
  if (data && !data.shown && !data.pending) save(bag, { ...data, pending: true });
}
