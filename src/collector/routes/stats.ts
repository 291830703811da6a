// The admin analytics API (docs/collector.md): /stats/* as JSON, every breakdown k-protected.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { HttpError } from '../../core/http-errors.js';
import type { Collector } from '../collector.js';
import { fieldErrors } from '../ingest/service.js';
import { utcDay } from '../analytics/time.js';
import { BREAKDOWN_WINDOWS, DEFAULT_BREAKDOWN_WINDOW, isBreakdownWindow, type BreakdownWindow } from '../analytics/k-threshold.js';

const intParam = (min: number, max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d{1,4}$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .optional()
    .transform((v) => v ?? fallback);

export const statsQuerySchema = z.object({
  days: intParam(1, 730, 90),
  // Checked apart (statsQuery): only the fixed BREAKDOWN_WINDOWS, so that two near-identical
  // windows cannot be differenced to single out one installation.
  window: z.string().optional(),
  weeks: intParam(1, 104, 12),
  interval: z.enum(['day', 'week']).optional().transform((v) => v ?? 'day'),
});

export type StatsQuery = Omit<z.output<typeof statsQuerySchema>, 'window'> & { window: BreakdownWindow };

export function statsQuery(ctx: Context): StatsQuery {
  const raw: Record<string, string> = {};
  for (const key of ['days', 'window', 'weeks', 'interval']) {
    const value = ctx.query[key];
    if (typeof value === 'string') raw[key] = value;
    else if (Array.isArray(value)) raw[key] = value[0] ?? '';
  }
  const parsed = statsQuerySchema.safeParse(raw);
  if (!parsed.success) throw new HttpError(422, 'invalid_query', 'Invalid query parameters.', fieldErrors(parsed.error));
  return { ...parsed.data, window: breakdownWindow(parsed.data.window) };
}

/** `window` must be one of BREAKDOWN_WINDOWS (default DEFAULT_BREAKDOWN_WINDOW); anything else is a 400 naming them. */
function breakdownWindow(value: string | undefined): BreakdownWindow {
  if (value === undefined) return DEFAULT_BREAKDOWN_WINDOW;
  const days = /^\d{1,4}$/.test(value) ? Number(value) : NaN;
  if (!isBreakdownWindow(days)) {
    throw new HttpError(400, 'invalid_window', `window must be one of ${BREAKDOWN_WINDOWS.join(', ')} (days).`, { allowed: [...BREAKDOWN_WINDOWS] });
  }
  return days;
}

export function statsRouter(collector: Collector, prefix: string): Router {
  const router = new Router({ prefix: `${prefix}/stats` });
  const { stats } = collector;
  router.use(collector.auth.requireAdmin());
  router.use(async (ctx, next) => {
    await next();
    ctx.set('Cache-Control', 'no-store');
  });

  router.get('/overview', async (ctx) => {
    ctx.body = await stats.overview();
  });
  router.get('/installations', async (ctx) => {
    const q = statsQuery(ctx);
    ctx.body = await stats.installations({ days: q.days, interval: q.interval });
  });
  router.get('/deployment-modes', async (ctx) => {
    ctx.body = await stats.deploymentModes(statsQuery(ctx).window);
  });
  router.get('/versions', async (ctx) => {
    ctx.body = await stats.versions(statsQuery(ctx).window);
  });
  router.get('/geography', async (ctx) => {
    ctx.body = await stats.geography(statsQuery(ctx).window);
  });
  router.get('/platforms', async (ctx) => {
    ctx.body = await stats.platforms(statsQuery(ctx).window);
  });
  router.get('/features', async (ctx) => {
    ctx.body = await stats.features(statsQuery(ctx).window);
  });
  router.get('/version-migration', async (ctx) => {
    ctx.body = await stats.versionMigration(statsQuery(ctx).weeks);
  });
  router.get('/feature-trends', async (ctx) => {
    ctx.body = await stats.featureTrends(statsQuery(ctx).weeks);
  });
  router.get('/errors', async (ctx) => {
    ctx.body = await stats.errors(statsQuery(ctx).weeks);
  });
  router.get('/anomalies', async (ctx) => {
    ctx.body = await stats.anomalies();
  });
  router.get('/export', async (ctx) => {
    const q = statsQuery(ctx);
    const [data, errorsByVersionMode, featureAdoption] = await Promise.all([
      stats.export({ windowDays: q.window, weeks: q.weeks, days: q.days }),
      collector.insights.errorsByVersionMode(q.window),
      collector.insights.featureAdoption(q.window),
    ]);
    ctx.set('Content-Disposition', `attachment; filename="collector-stats-${utcDay(collector.options.now())}.json"`);
    ctx.type = 'application/json';
    ctx.body = JSON.stringify({ ...data, errors_by_version_mode: errorsByVersionMode, feature_adoption: featureAdoption }, null, 2);
  });
  return router;
}
