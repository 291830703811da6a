// Every option of collectorPlugin(), declared once as a zod schema with a default on every field,
// with env fallbacks. Parsed once at construction: a bad option is a TypeError naming the field.
// Every object is strict: an unknown key is a TypeError suggesting the nearest known key (core/option-keys.ts).
// The nested smtp object uses `.prefault({})`: a missing one is parsed as {}, so each field's own
// default applies and is written once.
import { z } from 'zod';
import type { Context } from 'koa';
import type { Knex } from 'knex';
import { loggerSchema } from '../core/logging.js';
import { describeOptionIssues } from '../core/option-keys.js';
import { isKnexInstance } from '../core/db/connection.js';

export const DEFAULT_COLLECTOR_DB_FILE = './collector-data/collector.sqlite3';
export const DEFAULT_K_THRESHOLD = 5;
export const DEFAULT_COLLECTOR_RETENTION_DAYS = 730;
export const DEFAULT_RATE_LIMIT_WINDOW_SECONDS = 3600;
/**
 * PostgreSQL group commit: at most this many submissions per transaction. 128 rather than 64: at a
 * busy hour each process has one batch in flight, so the batch size bounds throughput (bench:collector
 * at 1 M installations, 256 connections: 2,261 and 2,667/s at 128 against 1,729 and 2,098/s at 64).
 */
export const DEFAULT_INGEST_BATCH_SIZE = 128;
/** …of the submissions arriving within this many ms of the first, when the collector is idle. */
export const DEFAULT_INGEST_BATCH_WAIT_MS = 5;
/** POST /v1/register per client address (held in memory only, salted and hashed) per hour. */
export const DEFAULT_REGISTRATIONS_PER_CLIENT_PER_HOUR = 20;
/** POST /v1/register accepted per hour across the whole collector (counted in the database, so shared by every process). */
export const DEFAULT_REGISTRATIONS_PER_HOUR = 1000;
/** Installations that never had a submission accepted are purged after this many days. */
export const DEFAULT_UNCONFIRMED_REGISTRATION_DAYS = 7;
/** A dashboard session ends after this long without a request… */
export const DEFAULT_SESSION_IDLE_MINUTES = 120;
/** …and at the latest this long after sign-in. */
export const DEFAULT_SESSION_ABSOLUTE_HOURS = 12;
export const DEFAULT_SMTP_PORT = 587;
export const DEFAULT_SMTP_FROM = 'koa-consent-telemetry collector <collector@localhost>';
export const DEFAULT_COLLECTOR_TITLE = 'Telemetry collector';
export const DEFAULT_PUBLIC_INSIGHTS_CACHE_MINUTES = 60;

type EnvMap = Record<string, string | undefined>;

const fn = <T extends (...args: never[]) => unknown>(label: string) =>
  z.custom<T>((value) => typeof value === 'function', { message: `expected a function (${label})` });

const mountPathSchema = z
  .string()
  .regex(/^(\/[A-Za-z0-9_-]+)*\/?$/, 'expected an absolute path like /collector, or an empty string')
  .transform((p) => p.replace(/\/+$/, ''));

const emailSchema = z.string().trim().regex(/^[^\s@<>,;]+@[^\s@<>,;]+\.[^\s@<>,;]+$/, 'expected an e-mail address');
const fromSchema = z
  .string()
  .trim()
  .min(3)
  .max(200)
  .refine((v) => /^[^\s@<>]+@[^\s@<>]+$/.test(v) || /^[^<>]*<[^\s@<>]+@[^\s@<>]+>$/.test(v), 'expected an address like "Collector <reports@example.com>"');

