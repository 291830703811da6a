// Admin access to the collector. Deny by default: a request is an admin's when it carries
// `Authorization: Bearer <adminToken>` (compared in constant time), a valid signed dashboard
// session cookie (standalone sign-in), or when the host's isAdmin(ctx) says so (mounted).
// State-changing requests that rely on a cookie (session or the host's) need a CSRF token; bearer
// API calls do not (a browser never attaches that header by itself).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { HttpError } from '../middleware/errors.js';

export const SESSION_COOKIE = 'kct_collector_session';
export const CSRF_COOKIE = 'kct_collector_csrf';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const SIGN_IN_FAILURES_PER_MINUTE = 10;

export type AdminVia = 'bearer' | 'session' | 'host';

declare module 'koa' {
  interface DefaultState {
    collectorAdmin?: AdminVia;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Constant-time equality that does not leak the lengths either. */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export interface AdminAuthOptions {
  adminToken: string | null;
  isAdmin: (ctx: Context) => boolean | Promise<boolean>;
  sessionHours: number;
  cookiePath: string;
  now: () => Date;
}

export class AdminAuth {
  /** Ties sessions to the token: changing COLLECTOR_ADMIN_TOKEN signs every browser out. */
  readonly #fingerprint: string | null;
  #failures: number[] = [];

  constructor(private readonly options: AdminAuthOptions) {
    this.#fingerprint = options.adminToken ? createHash('sha256').update(`kct-collector-session:${options.adminToken}`).digest('hex').slice(0, 32) : null;
  }

  get tokenConfigured(): boolean {
    return this.options.adminToken !== null;
  }

  #hasKeys(ctx: Context): boolean {
    const keys = (ctx.app as { keys?: unknown }).keys;
    return Array.isArray(keys) ? keys.length > 0 : Boolean(keys);
  }

  #cookieOptions(ctx: Context, maxAge?: number) {
    return { httpOnly: true, sameSite: 'strict' as const, path: this.options.cookiePath, secure: ctx.secure, overwrite: true, ...(maxAge ? { maxAge } : {}) };
  }

  bearer(ctx: Context): boolean {
    const token = this.options.adminToken;
    const header = ctx.get('authorization');
    const match = /^Bearer\s+(.+)$/i.exec(header);
    return token !== null && match !== null && sameSecret(token, match[1]!.trim());
  }

  session(ctx: Context): boolean {
    if (!this.#fingerprint || !this.#hasKeys(ctx)) return false;
    const value = ctx.cookies.get(SESSION_COOKIE, { signed: true });
    if (!value) return false;
    const [version, expires, fingerprint] = value.split('.');
    return version === 'v1' && Number(expires) > this.options.now().getTime() && fingerprint !== undefined && sameSecret(fingerprint, this.#fingerprint);
  }

  async host(ctx: Context): Promise<boolean> {
    try {
      return (await this.options.isAdmin(ctx)) === true;
    } catch {
      return false;
    }
  }

  async identify(ctx: Context): Promise<AdminVia | null> {
    if (this.bearer(ctx)) return 'bearer';
    if (this.session(ctx)) return 'session';
    if (await this.host(ctx)) return 'host';
    return null;
  }

  /** 401 unless an admin; then CSRF for unsafe methods unless the bearer token was used. */
  requireAdmin() {
    return async (ctx: Context, next: Next): Promise<void> => {
      const via = await this.identify(ctx);
      if (!via) {
        ctx.set('WWW-Authenticate', 'Bearer realm="collector"');
        throw new HttpError(401, 'unauthorized', 'Admin access needed: send Authorization: Bearer <COLLECTOR_ADMIN_TOKEN>.');
      }
      ctx.state.collectorAdmin = via;
      if (via !== 'bearer' && !SAFE_METHODS.has(ctx.method)) this.checkCsrf(ctx, undefined);
      await next();
    };
  }

  /** The CSRF token of this browser (a cookie, set on first use), rendered into pages. */
  csrfToken(ctx: Context): string {
    const signed = this.#hasKeys(ctx);
    const existing = ctx.cookies.get(CSRF_COOKIE, { signed });
    if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
    const token = randomBytes(32).toString('base64url');
    ctx.cookies.set(CSRF_COOKIE, token, { ...this.#cookieOptions(ctx), signed });
    return token;
  }

  checkCsrf(ctx: Context, formToken: string | undefined): void {
    const expected = ctx.cookies.get(CSRF_COOKIE, { signed: this.#hasKeys(ctx) });
    const given = ctx.get('x-csrf-token') || formToken;
    if (!expected || !given || !sameSecret(expected, given)) {
      throw new HttpError(403, 'csrf_failed', "Missing or invalid CSRF token: send the X-CSRF-Token header from the page's csrf-token meta tag.");
    }
  }

  /** Checks the token from the sign-in form; sets the signed session cookie. */
  signIn(ctx: Context, token: string): boolean {
    const now = this.options.now().getTime();
    this.#failures = this.#failures.filter((at) => at > now - 60_000);
    if (this.#failures.length >= SIGN_IN_FAILURES_PER_MINUTE) {
      throw new HttpError(429, 'rate_limited', 'Too many failed sign-ins; wait a minute.');
    }
    if (!this.options.adminToken || !this.#fingerprint || !sameSecret(this.options.adminToken, token)) {
      this.#failures.push(now);
      return false;
    }
    if (!this.#hasKeys(ctx)) {
      throw new HttpError(500, 'session_keys_missing', 'The Koa app has no app.keys, so the collector cannot sign a session cookie; set app.keys (or COLLECTOR_SESSION_KEYS standalone).');
    }
    const maxAge = this.options.sessionHours * 3_600_000;
    ctx.cookies.set(SESSION_COOKIE, `v1.${now + maxAge}.${this.#fingerprint}`, { ...this.#cookieOptions(ctx, maxAge), signed: true });
    return true;
  }

  signOut(ctx: Context): void {
    ctx.cookies.set(SESSION_COOKIE, '', { ...this.#cookieOptions(ctx), signed: this.#hasKeys(ctx), maxAge: 0, expires: new Date(0) });
  }
}
