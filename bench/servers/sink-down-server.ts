// A Koa host with the plugin opted in, for bench/sink-down.ts: every request records a page view and
// calls ctx.telemetry.track(). It samples its own memory every 20 ms and, on request, reports the
// peaks, the plugin's queue counters and how long telemetry.stop() took.
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import Router from '@koa/router';
import session from 'koa-session';
import { telemetryPlugin } from '../../src/index.js';

const endpoint = process.argv[2]!;
const app = new Koa();
app.keys = ['bench-key'];
app.use(session(app));
const telemetry = telemetryPlugin({
  appName: 'Bench',
  appVersion: '1.0.0',
  dataDir: mkdtempSync(join(tmpdir(), 'kct-sinkdown-')),
  otlp: { endpoint },
  jobs: false,
  env: {},
  logger: { debug() {}, info() {}, warn() {}, error() {} },
});
app.use(async (ctx, next) => {
  ctx.state.user = { id: 1 + (Number(ctx.get('x-user') || 0) % 500) };
  await next();
});
app.use(telemetry);
await telemetry.ready();
await telemetry.consent.set({ analytics: true });
const router = new Router();
router.get('/reports/:id', (ctx) => {
  ctx.telemetry.track('report.viewed', { format: 'pdf', pages: 3 });
  ctx.body = { report: ctx.params.id };
});
app.use(router.routes());

const peak = { rss: 0, heapUsed: 0 };
let sampler: NodeJS.Timeout | null = null;
const sample = () => {
  const m = process.memoryUsage();
  if (m.rss > peak.rss) peak.rss = m.rss;
  if (m.heapUsed > peak.heapUsed) peak.heapUsed = m.heapUsed;
};

const server = http.createServer(app.callback());
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send!({ type: 'listening', port: (server.address() as { port: number }).port }));

process.on('message', async (message: { type: string }) => {
  if (message.type === 'start-sampling') {
    global.gc?.();
    const m = process.memoryUsage();
    peak.rss = m.rss;
    peak.heapUsed = m.heapUsed;
    sampler = setInterval(sample, 20);
    process.send!({ type: 'sampling', before: { rss: m.rss, heapUsed: m.heapUsed } });
  } else if (message.type === 'report') {
    sample();
    if (sampler) clearInterval(sampler);
    const status = telemetry.status();
    // What the host still holds once garbage is gone: the queues (bounded by their caps) and caches.
    global.gc?.();
    const retained = process.memoryUsage();
    process.send!({ type: 'report', peak, retained: { rss: retained.rss, heapUsed: retained.heapUsed }, status: { queue: status.queue, sink: status.sink, local_stats: status.local_stats } });
  } else if (message.type === 'stop') {
    server.close();
    server.closeAllConnections();
    const started = process.hrtime.bigint();
    await telemetry.stop();
    const stopMs = Number(process.hrtime.bigint() - started) / 1e6;
    process.send!({ type: 'stopped', stopMs }, () => process.exit(0));
  }
});
