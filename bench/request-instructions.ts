// Request overhead of the plugin in instructions (docs/performance.md, "Instruction counts
// (deterministic)"): the same hello-route servers as bench/request-overhead.ts, one mode per
// process, each run under callgrind, which counts the instructions the process executes — the same
// count on a busy shared machine as on an idle one, where the time-based bench has 1–3 % A/A noise.
//
// Method, and why:
// - One server process per mode under callgrind. Start-up runs uninstrumented (--instr-atstart=no:
//   it is not measured, and instrumented it takes minutes); once the server listens, callgrind_control
//   switches instrumentation on. Then warm-up and two measured windows of N1 and N2 requests, each
//   ended by a `mark`: the server calls os.getPriority(), and callgrind (--dump-before=getpriority)
//   dumps the instructions counted since the previous mark. Instructions per request =
//   (I(N2) − I(N1)) ÷ (N2 − N1): the difference cancels what every window has once (the IPC
//   messages, the last flush's fixed part), leaving N2 − N1 requests' worth in steady state.
// - TurboFan's compiling is left out of each window (the inclusive cost of Compiler::CompileOptimized,
//   from callgrind_annotate) and printed beside it: it is a one-off of each process, not a cost per
//   request, and it was still going on after thousands of warm-up requests (the plugin's modes
//   compiled 400 M instructions' worth in their first window, bare 61 M) — left in, it lands in
//   whichever window it happens to fall and swamps the difference.
// - The load generator is this process, outside valgrind: sequential requests on one keep-alive
//   connection (node:http), so no instruction of the client is counted and the server sees the
//   same sequence in every run.
// - The work requests cause after they are answered is in the window: every BENCH_FLUSH_EVERY
//   requests (default 2,000, so the N1 window holds one flush and the N2 window three) the bench asks
//   the server to flush — the plugin's handle.flush() (local statistics written to SQLite, OTLP
//   batches and metrics exported to the local sink) or posthog-node's flush(). That is one flush per
//   2,000 requests, ten times the time bench's cadence (one per 20,000-request round): an upper bound
//   on the background share. BENCH_FLUSH_EVERY=0 flushes once at the end of each window: the
//   difference is then the request path alone.
// - Nothing may run on a wall-clock timer, or the count would depend on how slowly the process ran:
//   the server runs with BENCH_NO_TIMERS=1 (background intervals at an hour or their maximum, batch
//   sizes at their defaults; bench/servers/hello-server.ts).
// - Node flags (NODE_FLAGS below), each because a run without it was not repeatable:
//   --single-threaded: V8's compilers and GC run on the main thread at points fixed by the program,
//   not on helper threads racing it. --predictable-gc-schedule: V8 sizes the young generation and
//   grows the heap by allocation alone, not by measured allocation rates and idle time (wall clock):
//   without it two bare processes' 2,000-request windows differed by 40 %, the scavenges alone
//   162 M vs 20 M instructions. It fixes the GC's sizes (the same for every mode), not the code
//   that runs. --random-seed fixes Math.random. Not used: --predictable (V8's umbrella for the first
//   two, not needed beyond them) and --no-opt / --jitless (production runs optimized code).
// - Each mode's line says whether its two windows cost the same per request (steady state); if not,
//   the warm-up was too short and the figure is not a request's cost.
// - `bare#2`, a second bare process, is the A/A control; BENCH_REPEAT=<mode> runs one mode a second
//   time and prints how far the two runs' windows differ.
// Needs valgrind (callgrind); skips with one line when it is missing. Takes minutes.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ask, check, report, startSink, verdictOf, type BenchRatio } from './lib/common.js';
import { MARK_FUNCTION, partsOf, valgrindOrSkip } from './lib/callgrind.js';

