// A small, REAL collector-like receiver for the weekly usage-statistics submission (docs/collector.md):
// node:http on 127.0.0.1 (ephemeral port), speaking the protocol of src/stats/submission-protocol.ts.
// (Not the real collector in src/collector: this one is deliberately tiny and test-controlled.)
//
//   POST   /v1/register            {install_id} → 201 {install_id, secret}; 409 when already registered
//   POST   /v1/submit              signature (verifySignature), timestamp skew, Idempotency-Key and
//                                  payload (submissionPayloadSchema) checked → 202 {submission_id};
//                                  401 unknown_installation / timestamp_out_of_range /
//                                  invalid_signature (the collector's codes), 422 invalid payload
//   DELETE /v1/installations/:id   signature (method, path, empty body) checked → 204; 401 otherwise
//
// Faults: `script(kind, [500, {status: 429, retryAfter: '1'}, …])` answers the next requests of that
// kind with those statuses (in order, one per request) before normal processing resumes.
// Every request is recorded (raw body, headers, answer, verification results).
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  HEADERS,
  MAX_FUTURE_SKEW_SECONDS,
  MAX_TIMESTAMP_AGE_SECONDS,
  idempotencyKey,
  registerRequestSchema,
  submissionPayloadSchema,
  verifySignature,
  type SubmissionPayload,
} from '../../src/core/protocol.js';

export type RequestKind = 'register' | 'submit' | 'delete' | 'other';

export interface ScriptedAnswer {
  status: number;
  retryAfter?: string;
  body?: unknown;
}

export interface ReceivedSubmissionRequest {
  kind: RequestKind;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** Date.now() when the body had fully arrived. */
  at: number;
  status: number;
  /** Set for signed requests (submit, delete) that reached verification. */
  signatureValid?: boolean;
  /** submit only: the parsed payload when it passed submissionPayloadSchema. */
  payload?: SubmissionPayload;
  payloadErrors?: string[];
  /** submit only: the Idempotency-Key matched idempotencyKey(install_id, period.start). */
  idempotencyKeyValid?: boolean;
  scripted: boolean;
}

export interface AcceptedSubmission {
  submissionId: string;
  installId: string;
  payload: SubmissionPayload;
  rawBody: string;
  headers: IncomingHttpHeaders;
}

export interface SubmissionReceiverOptions {
  /** The receiver's clock for the X-Timestamp skew check (default Date.now). */
  nowMs?: () => number;
  /** Check the X-Timestamp skew at all (default true). */
  checkSkew?: boolean;
  /** Serve the protocol below this path (like a collector mounted with mountPath), e.g. '/collector'. */
  prefix?: string;
}