export const collectorOptionsSchema = z.strictObject({
  /** A knex instance (never closed by the collector) or a knex config; default SQLite file. */
  db: z
    .custom<Knex | Knex.Config>((value) => value === undefined || isKnexInstance(value) || (typeof value === 'object' && value !== null && 'client' in value), {
      message: 'expected a knex instance or a knex config with a client',
    })
    .optional(),
  /** SQLite file used when `db` is not given. */
  dbFile: z.string().min(1).default(DEFAULT_COLLECTOR_DB_FILE),
  /** Bearer token for the admin API and the dashboard sign-in [COLLECTOR_ADMIN_TOKEN]; null = none. */
  adminToken: z.string().min(16, 'use at least 16 characters').max(512).nullable().default(null),
  /** When set, POST /v1/register needs it in X-Registration-Key [COLLECTOR_REGISTRATION_KEY]. */
  registrationKey: z.string().min(8, 'use at least 8 characters').max(512).nullable().default(null),
  /** Mounted in a host: the host decides who is an admin (deny by default). */
  isAdmin: fn<(ctx: Context) => boolean | Promise<boolean>>('isAdmin(ctx)').default(() => () => false),
  mountPath: mountPathSchema.default(''),
  /** Breakdown rows with fewer installations are merged into "other" (dashboards, API, exports, e-mails). */
  kThreshold: z.number().int().min(1).max(1000).default(DEFAULT_K_THRESHOLD),
  retentionDays: z.number().int().min(7).max(3650).default(DEFAULT_COLLECTOR_RETENTION_DAYS),
  rateLimitWindowSeconds: z.number().int().min(1).max(7 * 86_400).default(DEFAULT_RATE_LIMIT_WINDOW_SECONDS),
  /** PostgreSQL group commit: at most this many submissions share one transaction [COLLECTOR_INGEST_BATCH_SIZE]; 1 = none. */
  ingestBatchSize: z.number().int().min(1).max(1000).default(DEFAULT_INGEST_BATCH_SIZE),
  /** …arriving within this many ms of the first [COLLECTOR_INGEST_BATCH_WAIT_MS]. */
  ingestBatchWaitMs: z.number().int().min(0).max(60_000).default(DEFAULT_INGEST_BATCH_WAIT_MS),
  /** Registrations per client address per hour (the address is only held in memory, salted and hashed). */
  registrationsPerClientPerHour: z.number().int().min(1).max(100_000).default(DEFAULT_REGISTRATIONS_PER_CLIENT_PER_HOUR),
  /** Registrations per hour across the collector, shared by every process on the database. */
  registrationsPerHour: z.number().int().min(1).max(10_000_000).default(DEFAULT_REGISTRATIONS_PER_HOUR),
  /** Days after which an installation that never had a submission accepted is purged. */
  unconfirmedRegistrationDays: z.number().int().min(1).max(365).default(DEFAULT_UNCONFIRMED_REGISTRATION_DAYS),
  /** Read the client address for rate limits from the first X-Forwarded-For entry [COLLECTOR_TRUST_PROXY]; only behind a proxy that sets it. */
  trustProxy: z.boolean().default(false),
  smtp: z
    .strictObject({
      host: z.string().trim().min(1).nullable().default(null),
      port: z.number().int().min(1).max(65_535).default(DEFAULT_SMTP_PORT),
      secure: z.boolean().default(false),
      user: z.string().min(1).nullable().default(null),
      pass: z.string().min(1).nullable().default(null),
      from: fromSchema.default(DEFAULT_SMTP_FROM),
      /** Allow self-signed certificates (a local relay); off by default. */
      allowInvalidCertificates: z.boolean().default(false),
    })
    .prefault({}),
  reportRecipients: z.array(emailSchema).max(50).default([]),
  /** Shown in the dashboard and the e-mail subject. */
  title: z.string().trim().min(1).max(100).default(DEFAULT_COLLECTOR_TITLE),
  /** Keys for the signed dashboard session cookie when the collector owns the Koa app [COLLECTOR_SESSION_KEYS]. */
  sessionKeys: z.array(z.string().min(16, 'session keys need at least 16 characters')).max(10).nullable().default(null),
  /** Dashboard session: absolute lifetime from sign-in. */
  sessionHours: z.number().min(0.1).max(24 * 30).default(DEFAULT_SESSION_ABSOLUTE_HOURS),
  /** Dashboard session: ends after this long without a request. */
  sessionIdleMinutes: z.number().min(1).max(24 * 60 * 30).default(DEFAULT_SESSION_IDLE_MINUTES),
  /** Serve /metrics without the admin token [COLLECTOR_PUBLIC_METRICS]. */
  publicMetrics: z.boolean().default(false),
  /** Serve the public insights page /public and /public/insights.json without auth [COLLECTOR_PUBLIC_INSIGHTS]; off by default. */
  publicInsights: z.boolean().default(false),
  /** How long the public insights are computed once and served from memory (also their Cache-Control max-age). */
  publicInsightsCacheMinutes: z.number().int().min(1).max(24 * 60).default(DEFAULT_PUBLIC_INSIGHTS_CACHE_MINUTES),
  /** Also expose prom-client's default process metrics (the standalone server turns this on). */
  processMetrics: z.boolean().default(false),
  /** Schedule the collector's jobs (maintenance, weekly and monthly reports). */
  jobs: z.boolean().default(true),
  now: fn<() => Date>('now()').default(() => () => new Date()),
  logger: loggerSchema,
  env: z.record(z.string(), z.string().optional()).optional(),
});