const N1 = Number(process.env.BENCH_N1 ?? 2_000);
const N2 = Number(process.env.BENCH_N2 ?? 6_000);
// The time bench's warm-up; 4,000 left the plugin's modes still tiering up (docs/performance.md).
const WARM_UP_REQUESTS = Number(process.env.BENCH_WARM_UP ?? 20_000);
const FLUSH_EVERY = Number(process.env.BENCH_FLUSH_EVERY ?? 2_000);
const MODES = process.env.BENCH_MODES?.split(',') ?? ['bare', 'bare#2', 'noop', 'opted-out', 'opted-in', 'posthog'];
// BENCH_REPEAT=<mode>: that mode once more, to show how far two runs of one configuration differ.
const REPEAT = process.env.BENCH_REPEAT && MODES.includes(process.env.BENCH_REPEAT) ? process.env.BENCH_REPEAT : null;
const PARALLEL = Math.max(1, Number(process.env.BENCH_PARALLEL ?? 1));
// BENCH_KEEP_DUMPS=1: keep callgrind's dumps (one file per window; callgrind_annotate reads them) and print where.
const KEEP_DUMPS = process.env.BENCH_KEEP_DUMPS === '1';
const NODE_FLAGS = ['--single-threaded', '--predictable-gc-schedule', '--random-seed=1'];
const SERVER = new URL('./servers/hello-server.ts', import.meta.url).pathname;
const PATH = '/hello/world?x=1';
/** How far a window's instructions per request may differ between the N1 and N2 windows before the run is called not steady. */
const STEADY_TOLERANCE = 0.02;

if (MODES[0] !== 'bare') throw new Error('BENCH_MODES must start with bare: every ratio is against it');
if (N2 <= N1) throw new Error('BENCH_N2 must be larger than BENCH_N1');
if (FLUSH_EVERY > 0 && (N1 % FLUSH_EVERY !== 0 || N2 % FLUSH_EVERY !== 0)) throw new Error('BENCH_N1 and BENCH_N2 must be multiples of BENCH_FLUSH_EVERY');

/** `requests` sequential GETs on one keep-alive connection; throws on anything but a 200. */
async function load(agent: http.Agent, port: number, requests: number): Promise<void> {
  for (let i = 0; i < requests; i++) {
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: PATH, agent }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      });
      req.on('error', reject);
    });
  }
}

interface Windows {
  /** Instructions of the N1 window and of the N2 window, TurboFan's compiling left out. */
  n1: number;
  n2: number;
  /** What TurboFan's compiling took in each window (left out above). */
  compile1: number;
  compile2: number;
}

/** The function whose inclusive cost is TurboFan compiling on the main thread (--single-threaded). */
const COMPILE_FUNCTION = 'v8::internal::Compiler::CompileOptimized(';

/** Instructions under COMPILE_FUNCTION in one dump (callgrind_annotate's inclusive cost). */
function compileCost(file: string): number {
  const text = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
  let total = 0;
  for (const line of text.split('\n')) if (line.includes(COMPILE_FUNCTION)) total += Number(/^\s*([\d,]+)/.exec(line)?.[1]?.replaceAll(',', '') ?? 0);
  return total;
}

/**
 * One server process of `mode` under callgrind: start-up uninstrumented (fast), instrumentation
 * switched on once it listens (callgrind_control), then warm-up, and two measured windows of N1 and
 * N2 requests, each bounded by a `mark` (the server calls getpriority(); callgrind dumps before it,
 * so a window's total holds exactly what ran between two marks).
 */
