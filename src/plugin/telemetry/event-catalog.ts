// The catalog of everything the package itself emits or records, and what it never collects.
// docs/events.md is generated from this file (a test keeps them equal), and the settings page
// renders its "what we collect / never collect" lists from the same data.
import { BASE_SCHEMA_KEYS } from './base-schema.js';
import { GUARD_REASONS, PII_KEY_WORDS, REDACTED, guardReasonLabel, type EventDeclarations, type PropertyDeclaration } from './privacy-guard.js';
import { ENGLISH, type Translator } from '../i18n/catalog.js';
import { SUPPORT_EVENT_CATALOG } from '../support/events.js';

export type EventLayer = 'base' | 'detailed' | 'weekly' | 'local';

export interface CatalogEvent {
  name: string;
  layer: EventLayer;
  description: string;
  /** Property name → what it holds. */
  properties: Record<string, string>;
}

type BaseField = (typeof BASE_SCHEMA_KEYS)[number];
// The admin-facing descriptions live in the message catalog (collected.*), so the settings page can
// show them in the reader's language; docs/events.md uses the English ones.
const baseFieldText = (key: BaseField, tr: Translator): string => tr.t(`collected.base.${key}`);
const BASE_FIELDS: Record<BaseField, string> = Object.fromEntries(BASE_SCHEMA_KEYS.map((key) => [key, baseFieldText(key, ENGLISH)])) as Record<BaseField, string>;

/** Attributes added to every detailed event when analytics consent is given. */
const DETAILED_ENRICHMENT_KEYS = ['install_id', 'app_version', 'deployment_type', 'user.pseudonym', 'browser.family', 'os.family', 'device.class'] as const;
const enrichmentText = (key: (typeof DETAILED_ENRICHMENT_KEYS)[number], tr: Translator): string => tr.t(`collected.detailed.${key}`);
export const DETAILED_ENRICHMENT: Record<string, string> = Object.fromEntries(DETAILED_ENRICHMENT_KEYS.map((key) => [key, enrichmentText(key, ENGLISH)]));

export const PAGEVIEW_ATTRIBUTES: Record<string, string> = {
  'http.route': 'the route template, e.g. /projects/:id — never the URL or its query string',
  'http.method': 'GET, POST, …',
  'http.status_class': '2xx, 3xx, 4xx or 5xx',
  'browser.family': 'browser name from the User-Agent',
  'device.class': 'desktop, mobile, tablet, bot or other',
};

export const EVENT_CATALOG: readonly CatalogEvent[] = [
  {
    name: 'base_telemetry.first_seen',
    layer: 'base',
    description: 'Sent once per installation when it first starts with a sink configured (retried at the next start if it failed).',
    properties: Object.fromEntries(BASE_SCHEMA_KEYS.filter((k) => k !== 'heartbeat_at').map((k) => [k, BASE_FIELDS[k]])),
  },
  {
    name: 'base_telemetry.heartbeat',
    layer: 'base',
    description: 'Sent once a day at a minute derived from the installation id, so installations spread their load.',
    properties: { ...BASE_FIELDS },
  },
  {
    name: 'base_telemetry.opt_in',
    layer: 'base',
    description: 'The opt-in install ping: sent once each time an admin turns detailed analytics on (not at start, not when it was on already), when a sink is configured and no kill switch is set.',
    properties: Object.fromEntries(BASE_SCHEMA_KEYS.filter((k) => k !== 'heartbeat_at').map((k) => [k, BASE_FIELDS[k]])),
  },
  {
    name: 'user.identified',
    layer: 'detailed',
    description: 'identify(user, traits): the user pseudonym with guarded, flat traits (never names or e-mail addresses).',
    properties: { '(traits)': 'flat scalar traits the host passes, after the privacy guard' },
  },
  {
    name: 'app.started',
    layer: 'local',
    description: 'The plugin started (ready()). Recorded in the local statistics; exported like any event with analytics consent.',
    properties: { app_version: 'the host application version' },
  },
  {
    name: 'app.stopped',
    layer: 'local',
    description: 'The plugin stopped (stop()). Recorded in the local statistics; exported like any event with analytics consent.',
    properties: {},
  },
  ...SUPPORT_EVENT_CATALOG,
];

export const METRICS_CATALOG: readonly { name: string; layer: EventLayer; description: string; attributes: Record<string, string> }[] = [
  {
    name: 'app.install.active',
    layer: 'base',
    description: 'Gauge, 1 per running installation.',
    attributes: {
      app_version: BASE_FIELDS.app_version,
      platform: BASE_FIELDS.platform,
      deployment_type: BASE_FIELDS.deployment_type,
      release_channel: BASE_FIELDS.release_channel,
    },
  },
  {
    name: 'app.events',
    layer: 'detailed',
    description: 'Counter of tracked events by name (analytics consent only).',
    attributes: { 'event.name': 'the event name, e.g. timer.started' },
  },
  {
    name: 'app.pageviews',
    layer: 'detailed',
    description: 'Counter of answered requests per route template (analytics consent only); never one record per request.',
    attributes: PAGEVIEW_ATTRIBUTES,
  },
];

