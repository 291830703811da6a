// JSON bodies for the plugin's own routes: a host body parser's result when one ran first,
// otherwise parsed here with co-body under a small limit. Malformed → 400, too large → 413.
import type { Context, Next } from 'koa';
import coBody from 'co-body';
import type { z } from 'zod';
import { HttpError } from '../../core/http-errors.js';

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
      if (!ctx.is('application/json', '+json')) throw new HttpError(415, 'unsupported_media_type', 'Send the body as application/json.');
      try {
        body = await coBody.json(ctx.req, { limit, strict: true });
      } catch (err) {
        const status = (err as { status?: number }).status;
        if (status === 413) throw new HttpError(413, 'payload_too_large', `The body is larger than ${limit}.`);
        throw new HttpError(400, 'invalid_json', 'The body is not valid JSON.');
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
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length ? issue.path.join('.') : what;
    const hint = expected ? `; expected ${expected}` : '';
    throw new HttpError(400, 'invalid_request', `${field}: ${issue.message}${hint}`, parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  }
  return parsed.data;
}