async function instructions(mode: string, sinkUrl: string, dir: string): Promise<Windows> {
  const base = join(dir, `${mode.replace('#', '-')}-${Math.random().toString(36).slice(2)}.callgrind`);
  const child = spawn(
    'valgrind',
    ['--tool=callgrind', '-q', '--instr-atstart=no', `--dump-before=${MARK_FUNCTION}`, '--dump-instr=no', `--callgrind-out-file=${base}`, process.execPath, '--import=tsx', ...NODE_FLAGS, SERVER, sinkUrl, mode],
    { env: { ...process.env, BENCH_NO_TIMERS: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const exited = once(child, 'exit');
  const [message] = (await Promise.race([once(child, 'message'), exited.then(() => Promise.reject(new Error(`${mode}: the server exited before listening`)))])) as [
    { ports: Record<string, number> },
  ];
  execFileSync('callgrind_control', ['--instr=on', String(child.pid)], { stdio: 'ignore' });
  const port = message.ports[mode]!;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  await load(agent, port, WARM_UP_REQUESTS);
  await ask(child, 'flush', 'flushed');
  await ask(child, 'mark', 'marked');
  for (const measured of [N1, N2]) {
    const block = FLUSH_EVERY > 0 ? FLUSH_EVERY : measured;
    for (let done = 0; done < measured; done += block) {
      await load(agent, port, block);
      await ask(child, 'flush', 'flushed');
    }
    await ask(child, 'mark', 'marked');
  }
  agent.destroy();
  child.send({ type: 'stop' });
  const [code] = (await exited) as [number | null];
  if (code !== 0) throw new Error(`${mode}: the server under valgrind exited with ${code}`);
  const marks = partsOf(base).filter((p) => p.trigger.includes(MARK_FUNCTION));
  // Exactly the three marks: anything else calling getpriority() would cut a window short.
  if (marks.length !== 3) throw new Error(`${mode}: expected 3 dumps at ${MARK_FUNCTION}, found ${marks.length} (${base}.*)`);
  const [compile1, compile2] = [compileCost(`${base}.${marks[1]!.part}`), compileCost(`${base}.${marks[2]!.part}`)];
  if (!KEEP_DUMPS) for (const name of readdirSync(dir)) if (name.startsWith(basename(base))) rmSync(join(dir, name));
  return { n1: marks[1]!.total - compile1, n2: marks[2]!.total - compile2, compile1, compile2 };
}

/** Runs the jobs at most PARALLEL at a time (counts do not depend on load, only the wall time does). */
async function inParallel<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const index = next++;
      results[index] = await jobs[index]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, jobs.length) }, worker));
  return results;
}

const version = valgrindOrSkip('request-instructions');

const started = Date.now();
const sink = await startSink();
const dir = mkdtempSync(join(tmpdir(), 'kct-instructions-'));
// One native run first: tsx's transform cache is then warm for every measured run alike.
await new Promise<void>((resolve, reject) => {
  const child = spawn(process.execPath, ['--import=tsx', SERVER, sink.url, 'bare'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.once('message', () => void ask(child, 'stop', 'never').catch(() => undefined));
  child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`priming run exited with ${code}`))));
});

const runs = [...MODES, ...(REPEAT ? [REPEAT] : [])];
const windows = await inParallel(runs.map((mode) => () => instructions(mode, sink.url, dir)));
const perRequest: Record<string, number> = {};
for (let i = 0; i < MODES.length; i++) perRequest[MODES[i]!] = (windows[i]!.n2 - windows[i]!.n1) / (N2 - N1);

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (a: number, b: number) => `${fmt(b - a)} (${(((b - a) / a) * 100).toFixed(4)} %)`;
console.log(
  `request instructions — ${version}, node ${process.version} ${NODE_FLAGS.join(' ')}; per request = (I(${N2}) − I(${N1})) ÷ ${N2 - N1}, windows after ${WARM_UP_REQUESTS} warm-up requests, one keep-alive connection, ${FLUSH_EVERY > 0 ? `a flush every ${FLUSH_EVERY} requests` : 'a flush at the end of each window'}; ${((Date.now() - started) / 1000).toFixed(0)} s`,
);
const unsteady = new Set<string>();
for (let i = 0; i < MODES.length; i++) {
  const mode = MODES[i]!;
  const w = windows[i]!;
  // In steady state a window costs the same per request whatever its length; far from 1, the
  // process was still warming up (tiering, inline caches) and the difference is not a request's cost.
  const steady = w.n2 / N2 / (w.n1 / N1);
  const warning = Math.abs(steady - 1) > STEADY_TOLERANCE ? '  NOT STEADY: raise BENCH_WARM_UP' : '';
  if (warning) unsteady.add(mode);
  console.log(
    `  ${mode.padEnd(10)} ${fmt(perRequest[mode]!).padStart(9)} instructions/request   (I(${N1}) ${fmt(w.n1)}, I(${N2}) ${fmt(w.n2)}; per request ${N2} vs ${N1}: ${steady.toFixed(3)}${warning}; TurboFan compiling left out: ${fmt(w.compile1)}, ${fmt(w.compile2)})`,
  );
}
// Repeatability: the same configuration in another process, window by window.
const repeatability: { mode: string; n1: number; n2: number; perRequest: number }[] = [];
const compare = (label: string, first: Windows, second: Windows) => {
  const again = (second.n2 - second.n1) / (N2 - N1);
  console.log(`  ${label}: I(${N1}) differs by ${pct(first.n1, second.n1)}, I(${N2}) by ${pct(first.n2, second.n2)}; per request ${fmt((first.n2 - first.n1) / (N2 - N1))} vs ${fmt(again)}`);
  repeatability.push({ mode: label, n1: (second.n1 - first.n1) / first.n1, n2: (second.n2 - first.n2) / first.n2, perRequest: again });
};
if (MODES.includes('bare#2')) compare('bare#2 vs bare', windows[0]!, windows[MODES.indexOf('bare#2')]!);
if (REPEAT) compare(`${REPEAT} run twice`, windows[MODES.indexOf(REPEAT)]!, windows[windows.length - 1]!);

