// E-mail report endpoints (admin; CSRF when a cookie authenticates): send now, test, status.
import Router from '@koa/router';
import { z } from 'zod';
import { HttpError } from '../../core/http-errors.js';
import type { Collector } from '../collector.js';
import { fieldErrors } from '../ingest/service.js';
import { readOptionalJson } from './body.js';

const testEmailSchema = z
  .object({
    to: z
      .union([z.string(), z.array(z.string())])
      .optional()
      .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]))
      .pipe(z.array(z.string().trim().regex(/^[^\s@<>,;]+@[^\s@<>,;]+\.[^\s@<>,;]+$/, 'expected an e-mail address')).max(10)),
  })
  .strict();

export function reportsRouter(collector: Collector, prefix: string): Router {
  const router = new Router({ prefix: `${prefix}/reports` });
  const { reports } = collector;
  router.use(collector.auth.requireAdmin());
  router.use(async (ctx, next) => {
    await next();
    ctx.set('Cache-Control', 'no-store');
  });

  router.post('/weekly', async (ctx) => {
    ctx.body = await reports.send('weekly');
  });
  router.post('/monthly', async (ctx) => {
    ctx.body = await reports.send('monthly');
  });
  router.post('/test-email', async (ctx) => {
    const parsed = testEmailSchema.safeParse(await readOptionalJson(ctx));
    if (!parsed.success) throw new HttpError(422, 'invalid_payload', 'Invalid test e-mail request.', fieldErrors(parsed.error));
    ctx.body = await reports.sendTest(parsed.data.to);
  });
  router.get('/email-status', async (ctx) => {
    ctx.body = await reports.status();
  });
  return router;
}
