// /api/v1/usage-stats/*: the admin's view of what the plugin collects and sends, and the controls
// to change consent, export and erase it. Admin only; state-changing routes need the CSRF token.
import { Readable } from 'node:stream';
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { TelemetryRuntime } from '../runtime.js';
import { requireAdmin } from '../middleware/auth.js';
import { requireCsrf } from '../middleware/csrf.js';
import { jsonBody, parseJsonBody } from '../middleware/body.js';
import { HttpError } from '../middleware/errors.js';
import { CONSENT_CATEGORIES } from '../types.js';

const categoriesBody = z
  .object({ categories: z.array(z.enum(['analytics', 'usageStats'])).min(1).max(2).optional(), _csrf: z.string().optional() })
  .strict()
  .optional();

const ledgerQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

function validate<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length ? issue.path.join('.') : what;
    throw new HttpError(400, 'invalid_request', `${field}: ${issue.message}`, parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  }
  return parsed.data;
}

const csrfFromBody = (ctx: Context) => (jsonBody(ctx) as { _csrf?: unknown } | undefined)?._csrf;

export function usageStatsRouter(runtime: TelemetryRuntime): Router {
  const { options } = runtime;
  const router = new Router({ prefix: options.mountPath.api });
  router.use(requireAdmin(options.getUser, options.isAdmin));
  router.use(async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    await next();
  });
  // Everything but /status needs the plugin's storage; /status answers even when it is broken.
  const started = async (_ctx: Context, next: () => Promise<unknown>) => {
    try {
      await runtime.ready();
    } catch {
      throw new HttpError(503, 'storage_unavailable', 'The telemetry storage is not available right now; see the status route and the server log.');
    }
    await next();
  };
  const changes = [started, parseJsonBody(), requireCsrf(options.getUser, csrfFromBody)] as const;

  router.get('/status', (ctx) => {
    ctx.body = runtime.status();
  });

  router.get('/local', started, async (ctx) => {
    ctx.body = await runtime.stats.local();
  });

  router.get('/preview', started, async (ctx) => {
    ctx.body = await runtime.stats.preview();
  });

  router.get('/submissions', started, async (ctx) => {
    const { limit, offset } = validate(ledgerQuery, ctx.query, 'query');
    ctx.body = { limit, offset, ...(await runtime.stats.ledger(limit, offset)) };
  });

  const setConsent = (value: boolean) => async (ctx: Context) => {
    const body = validate(categoriesBody, jsonBody(ctx), 'body');
    const categories = body?.categories ?? CONSENT_CATEGORIES;
    const consent = await runtime.setConsent(Object.fromEntries(categories.map((c) => [c, value])));
    ctx.body = { consent };
  };
  router.post('/opt-in', ...changes, setConsent(true));
  router.post('/opt-out', ...changes, setConsent(false));

  router.get('/export', started, (ctx) => {
    const day = options.now().toISOString().slice(0, 10);
    ctx.type = 'application/json; charset=utf-8';
    ctx.attachment(`telemetry-export-${day}.json`);
    ctx.body = streamOf(runtime.stats.exportJson());
  });

  router.delete('/delete-all', ...changes, async (ctx) => {
    ctx.body = await runtime.stats.deleteAll();
  });

  return router;
}

function streamOf(chunks: AsyncGenerator<string>): Readable {
  return Readable.from(chunks, { objectMode: false });
}
