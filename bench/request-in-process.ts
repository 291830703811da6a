// In-process CPU per request of whole Koa requests (session, the middleware under test, a router
// and its route, Koa's response), each request on fresh node:http request and response objects, no
// socket: HTTP parsing and the kernel's network work, which are the same for every mode and carry
// most of the request bench's noise, are left out. Modes alternate in short blocks, and the median
// of paired ratios (each block against its neighbouring floor block) is reported with a bootstrap
// 95 % interval. Which app of a process got the luckier JIT and inline-cache state is a fixed bias of
// that process (up to a few hundred ns here), so the blocks are shared out over MICRO_PROCESSES
// child processes, each creating its apps in a different order, and pooled.
//
// Env: MICRO_PROCESSES (4), MICRO_BLOCKS (400 in all), MICRO_BLOCK_REQUESTS (2,000), MICRO_WARM_UP
// (100,000 per mode and process), MICRO_MODES (bare,noop,opted-out,opted-in), MICRO_FLOOR (noop),
// MICRO_OLD=<another checkout>: modes old-opted-out / old-opted-in load that checkout's plugin, for
// an A/B of two versions in the same processes. MICRO_POLLUTE_KB (0): see pollute() below.
// MICRO_AGENTS (1): see AGENTS below.
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { Socket } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import Router from '@koa/router';
import session from 'koa-session';
import { telemetryPlugin } from '../src/index.js';
import { median, medianInterval, quiet } from './lib/common.js';

const oldPlugin = process.env.MICRO_OLD ? ((await import(`${process.env.MICRO_OLD}/src/index.ts`)) as { telemetryPlugin: typeof telemetryPlugin }).telemetryPlugin : null;

const BLOCKS = Number(process.env.MICRO_BLOCKS ?? 400);
const PROCESSES = Math.max(1, Number(process.env.MICRO_PROCESSES ?? 4));
const BLOCK_REQUESTS = Number(process.env.MICRO_BLOCK_REQUESTS ?? 2_000);
const WARM_UP_REQUESTS = Number(process.env.MICRO_WARM_UP ?? 100_000);
const MODES = process.env.MICRO_MODES?.split(',') ?? ['bare', 'noop', 'opted-out', 'opted-in'];
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | void;

async function appFor(name: string): Promise<{ handler: Handler; stop: () => Promise<void> }> {
  const mode = name.split('#')[0]!;
  const app = new Koa();
  app.keys = ['bench-key'];
  app.use(session(app));
  let telemetry: ReturnType<typeof telemetryPlugin> | null = null;
  if (mode === 'noop') {
    app.use(async (_ctx, next) => {
      await next();
    });
  } else if (/^(old-)?opted-(out|in)$/.test(mode)) {
    const plugin = mode.startsWith('old-') ? oldPlugin! : telemetryPlugin;
    telemetry = plugin({ appName: 'Bench', appVersion: '1.0.0', dataDir: mkdtempSync(join(tmpdir(), 'kct-micro-')), jobs: false, env: {}, logger: quiet, otlp: { endpoint: 'http://127.0.0.1:9/' } });
    app.use(telemetry);
    await telemetry.ready();
    await telemetry.consent.set({ analytics: mode.endsWith('opted-in') });
  } else if (mode !== 'bare') throw new Error(`unknown mode ${mode}`);
  const router = new Router();
  router.get('/hello/:name', (ctx) => {
    ctx.body = { hello: ctx.params.name };
  });
  app.use(router.routes());
  return { handler: app.callback() as Handler, stop: async () => void (await telemetry?.stop()) };
}

// MICRO_AGENTS (1): browsers taking turns request by request, each a build of its own (no two headers
// equal), as many users at once would: the worst case for the page-view runs.
const AGENTS = Math.max(1, Number(process.env.MICRO_AGENTS ?? 1));
const AGENT_TEXTS = Array.from({ length: AGENTS }, (_, n) => (AGENTS === 1 ? UA : UA.replace('120.0', `120.${n}`)));
let requests = 0;
const socket = new Socket();
function request(handler: Handler): Promise<void> | void {
  const req = new http.IncomingMessage(socket);
  req.method = 'GET';
  req.url = '/hello/world?x=1';
  // A fresh header string per request, as Node's parser makes one: a reused string would carry its
  // hash from the first lookup, and the user-agent cache would cost less here than on a server.
  req.headers = { host: 'localhost', 'user-agent': Buffer.from(AGENT_TEXTS[requests++ % AGENTS]!, 'latin1').toString('latin1'), accept: '*/*' };
  const res = new http.ServerResponse(req);
  return handler(req, res);
}

