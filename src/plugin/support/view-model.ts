// What the support partials render, built from plain inputs (pure). Templates read it as
// `telemetry.support`; every string in it is escaped by the (autoescaping) environment.
import type { SupportStatItem, SupportUserStats } from './user-stats.js';
import type { SupportSessionData } from './session.js';

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
  title: string;
  subtitle: string;
  /** Entry-point wording: "Support" or, for supporters, "Share & support". */
  ctaLabel: string;
  badgeLabel: string;
  footnote: string;
  offlineNote: string;
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

const numberFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

function statsLine(items: SupportStatItem[]): string {
  return items.map((item) => `${item.value} ${item.label.toLowerCase()}`).join(' · ');
}

export function buildViewModel(input: ViewModelInput): SupportViewModel {
  const { settings, appName } = input;
  const supporter = input.isSupporter === true;
  const enabled = settings.enabled && input.signedIn;
  const stats = [...input.stats.items];
  if (input.reportsGenerated !== null) {
    stats.push({ key: 'reports_generated', label: 'Reports generated', value: numberFormat.format(input.reportsGenerated) });
  }
  return {
    enabled,
    visible: enabled && !(supporter && settings.hideDonateWhenSupporter),
    isSupporter: supporter,
    appName,
    title: supporter ? `Thank you for supporting ${appName}!` : `Support ${appName}`,
    subtitle: supporter
      ? `Your support keeps ${appName} independent and privacy-first. Sharing it with a friend helps just as much.`
      : `${appName} is free and respects your privacy. If it saves you time, you can help keep it going.`,
    ctaLabel: supporter ? 'Share & support' : 'Support',
    badgeLabel: 'Supporter',
    footnote:
      'Support links open the project’s pages in a new tab; payments are handled there and never pass through this app. Nothing here is sent anywhere unless you click.',
    offlineNote: 'You are offline. The support links need an internet connection and will work again once you are back online.',
    stats,
    statsLine: statsLine(stats),
    reportsGenerated: input.reportsGenerated,
    socialProofText: settings.socialProofText,
    tiers: settings.urls.tiers,
    licenseUrl: settings.urls.license,
    shareUrl: settings.urls.share,
    shareTitle: appName,
    shareText: `${appName} — a privacy-first app I use. Have a look:`,
    endpoints: { prompt: `${input.donatePath}/request-soft-prompt`, track: `${input.donatePath}/track-support-event` },
    prompt: enabled && input.isSupporter === false ? input.prompt : NO_PROMPT,
  };
}
