// The installation-facing API (docs/collector.md): register, signed submit, signed (or admin) erasure.
// The client address is read only to rate-limit registration (in memory, salted and hashed; see
// client-throttle.ts): it is never stored, logged or passed to a service.
import Router from '@koa/router';
import type { Context } from 'koa';
import { HttpError } from '../../core/http-errors.js';
import { HEADERS, MAX_SUBMISSION_BYTES } from '../../core/protocol.js';
import type { Collector } from '../collector.js';
import type { SubmissionOutcome } from '../metrics.js';
import { readRawBody } from '../ingest/raw-body.js';
import type { SignedHeaders } from '../ingest/service.js';
import { clientAddress } from '../client-throttle.js';

function signedHeaders(ctx: Context): SignedHeaders {
  return {
    installId: ctx.get(HEADERS.installId) || undefined,
    timestamp: ctx.get(HEADERS.timestamp) || undefined,
    signature: ctx.get(HEADERS.signature) || undefined,
  };
}

function rawBody(ctx: Context): Promise<Buffer> {
  return readRawBody(ctx.req, MAX_SUBMISSION_BYTES, (ctx.request as { rawBody?: unknown }).rawBody);
}

function outcomeOf(err: unknown): SubmissionOutcome {
  const status = err instanceof HttpError ? err.status : (err as { status?: number }).status;
  if (status === 401) return 'unauthorized';
  if (status === 413) return 'too_large';
  if (status === 422) return 'invalid';
  if (status === 400) return 'bad_request';
  return 'error';
}

export function ingestRouter(collector: Collector, prefix: string): Router {
  const router = new Router({ prefix: prefix || undefined });
  const { ingest, metrics } = collector;

  // Registration is open (its key ships inside every client): limited per client and in total.
  const limitRegistrations = async (ctx: Context, next: () => Promise<unknown>): Promise<void> => {
    const verdict = await collector.registrationLimits.admit(clientAddress(ctx, collector.options.trustProxy));
    if (!verdict.allowed) {
      metrics.registrations.inc({ outcome: 'rate_limited' });
      ctx.set('Retry-After', String(verdict.retryAfterSeconds));
      throw verdict.scope === 'client'
        ? new HttpError(429, 'rate_limited', `Too many registrations from this client; try again in ${verdict.retryAfterSeconds} s.`, { retry_after_seconds: verdict.retryAfterSeconds })
        : new HttpError(429, 'registration_budget_exhausted', `This collector has accepted its registrations for this hour; try again in ${verdict.retryAfterSeconds} s.`, {
            retry_after_seconds: verdict.retryAfterSeconds,
          });
    }
    await next();
  };

  router.post('/v1/register', limitRegistrations, async (ctx) => {
    try {
      const body = await rawBody(ctx);
      const created = await ingest.register(body, ctx.get(HEADERS.registrationKey) || undefined);
      metrics.registrations.inc({ outcome: 'created' });
      ctx.status = 201;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = created;
    } catch (err) {
      const status = (err as { status?: number }).status;
      metrics.registrations.inc({ outcome: status === 409 ? 'conflict' : status === 401 ? 'unauthorized' : status && status < 500 ? 'invalid' : 'error' });
      throw err;
    }
  });

  router.post('/v1/submit', async (ctx) => {
    const end = metrics.ingestDuration.startTimer();
    let outcome: SubmissionOutcome = 'error';
    try {
      const body = await rawBody(ctx);
      const result = await ingest.submit(signedHeaders(ctx), ctx.get(HEADERS.idempotencyKey) || undefined, body);
      outcome = result.outcome;
      if (result.status === 429) {
        ctx.set('Retry-After', String(result.retryAfterSeconds));
        throw new HttpError(429, 'rate_limited', `This installation already had a submission accepted; try again in ${result.retryAfterSeconds} s.`, {
          retry_after_seconds: result.retryAfterSeconds,
        });
      }
      ctx.status = 202;
      if (result.outcome === 'replayed') ctx.set('Idempotent-Replayed', 'true');
      ctx.body = result.body;
    } catch (err) {
      if (outcome !== 'rate_limited') outcome = outcomeOf(err);
      if (outcome === 'too_large') ctx.set('Connection', 'close');
      throw err;
    } finally {
      metrics.submissions.inc({ outcome });
      end({ outcome });
    }
  });

  router.delete('/v1/installations/:id', async (ctx) => {
    const id = ctx.params.id ?? '';
    let result;
    if (ctx.get(HEADERS.signature)) {
      result = await ingest.eraseSigned(id, signedHeaders(ctx), await rawBody(ctx));
      metrics.erasures.inc({ by: 'installation' });
    } else {
      await collector.auth.requireAdmin()(ctx, async () => undefined);
      result = await ingest.eraseAsAdmin(id);
      metrics.erasures.inc({ by: 'admin' });
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = result;
  });

  return router;
}
