// Admin access to the collector. Deny by default: a request is an admin's when it carries
// `Authorization: Bearer <adminToken>` (compared in constant time), a live dashboard session
// (standalone sign-in), or when the host's isAdmin(ctx) says so (mounted).
// Sessions: a random id (32 bytes, base64url) in an HttpOnly SameSite=Strict cookie; the
// collector's database keeps only its hash, with idle and absolute expiry and a fingerprint of the
// admin token, so every process shares them, sign-out ends one and a new token ends them all.
// State-changing requests that rely on a cookie (session or the host's) need a CSRF token; bearer
// API calls do not (a browser never attaches that header by itself). A session's CSRF token is
// derived from its id, so the anonymous sign-in page's token is worthless once signed in.
// Failed sign-ins are throttled per client address (in memory only, salted and hashed), never
// globally: an attacker elsewhere cannot lock the admin out.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { HttpError } from '../core/http-errors.js';
import { ClientThrottle, clientAddress } from './client-throttle.js';
import type { SessionRepository } from './storage/sessions.js';

export const SESSION_COOKIE = 'kct_collector_session';
export const CSRF_COOKIE = 'kct_collector_csrf';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Failed sign-ins allowed per client address per minute. */
export const SIGN_IN_FAILURES_PER_MINUTE = 10;
const SIGN_IN_WINDOW_MS = 60_000;
/** Bytes of randomness in a session id. */
export const SESSION_ID_BYTES = 32;
/** last_used_at is written at most this often per session (idle expiry is this coarse). */
export const SESSION_TOUCH_INTERVAL_MS = 60_000;
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export type AdminVia = 'bearer' | 'session' | 'host';

declare module 'koa' {
  interface DefaultState {
    collectorAdmin?: AdminVia;
    /** The live session's id, once identify() found one. */
    collectorSessionId?: string;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Constant-time equality that does not leak the lengths either. */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

const hashSessionId = (id: string): string => createHash('sha256').update(`kct-collector-session-id:${id}`).digest('hex');
const sessionCsrf = (id: string): string => createHmac('sha256', id).update('kct-collector-csrf').digest('base64url');

export interface AdminAuthOptions {
  adminToken: string | null;
  isAdmin: (ctx: Context) => boolean | Promise<boolean>;
  sessions: SessionRepository;
  sessionHours: number;
  sessionIdleMinutes: number;
  trustProxy: boolean;
  cookiePath: string;
  now: () => Date;
}

export class AdminAuth {
  /** Ties sessions to the token: changing COLLECTOR_ADMIN_TOKEN ends every session. */
  readonly #fingerprint: string | null;
  readonly #failures: ClientThrottle;

  constructor(private readonly options: AdminAuthOptions) {
    this.#fingerprint = options.adminToken ? createHash('sha256').update(`kct-collector-session:${options.adminToken}`).digest('hex') : null;
    this.#failures = new ClientThrottle({ limit: SIGN_IN_FAILURES_PER_MINUTE, windowMs: SIGN_IN_WINDOW_MS, now: options.now });
  }

  get tokenConfigured(): boolean {
    return this.options.adminToken !== null;
  }

  /** The fingerprint of the configured admin token (sessions of any other are void). */
  get tokenFingerprint(): string | null {
    return this.#fingerprint;
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

  #sessionIdOf(ctx: Context): string | null {
    const value = ctx.cookies.get(SESSION_COOKIE);
    return value && SESSION_ID.test(value) ? value : null;
  }

