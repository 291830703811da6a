// Koa hello routes for bench/request-overhead.ts, one app per mode, each on its own port, all in
// this one process (or one mode per process: the bench decides). Modes:
//   bare       — Koa + koa-session + @koa/router, no plugin
//   noop       — bare plus one empty async middleware (the floor of any middleware)
//   then       — bare plus one next().then() middleware (the shape of the plugin's page-view hook)
//   check-session, check-path, check-accept, state — bare plus one plain middleware doing one of
//                the plugin's constant steps ('session' in ctx; its path prefixes; the accept
//                header; the per-request TemplateState)
//   started    — bare, with a plugin runtime started (opted out) but not mounted
//   tracking   — bare plus only the plugin's page-view count (trackRequest) after the host, in its own async middleware
//   opted-out  — the plugin mounted, analytics consent off (local statistics on, the default)
//   no-local   — the plugin mounted, opted out, local statistics off (localStats: false)
//   quiet      — opted out, its local writes and exports held back during the run (background cost apart)
//   opted-in   — the plugin mounted, analytics consent on, a page view recorded for every request
//   posthog    — the peer: bare plus one middleware calling posthog-node capture() once per request
//                (a $pageview with route, method and status), to the same local sink, default batching
//                (flushAt 20, flushInterval 10 s)
// A name may carry a suffix (`bare#2`): another app of the same kind, for the A/A control.
// The process reports its own CPU time over IPC, so the bench measures the server, not the load
// generator.
// BENCH_NO_TIMERS=1 (bench/request-instructions.ts, under valgrind): no background work on a
// wall-clock timer — the plugin's local writes and exports, posthog-node's flush interval, the
// HTTP server's connection sweep — so what runs depends on the requests alone, not on how slowly
// the process runs; batch sizes stay at their defaults and the bench asks for the flushes itself
// (message `flush`).
//
// argv: <sink URL> <mode>[,<mode>…]
import http from 'node:http';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import inspector from 'node:inspector';
import { PerformanceObserver } from 'node:perf_hooks';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import Router from '@koa/router';
import session from 'koa-session';
import { telemetryPlugin } from '../../src/index.js';
import { quiet } from '../lib/common.js';
import { TemplateState } from '../../src/plugin/middleware/template-state.js';
import { trackRequest } from '../../src/plugin/middleware/request-tracking.js';
import { runtimeOf } from '../../src/plugin/internal.js';
import { PostHog } from 'posthog-node';

// The plugin's constant per-request steps one at a time, each as the only middleware of its app.
const PATHS = { api: '/telemetry/api', pages: '/telemetry', donate: '/support', assets: '/telemetry/assets' };
const PREFIXES = Object.values(PATHS);
const STATE_CONTEXT = { paths: PATHS, assetVersion: '1', getUser: () => null };
let checks = 0;

type Kind = 'posthog' | 'ext' | 'check-session' | 'check-path' | 'check-accept' | 'state' | 'bare' | 'noop' | 'then' | 'started' | 'tracking' | 'no-local' | 'quiet' | 'opted-out' | 'opted-in';
type Telemetry = ReturnType<typeof telemetryPlugin>;

const endpoint = process.argv[2] ?? null;
const NO_TIMERS = process.env.BENCH_NO_TIMERS === '1';
const AN_HOUR_MS = 3_600_000;
const modes = (process.argv[3] ?? 'bare').split(',');

async function startApp(kind: Kind): Promise<{ server: http.Server; port: number; telemetry: Telemetry | null; posthog: PostHog | null; kind: Kind }> {
  const app = new Koa();
  app.keys = ['bench-key'];
  app.use(session(app));
  let telemetry: Telemetry | null = null;
  let posthog: PostHog | null = null;
  if (kind === 'posthog') {
    const client = new PostHog('phc_bench_project_key', { host: endpoint!, disableGeoip: true, persistence: 'memory', ...(NO_TIMERS ? { flushInterval: AN_HOUR_MS } : {}) } as never);
    posthog = client;
    app.use(async (ctx, next) => {
      await next();
      client.capture({
        distinctId: 'anonymous',
        event: '$pageview',
        properties: { route: (ctx as unknown as { _matchedRoute?: string })._matchedRoute ?? '(unmatched)', method: ctx.method, status: ctx.status },
      });
    });
  } else if (kind === 'then') {
    app.use((_ctx, next) => next().then(() => undefined));
  } else if (kind === 'check-session') {
    app.use((ctx, next) => {
      if (!('session' in ctx)) checks++;
      return next();
    });
  } else if (kind === 'check-path') {
    app.use((ctx, next) => {
      const path = ctx.path;
      for (let i = 0; i < PREFIXES.length; i++) if (path === PREFIXES[i] || path.startsWith(`${PREFIXES[i]}/`)) checks++;
      return next();
    });
  } else if (kind === 'check-accept') {
    app.use((ctx, next) => {
      if (ctx.method === 'GET' && ctx.get('accept').includes('text/html')) checks++;
      return next();
    });
  } else if (kind === 'ext') {
    // What mounting the plugin does to the app's context once: a lazy getter and a symbol flag.
    Object.defineProperty(app.context, 'telemetry', { configurable: true, get: () => null });
    (app.context as unknown as Record<symbol, boolean>)[Symbol.for('bench.extended')] = true;
    app.use((ctx, next) => {
      if (!('session' in ctx)) checks++;
      return next();
    });
  } else if (kind === 'state') {
    app.use((ctx, next) => {
      ctx.state.telemetry = new TemplateState(ctx, STATE_CONTEXT);
      return next();
    });
  } else if (kind === 'noop') {
    app.use(async (_ctx, next) => {
      await next();
    });
  } else if (kind !== 'bare') {
    telemetry = telemetryPlugin({
      appName: 'Bench',
      appVersion: '1.0.0',
      dataDir: mkdtempSync(join(tmpdir(), 'kct-bench-')),
      otlp: { endpoint },
      jobs: false,
      env: {},
      logger: quiet,
      localStats: kind !== 'no-local',
      // BENCH_EXPERIMENT=quiet-background: no periodic local writes, no OTLP export during the run,
      // to separate request-path cost from background work.
      ...(process.env.BENCH_EXPERIMENT === 'quiet-background' || kind === 'quiet' ? { recorder: { intervalMs: 3_600_000, batchSize: 10_000, cap: 1_000_000 }, export: { intervalMs: 3_600_000, metricIntervalMs: 3_600_000 } } : {}),
      // The consent poll cannot be turned off: its longest interval, a minute.
      ...(NO_TIMERS ? { consentSyncIntervalMs: 60_000 } : {}),
      ...(NO_TIMERS && kind !== 'quiet' ? { recorder: { intervalMs: AN_HOUR_MS }, export: { intervalMs: AN_HOUR_MS, metricIntervalMs: AN_HOUR_MS } } : {}),
    });
    if (kind === 'tracking') {
      // The plugin's page-view count alone, in an async frame of its own (the plugin runs it in its middleware's).
      const { analytics } = runtimeOf(telemetry);
      app.use(async (ctx, next) => {
        await next();
        trackRequest(analytics, ctx, () => true);
      });
    }
    else if (kind !== 'started') app.use(telemetry);
    await telemetry.ready();
    await telemetry.consent.set({ analytics: kind === 'opted-in' });
  }
  const router = new Router();
  router.get('/hello/:name', (ctx) => {
    ctx.body = { hello: ctx.params.name };
  });
  app.use(router.routes());

  const server = http.createServer(NO_TIMERS ? { connectionsCheckingInterval: AN_HOUR_MS } : {}, app.callback());
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { server, port: (server.address() as { port: number }).port, telemetry, posthog, kind };
}