// Ratios as in bench/request-overhead.ts: cost(base) ÷ cost(mode), so ≥ 1 is "no slower".
const ratio = (base: string, mode: string) => perRequest[base]! / perRequest[mode]!;
const detail = (mode: string, base: string) => `${fmt(perRequest[mode]!)} vs ${fmt(perRequest[base]!)} instructions/request`;
const has = (mode: string) => MODES.includes(mode);
// A ratio over a mode that was not in steady state gets no verdict: its per-request figure is not a request's cost.
const targeted = (name: string, value: number, op: '>=' | '<=', bound: number, text: string, modes: string[]): BenchRatio => {
  const notSteady = modes.filter((m) => unsteady.has(m));
  return notSteady.length > 0
    ? { name, value, target: `${op} ${bound}`, met: null, detail: `no verdict: ${notSteady.join(', ')} not steady; ${text}` }
    : { name, value, target: `${op} ${bound}`, met: check(value, op, bound), detail: text };
};
const rows: BenchRatio[] = [];
if (has('bare#2')) rows.push({ name: 'A/A control: bare#2 / bare (instructions)', value: ratio('bare', 'bare#2'), target: null, met: null, detail: detail('bare#2', 'bare') });
if (has('noop') && has('opted-out')) rows.push(targeted('opted out / empty middleware (instructions)', ratio('noop', 'opted-out'), '>=', 0.99, detail('opted-out', 'noop'), ['noop', 'opted-out']));
if (has('noop') && has('opted-in')) rows.push(targeted('opted in + page view / empty middleware (instr.)', ratio('noop', 'opted-in'), '>=', 0.97, detail('opted-in', 'noop'), ['noop', 'opted-in']));
if (has('opted-in') && has('posthog')) {
  const extra = (mode: string) => perRequest[mode]! - perRequest.bare!;
  rows.push(targeted('opted-in extra / posthog extra (instructions)', extra('opted-in') / extra('posthog'), '<=', 0.05, `extra ${fmt(extra('opted-in'))} vs ${fmt(extra('posthog'))} instructions/request`, ['bare', 'opted-in', 'posthog']));
}
for (const row of rows) console.log(`  ${row.name.padEnd(50)} ${row.value.toFixed(4)}  target ${(row.target ?? '—').padEnd(7)} ${verdictOf(row)}   ${row.detail}`);

report('request-instructions', rows, { n1: N1, n2: N2, warmUp: WARM_UP_REQUESTS, flushEvery: FLUSH_EVERY, nodeFlags: NODE_FLAGS, perRequest, repeatability });
sink.server.close();
if (KEEP_DUMPS) console.log(`  callgrind dumps kept in ${dir} (<mode>-*.callgrind.2 is the N1 window, .3 the N2 window)`);
else rmSync(dir, { recursive: true, force: true });
