// A per-session CSRF token for the plugin's state-changing routes, accepted in the X-CSRF-Token
// header or a _csrf form field, compared in constant time.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { HttpError } from './errors.js';

const SESSION_KEY = 'telemetryCsrfToken';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

type SessionBag = Record<string, unknown> | null | undefined;

/** The session's token, created on first use. */
export function csrfToken(ctx: Context): string {
  const session = (ctx as unknown as { session: SessionBag }).session;
  if (!session) throw new HttpError(500, 'session_unavailable', 'koa-session is required for CSRF protection.');
  let token = session[SESSION_KEY];
  if (typeof token !== 'string' || token.length !== 43) {
    token = randomBytes(32).toString('base64url');
    session[SESSION_KEY] = token;
  }
  return token as string;
}

function sameToken(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Rejects unsafe methods without a matching token (403). `bodyField` reads a parsed body's _csrf. */
export function requireCsrf(bodyField: (ctx: Context) => unknown = () => undefined) {
  return async function telemetryRequireCsrf(ctx: Context, next: Next): Promise<void> {
    if (!SAFE_METHODS.has(ctx.method)) {
      const session = (ctx as unknown as { session: SessionBag }).session;
      const expected = session?.[SESSION_KEY];
      const given = ctx.get('x-csrf-token') || bodyField(ctx);
      if (typeof expected !== 'string' || typeof given !== 'string' || !sameToken(expected, given)) {
        throw new HttpError(403, 'csrf_failed', 'Missing or invalid CSRF token: send the X-CSRF-Token header from the page\'s csrf-token meta tag.');
      }
    }
    await next();
  };
}
