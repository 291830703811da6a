// A small real Koa host for plugin tests: koa-session, @koa/router routes, the plugin mounted as a
// host would mount it, listening on 127.0.0.1:0. Test users come from an `x-test-user` header
// (admin | alice) so tests need no login flow.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import session from 'koa-session';
import { telemetryPlugin, type TelemetryHandle, type TelemetryOptions } from '../../src/index.js';
import { outlastClientKeepAlive } from './ports.js';

export const TEST_USERS = {
  admin: { id: 1, username: 'admin', isAdmin: true, createdAt: '2026-01-01T00:00:00Z' },
  alice: { id: 2, username: 'alice', isAdmin: false, createdAt: '2026-11-01T00:00:00Z' },
} as const;

export interface HostApp {
  url: string;
  app: Koa;
  telemetry: TelemetryHandle;
  /** fetch against the host, with an optional test user and a cookie jar shared across calls. */
  request(path: string, init?: RequestInit & { user?: keyof typeof TEST_USERS }): Promise<Response>;
  close(): Promise<void>;
}

export interface HostAppOptions {
  telemetry: Partial<TelemetryOptions> & { dataDir: string };
  /** Extra host routes. */
  routes?: (router: Router) => void;
  /** Mount koa-session (default true). */
  session?: boolean;
  /** Call telemetry.ready() before listening (default true). */
  ready?: boolean;
  /** Reproduce a mounting mistake: the plugin before koa-session, or before the host's user middleware. */
  pluginMountedBefore?: 'session' | 'user';
}

export async function startHostApp(options: HostAppOptions): Promise<HostApp> {
  const app = new Koa();
  app.keys = ['test-key-a', 'test-key-b'];
  app.silent = true;
  const telemetry = telemetryPlugin({ appName: 'TestHost', appVersion: '9.9.9', jobs: false, env: {}, ...options.telemetry } as TelemetryOptions);
  const mountSession = () => {
    if (options.session !== false) app.use(session({ sameSite: 'lax' }, app));
  };
  const mountUser = () =>
    void app.use(async (ctx, next) => {
      const name = ctx.get('x-test-user') as keyof typeof TEST_USERS;
      if (name && TEST_USERS[name]) ctx.state.user = TEST_USERS[name];
      // The language a host keeps in its user's settings (ctx.state.locale), e.g. the example host's.
      const locale = ctx.get('x-test-locale');
      if (locale) ctx.state.locale = locale;
      await next();
    });
  const mountTelemetry = () => void app.use(telemetry);
  const order =
    options.pluginMountedBefore === 'session'
      ? [mountUser, mountTelemetry, mountSession]
      : options.pluginMountedBefore === 'user'
        ? [mountSession, mountTelemetry, mountUser]
        : [mountSession, mountUser, mountTelemetry];
  for (const mount of order) mount();

  const router = new Router();
  router.get('/hello', (ctx) => {
    ctx.body = { hello: 'world' };
  });
  router.get('/projects/:id', (ctx) => {
    ctx.telemetry.track('project.viewed', { source: 'web' });
    ctx.body = { project: ctx.params.id };
  });
  router.post('/timer/start', (ctx) => {
    ctx.telemetry.track('timer.started', { source: 'web' });
    ctx.status = 201;
    ctx.body = { ok: true };
  });
  router.get('/boom', () => {
    throw new Error('host failure');
  });
  options.routes?.(router);
  app.use(router.routes()).use(router.allowedMethods());

  if (options.ready !== false) await telemetry.ready();
  const server = http.createServer(app.callback());
  outlastClientKeepAlive(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let cookie = '';

  return {
    url,
    app,
    telemetry,
    async request(path, init = {}) {
      const headers = new Headers(init.headers);
      if (init.user) headers.set('x-test-user', init.user);
      if (cookie) headers.set('cookie', cookie);
      const response = await fetch(`${url}${path}`, { ...init, headers, redirect: 'manual' });
      const setCookies = response.headers.getSetCookie();
      if (setCookies.length > 0) {
        const jar = new Map(cookie ? cookie.split('; ').map((c) => [c.split('=')[0]!, c] as const) : []);
        for (const c of setCookies) {
          const pair = c.split(';')[0]!;
          jar.set(pair.split('=')[0]!, pair);
        }
        cookie = [...jar.values()].join('; ');
      }
      return response;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
      await telemetry.stop();
    },
  };
}
