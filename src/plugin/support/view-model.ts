// What the support partials render, built from plain inputs (pure). Templates read it as
// `telemetry.support`; every string in it is escaped by the (autoescaping) environment.
import type { SupportStatItem, SupportUserStats } from './user-stats.js';
import type { SupportSessionData } from './session.js';
import { ENGLISH, type Translator } from '../i18n/catalog.js';

export interface SupportTier {
  key: string;
  label: string;
  url: string;
}

export interface SupportSettings {
  enabled: boolean;
  urls: { tiers: SupportTier[]; license: string | null; share: string | null };
  longSessionMinutes: number;
  socialProofText: string | null;
  hideDonateWhenSupporter: boolean;
}

export interface PromptHints {
  /** Ask for a prompt on a dashboard page (an element with data-support-dashboard). */
  dashboard: boolean;
  /** Ask for a prompt on any page (a pending after_report). */
  page: boolean;
  /** When the long_session timer should fire, from this render; null: no timer. */
  longSessionInMs: number | null;
}

export interface SupportViewModel {
  /** Support is on and someone is signed in. */
  enabled: boolean;
  /** Entry points and the modal render (false for supporters with hideDonateWhenSupporter). */
  visible: boolean;
  isSupporter: boolean;
  appName: string;
  /** The locale of the texts below. */
  locale: string;
  title: string;
  subtitle: string;
  /** Entry-point wording: "Support" or, for supporters, "Share & support". */
  ctaLabel: string;
  badgeLabel: string;
  footnote: string;
  offlineNote: string;
  /** Texts the page script shows (passed as data attributes on the toast container); `{url}` is filled in by the script. */
  texts: { linkCopied: string; shareFailed: string };
  stats: SupportStatItem[];
  /** "12.5 hours tracked · 34 entries · 3 reports generated" */
  statsLine: string;
  reportsGenerated: number | null;
  socialProofText: string | null;
  tiers: SupportTier[];
  licenseUrl: string | null;
  shareUrl: string | null;
  shareTitle: string;
  shareText: string;
  endpoints: { prompt: string; track: string };
  prompt: PromptHints;
}

export interface ViewModelInput {
  settings: SupportSettings;
  appName: string;
  donatePath: string;
  signedIn: boolean;
  /** null: unknown (the host's isSupporter failed or is still pending): shown as not a supporter, never prompted. */
  isSupporter: boolean | null;
  stats: SupportUserStats;
  reportsGenerated: number | null;
  prompt: PromptHints;
  /** The request's language (English when omitted). */
  translator?: Translator;
}

export const NO_PROMPT: PromptHints = Object.freeze({ dashboard: false, page: false, longSessionInMs: null }) as PromptHints;

/** When the page should ask for a soft prompt, from the session's support state. */
export function promptHints(data: SupportSessionData | null, nowMs: number, longSessionMinutes: number): PromptHints {
  if (!data || data.shown) return NO_PROMPT;
  return {
    page: data.pending,
    dashboard: data.pending || nowMs >= data.quietUntil,
    // Not before the threshold, and not during a quiet period (at most one long_session check per period).
    longSessionInMs: Math.max(0, data.startedAt + longSessionMinutes * 60_000 - nowMs, data.quietUntil - nowMs),
  };
}

// English writes "12.5 hours tracked"; languages that capitalise nouns (German) keep the label as is.
const LOWERCASE_STAT_LABELS = new Set(['en']);

function statsLine(items: SupportStatItem[], translator: Translator): string {
  const lower = LOWERCASE_STAT_LABELS.has(translator.locale.split('-')[0]!);
  return items
    .map((item) => translator.t('support.stats_item', { value: item.value, label: lower ? item.label.toLocaleLowerCase(translator.locale) : item.label }))
    .join(' · ');
}

export function buildViewModel(input: ViewModelInput): SupportViewModel {
  const { settings, appName } = input;
  const translator = input.translator ?? ENGLISH;
  const t = translator.t;
  const supporter = input.isSupporter === true;
  const enabled = settings.enabled && input.signedIn;
  const stats = [...input.stats.items];
  if (input.reportsGenerated !== null) {
    stats.push({ key: 'reports_generated', label: t('support.stat.reports_generated'), value: translator.number(input.reportsGenerated) });
  }
  return {
    enabled,
    visible: enabled && !(supporter && settings.hideDonateWhenSupporter),
    isSupporter: supporter,
    appName,
    locale: translator.locale,
    title: t(supporter ? 'support.title_supporter' : 'support.title', { appName }),
    subtitle: t(supporter ? 'support.subtitle_supporter' : 'support.subtitle', { appName }),
    ctaLabel: t(supporter ? 'support.cta_supporter' : 'support.cta'),
    badgeLabel: t('support.badge'),
    footnote: t('support.footnote'),
    offlineNote: t('support.offline'),
    texts: { linkCopied: t('support.link_copied'), shareFailed: t('support.share_failed') },
    stats,
    statsLine: statsLine(stats, translator),
    reportsGenerated: input.reportsGenerated,
    socialProofText: settings.socialProofText,
    tiers: settings.urls.tiers,
    licenseUrl: settings.urls.license,
    shareUrl: settings.urls.share,
    shareTitle: appName,
    shareText: t('support.share_text', { appName }),
    endpoints: { prompt: `${input.donatePath}/request-soft-prompt`, track: `${input.donatePath}/track-support-event` },
    prompt: enabled && input.isSupporter === false ? input.prompt : NO_PROMPT,
  };
}
