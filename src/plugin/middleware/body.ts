// JSON bodies for the plugin's own routes: a host body parser's result when one ran first,
// otherwise parsed here with co-body under a small limit. Malformed → 400, too large → 413.
import type { Context, Next } from 'koa';
import coBody from 'co-body';
import type { z } from 'zod';
import { localizedError, validatorText } from '../i18n/errors.js';

export const DEFAULT_BODY_LIMIT = '16kb';
const BODY = Symbol('koa-consent-telemetry.body');

/** The parsed JSON body of this request (undefined when there was none). */
export function jsonBody(ctx: Context): unknown {
  return (ctx as unknown as Record<symbol, unknown>)[BODY];
}

export function parseJsonBody(limit = DEFAULT_BODY_LIMIT) {
  return async function telemetryJsonBody(ctx: Context, next: Next): Promise<void> {
    const hostParsed = (ctx.request as { body?: unknown }).body;
    let body: unknown = hostParsed;
    if (body === undefined && ctx.request.length !== 0 && ctx.req.readable && (ctx.request.length || ctx.get('transfer-encoding'))) {
      if (!ctx.is('application/json', '+json')) throw localizedError(415, 'unsupported_media_type', 'error.api.json_required');
      try {
        body = await coBody.json(ctx.req, { limit, strict: true });
      } catch (err) {
        const status = (err as { status?: number }).status;
        if (status === 413) throw localizedError(413, 'payload_too_large', 'error.api.body_too_large', { limit });
        throw localizedError(400, 'invalid_json', 'error.api.invalid_json');
      }
    }
    (ctx as unknown as Record<symbol, unknown>)[BODY] = body;
    await next();
  };
}

/**
 * Parses a body or query with its schema; a mismatch is a 400 naming the first bad field and, when
 * given, the `expected` shape (so `{"analytics":true}` learns what to send), with every issue listed.
 */
export function validateInput<T>(schema: z.ZodType<T>, value: unknown, what: string, expected?: string): T {
  const parsed = schema.safeParse(value, { reportInput: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length ? issue.path.join('.') : what;
    const details = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const issueText = validatorText(issue);
    throw expected
      ? localizedError(400, 'invalid_request', 'error.api.invalid_field_expected', { field, issue: issueText, expected }, details)
      : localizedError(400, 'invalid_request', 'error.api.invalid_field', { field, issue: issueText }, details);
  }
  return parsed.data;
}
