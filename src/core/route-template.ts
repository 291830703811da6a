// The route template @koa/router matched (e.g. /projects/:id), never the raw path: what page views
// are counted by and what logs name, so no id, e-mail or token in a URL is ever kept.
import type { Context } from 'koa';

/** Requests no router matched share one name, so unknown paths never become keys or log text. */
export const UNMATCHED_ROUTE = '(unmatched)';

export function routeTemplateOf(ctx: Context): string {
  const matched = (ctx as unknown as { _matchedRoute?: unknown })._matchedRoute;
  // A template is the host's own code, but one written with a literal e-mail or long number in it
  // (or a RegExp route's source) is not kept either.
  return typeof matched === 'string' ? safeRouteTemplate(matched, UNMATCHED_ROUTE) : UNMATCHED_ROUTE;
}

/** A run of this many digits in a template is an id or a number written into the route, not a shape. */
const DIGIT_RUN = /\d{6,}/;

/** Requests whose route template does not look like one (an e-mail, a query, a long number) share the unmatched bucket. */
export function safeRouteTemplate(template: string, fallback: string): string {
  if (template.length > 200 || template.includes('@') || template.includes('?') || DIGIT_RUN.test(template)) return fallback;
  return template;
}
