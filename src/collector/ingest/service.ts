// Ingest (docs/collector.md): registration (trust on first use), signed submissions, signed self-erasure.
// Plain values in, results out: it never sees a Koa context, and never an IP address.
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import type { z } from 'zod';
import { HttpError } from '../../core/http-errors.js';
import {
  MAX_FUTURE_SKEW_SECONDS,
  MAX_TIMESTAMP_AGE_SECONDS,
  PATHS,
  SIGNATURE_PREFIX,
  SIGNED,
  installIdSchema,
  registerRequestSchema,
  submissionPayloadSchema,
  verifySignature,
  type RegisterResponse,
  type SignedTarget,
  type SubmissionPayload,
} from '../../core/protocol.js';
import { ERASED_ID_BLOCK_DAYS, type InstallationRepository } from '../storage/installations.js';
import type { SubmissionRepository } from '../storage/submissions.js';
import { parseJsonBytes } from './raw-body.js';
import { isBackfill } from './backfill.js';

export interface SignedHeaders {
  installId: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
}

export interface FieldError {
  path: string;
  message: string;
}

export type SubmitResult =
  | { status: 202; outcome: 'accepted' | 'replayed'; body: { submission_id: string } }
  | { status: 429; outcome: 'rate_limited'; retryAfterSeconds: number };

const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{8,128}$/;

export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.slice(0, 50).map((issue) => ({
    path: issue.path.length > 0 ? issue.path.map(String).join('.') : '(body)',
    message: issue.message,
  }));
}

function sameSecret(a: string, b: string): boolean {
  // Hash first so the comparison takes the same time whatever the lengths.
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right);
}

export interface IngestServiceOptions {
  installations: InstallationRepository;
  submissions: SubmissionRepository;
  registrationKey: string | null;
  rateLimitWindowSeconds: number;
  now: () => Date;
}

const unknownInstallation = () => new HttpError(401, 'unknown_installation', 'This installation is not registered here; register it first.');

export class IngestService {
  constructor(private readonly options: IngestServiceOptions) {}

  /** POST /v1/register → the new installation's secret; 401 without the registration key; 409 when taken. */
  async register(rawBody: Buffer, registrationKey: string | undefined): Promise<RegisterResponse> {
    const expected = this.options.registrationKey;
    if (expected !== null && (registrationKey === undefined || !sameSecret(expected, registrationKey))) {
      throw new HttpError(401, 'registration_key_required', 'This collector needs its registration key in the X-Registration-Key header.');
    }
    const parsed = registerRequestSchema.safeParse(parseJsonBytes(rawBody));
    if (!parsed.success) throw new HttpError(422, 'invalid_payload', 'The registration request is invalid.', fieldErrors(parsed.error));
    const installId = parsed.data.install_id.toLowerCase();
    const secret = randomBytes(32).toString('hex');
    const result = await this.options.installations.register(installId, secret, this.options.now());
    if (result === 'exists') {
      throw new HttpError(409, 'already_registered', 'This installation id is already registered; registration is trust on first use.');
    }
    if (result === 'erased') {
      throw new HttpError(
        409,
        'installation_erased',
        `This installation id was erased less than ${ERASED_ID_BLOCK_DAYS} days ago and cannot be registered again; register a new installation id.`,
      );
    }
    return { install_id: installId, secret };
  }

