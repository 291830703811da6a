// The insights routes (docs/collector.md): two admin breakdowns under /stats (errors per version ×
// deployment mode, feature adoption) and, only when `publicInsights` is on, the public page and its
// JSON — served without auth, cached, and without any cookie.
import Router from '@koa/router';
import type { Collector } from '../collector.js';
import { statsQuery } from './stats.js';
import { dashboardAssets } from '../assets/index.js';
import { PAGE_TEMPLATES } from '../templates/pages.js';
import { jsonForScript, templateEnvironment } from '../templates/environment.js';
import { PUBLIC_ROUNDING } from '../analytics/public-insights.js';

const PUBLIC_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function insightsStatsRouter(collector: Collector, prefix: string): Router {
  const router = new Router({ prefix: `${prefix}/stats` });
  const { insights } = collector;
  router.use(collector.auth.requireAdmin());
  router.use(async (ctx, next) => {
    await next();
    ctx.set('Cache-Control', 'no-store');
  });
  router.get('/errors-by-version-mode', async (ctx) => {
    ctx.body = await insights.errorsByVersionMode(statsQuery(ctx).window);
  });
  router.get('/feature-adoption', async (ctx) => {
    ctx.body = await insights.featureAdoption(statsQuery(ctx).window);
  });
  return router;
}

/** The public routes' paths under a mount path. */
export function publicInsightsPaths(prefix: string): { page: string; json: string } {
  return { page: `${prefix}/public`, json: `${prefix}/public/insights.json` };
}

export function publicInsightsRouter(collector: Collector, prefix: string): Router {
  const router = new Router({ prefix: `${prefix}/public` });
  const env = templateEnvironment(PAGE_TEMPLATES);
  const { publicInsights, options } = collector;
  const paths = publicInsightsPaths(prefix);
  const assetsPath = `${prefix}/dashboard/assets`;

  // Shared caches may keep it for the same period the collector does; it is the same for everyone.
  router.use(async (ctx, next) => {
    await next();
    ctx.set('Cache-Control', `public, max-age=${publicInsights.cacheSeconds}`);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
  });

  router.get('/insights.json', async (ctx) => {
    ctx.body = await publicInsights.current();
  });

  router.get('/', async (ctx) => {
    const data = await publicInsights.current();
    const assets = dashboardAssets();
    const url = (name: string) => `${assetsPath}/${name}?v=${assets.get(name)!.hash}`;
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Content-Security-Policy', PUBLIC_CSP);
    ctx.body = env.render('public.njk', {
      title: options.title,
      kThreshold: options.kThreshold,
      rounding: PUBLIC_ROUNDING,
      insights: data,
      jsonPath: paths.json,
      assets: { css: url('dashboard.css'), js: url('public.js'), chart: url('chart.umd.min.js') },
      dataJson: jsonForScript(data),
    });
  });
  return router;
}
