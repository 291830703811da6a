// Instructions the plugin's middleware adds to a request, counted under callgrind in process: no
// HTTP, no socket, no load generator, so the windows are long enough (tens of thousands of
// requests, many young-generation collections each) to be in steady state, which the whole-request
// count (bench/request-instructions.ts) does not reach for the plugin's modes.
//
//   npm run bench:middleware-instructions            (needs valgrind; ~10 min here)
//   BENCH_FULL_REQUEST=<instructions of a whole request with one empty middleware>
//
// For each mode (noop = one empty async middleware, opted-out, opted-in with a page view) one
// process runs under `valgrind --tool=callgrind --dump-before=getpriority`; after WARM_UP
// iterations it marks (os.getPriority()), runs N1 iterations, marks, runs N2, marks, runs N3, marks. Each iteration
// is a fresh Koa context through the middleware and a downstream that matches a route and sets 200,
// as a request would. Every FLUSH_EVERY iterations the plugin's buffered work is flushed (local
// statistics to SQLite, OTLP export to an in-process sink), so the windows carry the background work
// their requests cause. Per iteration = (I(N3) − I(N1)) ÷ (N3 − N1): a cost that is the same in every
// window (a major collection, the window's last flush) cancels. Steady state is checked on the
// differences, not on the windows' averages: (I(N2) − I(N1)) ÷ (N2 − N1) and (I(N3) − I(N2)) ÷
// (N3 − N2) must agree within 2 %, i.e. the windows' cost is linear in their length.
//
// The floor ratios are then composed with the cost of a whole request with one empty middleware
// (BENCH_FULL_REQUEST, default: the steady `noop` figure of bench/request-instructions.ts, 111,059
// instructions, 2026-12-07): cost(noop) ÷ (cost(noop) + plugin's extra over the empty middleware).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MARK_FUNCTION, partsOf, valgrindOrSkip } from './lib/callgrind.js';
import { check, report, startSink, verdictOf, type BenchRatio } from './lib/common.js';

const WARM_UP = Number(process.env.BENCH_WARM_UP ?? 30_000);
const N1 = Number(process.env.BENCH_N1 ?? 20_000);
const N2 = Number(process.env.BENCH_N2 ?? 40_000);
const N3 = Number(process.env.BENCH_N3 ?? 60_000);
const FLUSH_EVERY = Number(process.env.BENCH_FLUSH_EVERY ?? 5_000);
const FULL_REQUEST = Number(process.env.BENCH_FULL_REQUEST ?? 111_059);
const MODES = ['noop', 'opted-out', 'opted-in'] as const;
type Mode = (typeof MODES)[number];
const STEADY_TOLERANCE = 0.02;
const NODE_FLAGS = ['--single-threaded', '--predictable-gc-schedule', '--random-seed=1'];
const AN_HOUR_MS = 3_600_000;

/** The child: one mode, marked windows. */
async function child(mode: Mode): Promise<void> {
  const { default: Koa } = await import('koa');
  const { telemetryPlugin } = await import('../src/index.js');
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const app = new Koa();
  Object.defineProperty(app.context, 'session', { value: {}, writable: true });
  let middleware: (ctx: never, next: () => Promise<void>) => Promise<void>;
  let flush: () => Promise<unknown> = async () => undefined;
  let sink: Awaited<ReturnType<typeof startSink>> | null = null;
  if (mode === 'noop') {
    middleware = async (_ctx, next) => {
      await next();
    };
  } else {
    sink = await startSink();
    const telemetry = telemetryPlugin({
      appName: 'Bench',
      appVersion: '1.0.0',
      dataDir: mkdtempSync(join(tmpdir(), 'kct-mw-instr-')),
      otlp: { endpoint: sink.url },
      jobs: false,
      env: {},
      logger: quiet,
      // No work on wall-clock timers: what runs is what the iterations cause, flushed below.
      consentSyncIntervalMs: 60_000,
      recorder: { intervalMs: AN_HOUR_MS },
      export: { intervalMs: AN_HOUR_MS, metricIntervalMs: AN_HOUR_MS },
    });
    await telemetry.ready();
    await telemetry.consent.set({ analytics: mode === 'opted-in' });
    middleware = telemetry as never;
    flush = () => telemetry.flush();
  }
  const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
  const run = async (iterations: number) => {
    for (let i = 1; i <= iterations; i++) {
      const ctx = app.createContext({ method: 'GET', url: '/hello/world?x=1', headers: { 'user-agent': UA, accept: '*/*', host: '127.0.0.1' }, socket: {} } as never, { setHeader() {}, getHeader() {}, removeHeader() {}, hasHeader() { return false; } } as never);
      await middleware(ctx as never, () => {
        (ctx as unknown as { _matchedRoute: string })._matchedRoute = '/hello/:name';
        ctx.status = 200;
        ctx.body = { hello: 'world' };
        return Promise.resolve();
      });
      if (i % FLUSH_EVERY === 0) await flush();
    }
    await flush();
  };
  await run(WARM_UP);
  getPriority(); // mark: start-up and warm-up end here
  await run(N1);
  getPriority(); // mark: the N1 window
  await run(N2);
  getPriority(); // mark: the N2 window
  await run(N3);
  getPriority(); // mark: the N3 window
  // BENCH_VERBOSE=1: what the windows caused, to check the modes do what they claim.
  if (process.env.BENCH_VERBOSE === '1') console.error(`${mode}: OTLP requests ${sink?.requests() ?? 0}, bytes ${sink?.bytes() ?? 0}`);
  sink?.server.close();
  process.exit(0);
}

