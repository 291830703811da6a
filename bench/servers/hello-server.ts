// A Koa hello route in one of three modes, for bench/request-overhead.ts:
//   bare       — Koa + koa-session + @koa/router, no plugin
//   opted-out  — the plugin mounted, analytics consent off (local statistics on, the default)
//   opted-in   — the plugin mounted, analytics consent on, a page view recorded for every request
// It reports its own CPU time over IPC so the benchmark measures the server, not the load generator.
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import Router from '@koa/router';
import session from 'koa-session';
import { telemetryPlugin } from '../../src/index.js';

const mode = process.argv[2] as 'bare' | 'noop' | 'then' | 'opted-out' | 'opted-in';
const endpoint = process.argv[3] ?? null;

const app = new Koa();
app.keys = ['bench-key'];
app.use(session(app));
let telemetry: ReturnType<typeof telemetryPlugin> | null = null;
if (mode === 'then') {
  // What one .then() after next() costs (the plugin's page-view hook has this shape).
  app.use((_ctx, next) => next().then(() => undefined));
} else if (mode === 'noop') {
  // The floor: what one empty async middleware costs in this stack.
  app.use(async (_ctx, next) => {
    await next();
  });
} else if (mode !== 'bare') {
  telemetry = telemetryPlugin({
    appName: 'Bench',
    appVersion: '1.0.0',
    dataDir: mkdtempSync(join(tmpdir(), 'kct-bench-')),
    otlp: { endpoint },
    jobs: false,
    env: {},
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    // BENCH_EXPERIMENT=quiet-background: no periodic local writes, no OTLP export during the run,
    // to separate request-path cost from background work.
    ...(process.env.BENCH_EXPERIMENT === 'quiet-background' ? { recorder: { intervalMs: 3_600_000, batchSize: 10_000, cap: 1_000_000 }, export: { intervalMs: 3_600_000, metricIntervalMs: 3_600_000 } } : {}),
  });
  app.use(telemetry);
  await telemetry.ready();
  await telemetry.consent.set({ analytics: mode === 'opted-in' });
}
const router = new Router();
router.get('/hello/:name', (ctx) => {
  ctx.body = { hello: ctx.params.name };
});
app.use(router.routes());

const server = http.createServer(app.callback());
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address() as { port: number };
  process.send!({ type: 'listening', port: address.port });
});

let start = process.cpuUsage();
process.on('message', async (message: { type: string }) => {
  if (message.type === 'reset') {
    start = process.cpuUsage();
    process.send!({ type: 'reset-done' });
  } else if (message.type === 'report') {
    const used = process.cpuUsage(start);
    process.send!({ type: 'report', cpuMicros: used.user + used.system, memory: process.memoryUsage().rss });
  } else if (message.type === 'stop') {
    server.close();
    await telemetry?.stop();
    process.exit(0);
  }
});
