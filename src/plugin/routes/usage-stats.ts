// /api/v1/usage-stats/*: the admin's view of what the plugin collects and sends, and the controls
// to change consent, export and erase it. Admin only; state-changing routes need the CSRF token.
import { Readable } from 'node:stream';
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { ResolvedOptions } from '../options.js';
import type { StatusReport } from '../status.js';
import type { StatsService } from '../stats/service.js';
import type { ConsentActor } from '../installation/consent-receipts.js';
import type { ConsentPatch, ConsentStore } from '../installation/consent.js';
import { currentUser, requireAdmin } from '../middleware/auth.js';
import { requireCsrf } from '../middleware/csrf.js';
import { jsonBody, parseJsonBody, validateInput as validate } from '../middleware/body.js';
import { localizedError } from '../i18n/errors.js';
import { CONSENT_CATEGORIES, type ConsentState } from '../types.js';
import { OUTBOUND_KINDS } from '../stats/outbound-repository.js';
import { EXPECTED_BODIES, openApiDocument } from '../openapi.js';

const categoriesBody = z
  .object({ categories: z.array(z.enum(['analytics', 'usageStats'])).min(1).max(2).optional(), _csrf: z.string().optional() })
  .strict()
  .optional();

/** The body of a route that takes no fields: nothing, or only the CSRF token. */
const noFieldsBody = z.object({ _csrf: z.string().optional() }).strict().optional();

const receiptsQuery = z.object({
  scope: z.enum(['installation', 'user']).default('installation'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

const ledgerQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

const outboundQuery = ledgerQuery.extend({ kind: z.enum(OUTBOUND_KINDS).optional() });

/** What the admin routes need: storage readiness, the status, the statistics, consent and its receipts. */
export interface UsageStatsPort {
  ready(): Promise<void>;
  status(): StatusReport;
  stats: Pick<StatsService, 'local' | 'preview' | 'submitNow' | 'ledger' | 'outboundLedger' | 'exportJson' | 'deleteAll' | 'reRegister'>;
  /** Why no submission can be sent now (consent, kill switch, no collector, a collector problem), or null. */
  submissionBlockedReason(): string | null;
  receipts: ConsentStore['receipts'];
  setConsent(patch: ConsentPatch, actor: ConsentActor): Promise<ConsentState>;
  /** How a receipt names the signed-in admin: by pseudonym, never the raw id. */
  adminActor(adminId: string | number): ConsentActor;
  /** Why a registration with the collector cannot be made now, or null. */
  registrationBlockedReason(): string | null;
}

const csrfFromBody = (ctx: Context) => (jsonBody(ctx) as { _csrf?: unknown } | undefined)?._csrf;

export function usageStatsRouter(options: ResolvedOptions, port: UsageStatsPort): Router {
  const router = new Router({ prefix: options.mountPath.api });
  router.use(requireAdmin(options.getUser, options.isAdmin));
  router.use(async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    await next();
  });
  // Everything but /status needs the plugin's storage; /status answers even when it is broken.
  const started = async (_ctx: Context, next: () => Promise<unknown>) => {
    try {
      await port.ready();
    } catch {
      throw localizedError(503, 'storage_unavailable', 'error.api.storage_unavailable_status');
    }
    await next();
  };
  const changes = [started, parseJsonBody(), requireCsrf(options.getUser, csrfFromBody)] as const;

  router.get('/status', (ctx) => {
    ctx.body = port.status();
  });

  // This API's description for the configured prefixes (docs/openapi.json has the defaults'), built on first use.
  let description: object | null = null;
  router.get('/openapi.json', (ctx) => {
    description ??= openApiDocument(options.mountPath);
    ctx.body = description;
  });

  router.get('/local', started, async (ctx) => {
    ctx.body = await port.stats.local();
  });

  router.get('/preview', started, async (ctx) => {
    ctx.body = { payloads: await port.stats.preview(), blocked_reason: port.submissionBlockedReason() };
  });

  // The maintainer's smoke test: a submission run right now, answered week by week. A run that
  // ended on the collector's rate limit answers 429 with the collector's Retry-After.
  router.post('/submit-now', ...changes, async (ctx) => {
    validate(noFieldsBody, jsonBody(ctx), 'body', EXPECTED_BODIES.empty);
    const blocked = port.submissionBlockedReason();
    if (blocked) throw localizedError(409, 'submission_blocked', 'error.api.submission_blocked', { reason: blocked });
    const run = await port.stats.submitNow();
    const report = {
      status: run.status,
      reason: run.reason ?? null,
      retry_in_seconds: run.retryInMs === undefined ? null : Math.ceil(run.retryInMs / 1000),
      weeks: run.weeks,
    };
    const limited = run.weeks.find((week) => week.collector_status === 429);
    if (limited) {
      ctx.set('Retry-After', String(limited.retry_after_seconds ?? 3600));
      throw localizedError(429, 'collector_rate_limited', 'error.api.collector_rate_limited', undefined, report);
    }
    ctx.body = report;
  });

  router.get('/submissions', started, async (ctx) => {
    const { limit, offset } = validate(ledgerQuery, ctx.query, 'query');
    ctx.body = { limit, offset, ...(await port.stats.ledger(limit, offset)) };
  });

  // Everything else that left: OTLP batches, the registration and the erasure request.
  router.get('/ledger', started, async (ctx) => {
    const { limit, offset, kind } = validate(outboundQuery, ctx.query, 'query');
    ctx.body = { limit, offset, kind: kind ?? null, ...(await port.stats.outboundLedger(limit, offset, kind)) };
  });

  router.get('/receipts', started, async (ctx) => {
    const { scope, limit, offset } = validate(receiptsQuery, ctx.query, 'query');
    ctx.body = { scope, limit, offset, ...(await port.receipts({ scope, limit, offset })) };
  });

  // The receipt names the signed-in admin by pseudonym only (requireAdmin guarantees there is one).
  const actorOf = (ctx: Context) => port.adminActor(currentUser(ctx, options.getUser)!.id);

  const setConsent = (value: boolean) => async (ctx: Context) => {
    const body = validate(categoriesBody, jsonBody(ctx), 'body', EXPECTED_BODIES.categories);
    const categories = body?.categories ?? CONSENT_CATEGORIES;
    const consent = await port.setConsent(Object.fromEntries(categories.map((c) => [c, value])), actorOf(ctx));
    ctx.body = { consent };
  };
  router.post('/opt-in', ...changes, setConsent(true));
  router.post('/opt-out', ...changes, setConsent(false));

  router.get('/export', started, (ctx) => {
    const day = options.now().toISOString().slice(0, 10);
    ctx.type = 'application/json; charset=utf-8';
    ctx.attachment(`telemetry-export-${day}.json`);
    ctx.body = streamOf(port.stats.exportJson());
  });

  router.delete('/delete-all', ...changes, async (ctx) => {
    validate(noFieldsBody, jsonBody(ctx), 'body', EXPECTED_BODIES.empty);
    ctx.body = await port.stats.deleteAll(actorOf(ctx));
  });

  // The way out of a collector problem (GET /status → collector.problem): a new identity, registered anew.
  router.post('/collector/re-register', ...changes, async (ctx) => {
    validate(noFieldsBody, jsonBody(ctx), 'body', EXPECTED_BODIES.empty);
    const blocked = port.registrationBlockedReason();
    if (blocked) throw localizedError(409, 'cannot_register', 'error.api.cannot_register', { reason: blocked });
    ctx.body = await port.stats.reRegister();
  });

  return router;
}

function streamOf(chunks: AsyncGenerator<string>): Readable {
  return Readable.from(chunks, { objectMode: false });
}
