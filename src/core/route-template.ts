// The route template @koa/router matched (e.g. /projects/:id), never the raw path: what page views
// are counted by and what logs name, so no id, e-mail or token in a URL is ever kept.
import type { Context } from 'koa';

/** Requests no router matched share one name, so unknown paths never become keys or log text. */
export const UNMATCHED_ROUTE = '(unmatched)';

/** Matched template → what it is counted as: checked once per route, not once per request. */
const checkedTemplates = new Map<string, string>();
const CHECKED_TEMPLATES_LIMIT = 1_000;
const MAX_TEMPLATE_LENGTH = 200;

export function routeTemplateOf(ctx: Context): string {
  return routeTemplateFrom((ctx as unknown as { _matchedRoute?: unknown })._matchedRoute);
}

/** What a matched route (ctx._matchedRoute as the router left it, any value) is counted as. */
export function routeTemplateFrom(matched: unknown): string {
  if (typeof matched !== 'string') return UNMATCHED_ROUTE;
  // Too long to be a template: not kept, and not held as a cache key either.
  if (matched.length > MAX_TEMPLATE_LENGTH) return UNMATCHED_ROUTE;
  let template = checkedTemplates.get(matched);
  if (template === undefined) {
    // A template is the host's own code, but one written with a literal e-mail or long number in it
    // (or a RegExp route's source) is not kept either.
    template = safeRouteTemplate(matched, UNMATCHED_ROUTE);
    if (checkedTemplates.size >= CHECKED_TEMPLATES_LIMIT) checkedTemplates.clear();
    checkedTemplates.set(matched, template);
  }
  return template;
}

/** A run of this many digits in a template is an id or a number written into the route, not a shape. */
const DIGIT_RUN = /\d{6,}/;

/** Requests whose route template does not look like one (an e-mail, a query, a long number) share the unmatched bucket. */
export function safeRouteTemplate(template: string, fallback: string): string {
  if (template.length > MAX_TEMPLATE_LENGTH || template.includes('@') || template.includes('?') || DIGIT_RUN.test(template)) return fallback;
  return template;
}