async function measure(mode: Mode, dir: string): Promise<{ n1: number; n2: number; n3: number }> {
  const out = join(dir, `${mode}.callgrind`);
  const self = fileURLToPath(import.meta.url);
  const args = ['--tool=callgrind', '-q', '--dump-before=getpriority', `--callgrind-out-file=${out}`, process.execPath, ...NODE_FLAGS, '--import=tsx', self, 'child', mode];
  await new Promise<void>((resolve, reject) => {
    const proc = spawn('valgrind', args, { stdio: ['ignore', 'inherit', 'inherit'] });
    proc.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${mode}: valgrind exited with ${code}`))));
  });
  // The dumps triggered by the marks: start-up + warm-up, then the N1, N2 and N3 windows.
  const marks = partsOf(out).filter((p) => p.trigger.includes(MARK_FUNCTION));
  if (marks.length !== 4) throw new Error(`${mode}: expected 4 marked dumps, found ${marks.length}`);
  return { n1: marks[1]!.total, n2: marks[2]!.total, n3: marks[3]!.total };
}

if (process.argv[2] === 'child') {
  await child(process.argv[3] as Mode);
} else {
  const version = valgrindOrSkip('middleware-instructions');
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'kct-mw-instructions-'));
  const results = {} as Record<Mode, { n1: number; n2: number; n3: number; perIteration: number; steady: number }>;
  await Promise.all(
    MODES.map(async (mode) => {
      const w = await measure(mode, dir);
      const first = (w.n2 - w.n1) / (N2 - N1);
      const second = (w.n3 - w.n2) / (N3 - N2);
      results[mode] = { ...w, perIteration: (w.n3 - w.n1) / (N3 - N1), steady: second / first };
    }),
  );
  if (process.env.BENCH_KEEP_DUMPS !== '1') rmSync(dir, { recursive: true, force: true });
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(
    `middleware instructions — ${version}, node ${process.version} ${NODE_FLAGS.join(' ')}; per iteration = (I(${N3}) − I(${N1})) ÷ ${N3 - N1} after ${WARM_UP} warm-up iterations, a flush every ${FLUSH_EVERY}; ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
  const unsteady = new Set<Mode>();
  for (const mode of MODES) {
    const r = results[mode];
    const notSteady = Math.abs(r.steady - 1) > STEADY_TOLERANCE;
    if (notSteady) unsteady.add(mode);
    console.log(`  ${mode.padEnd(10)} ${fmt(r.perIteration).padStart(7)} instructions per request through the middleware   (I(${N1}) ${fmt(r.n1)}, I(${N2}) ${fmt(r.n2)}, I(${N3}) ${fmt(r.n3)}; linearity ${r.steady.toFixed(3)}${notSteady ? '  NOT STEADY' : ''})`);
  }
  const composed = (mode: Mode, bound: number): BenchRatio => {
    const extra = results[mode].perIteration - results.noop.perIteration;
    const value = FULL_REQUEST / (FULL_REQUEST + extra);
    const detail = `${fmt(extra)} instructions over the empty middleware, on a ${fmt(FULL_REQUEST)}-instruction request`;
    const notSteady = [mode, 'noop' as Mode].filter((m) => unsteady.has(m));
    return notSteady.length > 0
      ? { name: `${mode} / empty middleware (composed)`, value, target: `>= ${bound}`, met: null, detail: `no verdict: ${notSteady.join(', ')} not steady; ${detail}` }
      : { name: `${mode} / empty middleware (composed)`, value, target: `>= ${bound}`, met: check(value, '>=', bound), detail };
  };
  const rows = [composed('opted-out', 0.99), composed('opted-in', 0.97)];
  for (const row of rows) console.log(`  ${row.name.padEnd(42)} ${row.value.toFixed(4)}  target ${row.target}  ${verdictOf(row)}   ${row.detail}`);
  report('middleware-instructions', rows, { n1: N1, n2: N2, n3: N3, warmUp: WARM_UP, flushEvery: FLUSH_EVERY, fullRequest: FULL_REQUEST, results });
}