  /** A live session of the current admin token? Ends it when expired or made under another token. */
  async session(ctx: Context): Promise<boolean> {
    if (!this.#fingerprint) return false;
    const id = this.#sessionIdOf(ctx);
    if (!id) return false;
    const idHash = hashSessionId(id);
    const stored = await this.options.sessions.find(idHash);
    if (!stored) return false;
    const now = this.options.now().getTime();
    const idleMs = this.options.sessionIdleMinutes * 60_000;
    if (stored.expiresAt.getTime() <= now || stored.lastUsedAt.getTime() + idleMs <= now || !sameSecret(stored.tokenFingerprint, this.#fingerprint)) {
      await this.options.sessions.delete(idHash);
      return false;
    }
    if (now - stored.lastUsedAt.getTime() >= SESSION_TOUCH_INTERVAL_MS) await this.options.sessions.touch(idHash, new Date(now));
    ctx.state.collectorSessionId = id;
    return true;
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
    if (await this.session(ctx)) return 'session';
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

  /**
   * The CSRF token rendered into pages: derived from the session id when identify() found a
   * session, otherwise this browser's CSRF cookie (set on first use).
   */
  csrfToken(ctx: Context): string {
    if (ctx.state.collectorSessionId) return sessionCsrf(ctx.state.collectorSessionId);
    const signed = this.#hasKeys(ctx);
    const existing = ctx.cookies.get(CSRF_COOKIE, { signed });
    if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
    const token = randomBytes(32).toString('base64url');
    ctx.cookies.set(CSRF_COOKIE, token, { ...this.#cookieOptions(ctx), signed });
    return token;
  }

  checkCsrf(ctx: Context, formToken: string | undefined): void {
    const expected = ctx.state.collectorSessionId ? sessionCsrf(ctx.state.collectorSessionId) : ctx.cookies.get(CSRF_COOKIE, { signed: this.#hasKeys(ctx) });
    const given = ctx.get('x-csrf-token') || formToken;
    if (!expected || !given || !sameSecret(expected, given)) {
      throw new HttpError(403, 'csrf_failed', "Missing or invalid CSRF token: send the X-CSRF-Token header from the page's csrf-token meta tag.");
    }
  }

  /**
   * Checks the token from the sign-in form; on success stores a new session and sets its cookie.
   * A client with SIGN_IN_FAILURES_PER_MINUTE failures in the last minute gets 429 (every other
   * client, the admin's included, is unaffected).
   */
  async signIn(ctx: Context, token: string): Promise<boolean> {
    const address = clientAddress(ctx, this.options.trustProxy);
    const verdict = this.#failures.check(address);
    if (!verdict.allowed) {
      ctx.set('Retry-After', String(verdict.retryAfterSeconds));
      throw new HttpError(429, 'rate_limited', 'Too many failed sign-ins from here; wait a minute.');
    }
    if (!this.options.adminToken || !this.#fingerprint || !sameSecret(this.options.adminToken, token)) {
      this.#failures.hit(address);
      return false;
    }
    const now = this.options.now();
    const maxAge = Math.round(this.options.sessionHours * 3_600_000);
    const id = randomBytes(SESSION_ID_BYTES).toString('base64url');
    await this.options.sessions.create({ idHash: hashSessionId(id), tokenFingerprint: this.#fingerprint, createdAt: now, lastUsedAt: now, expiresAt: new Date(now.getTime() + maxAge) });
    ctx.cookies.set(SESSION_COOKIE, id, { ...this.#cookieOptions(ctx, maxAge), signed: false });
    ctx.state.collectorSessionId = id;
    return true;
  }

  /** Deletes the session server-side (a copied cookie stops working too) and clears the cookie. */
  async signOut(ctx: Context): Promise<void> {
    const id = this.#sessionIdOf(ctx);
    if (id) await this.options.sessions.delete(hashSessionId(id));
    ctx.state.collectorSessionId = undefined;
    ctx.cookies.set(SESSION_COOKIE, '', { ...this.#cookieOptions(ctx), signed: false, maxAge: 0, expires: new Date(0) });
  }

  /** Maintenance: expired sessions and those of another admin token go. */
  purgeSessions(): Promise<number> {
    const now = this.options.now();
    return this.options.sessions.purgeExpired(now, new Date(now.getTime() - this.options.sessionIdleMinutes * 60_000), this.#fingerprint);
  }
}
