// In-process cost of the plugin middleware per request (ns), with a synthetic Koa context: isolates
// the plugin's own work from HTTP parsing and the network, which dominate request-overhead.ts.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import { telemetryPlugin } from '../src/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';

async function measure(label: string, analytics: boolean | null): Promise<number> {
  const app = new Koa();
  Object.defineProperty(app.context, 'session', { value: {}, writable: true });
  let mw: ((ctx: Koa.Context, next: () => Promise<void>) => Promise<void>) | null = null;
  if (analytics !== null) {
    const telemetry = telemetryPlugin({ appName: 'Bench', appVersion: '1.0.0', dataDir: mkdtempSync(join(tmpdir(), 'kct-micro-')), debug: true, debugOutput: () => {}, jobs: false, env: {}, logger: quiet });
    await telemetry.ready();
    await telemetry.consent.set({ analytics });
    mw = telemetry as never;
  } else {
    mw = async (_ctx, next) => {
      await next();
    };
  }
  const ctx = app.createContext({ method: 'GET', url: '/hello/world', headers: { 'user-agent': UA, accept: '*/*' }, socket: {} } as never, {} as never) as Koa.Context;
  const next = () => {
    (ctx as unknown as { _matchedRoute: string })._matchedRoute = '/hello/:name';
    ctx.status = 200;
    return Promise.resolve();
  };
  const N = 200_000;
  for (let i = 0; i < 20_000; i++) await mw!(ctx, next); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    ctx.state = {};
    await mw!(ctx, next);
  }
  const ns = Number(process.hrtime.bigint() - start) / N;
  console.log(`  ${label.padEnd(22)} ${ns.toFixed(0)} ns per request`);
  return ns;
}

console.log('plugin middleware, in process (synthetic context, same event loop turn costs included)');
const floor = await measure('empty async middleware', null);
const out = await measure('plugin, opted out', false);
const inn = await measure('plugin, opted in', true);
console.log(`  plugin work beyond an empty middleware: opted out ${(out - floor).toFixed(0)} ns, opted in ${(inn - floor).toFixed(0)} ns`);
process.exit(0);
