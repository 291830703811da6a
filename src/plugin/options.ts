// Every option of telemetryPlugin(), declared once as a zod schema with a default on every field.
// Nested objects use `.prefault({})`: a missing object is parsed as {} so each field's own default
// applies, and every default is written once. This is the only place defaults live: the parts
// that take these options (the OTLP sink, the log processor, the recorder, …) never re-default.
// Parsed once at construction: a bad option is a TypeError naming the field, never a per-request error.
// Every object is strict: an unknown key is a TypeError suggesting the nearest known key (core/option-keys.ts).
import { z } from 'zod';
import type { Context } from 'koa';
import type { Knex } from 'knex';
import type { Logger, TelemetryUser } from './types.js';
import type { ConsentListener } from './installation/consent.js';
import { loggerSchema } from '../core/logging.js';
import { describeOptionIssues } from '../core/option-keys.js';
import { isKnexInstance } from '../core/db/connection.js';
import { compileDeclarations, type EventDeclarations } from './telemetry/privacy-guard.js';
import { stderrDebugOutput, type DebugOutput } from './telemetry/debug-output.js';
import { isMessageKey, type MessageOverrides } from './i18n/catalog.js';
import { defaultLocale, type LocaleOf } from './i18n/request.js';

/** Raised when the package's privacy notice changes in a way that needs consent again. */
export const PRIVACY_NOTICE_VERSION = 1;
export const DEFAULT_DATA_DIR = './data';
export const DEFAULT_RELEASE_CHANNEL = 'stable';
export const DEFAULT_OTLP_TIMEOUT_MS = 10_000;
export const DEFAULT_STOP_TIMEOUT_MS = 2_000;
export const DEFAULT_RETENTION_DAYS = 365;
export const DEFAULT_EXPORT_QUEUE_CAP = 2_000;
export const DEFAULT_EXPORT_BATCH_SIZE = 200;
export const DEFAULT_EXPORT_INTERVAL_MS = 5_000;
export const DEFAULT_METRIC_INTERVAL_MS = 60_000;
export const DEFAULT_INTAKE_CAP = 10_000;
export const DEFAULT_LONG_SESSION_MINUTES = 120;
/** The real clock: the default of the `now` option. */
export const SYSTEM_CLOCK = (): Date => new Date();

/**
 * The plugin's clock in epoch ms, for the hot paths that stamp events and page views: Date.now for
 * the real clock (no Date allocated per request; looked up at each call, so fake timers that
 * replace it are followed), the injected `now` otherwise, so that what is recorded and the weeks it
 * is aggregated into follow one clock.
 */
export function clockMs(now: () => Date): () => number {
  if (now === SYSTEM_CLOCK) return () => Date.now();
  // track() runs in the host's route: a clock that throws or gives no valid date must not fail it.
  return () => {
    try {
      const at = now().getTime();
      return Number.isFinite(at) ? at : Date.now();
    } catch {
      return Date.now();
    }
  };
}

/** The longest a host page waits for the support callbacks and the counter read (support.hostCallbackDeadlineMs). */
export const DEFAULT_HOST_CALLBACK_DEADLINE_MS = 500;
export const DEFAULT_RECORDER_BATCH_SIZE = 500;
export const DEFAULT_RECORDER_INTERVAL_MS = 2_000;
export const DEFAULT_RECORDER_CAP = 10_000;
export const DEFAULT_SUBMISSION_RETRY_BASE_MS = 60_000;
export const DEFAULT_SUBMISSION_MAX_ATTEMPTS = 6;
export const DEFAULT_SUBMISSION_TIMEOUT_MS = 10_000;
export const MIN_LONG_SESSION_MINUTES = 30;
/** The outbound ledger keeps an entry this long… */
export const DEFAULT_OUTBOUND_LEDGER_RETENTION_DAYS = 30;
/** …and never more than this many entries (the newest are kept). */
export const DEFAULT_OUTBOUND_LEDGER_MAX_ROWS = 5_000;
/** How often each process checks whether another one changed consent (every change is seen within about this). */
export const DEFAULT_CONSENT_SYNC_INTERVAL_MS = 2_000;
export const MIN_CONSENT_SYNC_INTERVAL_MS = 100;
/** Support-funnel writes one signed-in user may make per minute (POST <donate>/track-support-event). */
export const DEFAULT_SUPPORT_EVENTS_PER_MINUTE = 30;

