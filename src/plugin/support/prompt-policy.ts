// The soft-prompt policy (docs/support.md) as one pure function of plain inputs and a clock value:
// no I/O, no ctx, no Date.now() — every rule is table-tested in test/plugin/support-prompt-policy.test.ts.
//
// Order of the rules (the first that applies decides):
//   1. support disabled                         → never
//   2. the user is a supporter (or unknown)     → never
//   3. a prompt was already shown this session  → never (one soft prompt per session)
//   4. a donation/license/link click < 30 days  → never
//   5. a prompt dismissal < 14 days             → never (persisted per user, not per session)
//   6. a pending `after_report`                 → after_report (beats every other variant)
//   7. the variants the request asks about:
//      dashboard → seven_day (≥ 7 days since signup), else active_today (≥ 4 h tracked today);
//      long_session → the session is older than longSessionMinutes; page → nothing else.
import type { PromptKind, PromptVariant } from './events.js';
import { ENGLISH, type Translator } from '../i18n/catalog.js';

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

export const CLICK_SUPPRESSION_DAYS = 30;
const DISMISS_SUPPRESSION_DAYS = 14;
const SEVEN_DAY_PROMPT_DAYS = 7;
const ACTIVE_TODAY_HOURS = 4;
/** The client timer and the server clock may disagree by a little; the server allows this much. */
export const LONG_SESSION_TOLERANCE_MS = MINUTE_MS;

export interface PromptPolicyInput {
  kind: PromptKind;
  now: Date;
  enabled: boolean;
  /** null when the host's isSupporter(ctx) failed: then no prompt (never nag a possible supporter). */
  isSupporter: boolean | null;
  /** The variant already shown in this session, if any. */
  shownThisSession: PromptVariant | null;
  /** A report was generated since the last prompt decision (session flag set by reportGenerated()). */
  afterReportPending: boolean;
  lastDismissedAt: Date | null;
  lastSupportClickAt: Date | null;
  userCreatedAt: Date | null;
  /** Hours tracked today, from the host's userStats (null when it has none). */
  hoursToday: number | null;
  sessionStartedAt: Date | null;
  longSessionMinutes: number;
}

export type PromptSuppression =
  | 'disabled'
  | 'supporter'
  | 'supporter_unknown'
  | 'shown_this_session'
  | 'recent_support_click'
  | 'recently_dismissed'
  | 'not_eligible'
  /** Set by callers, never by the policy: its inputs could not be read (the database failed). */
  | 'unavailable';

export type PromptDecision =
  | { show: true; variant: PromptVariant; consumesAfterReport: boolean }
  | { show: false; reason: PromptSuppression; consumesAfterReport: boolean };

const within = (since: Date | null, days: number, now: Date): boolean =>
  since !== null && Number.isFinite(since.getTime()) && now.getTime() - since.getTime() < days * DAY_MS;

function isSevenDayEligible(input: Pick<PromptPolicyInput, 'userCreatedAt' | 'now'>): boolean {
  const created = input.userCreatedAt;
  return created !== null && Number.isFinite(created.getTime()) && input.now.getTime() - created.getTime() >= SEVEN_DAY_PROMPT_DAYS * DAY_MS;
}

function isActiveTodayEligible(input: Pick<PromptPolicyInput, 'hoursToday'>): boolean {
  return typeof input.hoursToday === 'number' && Number.isFinite(input.hoursToday) && input.hoursToday >= ACTIVE_TODAY_HOURS;
}

function isLongSessionEligible(input: Pick<PromptPolicyInput, 'sessionStartedAt' | 'now' | 'longSessionMinutes'>): boolean {
  const started = input.sessionStartedAt;
  if (started === null || !Number.isFinite(started.getTime())) return false;
  return input.now.getTime() - started.getTime() >= input.longSessionMinutes * MINUTE_MS - LONG_SESSION_TOLERANCE_MS;
}

const ELIGIBILITY: Record<PromptVariant, (input: PromptPolicyInput) => boolean> = {
  after_report: (input) => input.afterReportPending,
  seven_day: isSevenDayEligible,
  active_today: isActiveTodayEligible,
  long_session: isLongSessionEligible,
};

/** The variants a request of this kind may show, in priority order (a pending after_report is checked first anyway). */
function candidateVariants(kind: PromptKind): PromptVariant[] {
  switch (kind) {
    case 'dashboard':
      return ['seven_day', 'active_today'];
    case 'page':
      return [];
    default:
      return [kind];
  }
}

export function decidePrompt(input: PromptPolicyInput): PromptDecision {
  const pending = input.afterReportPending;
  const no = (reason: PromptSuppression, consumes = pending): PromptDecision => ({ show: false, reason, consumesAfterReport: consumes });

  if (!input.enabled) return no('disabled');
  // The host could not say: keep a pending after_report for when it can.
  if (input.isSupporter === null) return no('supporter_unknown', false);
  if (input.isSupporter) return no('supporter');
  if (input.shownThisSession !== null) return no('shown_this_session');
  if (within(input.lastSupportClickAt, CLICK_SUPPRESSION_DAYS, input.now)) return no('recent_support_click');
  if (within(input.lastDismissedAt, DISMISS_SUPPRESSION_DAYS, input.now)) return no('recently_dismissed');
  if (pending) return { show: true, variant: 'after_report', consumesAfterReport: true };
  for (const variant of candidateVariants(input.kind)) {
    if (ELIGIBILITY[variant](input)) return { show: true, variant, consumesAfterReport: false };
  }
  return no('not_eligible');
}

/** The toast's text for a variant (plain text; the page sets it with textContent). */
export function promptMessage(variant: PromptVariant, appName: string, hoursToday: number | null, translator: Translator = ENGLISH): string {
  switch (variant) {
    case 'after_report':
      return translator.t('prompt.after_report', { appName });
    case 'seven_day':
      return translator.t('prompt.seven_day', { appName });
    case 'active_today': {
      const hours = hoursToday !== null && Number.isFinite(hoursToday) ? Math.floor(hoursToday) : ACTIVE_TODAY_HOURS;
      return translator.t('prompt.active_today', { appName, hours });
    }
    case 'long_session':
      return translator.t('prompt.long_session', { appName });
  }
}
