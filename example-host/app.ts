// The example host: a small Koa time tracker that mounts koa-consent-telemetry.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Koa, { type Context, type Next } from 'koa';
import session from 'koa-session';
import { bodyParser } from '@koa/bodyparser';
import nunjucks from 'nunjucks';
import type { Knex } from 'knex';
import { telemetryPlugin, type TelemetryHandle } from '../src/index.js';
import { EXAMPLE_HOST_EVENTS } from './events.js';
import { createHostDb, HostRepository, migrateHostDb } from './db.js';
import { hostRoutes } from './routes.js';
import { newToken } from './security.js';
import { startOfDay } from './time.js';
import { createRenderer, csrfToken, currentUser, sessionOf, wantsJson, type Renderer } from './web.js';

export const APP_NAME = 'TimeTracker';
export const APP_VERSION = '1.4.0';

const VIEWS_DIR = fileURLToPath(new URL('./views/', import.meta.url));
const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));
const STATIC_FILES: Record<string, string> = { 'host.css': 'text/css; charset=utf-8', 'host.js': 'text/javascript; charset=utf-8' };

export interface HostLogger {
  info(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export interface ExampleHostOptions {
  /** host.sqlite3, the session key and the plugin's dataDir (`telemetry/`) live here. */
  dataDir: string;
  /** Extra options merged into telemetryPlugin(...) (tests pass otlp endpoints, collector url, clock, …). */
  telemetry?: Record<string, unknown>;
  /** Clock for tests. */
  now?: () => Date;
  /** Where the host logs (default: console). */
  logger?: HostLogger;
}

export interface ExampleHost {
  app: Koa;
  telemetry: TelemetryHandle;
  db: Knex;
  env: nunjucks.Environment;
  listen(port?: number, host?: string): Promise<{ url: string; close(): Promise<void> }>;
  close(): Promise<void>;
}

/** Signing keys for the session cookie, kept in the data dir so sessions survive restarts. */
function sessionKeys(dataDir: string): string[] {
  if (process.env.HOST_SESSION_KEYS) return process.env.HOST_SESSION_KEYS.split(',');
  const file = join(dataDir, 'session-key');
  if (!existsSync(file)) writeFileSync(file, newToken(48) + '\n', { mode: 0o600, flag: 'wx' });
  return [readFileSync(file, 'utf8').trim()];
}

function routeTemplate(ctx: Context): string {
  const matched = (ctx as unknown as { _matchedRoute?: unknown })._matchedRoute;
  return typeof matched === 'string' ? matched : 'unmatched';
}

const TITLES: Record<number, string> = {
  400: 'That request did not look right',
  401: 'Please sign in',
  403: 'You do not have access to this page',
  404: 'Page not found',
  413: 'That was too large',
};

export async function createExampleHost(opts: ExampleHostOptions): Promise<ExampleHost> {
  const now = opts.now ?? (() => new Date());
  const logger: HostLogger = opts.logger ?? console;
  mkdirSync(opts.dataDir, { recursive: true });

  const db = createHostDb(join(opts.dataDir, 'host.sqlite3'));
  await migrateHostDb(db);
  const repo = new HostRepository(db);

  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader([VIEWS_DIR]), { autoescape: true });
  const render: Renderer = createRenderer(env, APP_NAME);

  const supporters = new Set((process.env.TIMETRACKER_SUPPORTERS ?? '').split(',').map((name) => name.trim()).filter(Boolean));
  const telemetry = telemetryPlugin({
    appName: APP_NAME,
    appVersion: APP_VERSION,
    dataDir: join(opts.dataDir, 'telemetry'),
    db, // the plugin shares the host's SQLite file; its tables are prefixed telemetry_
    getUser: (ctx: Context) => {
      const u = currentUser(ctx);
      return u ? { id: u.id, createdAt: u.createdAt } : null;
    },
    isAdmin: (ctx: Context) => currentUser(ctx)?.isAdmin === true,
    nunjucks: env,
    // The plugin's admin pages render inside this app's layout, with what the layout needs.
    pages: {
      layout: 'layout.njk',
      context: (ctx: Context) => ({ appName: APP_NAME, user: currentUser(ctx), csrfToken: csrfToken(ctx), currentPath: ctx.path }),
    },
    // Support prompts (docs/support.md): demo tiers and links (outbound only, opened in a new tab), the
    // user's own numbers for the modal and dashboard card. TIMETRACKER_SUPPORTERS=alice,… marks supporters.
    support: {
      urls: {
        tiers: [
          { key: 'coffee', label: 'Coffee · $5', url: 'https://example.org/timetracker/support/coffee' },
          { key: 'monthly', label: 'Sponsor · $10/mo', url: 'https://example.org/timetracker/support/monthly' },
          { key: 'team', label: 'Team · $50/mo', url: 'https://example.org/timetracker/support/team' },
        ],
        license: 'https://example.org/timetracker/license',
        share: 'https://example.org/timetracker',
      },
      socialProofText: 'Join 1,200+ people who keep TimeTracker independent.',
      isSupporter: (ctx: Context) => supporters.has(currentUser(ctx)?.username ?? ''),
      userStats: (_ctx: Context, user: { id: string | number }) => {
        const at = now();
        return repo.supportStats(Number(user.id), startOfDay(at), at);
      },
    },
    // The host's own events, declared so the privacy guard knows what each property may hold.
    events: EXAMPLE_HOST_EVENTS,
    ...opts.telemetry,
  });

  const app = new Koa();
  app.keys = sessionKeys(opts.dataDir);
  app.proxy = process.env.TRUST_PROXY === '1';

  // 1. Error handler (outermost): friendly page or JSON, logs, an `app.error` event.
  app.use(async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body == null && !ctx.headerSent) {
        await renderError(ctx, 404, 'The page you asked for does not exist.');
      }
    } catch (caught) {
      const err = caught as { status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown; code?: unknown };
      const raw = Number(err.status ?? err.statusCode);
      const status = Number.isInteger(raw) && raw >= 400 && raw < 600 ? raw : 500;
      if (status >= 500) logger.error(`[host] ${ctx.method} ${routeTemplate(ctx)} failed:`, caught);
      // Only the status code and the route template: no message text, no URL, no user input.
      const props = { status_code: status, route: routeTemplate(ctx) };
      try {
        if (ctx.telemetry) ctx.telemetry.track('app.error', props);
        else telemetry.track('app.error', props, { user: null });
      } catch {
        /* telemetry never breaks error handling */
      }
      const message = status < 500 && err.expose && typeof err.message === 'string' ? err.message : TITLES[status] ?? 'Something went wrong on our side.';
      await renderError(ctx, status, message, typeof err.code === 'string' ? err.code : undefined);
    }
  });

  async function renderError(ctx: Context, status: number, message: string, code?: string): Promise<void> {
    ctx.set('Cache-Control', 'no-store');
    if (wantsJson(ctx)) {
      ctx.status = status;
      ctx.body = { error: { code: code ?? (status === 404 ? 'not_found' : status >= 500 ? 'internal' : 'error'), message } };
      return;
    }
    try {
      await render(ctx, 'error.njk', { pageTitle: TITLES[status] ?? 'Error', status, title: TITLES[status] ?? 'Something went wrong', message });
    } catch (renderErr) {
      logger.error('[host] error page failed to render:', renderErr);
      ctx.type = 'text/plain';
      ctx.body = `${status} ${message}`;
    }
    ctx.status = status;
  }

  // 2. Baseline security headers.
  app.use(async (ctx: Context, next: Next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'same-origin');
    ctx.set('X-Frame-Options', 'DENY');
    await next();
  });

  // 3. The host's own static files (no CDN, no external fonts).
  app.use(async (ctx: Context, next: Next) => {
    const m = /^\/static\/([a-z0-9._-]+)$/.exec(ctx.path);
    if (!m || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    const type = STATIC_FILES[m[1]!];
    if (!type) return next();
    ctx.type = type;
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = await readFile(join(PUBLIC_DIR, m[1]!));
  });

  app.use(async (ctx: Context, next: Next) => {
    if (ctx.path === '/healthz') {
      ctx.body = { ok: true };
      return;
    }
    await next();
  });

  // 4. Session, then the signed-in user, then the plugin (it reads both).
  app.use(session({ key: 'tt.sess', maxAge: 7 * 24 * 60 * 60 * 1000, httpOnly: true, sameSite: 'lax', signed: true, rolling: false, renew: true }, app));
  app.use(async (ctx: Context, next: Next) => {
    const session = sessionOf(ctx);
    if (typeof session.userId === 'number') {
      const user = await repo.userById(session.userId);
      if (user) {
        ctx.state.user = user;
        // The plugin's default locale(ctx) reads this; without it, the browser's Accept-Language decides.
        if (user.language) ctx.state.locale = user.language;
      } else delete session.userId;
    }
    await next();
  });
  app.use(telemetry);

  // 5. The host's own routes (body parsing only here, after the plugin has taken its routes).
  app.use(bodyParser({ enableTypes: ['json', 'form'], jsonLimit: '100kb', formLimit: '100kb' }));
  const router = hostRoutes({ repo, render, now });
  app.use(router.routes());
  app.use(router.allowedMethods());

  await telemetry.ready();

  const servers = new Set<Server>();
  let closed = false;

  async function closeServer(server: Server): Promise<void> {
    if (!servers.delete(server)) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 1000).unref();
    });
  }

  return {
    app,
    telemetry,
    db,
    env,
    listen(port = 0, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        const server = app.listen(port, host);
        server.once('error', reject);
        server.once('listening', () => {
          servers.add(server);
          const addr = server.address() as AddressInfo;
          const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
          resolve({ url: `http://${shownHost}:${addr.port}`, close: () => closeServer(server) });
        });
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...servers].map(closeServer));
      try {
        await telemetry.stop();
      } finally {
        await db.destroy();
      }
    },
  };
}
