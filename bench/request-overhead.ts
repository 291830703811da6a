// Request overhead of the plugin against bare Koa (SPEC §11): server CPU time per request, measured
// by the server process itself, for a fixed number of requests driven by autocannon from this
// process; modes alternate in adjacent rounds and the median of the per-round ratios is reported.
// Throughput is printed beside it. Targets: opted out ≥ 0.99 × bare, opted in ≥ 0.97 × bare.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import autocannon from 'autocannon';
import { ask, median, report, startSink } from './lib/common.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const CONNECTIONS = 16;
const MODES = (process.env.BENCH_NOOP ? ['bare', 'noop', 'then', 'opted-out', 'opted-in'] : ['bare', 'opted-out', 'opted-in']) as readonly Mode[];
type Mode = 'bare' | 'noop' | 'then' | 'opted-out' | 'opted-in';

interface Server {
  child: ChildProcess;
  port: number;
}

async function startServer(mode: Mode, sinkUrl: string): Promise<Server> {
  const child = fork(new URL('./servers/hello-server.ts', import.meta.url).pathname, [mode, sinkUrl], {
    // BENCH_PROFILE=<mode> writes a V8 CPU profile of that server to ./.tmp/profiles.
    execArgv: ['--import=tsx', ...(process.env.BENCH_PROFILE === mode ? ['--cpu-prof', '--cpu-prof-dir=.tmp/profiles'] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [message] = (await once(child, 'message')) as [{ port: number }];
  return { child, port: message.port };
}

function load(port: number, amount: number): Promise<autocannon.Result> {
  return autocannon({ url: `http://127.0.0.1:${port}/hello/world?x=1`, connections: CONNECTIONS, amount, pipelining: 1 }) as unknown as Promise<autocannon.Result>;
}

const sink = await startSink();
const sinkUrl = sink.url;
const servers = Object.fromEntries(await Promise.all(MODES.map(async (mode) => [mode, await startServer(mode, sinkUrl)] as const))) as Record<Mode, Server>;

for (const mode of MODES) await load(servers[mode].port, 5_000); // warm-up: JIT, caches, connections

const cpuPerRequest: Record<Mode, number[]> = { bare: [], noop: [], then: [], 'opted-out': [], 'opted-in': [] };
const throughput: Record<Mode, number[]> = { bare: [], noop: [], then: [], 'opted-out': [], 'opted-in': [] };
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? MODES : [...MODES].reverse();
  for (const mode of order) {
    const { child, port } = servers[mode];
    await ask(child, 'reset', 'reset-done');
    const result = await load(port, REQUESTS);
    const { cpuMicros } = await ask<{ cpuMicros: number }>(child, 'report', 'report');
    const served = result.requests.total;
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${mode}: ${result.non2xx} non-2xx, ${result.errors} errors`);
    cpuPerRequest[mode].push(cpuMicros / served);
    throughput[mode].push(served / result.duration); // requests.average is a per-second bucket mean: useless for runs of ~1 s
  }
}

const ratios = (mode: Mode) => cpuPerRequest.bare.map((bare, i) => bare / cpuPerRequest[mode][i]!);
console.log(`request overhead — ${ROUNDS} rounds × ${REQUESTS} requests per mode, ${CONNECTIONS} connections, alternating order`);
for (const mode of MODES) {
  console.log(`  ${mode.padEnd(10)} cpu/request ${median(cpuPerRequest[mode]).toFixed(1)} µs   throughput ${Math.round(median(throughput[mode]))} req/s`);
}
const out = median(ratios('opted-out'));
const inn = median(ratios('opted-in'));
console.log(`  ratio opted-out / bare (CPU-time based): ${out.toFixed(3)}  (target ≥ 0.99)  ${out >= 0.99 ? 'OK' : 'MISSED'}`);
console.log(`  ratio opted-in  / bare (CPU-time based): ${inn.toFixed(3)}  (target ≥ 0.97)  ${inn >= 0.97 ? 'OK' : 'MISSED'}`);
if (MODES.includes('noop')) console.log(`  ratio noop / bare (one empty async middleware): ${median(ratios('noop')).toFixed(3)}`);
if (MODES.includes('then')) console.log(`  ratio then / bare (one next().then() middleware): ${median(ratios('then')).toFixed(3)}`);
console.log(`  throughput ratios (median of rounds): opted-out ${(median(throughput['opted-out']) / median(throughput.bare)).toFixed(3)}, opted-in ${(median(throughput['opted-in']) / median(throughput.bare)).toFixed(3)}`);

const tput = (mode: Mode) => median(throughput[mode]) / median(throughput.bare);
const cpu = (mode: Mode) => `${median(cpuPerRequest[mode]).toFixed(1)} vs ${median(cpuPerRequest.bare).toFixed(1)} µs CPU/request`;
report('request-overhead', [
  { name: 'opted out / bare (CPU per request)', value: out, target: '>= 0.99', met: out >= 0.99, detail: cpu('opted-out') },
  { name: 'opted in + page view / bare (CPU)', value: inn, target: '>= 0.97', met: inn >= 0.97, detail: cpu('opted-in') },
  ...(MODES.includes('noop') ? [{ name: 'one empty async middleware / bare', value: median(ratios('noop')), target: null, met: null, detail: cpu('noop') }] : []),
  { name: 'opted out / bare (throughput)', value: tput('opted-out'), target: null, met: null, detail: `${Math.round(median(throughput['opted-out']))} vs ${Math.round(median(throughput.bare))} req/s` },
  { name: 'opted in / bare (throughput)', value: tput('opted-in'), target: null, met: null, detail: `${Math.round(median(throughput['opted-in']))} vs ${Math.round(median(throughput.bare))} req/s` },
]);

await Promise.all(MODES.map((mode) => ask(servers[mode].child, 'stop', 'never').catch(() => undefined)).map((p) => Promise.race([p, new Promise((r) => setTimeout(r, 3000))])));
for (const mode of MODES) servers[mode].child.kill();
sink.server.close();
