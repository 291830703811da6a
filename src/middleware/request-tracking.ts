// Counts one page view per answered request, keyed by the route template @koa/router matched
// (e.g. /projects/:id) — never the raw URL or query string. Runs after the host has answered.
import type { Context, Next } from 'koa';
import type { AnalyticsLayer } from '../telemetry/analytics.js';
import { safeRouteTemplate } from '../telemetry/privacy-guard.js';

/** Requests no router matched share one bucket, so unknown paths never become keys. */
export const UNMATCHED_ROUTE = '(unmatched)';

export function routeTemplateOf(ctx: Context): string {
  const matched = (ctx as unknown as { _matchedRoute?: unknown })._matchedRoute;
  // A template is the host's own code, but one written with a literal e-mail or long number in it
  // (or a RegExp route's source) is not kept either.
  return typeof matched === 'string' ? safeRouteTemplate(matched, UNMATCHED_ROUTE) : UNMATCHED_ROUTE;
}

/** While an error propagates Koa has not set the response status yet: take it from the error. */
function statusOf(ctx: Context, error: unknown): number {
  if (error === undefined) return ctx.status;
  const status = (error as { status?: unknown; statusCode?: unknown } | null)?.status ?? (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}

export function trackRequest(analytics: AnalyticsLayer, ctx: Context, error?: unknown): void {
  try {
    const route = routeTemplateOf(ctx);
    if (analytics.countPageView(route)) analytics.exportPageView(route, ctx.method, statusOf(ctx, error), ctx.header['user-agent']);
  } catch {
    // Counting a page view must never affect the response.
  }
}

export function requestTracking(analytics: AnalyticsLayer) {
  // A plain function with one .then(): this runs on every host request, so no extra async frame.
  return function telemetryRequestTracking(ctx: Context, next: Next): Promise<void> {
    return next().then(
      () => trackRequest(analytics, ctx),
      (err: unknown) => {
        trackRequest(analytics, ctx, err ?? new Error('non-error thrown'));
        throw err;
      },
    );
  };
}
