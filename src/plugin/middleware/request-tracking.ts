// Counts one page view per answered request, keyed by the route template @koa/router matched
// (e.g. /projects/:id) — never the raw URL or query string. Runs after the host has answered.
import type { Context } from 'koa';
import type { AnalyticsLayer } from '../telemetry/analytics.js';

export { routeTemplateOf, UNMATCHED_ROUTE } from '../../core/route-template.js';

/** While an error propagates Koa has not set the response status yet: take it from the error. */
function statusOf(ctx: Context, error: unknown): number {
  if (error === undefined) return ctx.res.statusCode;
  const status = (error as { status?: unknown; statusCode?: unknown } | null)?.status ?? (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}

/** False when this request's page view must stay local: a privacy signal, or a user who opted out. */
export type MayExportRequest = (ctx: Context) => boolean;

export function trackRequest(analytics: AnalyticsLayer, ctx: Context, mayExport: MayExportRequest, error?: unknown): void {
  try {
    // The route as the router left it: both counts check it when they count (a batch at a time).
    const matched = (ctx as unknown as { _matchedRoute?: unknown })._matchedRoute;
    // The raw request and response, not Koa's getters: the same values, without the delegation chain.
    if (analytics.countPageView(matched) && mayExport(ctx)) analytics.exportPageView(matched, ctx.req.method ?? '', statusOf(ctx, error), ctx.req.headers['user-agent']);
  } catch {
    // Counting a page view must never affect the response.
  }
}
