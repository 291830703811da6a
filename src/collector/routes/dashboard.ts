// The dashboard page (cards, anomalies, Chart.js charts — every asset served from here, so it works
// offline), the standalone sign-in form, and the static assets with a long cache.
import Router from '@koa/router';
import type { Context } from 'koa';
import { HttpError } from '../../core/http-errors.js';
import type { Collector } from '../collector.js';
import { dashboardAssets } from '../assets/index.js';
import { PAGE_TEMPLATES } from '../templates/pages.js';
import { jsonForScript, templateEnvironment } from '../templates/environment.js';
import { readForm } from './body.js';

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export interface DashboardPaths {
  dashboard: string;
  signIn: string;
  signOut: string;
  export: string;
  reports: string;
  assets: string;
}

export function dashboardPaths(prefix: string): DashboardPaths {
  return {
    dashboard: `${prefix}/dashboard`,
    signIn: `${prefix}/dashboard/sign-in`,
    signOut: `${prefix}/dashboard/sign-out`,
    export: `${prefix}/stats/export`,
    reports: `${prefix}/reports`,
    assets: `${prefix}/dashboard/assets`,
  };
}

export function dashboardRouter(collector: Collector, prefix: string): Router {
  const router = new Router({ prefix: `${prefix}/dashboard` });
  const env = templateEnvironment(PAGE_TEMPLATES);
  const paths = dashboardPaths(prefix);
  const { auth, stats, options } = collector;

  const assetUrls = () => {
    const assets = dashboardAssets();
    const url = (name: string) => `${paths.assets}/${name}?v=${assets.get(name)!.hash}`;
    return { css: url('dashboard.css'), js: url('dashboard.js'), chart: url('chart.umd.min.js') };
  };

  const page = (ctx: Context, template: string, context: Record<string, unknown>, status = 200) => {
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Security-Policy', CSP);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.body = env.render(template, {
      title: options.title,
      kThreshold: options.kThreshold,
      csrfToken: auth.csrfToken(ctx),
      assets: assetUrls(),
      paths,
      ...context,
    });
  };

  const signInPage = (ctx: Context, error: string | null, status = 200) => page(ctx, 'sign-in.njk', { error, tokenConfigured: auth.tokenConfigured }, status);

  router.get('/', async (ctx) => {
    const via = await auth.identify(ctx);
    if (!via) return signInPage(ctx, null);
    const windowDays = 30;
    const [overview, anomalies, installations, deployment, adoption, errorsByVersionMode] = await Promise.all([
      stats.overview(),
      stats.anomalies(),
      stats.installations({ days: 90, interval: 'day' }),
      stats.deploymentModes(windowDays),
      collector.insights.featureAdoption(windowDays),
      collector.insights.errorsByVersionMode(windowDays),
    ]);
    const data = { overview, installations, deployment, adoption, errorsByVersionMode, anomalies: anomalies.anomalies, paths };
    page(ctx, 'dashboard.njk', {
      overview,
      anomalies: anomalies.anomalies,
      adoption,
      errorsByVersionMode,
      signedInWithCookie: via === 'session',
      dataJson: jsonForScript(data),
    });
  });

  router.post('/sign-in', async (ctx) => {
    const form = await readForm(ctx);
    try {
      auth.checkCsrf(ctx, form.get('_csrf') ?? undefined);
    } catch {
      return signInPage(ctx, 'Your sign-in form expired; please try again.', 403);
    }
    let ok: boolean;
    try {
      ok = await auth.signIn(ctx, form.get('token') ?? '');
    } catch (err) {
      if (err instanceof HttpError && err.status === 429) return signInPage(ctx, err.message, 429);
      throw err;
    }
    if (!ok) return signInPage(ctx, 'That token is not right.', 401);
    ctx.status = 303;
    ctx.redirect(paths.dashboard);
  });

  router.post('/sign-out', async (ctx) => {
    const form = await readForm(ctx);
    // Only a live session needs ending, and only its own page's token may end it.
    if (await auth.session(ctx)) auth.checkCsrf(ctx, form.get('_csrf') ?? undefined);
    await auth.signOut(ctx);
    ctx.status = 303;
    ctx.redirect(paths.dashboard);
  });

  router.get('/assets/:name', (ctx) => {
    const asset = dashboardAssets().get(ctx.params.name ?? '');
    if (!asset) throw new HttpError(404, 'not_found', 'No such asset.');
    ctx.type = asset.contentType;
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('ETag', `"${asset.hash}"`);
    if (ctx.get('if-none-match') === `"${asset.hash}"`) {
      ctx.status = 304;
      return;
    }
    ctx.body = asset.body;
  });

  return router;
}