  /**
   * The checks that need no database: X-Install-Id, a v2 X-Signature, and X-Timestamp no older
   * than MAX_TIMESTAMP_AGE_SECONDS and no further ahead than MAX_FUTURE_SKEW_SECONDS.
   */
  #checkSignedHeaders(headers: SignedHeaders): { installId: string; timestamp: string; signature: string } {
    const id = installIdSchema.safeParse(headers.installId ?? '');
    if (!id.success) throw new HttpError(401, 'unauthorized', 'Missing or malformed X-Install-Id header.');
    if (!headers.signature) throw new HttpError(401, 'missing_signature', 'Missing X-Signature header.');
    if (!headers.signature.startsWith(SIGNATURE_PREFIX)) {
      throw new HttpError(401, 'unsupported_signature_version', `X-Signature must be ${SIGNATURE_PREFIX}<hex> (signature scheme v2 over method, path, timestamp and body).`);
    }
    const timestamp = headers.timestamp ?? '';
    if (!/^\d{1,12}$/.test(timestamp)) throw new HttpError(401, 'invalid_timestamp', 'Missing or malformed X-Timestamp header (unix seconds).');
    const age = this.options.now().getTime() / 1000 - Number(timestamp);
    if (age > MAX_TIMESTAMP_AGE_SECONDS) {
      throw new HttpError(401, 'timestamp_out_of_range', `X-Timestamp is more than ${MAX_TIMESTAMP_AGE_SECONDS} s behind the collector's clock.`);
    }
    if (-age > MAX_FUTURE_SKEW_SECONDS) {
      throw new HttpError(401, 'timestamp_out_of_range', `X-Timestamp is more than ${MAX_FUTURE_SKEW_SECONDS} s ahead of the collector's clock.`);
    }
    return { installId: id.data.toLowerCase(), timestamp, signature: headers.signature };
  }

  #verify(secret: string, target: SignedTarget, timestamp: string, rawBody: Buffer, signature: string): void {
    if (!verifySignature(secret, target, timestamp, rawBody, signature)) {
      throw new HttpError(401, 'invalid_signature', 'The signature does not match this request (method, path, timestamp and body).');
    }
  }

  /** Checks X-Install-Id / X-Timestamp / X-Signature for this method, path and raw body; every failure is a 401. */
  async authenticate(target: SignedTarget, headers: SignedHeaders, rawBody: Buffer): Promise<{ installId: string }> {
    const signed = this.#checkSignedHeaders(headers);
    const record = await this.options.installations.signingRecord(signed.installId);
    if (!record) throw unknownInstallation();
    this.#verify(record.secret, target, signed.timestamp, rawBody, signed.signature);
    return { installId: signed.installId };
  }

  /**
   * POST /v1/submit. With the installation's row locked: the signature, then the Idempotency-Key
   * replay, then schema validation; the commit then applies the rate limit and stores it.
   */
  async submit(headers: SignedHeaders, idempotencyHeader: string | undefined, rawBody: Buffer): Promise<SubmitResult> {
    // Required: an exact signed request sent again is then always recognised as the same submission.
    if (idempotencyHeader === undefined || idempotencyHeader === '') {
      throw new HttpError(400, 'idempotency_key_required', 'POST /v1/submit needs an Idempotency-Key header (one key per installation and period).');
    }
    if (!IDEMPOTENCY_KEY.test(idempotencyHeader)) {
      throw new HttpError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 8–128 characters of letters, digits and . _ : -');
    }
    const signed = this.#checkSignedHeaders(headers);
    return this.options.submissions.withLockedInstallation({ installId: signed.installId, idempotencyKey: idempotencyHeader }, async (locked): Promise<SubmitResult> => {
      if (!locked) throw unknownInstallation();
      this.#verify(locked.secret, SIGNED.submit, signed.timestamp, rawBody, signed.signature);
      if (locked.replayOf) return { status: 202, outcome: 'replayed', body: { submission_id: locked.replayOf } };
      const payload = this.#submissionPayload(rawBody, signed.installId);
      const result = await locked.commit(payload, {
        now: this.options.now(),
        windowSeconds: this.options.rateLimitWindowSeconds,
        limited: (s) => !isBackfill({ installId: signed.installId, idempotencyKey: s.idempotencyKey, periodStart: s.periodStart, periodEnd: s.periodEnd }, s.receivedAt),
      });
      return result.outcome === 'accepted'
        ? { status: 202, outcome: 'accepted', body: { submission_id: result.submissionId } }
        : { status: 429, outcome: 'rate_limited', retryAfterSeconds: result.retryAfterSeconds };
    });
  }

  /** The body as a submission of this installation; 422 with field errors otherwise. */
  #submissionPayload(rawBody: Buffer, installId: string): SubmissionPayload {
    const parsed = submissionPayloadSchema.safeParse(parseJsonBytes(rawBody));
    if (!parsed.success) throw new HttpError(422, 'invalid_payload', 'The submission does not match the payload schema.', fieldErrors(parsed.error));
    if (parsed.data.install_id.toLowerCase() !== installId) {
      throw new HttpError(422, 'invalid_payload', 'The submission does not match the payload schema.', [
        { path: 'install_id', message: 'does not match the X-Install-Id header' },
      ]);
    }
    return parsed.data;
  }

  /** DELETE /v1/installations/:id signed by the installation itself, over an empty body. */
  async eraseSigned(pathId: string, headers: SignedHeaders, rawBody: Buffer): Promise<{ install_id: string; deleted: true; submissions_deleted: number }> {
    if (rawBody.length > 0) throw new HttpError(400, 'body_not_allowed', 'DELETE /v1/installations/:id takes no request body.');
    const auth = await this.authenticate({ method: 'DELETE', path: PATHS.installation(pathId) }, headers, rawBody);
    if (pathId.toLowerCase() !== auth.installId) {
      throw new HttpError(403, 'forbidden', 'An installation can only erase itself: the path id must match X-Install-Id.');
    }
    return this.#erase(auth.installId);
  }

  /** DELETE /v1/installations/:id with admin rights. */
  async eraseAsAdmin(pathId: string): Promise<{ install_id: string; deleted: true; submissions_deleted: number }> {
    const id = installIdSchema.safeParse(pathId);
    if (!id.success) throw new HttpError(404, 'not_found', 'No such installation.');
    return this.#erase(id.data.toLowerCase());
  }

  async #erase(installId: string) {
    const result = await this.options.installations.erase(installId, this.options.now());
    if (!result.deleted) throw new HttpError(404, 'not_found', 'No such installation.');
    return { install_id: installId, deleted: true as const, submissions_deleted: result.submissions };
  }
}