/** "What we never collect", in the admin's words, derived from the rules the guard enforces. */
export function neverCollected(tr: Translator = ENGLISH): string[] {
  return [
    tr.t('never.not_safe', { redacted: REDACTED }),
    ...GUARD_REASONS.map((reason) => tr.t('never.guard_item', { label: guardReasonLabel(reason, tr), reason })),
    tr.t('never.pii_key', { words: PII_KEY_WORDS.slice(0, 12).join(', ') }),
    tr.t('never.raw_urls'),
    tr.t('never.raw_user_ids'),
    tr.t('never.client_ips'),
  ];
}

function describeDeclaration(declaration: PropertyDeclaration): string {
  if (declaration === 'number' || declaration === 'boolean') return `a ${declaration}`;
  if (Array.isArray(declaration)) return `one of ${declaration.map((v) => `\`${v}\``).join(', ')}`;
  const pattern = (declaration as { pattern: RegExp | string }).pattern;
  return `a string matching \`${typeof pattern === 'string' ? pattern : pattern.source}\` (the whole value)`;
}

/** "What we collect", summarized per layer. */
export function collected(tr: Translator = ENGLISH): { layer: EventLayer; title: string; items: string[] }[] {
  return [
    {
      layer: 'base',
      title: tr.t('collected.base_title'),
      items: BASE_SCHEMA_KEYS.map((key) => `${key}: ${baseFieldText(key, tr)}`),
    },
    {
      layer: 'detailed',
      title: tr.t('collected.detailed_title'),
      items: [tr.t('collected.detailed.events'), ...DETAILED_ENRICHMENT_KEYS.map((key) => `${key}: ${enrichmentText(key, tr)}`), tr.t('collected.detailed.pageviews')],
    },
    {
      layer: 'weekly',
      title: tr.t('collected.weekly_title'),
      items: (['counts', 'errors', 'uptime', 'country', 'flags', 'identity'] as const).map((item) => tr.t(`collected.weekly.${item}`)),
    },
    {
      layer: 'local',
      title: tr.t('collected.local_title'),
      items: [tr.t('collected.local.events'), tr.t('collected.local.pageviews')],
    },
  ];
}

/** docs/events.md, generated: the package's events, then the host's declared ones (the example host's in this repository). */
export function renderEventsMarkdown(declared: EventDeclarations = {}, hostLabel = 'the host application'): string {
  const lines: string[] = [
    '# Events catalog',
    '',
    '<!-- Generated from src/telemetry/event-catalog.ts by `npm run docs:events`; test/plugin/event-catalog.test.ts keeps it in sync. -->',
    '',
    'Layers: **base** (install footprint; sent whenever an OTLP endpoint is configured and no kill switch is set),',
    '**detailed** (only after an admin opts in to analytics), **local** (stored in the host\'s own database only).',
    '',
    '## Events (OTLP log records)',
    '',
  ];
  for (const event of EVENT_CATALOG) {
    lines.push(`### \`${event.name}\` (${event.layer})`, '', event.description, '', '| property | meaning |', '|---|---|');
    for (const [key, what] of Object.entries(event.properties)) lines.push(`| \`${key}\` | ${what} |`);
    lines.push('');
  }
  const hostEvents = Object.entries(declared);
  if (hostEvents.length > 0) {
    lines.push(`## Events declared by ${hostLabel}`, '', 'Declared in the `events` option: each property passes the privacy guard when its value matches the declaration; anything else is stored and sent as `[redacted]`.', '');
    for (const [name, props] of hostEvents) {
      lines.push(`### \`${name}\` (detailed)`, '', '| property | allowed values |', '|---|---|');
      for (const [key, declaration] of Object.entries(props)) lines.push(`| \`${key}\` | ${describeDeclaration(declaration).replace(/\|/g, '\\|')} |`);
      lines.push('');
    }
  }
  lines.push('## Metrics (OTLP)', '');
  for (const metric of METRICS_CATALOG) {
    lines.push(`### \`${metric.name}\` (${metric.layer})`, '', metric.description, '', '| attribute | meaning |', '|---|---|');
    for (const [key, what] of Object.entries(metric.attributes)) lines.push(`| \`${key}\` | ${what} |`);
    lines.push('');
  }
  lines.push('## Added to every detailed event', '', '| attribute | meaning |', '|---|---|');
  for (const [key, what] of Object.entries(DETAILED_ENRICHMENT)) lines.push(`| \`${key}\` | ${what} |`);
  lines.push('', '## Never collected', '');
  for (const item of neverCollected()) lines.push(`- ${item}`);
  lines.push('');
  return lines.join('\n');
}
