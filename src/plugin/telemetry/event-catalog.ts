// The catalog of everything the package itself emits or records, and what it never collects.
// docs/events.md is generated from this file (a test keeps them equal), and the settings page
// renders its "what we collect / never collect" lists from the same data.
import { BASE_SCHEMA_KEYS } from './base-schema.js';
import { GUARD_REASONS, GUARD_REASON_LABELS, PII_KEY_WORDS, REDACTED, type EventDeclarations, type PropertyDeclaration } from './privacy-guard.js';
import { SUPPORT_EVENT_CATALOG } from '../support/events.js';

export type EventLayer = 'base' | 'detailed' | 'weekly' | 'local';

export interface CatalogEvent {
  name: string;
  layer: EventLayer;
  description: string;
  /** Property name → what it holds. */
  properties: Record<string, string>;
}

const BASE_FIELDS: Record<(typeof BASE_SCHEMA_KEYS)[number], string> = {
  install_id: 'random UUID created at install time (not derived from any person or machine)',
  app_version: 'the host application version',
  platform: 'operating system family (linux, darwin, win32)',
  os_version: 'operating system kernel release',
  architecture: 'CPU architecture (x64, arm64)',
  locale: 'server locale (e.g. en-US)',
  timezone: 'server IANA time zone (e.g. Europe/Berlin)',
  first_seen_at: 'when this installation first started',
  last_seen_at: 'when this installation last ran',
  heartbeat_at: 'time of this heartbeat (heartbeat only)',
  release_channel: 'release channel (stable, beta, …)',
  deployment_type: 'docker or native',
};

/** Attributes added to every detailed event when analytics consent is given. */
export const DETAILED_ENRICHMENT: Record<string, string> = {
  install_id: 'random installation id',
  app_version: 'the host application version',
  deployment_type: 'docker or native',
  'user.pseudonym': 'HMAC of the user id with the installation salt, 16 hex characters; the id itself never leaves',
  'browser.family': 'browser name from the User-Agent (e.g. Chrome)',
  'os.family': 'client OS name from the User-Agent (e.g. Windows)',
  'device.class': 'desktop, mobile, tablet, bot or other',
};

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
export function neverCollected(): string[] {
  return [
    `Anything not known to be safe: an event property passes only when it is a boolean, a number that cannot hold a phone or card number, a short lowercase identifier (e.g. web, csv, 1.4.0) or a value the application declared; everything else is stored and sent as "${REDACTED}"`,
    ...GUARD_REASONS.map((reason) => `${GUARD_REASON_LABELS[reason]} (${reason})`),
    `Values under property names with a part such as ${PII_KEY_WORDS.slice(0, 12).join(', ')}, … (pii_key)`,
    'Raw URLs and query strings (page views use the route template only)',
    'Raw user ids (a salted pseudonym is used instead)',
    'Client IP addresses',
  ];
}

function describeDeclaration(declaration: PropertyDeclaration): string {
  if (declaration === 'number' || declaration === 'boolean') return `a ${declaration}`;
  if (Array.isArray(declaration)) return `one of ${declaration.map((v) => `\`${v}\``).join(', ')}`;
  const pattern = (declaration as { pattern: RegExp | string }).pattern;
  return `a string matching \`${typeof pattern === 'string' ? pattern : pattern.source}\` (the whole value)`;
}

/** "What we collect", summarized per layer. */
export function collected(): { layer: EventLayer; title: string; items: string[] }[] {
  return [
    {
      layer: 'base',
      title: 'Installation footprint (whenever a telemetry endpoint is configured, unless DO_NOT_TRACK or TELEMETRY_DISABLED is set)',
      items: BASE_SCHEMA_KEYS.map((key) => `${key}: ${BASE_FIELDS[key]}`),
    },
    {
      layer: 'detailed',
      title: 'Detailed analytics (only with analytics consent)',
      items: [
        'Product events the application tracks (name and flat, guarded properties)',
        ...Object.entries(DETAILED_ENRICHMENT).map(([key, what]) => `${key}: ${what}`),
        'Page view counts per route template, method, status class, browser family and device class',
      ],
    },
    {
      layer: 'weekly',
      title: 'Weekly usage statistics (only with usage-statistics consent), counts only',
      items: [
        'Counts per event type over the past seven whole UTC days (no individual event, no free text)',
        'Error count (events whose name ends in .error)',
        'Uptime hours (hours in the week during which the application ran)',
        'Country derived from the server time zone (XX when none)',
        'Feature flags: on/off switches the application reports',
        'Installation id, application version, platform and deployment type',
      ],
    },
    {
      layer: 'local',
      title: 'Local usage statistics (kept in this server\'s own database; only weekly counts are sent, and only with usage-statistics consent)',
      items: ['Every tracked event with its guarded properties', 'Page view counts per route template per hour'],
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