// MICRO_POLLUTE_KB: between requests, read one byte of every cache line of a buffer this large, as
// the network stack and the HTTP parser do to the caches between a real server's requests.
const POLLUTE = new Uint8Array(Number(process.env.MICRO_POLLUTE_KB ?? 0) * 1024);
let polluted = 0;
function pollute(): void {
  for (let i = 0; i < POLLUTE.length; i += 64) polluted += POLLUTE[i]!;
}

async function block(handler: Handler, n: number): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    await request(handler);
    if (POLLUTE.length > 0) pollute();
  }
  // Let the promise reactions and timers the block queued run inside it.
  await new Promise((done) => setImmediate(done));
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / n; // ns per request
}

/** One child process: its apps created in the order given, warmed up, then its share of the blocks; prints the samples as JSON. */
async function child(created: string[], blocks: number): Promise<void> {
  const apps = new Map<string, Awaited<ReturnType<typeof appFor>>>();
  for (const mode of created) apps.set(mode, await appFor(mode));
  for (const mode of MODES) await block(apps.get(mode)!.handler, WARM_UP_REQUESTS);
  const samples: Record<string, number[]> = Object.fromEntries(MODES.map((mode) => [mode, []]));
  for (let b = 0; b < blocks; b++) {
    for (const mode of b % 2 === 0 ? MODES : [...MODES].reverse()) samples[mode]!.push(await block(apps.get(mode)!.handler, BLOCK_REQUESTS));
  }
  await Promise.all([...apps.values()].map((app) => app.stop()));
  console.log(JSON.stringify(samples));
}

if (process.env.MICRO_CHILD) {
  await child(process.env.MICRO_CHILD.split(','), Number(process.env.MICRO_CHILD_BLOCKS));
  process.exit(0);
}

const samples: number[][] = MODES.map(() => []);
for (let p = 0; p < PROCESSES; p++) {
  const created = [...MODES.slice(p % MODES.length), ...MODES.slice(0, p % MODES.length)];
  const blocks = Math.ceil((BLOCKS * (p + 1)) / PROCESSES) - Math.ceil((BLOCKS * p) / PROCESSES);
  const output = execFileSync(process.execPath, ['--import=tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, MICRO_CHILD: created.join(','), MICRO_CHILD_BLOCKS: String(blocks) },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const result = JSON.parse(output.trim().split('\n').at(-1)!) as Record<string, number[]>;
  MODES.forEach((mode, i) => samples[i]!.push(...result[mode]!));
}

console.log(`in-process whole requests — ${BLOCKS} blocks × ${BLOCK_REQUESTS} requests per mode over ${PROCESSES} processes (apps created in rotated order), alternating order, after ${WARM_UP_REQUESTS} warm-up`);
for (let i = 0; i < MODES.length; i++) console.log(`  ${MODES[i]!.padEnd(10)} ${median(samples[i]!).toFixed(0)} ns CPU/request (median block)`);
const floor = MODES.indexOf(process.env.MICRO_FLOOR ?? 'noop');
if (floor >= 0) {
  for (let i = 0; i < MODES.length; i++) {
    if (i === floor) continue;
    const ratios = samples[i]!.map((ns, b) => samples[floor]![b]! / ns);
    const differences = samples[i]!.map((ns, b) => ns - samples[floor]![b]!);
    const [low, high] = medianInterval(ratios);
    const [dLow, dHigh] = medianInterval(differences);
    const base = MODES[floor]!;
    console.log(`  ${`${base} / ${MODES[i]}`.padEnd(26)} ${median(ratios).toFixed(4)} [${low.toFixed(4)}, ${high.toFixed(4)}]   ${MODES[i]} − ${base} ${median(differences).toFixed(0)} ns [${dLow.toFixed(0)}, ${dHigh.toFixed(0)}] (95 % intervals)`);
  }
}
