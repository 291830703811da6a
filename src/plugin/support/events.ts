// The support funnel's vocabulary (docs/support.md): the events a page may report, the soft-prompt
// variants and the kinds of prompt request a page may make.

/** Events accepted by POST <donate>/track-support-event, emitted as `support.<event>`. */
export const SUPPORT_EVENTS = [
  'modal_opened',
  'donation_clicked',
  'license_clicked',
  'prompt_shown',
  'prompt_dismissed',
  'share_clicked',
  /** A host's own support links outside the modal. */
  'link_clicked',
] as const;
export type SupportEvent = (typeof SUPPORT_EVENTS)[number];

/** Soft-prompt variants, in the order the policy documents them. */
export const PROMPT_VARIANTS = ['after_report', 'seven_day', 'active_today', 'long_session'] as const;
export type PromptVariant = (typeof PROMPT_VARIANTS)[number];

/**
 * What a page asks POST <donate>/request-soft-prompt about:
 * - a variant name: only that variant (a pending `after_report` still wins);
 * - `dashboard`: the dashboard prompts (`seven_day`, then `active_today`);
 * - `page`: any other page — only a pending `after_report` can show.
 */
export const PROMPT_KINDS = [...PROMPT_VARIANTS, 'dashboard', 'page'] as const;
export type PromptKind = (typeof PROMPT_KINDS)[number];

/**
 * Interaction types that count as "clicked through to support" for the 30-day suppression —
 * today's names and the prefixed names older installations (and the design lineage) stored.
 */
export const SUPPORT_CLICK_TYPES: readonly string[] = [
  'link_clicked',
  'donation_clicked',
  'license_clicked',
  'support_link_clicked',
  'support_donation_clicked',
  'support_license_clicked',
];

export const SUPPORT_EVENT_PREFIX = 'support.';

/**
 * The funnel `source` values the plugin's own partials and script send (docs/support.md); a host
 * adds its own entry points with the `support.sources` option. Anything else is refused (400).
 */
export const SUPPORT_SOURCES = ['header', 'sidebar', 'user_menu', 'dashboard_card', 'settings', 'toast', 'modal', 'link', 'api'] as const;

/** Catalog entries for docs/events.md (the package's event catalog can include these). */
export const SUPPORT_EVENT_CATALOG: readonly { name: string; layer: 'detailed'; description: string; properties: Record<string, string> }[] =
  SUPPORT_EVENTS.map((event) => ({
    name: `${SUPPORT_EVENT_PREFIX}${event}`,
    layer: 'detailed' as const,
    description: `Support funnel: ${event.replace(/_/g, ' ')} (always recorded locally in telemetry_donation_interactions; exported only with analytics consent).`,
    properties: {
      variant: `soft-prompt variant (${PROMPT_VARIANTS.join(', ')}) or a configured tier key (donation clicks), when any; nothing else is accepted`,
      source: `where it happened: ${SUPPORT_SOURCES.join(', ')}, or a key the host lists in support.sources; nothing else is accepted`,
    },
  }));