export const DEFAULT_MOUNT_PATHS = {
  api: '/api/v1/usage-stats',
  pages: '/telemetry',
  donate: '/donate',
  assets: '/telemetry/assets',
} as const;

type EnvMap = Record<string, string | undefined>;

/** https://, or http:// to this machine itself (localhost, 127.0.0.0/8, ::1). */
export function isSecureCollectorUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.protocol === 'https:') return true;
  const host = url.hostname.toLowerCase();
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const fn = <T extends (...args: never[]) => unknown>(label: string) =>
  z.custom<T>((value) => typeof value === 'function', { message: `expected a function (${label})` });

const mountPathSchema = z
  .string()
  .regex(/^\/[A-Za-z0-9/_-]*$/, 'expected an absolute path like /telemetry')
  .transform((p) => (p.length > 1 ? p.replace(/\/+$/, '') : p));

const httpUrl = z
  .string()
  .trim()
  .refine((value) => {
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'expected an http(s) URL');

/** The host's nunjucks Environment (`new nunjucks.Environment(…)` fits), described by what the
 * plugin's pages call, so the published types need no @types/nunjucks. */
export interface NunjucksEnvironment {
  render(name: string, context: object | undefined, callback: (err: Error | null, html: string | null) => void): void;
}

const supportTierSchema = z.strictObject({
  key: z.string().regex(/^[a-z0-9_-]{1,32}$/, 'expected a short lowercase key'),
  label: z.string().min(1).max(64),
  url: httpUrl,
});

const defaultGetUser = (ctx: Context): TelemetryUser | null => {
  const user = ctx.state?.user as { id?: unknown; createdAt?: unknown } | undefined;
  if (!user || (typeof user.id !== 'string' && typeof user.id !== 'number')) return null;
  return { id: user.id, createdAt: (user.createdAt as TelemetryUser['createdAt']) ?? null };
};
// Deny by default: only an explicit `isAdmin === true` on the host's user opens admin routes.
const defaultIsAdmin = (ctx: Context): boolean => (ctx.state?.user as { isAdmin?: unknown } | undefined)?.isAdmin === true;

/** locale → key → text; a locale may be new, every key must be one of the catalog's (src/plugin/i18n/en.ts). */
const messagesSchema = z
  .record(z.string().regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'expected a locale tag like de or pt-BR'), z.record(z.string(), z.string().max(2000)))
  .superRefine((locales, ctx) => {
    for (const [locale, texts] of Object.entries(locales)) {
      for (const key of Object.keys(texts)) {
        if (!isMessageKey(key)) ctx.addIssue({ code: 'custom', path: [locale, key], message: `unknown message key \`${key}\` (the keys are listed in docs/configuration.md)` });
      }
    }
  });

