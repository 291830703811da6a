// Request-level helpers of the host: session access, rendering, flash messages, CSRF, auth guards.
import type { Context, Next } from 'koa';
import nunjucks from 'nunjucks';
import type { HostUser } from './db.js';
import { newToken, safeEqual } from './security.js';

export interface Flash {
  type: 'success' | 'error' | 'info';
  text: string;
}

/** What the host keeps in koa-session (the plugin may keep its own keys beside these). */
export interface HostSession {
  userId?: number;
  hostCsrf?: string;
  flash?: Flash;
}

/** The host's slice of `ctx.session` (koa-session does not type it; we do not augment koa). */
export function sessionOf(ctx: Context): HostSession {
  const session = (ctx as unknown as { session?: HostSession | null }).session;
  if (!session) throw new Error('koa-session is not mounted');
  return session;
}

export function currentUser(ctx: Context): HostUser | null {
  return (ctx.state.user as HostUser | undefined) ?? null;
}

export function wantsJson(ctx: Context): boolean {
  return Boolean(ctx.request.is('application/json')) || ctx.accepts('html', 'json') === 'json';
}

export function setFlash(ctx: Context, type: Flash['type'], text: string): void {
  sessionOf(ctx).flash = { type, text };
}

function takeFlash(ctx: Context): Flash | null {
  const session = (ctx as unknown as { session?: HostSession | null }).session;
  if (!session?.flash) return null;
  const flash = session.flash;
  delete session.flash;
  return flash;
}

/** The host's per-session CSRF token (created on first use). */
export function csrfToken(ctx: Context): string {
  const session = sessionOf(ctx);
  if (!session.hostCsrf) session.hostCsrf = newToken();
  return session.hostCsrf;
}

export function rotateCsrfToken(ctx: Context): void {
  sessionOf(ctx).hostCsrf = newToken();
}

/** Body field of a parsed urlencoded or JSON body, as a trimmed string ('' when absent). */
export function field(ctx: Context, name: string): string {
  const body = ctx.request.body;
  if (!body || typeof body !== 'object') return '';
  const value = (body as Record<string, unknown>)[name];
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return '';
}

/** Guard for state-changing host routes: `_csrf` form field or `X-CSRF-Token` header. */
export async function requireCsrf(ctx: Context, next: Next): Promise<void> {
  const session = sessionOf(ctx);
  const sent = field(ctx, '_csrf') || ctx.get('x-csrf-token');
  if (!safeEqual(sent, session.hostCsrf)) {
    ctx.throw(403, 'The form has expired. Reload the page and try again.', { code: 'csrf' });
  }
  await next();
}

export function safeNext(value: unknown): string {
  return typeof value === 'string' && /^\/(?![/\\])[^\\\s]*$/.test(value) ? value : '/';
}

export async function requireUser(ctx: Context, next: Next): Promise<void> {
  if (currentUser(ctx)) return void (await next());
  if (wantsJson(ctx)) {
    ctx.status = 401;
    ctx.body = { error: { code: 'unauthorized', message: 'Sign in first.' } };
    return;
  }
  const target = ctx.method === 'GET' && ctx.path !== '/' ? `/login?next=${encodeURIComponent(ctx.originalUrl)}` : '/login';
  ctx.redirect(target);
}

export async function requireAdmin(ctx: Context, next: Next): Promise<void> {
  await requireUser(ctx, async () => {
    if (!currentUser(ctx)?.isAdmin) ctx.throw(403, 'This page is for administrators.');
    await next();
  });
}

export type Renderer = (ctx: Context, template: string, data?: Record<string, unknown>) => Promise<void>;

export function createRenderer(env: nunjucks.Environment, appName: string): Renderer {
  return async (ctx, template, data = {}) => {
    const hasSession = Boolean((ctx as unknown as { session?: unknown }).session);
    const context = {
      ...ctx.state, // the plugin's template state (partials read it) + ctx.state.user
      appName,
      user: currentUser(ctx),
      csrfToken: hasSession ? csrfToken(ctx) : '',
      currentPath: ctx.path,
      flash: takeFlash(ctx),
      ...data,
    };
    const html = await new Promise<string>((resolve, reject) => {
      env.render(template, context, (err, res) => (err ? reject(err) : resolve(res ?? '')));
    });
    ctx.type = 'html';
    ctx.body = html;
  };
}
