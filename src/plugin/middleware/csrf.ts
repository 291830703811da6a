// A per-session CSRF token for the plugin's state-changing routes, accepted in the X-CSRF-Token
// header or a _csrf form field, compared in constant time. The token is bound to the user it was
// issued for (the session keeps a hash of token + user, never the user id itself): when the
// signed-in user changes — an anonymous visitor signs in, or another user takes the browser — a
// new token is issued and the old one is refused.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { localizedError } from '../i18n/errors.js';
import { currentUser, type GetUser } from './auth.js';
import type { TelemetryUser } from '../types.js';

const SESSION_KEY = 'telemetryCsrfToken';
const BINDING_KEY = 'telemetryCsrfBinding';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

type SessionBag = Record<string, unknown> | null | undefined;

function userKey(user: TelemetryUser | null): string {
  return user ? `user:${typeof user.id}:${String(user.id)}` : 'anonymous';
}

/** Ties a token to a user without storing who the user is. */
function binding(token: string, user: TelemetryUser | null): string {
  return createHash('sha256').update(`kct-csrf:${token}:${userKey(user)}`).digest('base64url');
}

function sessionOf(ctx: Context): SessionBag {
  return (ctx as unknown as { session: SessionBag }).session;
}

/** The session's token for the current user, created on first use and re-issued when the user changes. */
export function csrfToken(ctx: Context, getUser: GetUser): string {
  const session = sessionOf(ctx);
  if (!session) throw localizedError(500, 'session_unavailable', 'error.api.session_unavailable');
  const user = currentUser(ctx, getUser);
  let token = session[SESSION_KEY];
  if (typeof token !== 'string' || token.length !== 43 || session[BINDING_KEY] !== binding(token, user)) {
    token = randomBytes(32).toString('base64url');
    session[SESSION_KEY] = token;
    session[BINDING_KEY] = binding(token as string, user);
  }
  return token as string;
}

function sameToken(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Rejects unsafe methods without the current user's token (403). `bodyField` reads a parsed
 * body's _csrf.
 */
export function requireCsrf(getUser: GetUser, bodyField: (ctx: Context) => unknown = () => undefined) {
  return async function telemetryRequireCsrf(ctx: Context, next: Next): Promise<void> {
    if (!SAFE_METHODS.has(ctx.method)) {
      const session = sessionOf(ctx);
      const expected = session?.[SESSION_KEY];
      const given = ctx.get('x-csrf-token') || bodyField(ctx);
      const boundToThisUser = typeof expected === 'string' && session?.[BINDING_KEY] === binding(expected, currentUser(ctx, getUser));
      if (!boundToThisUser || typeof given !== 'string' || !sameToken(expected as string, given)) {
        // A token sent to a session that holds none: the session did not persist (docs/faq.md).
        const noSessionToken = expected === undefined && typeof given === 'string';
        throw localizedError(403, 'csrf_failed', noSessionToken ? 'error.api.csrf_failed_no_session_token' : 'error.api.csrf_failed');
      }
    }
    await next();
  };
}