export const optionsSchema = z.strictObject({
  appName: z.string().trim().min(1, 'appName is required').max(100),
  appVersion: z.string().trim().min(1, 'appVersion is required').max(64),
  releaseChannel: z.string().trim().min(1).max(32).default(DEFAULT_RELEASE_CHANNEL),
  deploymentType: z.enum(['auto', 'docker', 'native']).default('auto'),
  db: z
    .custom<Knex | Knex.Config>(
      (value) => value === undefined || isKnexInstance(value) || (typeof value === 'object' && value !== null && 'client' in value),
      { message: 'expected a knex instance or a knex config with a client' },
    )
    .optional(),
  dataDir: z.string().min(1).default(DEFAULT_DATA_DIR),
  otlp: z
    .strictObject({
      endpoint: httpUrl.nullable().default(null),
      headers: z.record(z.string(), z.string()).default({}),
      token: z.string().min(1).nullable().default(null),
      timeoutMs: z.number().int().min(100).max(120_000).default(DEFAULT_OTLP_TIMEOUT_MS),
    })
    .prefault({}),
  collector: z
    .strictObject({
      url: httpUrl.nullable().default(null),
      registrationKey: z.string().min(1).nullable().default(null),
      /** Allows a plain http:// collector URL on a non-loopback host (the signed requests can then be read on the way). */
      allowInsecureHttp: z.boolean().default(false),
      /** The collector's public insights page, when its operator publishes one: the privacy-policy template then mentions it. */
      publicInsightsUrl: httpUrl.nullable().default(null),
    })
    .superRefine((collector, ctx) => {
      if (collector.url && !collector.allowInsecureHttp && !isSecureCollectorUrl(collector.url)) {
        ctx.addIssue({
          code: 'custom',
          path: ['url'],
          message: 'a plain http:// collector URL is only allowed for a loopback host (localhost, 127.0.0.0/8, ::1); use https://, or set collector.allowInsecureHttp: true',
        });
      }
    })
    .prefault({}),
  getUser: fn<(ctx: Context) => TelemetryUser | null | undefined>('getUser(ctx)').default(() => defaultGetUser),
  isAdmin: fn<(ctx: Context) => boolean>('isAdmin(ctx)').default(() => defaultIsAdmin),
  support: z
    .strictObject({
      enabled: z.boolean().default(true),
      urls: z
        .strictObject({
          tiers: z.array(supportTierSchema).max(6).default([]),
          license: httpUrl.nullable().default(null),
          share: httpUrl.nullable().default(null),
        })
        .prefault({}),
      longSessionMinutes: z.number().int().min(MIN_LONG_SESSION_MINUTES).max(24 * 60).default(DEFAULT_LONG_SESSION_MINUTES),
      /** The longest a host page waits for isSupporter/userStats and the counter read before it renders without them. */
      hostCallbackDeadlineMs: z.number().int().min(50).max(10_000).default(DEFAULT_HOST_CALLBACK_DEADLINE_MS),
      socialProofText: z.string().max(200).nullable().default(null),
      hideDonateWhenSupporter: z.boolean().default(false),
      isSupporter: fn<(ctx: Context) => boolean | Promise<boolean>>('isSupporter(ctx)').default(() => () => false),
      userStats: fn<(ctx: Context, user: TelemetryUser) => unknown>('userStats(ctx, user)').default(() => () => ({})),
      /** Funnel `source` keys the host's own markup uses, beyond the plugin's documented entry points. */
      sources: z
        .array(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'expected a short lowercase key like footer or pricing_page'))
        .max(50)
        .default([]),
      /** Funnel writes one signed-in user may make per minute; more answer 429. */
      eventsPerMinute: z.number().int().min(1).max(10_000).default(DEFAULT_SUPPORT_EVENTS_PER_MINUTE),
    })
    .prefault({}),
  nunjucks: z
    .custom<NunjucksEnvironment>((value) => value === undefined || (typeof value === 'object' && value !== null && typeof (value as NunjucksEnvironment).render === 'function'), {
      message: 'expected a nunjucks Environment',
    })
    .optional(),
  /** Where the installation's published privacy policy lives (linked from the settings page); null → the bundled template. */
  privacyPolicyUrl: z.string().trim().min(1).max(2000).regex(/^(https?:\/\/|\/)/, 'expected an http(s) URL or an absolute path').nullable().default(null),
  pages: z
    .strictObject({
      /** A host layout template the plugin's pages extend (it must have a `content` block); null → the plugin's own. */
      layout: z.string().min(1).nullable().default(null),
      /** Extra template context the host layout needs (user, app name, …); ctx.state is always included. */
      context: fn<(ctx: Context) => Record<string, unknown> | Promise<Record<string, unknown>>>('pages.context(ctx)').default(() => () => ({})),
    })
    .prefault({}),
  mountPath: z
    .strictObject({
      api: mountPathSchema.default(DEFAULT_MOUNT_PATHS.api),
      pages: mountPathSchema.default(DEFAULT_MOUNT_PATHS.pages),
      donate: mountPathSchema.default(DEFAULT_MOUNT_PATHS.donate),
      assets: mountPathSchema.default(DEFAULT_MOUNT_PATHS.assets),
    })
    .prefault({}),
  /** The language of the plugin's UI for a request: default ctx.state.locale, else Accept-Language, else 'en'. */
  locale: fn<LocaleOf>('locale(ctx, availableLocales)').default(() => defaultLocale),
  /** Added or overridden translations: { [locale]: { [messageKey]: text } }. */
  messages: (messagesSchema.default({}) as unknown as z.ZodDefault<z.ZodType<MessageOverrides>>),
  logger: loggerSchema,
  debug: z.boolean().default(false),
  /** Where debug mode (TELEMETRY_DEBUG=1) prints each would-be payload, whole and indented (default: stderr). */
  debugOutput: fn<DebugOutput>('debugOutput(text)').default(() => stderrDebugOutput),
  /** Also treat a request's `DNT: 1` header as an opt-out for that request (`Sec-GPC: 1` always is). */
  honorDnt: z.boolean().default(false),
  /**
   * The host's declared events: event name → property → allowed strings, 'number', 'boolean' or
   * { pattern }. Declared properties pass the privacy guard when they match (docs/adding-events.md);
   * checked in full by compileDeclarations at construction.
   */
  events: z.record(z.string(), z.record(z.string(), z.unknown())).default({}) as unknown as z.ZodDefault<z.ZodType<EventDeclarations>>,
  localStats: z.boolean().default(true),
  retentionDays: z.number().int().min(1).max(3650).default(DEFAULT_RETENTION_DAYS),
  /** Host-supplied booleans for the weekly summary (e.g. { sso_enabled: true }). */
  featureFlags: fn<() => Record<string, boolean> | Promise<Record<string, boolean>>>('featureFlags()').default(() => () => ({})),
  /** Called in every process that sees a consent change; the third argument says whether this process made it. */
  onConsentChange: fn<ConsentListener>('onConsentChange(consent, previous, change)').optional(),
  privacyNoticeVersion: z.number().int().min(1).default(PRIVACY_NOTICE_VERSION),
  /** How often this process polls the database for consent changes made by other processes or the CLI. */
  consentSyncIntervalMs: z.number().int().min(MIN_CONSENT_SYNC_INTERVAL_MS).max(60_000).default(DEFAULT_CONSENT_SYNC_INTERVAL_MS),
  export: z
    .strictObject({
      queueCap: z.number().int().min(10).max(1_000_000).default(DEFAULT_EXPORT_QUEUE_CAP),
      batchSize: z.number().int().min(1).max(10_000).default(DEFAULT_EXPORT_BATCH_SIZE),
      intervalMs: z.number().int().min(10).default(DEFAULT_EXPORT_INTERVAL_MS),
      metricIntervalMs: z.number().int().min(100).default(DEFAULT_METRIC_INTERVAL_MS),
      intakeCap: z.number().int().min(10).max(1_000_000).default(DEFAULT_INTAKE_CAP),
    })
    .prefault({}),
  /** Local statistics buffer: written in one transaction per batch. */
  recorder: z
    .strictObject({
      batchSize: z.number().int().min(1).max(10_000).default(DEFAULT_RECORDER_BATCH_SIZE),
      intervalMs: z.number().int().min(10).default(DEFAULT_RECORDER_INTERVAL_MS),
      cap: z.number().int().min(10).max(1_000_000).default(DEFAULT_RECORDER_CAP),
    })
    .prefault({}),
  /** Weekly submission: retry policy and per-request deadline. */
  submission: z
    .strictObject({
      retryBaseMs: z.number().int().min(10).default(DEFAULT_SUBMISSION_RETRY_BASE_MS),
      maxAttempts: z.number().int().min(1).max(20).default(DEFAULT_SUBMISSION_MAX_ATTEMPTS),
      timeoutMs: z.number().int().min(100).max(120_000).default(DEFAULT_SUBMISSION_TIMEOUT_MS),
    })
    .prefault({}),
  /** The outbound ledger (every OTLP batch, registration and erasure request): its bounds. */
  outboundLedger: z
    .strictObject({
      retentionDays: z.number().int().min(1).max(3650).default(DEFAULT_OUTBOUND_LEDGER_RETENTION_DAYS),
      maxRows: z.number().int().min(1).max(1_000_000).default(DEFAULT_OUTBOUND_LEDGER_MAX_ROWS),
    })
    .prefault({}),
  stopTimeoutMs: z.number().int().min(50).max(60_000).default(DEFAULT_STOP_TIMEOUT_MS),
  /** Schedule the background jobs (heartbeat, submission, retention). Tests and one-shot CLIs turn it off. */
  jobs: z.boolean().default(true),
  /** Clock, injectable for tests. */
  now: fn<() => Date>('now()').default(() => SYSTEM_CLOCK),
  /** Environment to read fallbacks and kill switches from (defaults to process.env). */
  env: z.record(z.string(), z.string().optional()).optional(),
});