export type CollectorOptions = z.input<typeof collectorOptionsSchema>;
export type ResolvedCollectorOptions = Omit<z.output<typeof collectorOptionsSchema>, 'env'> & { env: EnvMap };

const truthy = (value: string | undefined): boolean => value !== undefined && /^(1|true|yes|on)$/i.test(value.trim());
const list = (value: string | undefined): string[] | undefined => {
  if (!value || !value.trim()) return undefined;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
};

/** Env vars fill only what the options leave undefined; an explicit null switches a setting off. */
function withEnvFallbacks(input: Record<string, unknown>, env: EnvMap): Record<string, unknown> {
  const smtp = { ...((input.smtp as Record<string, unknown> | undefined) ?? {}) };
  if (smtp.host === undefined) smtp.host = env.SMTP_HOST || undefined;
  if (smtp.port === undefined && env.SMTP_PORT) smtp.port = Number(env.SMTP_PORT);
  if (smtp.secure === undefined && env.SMTP_SECURE) smtp.secure = truthy(env.SMTP_SECURE);
  if (smtp.user === undefined) smtp.user = env.SMTP_USER || undefined;
  if (smtp.pass === undefined) smtp.pass = env.SMTP_PASS || undefined;
  if (smtp.from === undefined) smtp.from = env.SMTP_FROM || undefined;
  return {
    ...input,
    adminToken: input.adminToken === undefined ? env.COLLECTOR_ADMIN_TOKEN || undefined : input.adminToken,
    registrationKey: input.registrationKey === undefined ? env.COLLECTOR_REGISTRATION_KEY || undefined : input.registrationKey,
    reportRecipients: input.reportRecipients ?? list(env.COLLECTOR_REPORT_RECIPIENTS),
    sessionKeys: input.sessionKeys === undefined ? list(env.COLLECTOR_SESSION_KEYS) : input.sessionKeys,
    publicMetrics: input.publicMetrics ?? (env.COLLECTOR_PUBLIC_METRICS ? truthy(env.COLLECTOR_PUBLIC_METRICS) : undefined),
    publicInsights: input.publicInsights ?? (env.COLLECTOR_PUBLIC_INSIGHTS ? truthy(env.COLLECTOR_PUBLIC_INSIGHTS) : undefined),
    trustProxy: input.trustProxy ?? (env.COLLECTOR_TRUST_PROXY ? truthy(env.COLLECTOR_TRUST_PROXY) : undefined),
    smtp,
  };
}

/** Validates the options once; throws a TypeError naming the first bad field. */
export function resolveCollectorOptions(input: CollectorOptions = {}): ResolvedCollectorOptions {
  if (typeof input !== 'object' || input === null) {
    throw new TypeError('koa-consent-telemetry collector: collectorPlugin(options) needs an options object');
  }
  // process.env is not a plain object to zod: the env map is checked here and kept out of the schema.
  const { env: givenEnv, ...rest } = input as Record<string, unknown>;
  if (givenEnv !== undefined && (typeof givenEnv !== 'object' || givenEnv === null)) {
    throw new TypeError('koa-consent-telemetry collector: invalid option `env`: expected an object of environment variables');
  }
  const env: EnvMap = (givenEnv as EnvMap | undefined) ?? process.env;
  const parsed = collectorOptionsSchema.safeParse(withEnvFallbacks(rest, env));
  if (!parsed.success) throw new TypeError(describeOptionIssues('koa-consent-telemetry collector', collectorOptionsSchema, parsed.error.issues));
  const options = parsed.data;
  if ((options.smtp.user === null) !== (options.smtp.pass === null)) {
    throw new TypeError('koa-consent-telemetry collector: invalid option `smtp.pass`: SMTP user and password go together (set both or neither)');
  }
  return { ...options, env };
}