const apps: Awaited<ReturnType<typeof startApp>>[] = [];
for (const mode of modes) apps.push(await startApp(mode.split('#')[0] as Kind));
process.send!({ type: 'listening', ports: Object.fromEntries(modes.map((mode, i) => [mode, apps[i]!.port])) });

// BENCH_PROFILE=1: a V8 CPU profile of the measured rounds only (not start-up, not warm-up),
// written to .tmp/profiles/<modes>.cpuprofile when the bench stops this server.
const profiler = process.env.BENCH_PROFILE ? new inspector.Session() : null;
let profiling = false;

function post(session: inspector.Session, method: string, params?: object): Promise<unknown> {
  return new Promise((resolve, reject) => session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result))));
}

// GC time on the main thread, reported per round beside the CPU time (attribution, not a target).
let gcMs = 0;
let gcCount = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcMs += entry.duration;
    gcCount++;
  }
}).observe({ entryTypes: ['gc'] });

let start = process.cpuUsage();
process.on('message', async (message: { type: string }) => {
  if (message.type === 'reset') {
    if (profiler && !profiling) {
      profiling = true;
      profiler.connect();
      await post(profiler, 'Profiler.enable');
      await post(profiler, 'Profiler.setSamplingInterval', { interval: 100 });
      await post(profiler, 'Profiler.start');
    }
    start = process.cpuUsage();
    gcMs = 0;
    gcCount = 0;
    process.send!({ type: 'reset-done' });
  } else if (message.type === 'report') {
    // The local write this round's page views caused belongs to this round (its natural cadence,
    // every 2 s, is about one round). OTLP metrics go out every 60 s: about 1–2 ms each, i.e.
    // ~0.002 µs per request at this load — left to their own timer rather than forced per round.
    // Likewise posthog-node's queued batch: its POST belongs to the round whose captures filled it.
    if (!process.env.BENCH_NO_ROUND_FLUSH) {
      await Promise.all(apps.map(({ telemetry, posthog, kind }) => (kind === 'quiet' ? undefined : telemetry ? runtimeOf(telemetry).recorder?.flush() : posthog?.flush())));
    }
    const used = process.cpuUsage(start);
    const memory = process.memoryUsage();
    process.send!({ type: 'report', cpuMicros: used.user + used.system, userMicros: used.user, rss: memory.rss, heapUsed: memory.heapUsed, gcMs, gcCount });
  } else if (message.type === 'flush') {
    // Everything the requests so far left queued: local statistics written, OTLP batches and
    // metrics exported (the handle's flush()), posthog-node's queue sent.
    await Promise.all(apps.map(({ telemetry, posthog }) => telemetry?.flush() ?? posthog?.flush()));
    process.send!({ type: 'flushed' });
  } else if (message.type === 'mark') {
    // A window boundary for callgrind (bench/request-instructions.ts runs it with
    // --dump-before=getpriority): os.getPriority() is the one call into libc's getpriority().
    getPriority();
    process.send!({ type: 'marked' });
  } else if (message.type === 'stop') {
    for (const { server } of apps) server.close();
    if (profiler && profiling) {
      const { profile } = (await post(profiler, 'Profiler.stop')) as { profile: unknown };
      mkdirSync('.tmp/profiles', { recursive: true });
      writeFileSync(`.tmp/profiles/${modes.join('+').replaceAll('#', '-')}.cpuprofile`, JSON.stringify(profile));
    }
    await Promise.all(apps.map(({ telemetry, posthog }) => telemetry?.stop() ?? posthog?.shutdown(1000)));
    process.exit(0);
  }
});