export type TelemetryOptions = z.input<typeof optionsSchema>;
export type ResolvedOptions = Omit<z.output<typeof optionsSchema>, 'env'> & { env: EnvMap };

const truthy = (value: string | undefined): boolean => value !== undefined && /^(1|true|yes|on)$/i.test(value.trim());

/** OTEL_EXPORTER_OTLP_HEADERS: `k1=v1,k2=v2` with URL-encoded values (OpenTelemetry spec). */
export function parseOtlpHeaders(raw: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (!raw) return headers;
  for (const pair of raw.split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    const key = pair.slice(0, at).trim();
    let value = pair.slice(at + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      // keep the raw value when it is not valid percent-encoding
    }
    if (key) headers[key] = value;
  }
  return headers;
}

/** GRAFANA_OTLP_TOKEN `user:key` → Basic auth; a token without a colon is sent as a Bearer token. */
export function authorizationForToken(token: string): string {
  return token.includes(':') ? `Basic ${Buffer.from(token).toString('base64')}` : `Bearer ${token}`;
}

function withEnvFallbacks(input: Record<string, unknown>, env: EnvMap): Record<string, unknown> {
  const otlp = { ...((input.otlp as Record<string, unknown> | undefined) ?? {}) };
  // An explicit null switches a setting off; only a missing (undefined) one falls back to the env.
  if (otlp.endpoint === undefined) otlp.endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT || env.GRAFANA_OTLP_ENDPOINT || undefined;
  if (otlp.token === undefined) otlp.token = env.GRAFANA_OTLP_TOKEN || undefined;
  if (otlp.headers === undefined && env.OTEL_EXPORTER_OTLP_HEADERS) otlp.headers = parseOtlpHeaders(env.OTEL_EXPORTER_OTLP_HEADERS);

  const collector = { ...((input.collector as Record<string, unknown> | undefined) ?? {}) };
  if (collector.url === undefined) collector.url = env.TELEMETRY_COLLECTOR_URL || undefined;
  if (collector.registrationKey === undefined) collector.registrationKey = env.TELEMETRY_COLLECTOR_REGISTRATION_KEY || undefined;

  return {
    ...input,
    releaseChannel: input.releaseChannel ?? (env.RELEASE_CHANNEL || undefined),
    dataDir: input.dataDir ?? (env.TELEMETRY_DATA_DIR || undefined),
    debug: input.debug ?? (truthy(env.TELEMETRY_DEBUG) || undefined),
    otlp,
    collector,
  };
}

/** Validates the options once; throws a TypeError naming the first bad field. */
export function resolveOptions(input: TelemetryOptions): ResolvedOptions {
  if (typeof input !== 'object' || input === null) {
    throw new TypeError('koa-consent-telemetry: telemetryPlugin(options) needs an options object with appName and appVersion');
  }
  const env: EnvMap = (input as { env?: EnvMap }).env ?? process.env;
  const parsed = optionsSchema.safeParse(withEnvFallbacks(input as Record<string, unknown>, env));
  if (!parsed.success) throw new TypeError(describeOptionIssues('koa-consent-telemetry', optionsSchema, parsed.error.issues));
  const options = parsed.data;
  compileDeclarations(options.events); // a TypeError naming `events.<event>.<property>`
  if (options.otlp.token && !Object.keys(options.otlp.headers).some((h) => h.toLowerCase() === 'authorization')) {
    options.otlp.headers = { ...options.otlp.headers, Authorization: authorizationForToken(options.otlp.token) };
  }
  return { ...options, env };
}

export { truthy as isTruthyEnv };