export interface SubmissionReceiver {
  /** The collector URL to configure (including the prefix, when one was given). */
  url: string;
  requests: ReceivedSubmissionRequest[];
  accepted: AcceptedSubmission[];
  /** install_id → secret of every registered installation (deleted ones removed). */
  installations: Map<string, string>;
  deleted: string[];
  requestsOf(kind: RequestKind): ReceivedSubmissionRequest[];
  /** Queue scripted answers for the next requests of `kind`. */
  script(kind: RequestKind, answers: (number | ScriptedAnswer)[]): void;
  /** Resolves once `predicate()` holds (polled), rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { ...(text ? { 'content-type': 'application/json' } : {}), ...headers });
  res.end(text);
}

export async function startSubmissionReceiver(options: SubmissionReceiverOptions = {}): Promise<SubmissionReceiver> {
  const nowMs = options.nowMs ?? Date.now;
  const checkSkew = options.checkSkew ?? true;
  const prefix = (options.prefix ?? '').replace(/\/+$/, '');
  const requests: ReceivedSubmissionRequest[] = [];
  const accepted: AcceptedSubmission[] = [];
  const installations = new Map<string, string>();
  const deleted: string[] = [];
  const scripts = new Map<RequestKind, ScriptedAnswer[]>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const fullPath = (req.url ?? '/').split('?')[0]!;
      const inside = !prefix || fullPath.startsWith(`${prefix}/`);
      const path = inside ? fullPath.slice(prefix.length) : `(outside ${prefix})${fullPath}`;
      const method = req.method ?? 'GET';
      const kind: RequestKind =
        method === 'POST' && path === '/v1/register'
          ? 'register'
          : method === 'POST' && path === '/v1/submit'
            ? 'submit'
            : method === 'DELETE' && path.startsWith('/v1/installations/')
              ? 'delete'
              : 'other';
      const record: ReceivedSubmissionRequest = { kind, method, path: fullPath, headers: req.headers, rawBody, at: Date.now(), status: 0, scripted: false };
      requests.push(record);
      const answer = (status: number, body?: unknown, headers?: Record<string, string>) => {
        record.status = status;
        send(res, status, body, headers);
      };

      const scripted = scripts.get(kind)?.shift();
      if (scripted) {
        record.scripted = true;
        return answer(scripted.status, scripted.body ?? { error: { code: 'scripted', message: `scripted ${scripted.status}` } }, scripted.retryAfter ? { 'retry-after': scripted.retryAfter } : {});
      }

      if (kind === 'register') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(rawBody);
        } catch {
          return answer(400, { error: { code: 'invalid_json', message: 'not JSON' } });
        }
        const body = registerRequestSchema.safeParse(parsed);
        if (!body.success) return answer(422, { error: { code: 'invalid_payload', message: 'bad register body' } });
        if (installations.has(body.data.install_id)) return answer(409, { error: { code: 'conflict', message: 'already registered' } });
        const secret = randomBytes(32).toString('hex');
        installations.set(body.data.install_id, secret);
        return answer(201, { install_id: body.data.install_id, secret });
      }

      if (kind === 'submit' || kind === 'delete') {
        const installId = String(req.headers[HEADERS.installId] ?? '');
        const timestamp = String(req.headers[HEADERS.timestamp] ?? '');
        const signature = req.headers[HEADERS.signature] as string | undefined;
        const secret = installations.get(installId);
        // The same error codes as the collector's (src/collector/ingest/service.ts).
        if (secret === undefined) return answer(401, { error: { code: 'unknown_installation', message: 'This installation is not registered here; register it first.' } });
        const age = nowMs() / 1000 - Number(timestamp);
        if (checkSkew && (!/^\d+$/.test(timestamp) || age > MAX_TIMESTAMP_AGE_SECONDS || -age > MAX_FUTURE_SKEW_SECONDS)) {
          return answer(401, { error: { code: 'timestamp_out_of_range', message: 'X-Timestamp is too far from the receiver clock.' } });
        }
        record.signatureValid = verifySignature(secret, { method: method as 'POST' | 'DELETE', path }, timestamp, rawBody, signature);
        if (!record.signatureValid) return answer(401, { error: { code: 'invalid_signature', message: 'The signature does not match the request body.' } });
        if (kind === 'delete') {
          const target = decodeURIComponent(path.slice('/v1/installations/'.length));
          if (target !== installId) return answer(403, { error: { code: 'forbidden', message: 'not your installation' } });
          installations.delete(installId);
          deleted.push(installId);
          return answer(204);
        }
        let json: unknown;
        try {
          json = JSON.parse(rawBody);
        } catch {
          return answer(400, { error: { code: 'invalid_json', message: 'not JSON' } });
        }
        const payload = submissionPayloadSchema.safeParse(json);
        if (!payload.success) {
          record.payloadErrors = payload.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
          return answer(422, { error: { code: 'invalid_payload', message: 'invalid payload', details: record.payloadErrors } });
        }
        record.payload = payload.data;
        record.idempotencyKeyValid = req.headers[HEADERS.idempotencyKey] === idempotencyKey(installId, payload.data.period.start);
        if (payload.data.install_id !== installId) return answer(422, { error: { code: 'invalid_payload', message: 'install_id mismatch' } });
        const submissionId = randomUUID();
        accepted.push({ submissionId, installId, payload: payload.data, rawBody, headers: req.headers });
        return answer(202, { submission_id: submissionId });
      }

      return answer(404, { error: { code: 'not_found', message: 'no such route' } });
    });
  });

  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${prefix}`;

  return {
    url,
    requests,
    accepted,
    installations,
    deleted,
    requestsOf: (kind) => requests.filter((r) => r.kind === kind),
    script(kind, answers) {
      const list = scripts.get(kind) ?? [];
      list.push(...answers.map((a) => (typeof a === 'number' ? { status: a } : a)));
      scripts.set(kind, list);
    },
    async waitFor(predicate, timeoutMs = 5_000, what = 'condition') {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`submission receiver: timed out after ${timeoutMs} ms waiting for ${what} (${requests.length} requests so far)`);
        await new Promise((done) => setTimeout(done, 10));
      }
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/** Polls `predicate` (sync or async) every few milliseconds until it holds; rejects after `timeoutMs`. */
export async function waitUntil(predicate: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 10));
  }
}
