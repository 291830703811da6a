// The route template @koa/router matched (e.g. /projects/:id), never the raw path: what page views
// are counted by and what logs name, so no id, e-mail or token in a URL is ever kept.
import type { Context } from 'koa';
import { safeRouteTemplate } from '../telemetry/privacy-guard.js';

/** Requests no router matched share one name, so unknown paths never become keys or log text. */
export const UNMATCHED_ROUTE = '(unmatched)';

export function routeTemplateOf(ctx: Context): string {
  const matched = (ctx as unknown as { _matchedRoute?: unknown })._matchedRoute;
  // A template is the host's own code, but one written with a literal e-mail or long number in it
  // (or a RegExp route's source) is not kept either.
  return typeof matched === 'string' ? safeRouteTemplate(matched, UNMATCHED_ROUTE) : UNMATCHED_ROUTE;
}
