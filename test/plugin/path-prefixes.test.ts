// The plugin's path prefixes, read from the raw request URL on every host request: the same answer
// as Koa's ctx.path for every URL a client or a host middleware can put there, and through a real
// host, the plugin's paths are the plugin's and look-alike host paths stay the host's.
import test from 'ava';
import Koa from 'koa';
import { pathPrefixTest } from '../../src/plugin/middleware/path-prefixes.js';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';

const PREFIXES = ['/telemetry/api', '/telemetry', '/support', '/telemetry/assets'];

/** Koa's own answer: ctx.path (parseurl) against each prefix and what lies below it. */
function byKoaPath(path: string | null, prefixes: readonly string[] = PREFIXES): boolean {
  return typeof path === 'string' && prefixes.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
}

const URLS = [
  '/telemetry',
  '/telemetry/',
  '/telemetry?x=1',
  '/telemetry#frag',
  '/telemetry/api/v1/usage-stats/status',
  '/telemetry/api?/x',
  '/telemetryx',
  '/telemetry-x/y',
  '/telemetry%2Fapi',
  '/Telemetry',
  '/support',
  '/support-us',
  '/supporters/list?x=/support',
  '/hello/world?next=/telemetry',
  '/',
  '',
  '//telemetry',
  '/hello#/telemetry',
  'http://example.com/telemetry/api/v1/x',
  'http://example.com/hello',
  '*',
  '/telemetry\\api',
  '/telemetry api',
];

test('every URL gets the answer Koa\'s ctx.path gives', (t) => {
  const app = new Koa();
  const owns = pathPrefixTest(PREFIXES);
  for (const url of URLS) {
    const ctx = app.createContext({ url, method: 'GET', headers: {}, socket: {} } as never, {} as never);
    t.is(owns(ctx), byKoaPath(ctx.path), `${JSON.stringify(url)} (ctx.path ${JSON.stringify(ctx.path)})`);
  }
});

// Mount paths the options allow that the defaults do not show: the root, one-character prefixes, digits.
test('other mount paths (the root "/", one character, "_" and digits) get Koa\'s answer too, first character tests included', (t) => {
  const app = new Koa();
  const urls = [...URLS, '/a', '/a/', '/ab', '/a?x', '/_', '/_x/y', '/9', '/90', '/9/x', '/?q', '/#f', '/b', '/A'];
  for (const prefixes of [['/'], ['/a', '/_x', '/9'], ['/', '/telemetry'], ['/a/b/c']]) {
    const owns = pathPrefixTest(prefixes);
    for (const url of urls) {
      const ctx = app.createContext({ url, method: 'GET', headers: {}, socket: {} } as never, {} as never);
      t.is(owns(ctx), byKoaPath(ctx.path, prefixes), `${JSON.stringify(prefixes)} ${JSON.stringify(url)} (ctx.path ${JSON.stringify(ctx.path)})`);
    }
  }
});

test('a path a host middleware rewrote (koa-mount sets ctx.path) is read as rewritten', (t) => {
  const app = new Koa();
  const owns = pathPrefixTest(PREFIXES);
  const ctx = app.createContext({ url: '/admin/telemetry/api/x?y=1', method: 'GET', headers: {}, socket: {} } as never, {} as never);
  t.false(owns(ctx));
  ctx.path = '/telemetry/api/x';
  t.true(owns(ctx));
});

test('through a host: the plugin answers its prefixes, a look-alike host path is the host\'s', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t) } });
  t.teardown(() => host.close());
  const plugin = await host.request('/telemetry/api/no-such-route?x=1', { user: 'admin' });
  t.is(plugin.status, 404);
  t.is(((await plugin.json()) as { error: { code: string } }).error.code, 'not_found', 'the plugin\'s JSON 404');
  const lookAlike = await host.request('/telemetryx', { user: 'admin' });
  t.is(lookAlike.status, 404);
  t.false((await lookAlike.text()).includes('No such telemetry endpoint'), 'the host\'s own 404, not the plugin\'s');
});

test('attack: dot segments and percent-encoded prefixes get Koa\'s answer, never a looser one', (t) => {
  const app = new Koa();
  const owns = pathPrefixTest(PREFIXES);
  const attacks = ['/telemetry/../admin', '/telemetry/api/../../hello', '/%74elemetry/api/v1/usage-stats/status', '/telemetry%2fapi', '/telemetry/api/%2e%2e/x', '/./telemetry/api', '/TELEMETRY/api'];
  for (const url of attacks) {
    const ctx = app.createContext({ url, method: 'GET', headers: {}, socket: {} } as never, {} as never);
    t.is(owns(ctx), byKoaPath(ctx.path), `${url} (ctx.path ${JSON.stringify(ctx.path)})`);
  }
});
