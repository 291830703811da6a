// The weekly submission protocol (see docs/collector.md), shared by the client that sends summaries and the
// collector that receives them, so both sides speak exactly one schema and one signature scheme.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

export const SUBMISSION_SCHEMA_VERSION = 1;
export const MAX_SUBMISSION_BYTES = 64 * 1024;
/** The signature scheme: the `v2=` prefix of X-Signature names it; any other scheme is refused. */
export const PROTOCOL_VERSION = 2;
export const SIGNATURE_PREFIX = `v${PROTOCOL_VERSION}=`;
/** A signed request whose timestamp is older than this (by the collector's clock) is refused. */
export const MAX_TIMESTAMP_AGE_SECONDS = 5 * 60;
/** A signed request whose timestamp is ahead of the collector's clock by more than this is refused. */
export const MAX_FUTURE_SKEW_SECONDS = 60;

export const HEADERS = {
  installId: 'x-install-id',
  timestamp: 'x-timestamp',
  signature: 'x-signature',
  idempotencyKey: 'idempotency-key',
  registrationKey: 'x-registration-key',
} as const;

export const PATHS = {
  register: '/v1/register',
  submit: '/v1/submit',
  installation: (installId: string) => `/v1/installations/${encodeURIComponent(installId)}`,
} as const;

/** The two signed requests of the protocol. */
export const SIGNED = {
  submit: { method: 'POST', path: PATHS.submit } as const,
  erase: (installId: string) => ({ method: 'DELETE', path: PATHS.installation(installId) }) as const,
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const EVENT_NAME = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/;
const FLAG_NAME = /^[a-z][a-z0-9_]{0,63}$/;

export const installIdSchema = z.string().regex(UUID, 'expected a UUID');

const dayString = z
  .string()
  .regex(DAY, 'expected a UTC day as YYYY-MM-DD')
  .refine((value) => !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) && new Date(`${value}T00:00:00Z`).toISOString().startsWith(value), 'not a real calendar day');

/** The count-only weekly summary. No individual event, no free text. */
export const submissionPayloadSchema = z
  .object({
    schema_version: z.literal(SUBMISSION_SCHEMA_VERSION),
    install_id: installIdSchema,
    period: z
      .object({ start: dayString, end: dayString })
      .strict()
      .refine((p) => p.start < p.end, { message: 'period.start must be before period.end', path: ['end'] })
      .refine((p) => (Date.parse(p.end) - Date.parse(p.start)) / 86_400_000 <= 31, { message: 'a period spans at most 31 days', path: ['end'] }),
    app_version: z.string().min(1).max(64).regex(/^[\w.+-]+$/, 'expected a version like 1.4.0'),
    platform: z.string().min(1).max(32).regex(/^[a-z0-9_]+$/, 'expected a platform like linux'),
    deployment_type: z.enum(['docker', 'native']),
    country: z.string().regex(/^[A-Z]{2}$/, 'expected an ISO 3166-1 alpha-2 code or XX'),
    event_counts: z
      .record(z.string().max(64).regex(EVENT_NAME, 'invalid event name'), z.number().int().min(0).max(1e9))
      .refine((counts) => Object.keys(counts).length <= 200, 'at most 200 event types'),
    feature_flags: z
      .record(z.string().regex(FLAG_NAME, 'invalid feature flag name'), z.boolean())
      .refine((flags) => Object.keys(flags).length <= 50, 'at most 50 feature flags'),
    error_count: z.number().int().min(0).max(1e9),
    // Kept to the hundredth of an hour: a value below what the collector's column (a PostgreSQL
    // real) can hold, e.g. 1e-300, would otherwise fail the write (a 5xx, and its whole batch).
    uptime_hours: z
      .number()
      .min(0)
      .max(24 * 32)
      .overwrite((hours) => Math.round(hours * 100) / 100),
  })
  .strict();

export type SubmissionPayload = z.infer<typeof submissionPayloadSchema>;

export const registerRequestSchema = z.object({ install_id: installIdSchema }).strict();
export interface RegisterResponse {
  install_id: string;
  secret: string;
}

/** What a signed request is: its method, its protocol path (relative to the collector's base URL). */
export interface SignedTarget {
  method: 'POST' | 'DELETE';
  /** A path from PATHS, e.g. `/v1/submit` — never the mount prefix or the query string. */
  path: string;
}

/**
 * The exact string that is signed:
 * `"v2\n" + METHOD + "\n" + path + "\n" + timestamp + "\n" + sha256hex(raw body)`.
 * Method and path are inside, so a signature made for one request cannot authorise another.
 */
export function signingString(target: SignedTarget, timestamp: number | string, rawBody: string | Buffer): string {
  const bodyHash = createHash('sha256').update(rawBody).digest('hex');
  return `v${PROTOCOL_VERSION}\n${target.method.toUpperCase()}\n${target.path}\n${timestamp}\n${bodyHash}`;
}

/** `v2=<hex of hmac_sha256(secret, signingString(...))>`. */
export function signRequest(secret: string, target: SignedTarget, timestamp: number | string, rawBody: string | Buffer): string {
  return `${SIGNATURE_PREFIX}${createHmac('sha256', secret).update(signingString(target, timestamp, rawBody)).digest('hex')}`;
}

/** Constant-time check of a signature header against the expected one. */
export function verifySignature(secret: string, target: SignedTarget, timestamp: string, rawBody: string | Buffer, signature: string | undefined): boolean {
  if (!signature) return false;
  const expected = Buffer.from(signRequest(secret, target, timestamp, rawBody));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** One key per installation and period, so a retried submission is recognised as the same one. */
export function idempotencyKey(installId: string, periodStart: string): string {
  return createHash('sha256').update(`${installId}:${periodStart}`).digest('hex');
}

/** The headers of a signed request (submit, or DELETE of an installation over an empty body). */
export function signedHeaders(
  target: SignedTarget,
  installId: string,
  secret: string,
  rawBody: string,
  nowSeconds: number,
  periodStart?: string,
): Record<string, string> {
  const timestamp = String(Math.floor(nowSeconds));
  const headers: Record<string, string> = {
    [HEADERS.installId]: installId,
    [HEADERS.timestamp]: timestamp,
    [HEADERS.signature]: signRequest(secret, target, timestamp, rawBody),
  };
  if (periodStart) headers[HEADERS.idempotencyKey] = idempotencyKey(installId, periodStart);
  return headers;
}
