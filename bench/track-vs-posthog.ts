// track() cost against posthog-node capture() (SPEC §12: track() including its deferred in-process work
// ≤ 0.1 × capture() including its own; one process, same run, both warmed up). Both clients point at the same local HTTP sink on 127.0.0.1 and batch without
// flushing during a timed loop; rounds alternate which client goes first, and the median of the
// per-round ratios is reported.
//
// Both libraries defer work: track() pushes onto an intake ring and guards/enriches/exports in a
// setImmediate drain; capture() returns after starting a promise chain that builds and enqueues the
// message. So two figures are reported per client, and both ratios:
//   call      — the synchronous call alone (what the calling request waits for);
//   in-process — the call plus the deferred in-process work it triggered (the setImmediate drain for
//               track(), the prepare/enqueue promise chain for capture()), measured by timing the loop
//               up to a setImmediate scheduled after it. No network in either figure.
// Delivery (the OTLP export + local SQLite write vs the PostHog batch POST) is timed separately for
// information, outside the timed loops.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostHog } from 'posthog-node';
import { telemetryPlugin } from '../src/index.js';
import { check, median, quiet, report, startSink, verdictOf, type BenchRatio } from './lib/common.js';
import { runtimeOf } from '../src/plugin/internal.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const BATCHES = 10; // per round and client
const N = 1_000; // calls per batch: below every queue/batch bound on both sides, so nothing flushes or drops mid-loop

const sink = await startSink();
const dataDir = mkdtempSync(join(tmpdir(), 'kct-track-'));
const telemetry = telemetryPlugin({
  appName: 'Bench',
  appVersion: '1.0.0',
  dataDir,
  otlp: { endpoint: sink.url },
  jobs: false,
  env: {},
  logger: quiet,
  // Same batching as the PostHog client below: nothing is exported or written while a loop runs.
  export: { queueCap: 20_000, batchSize: 10_000, intervalMs: 600_000, intakeCap: 20_000 },
  recorder: { batchSize: 10_000, intervalMs: 600_000, cap: 20_000 },
});
await telemetry.ready();
await telemetry.consent.set({ analytics: true });
const posthog = new PostHog('phc_bench_project_key', {
  host: sink.url,
  flushAt: 100_000,
  maxQueueSize: 100_000,
  flushInterval: 0,
  disableGeoip: true,
  persistence: 'memory',
} as never);

const users = Array.from({ length: 50 }, (_, i) => ({ id: 1000 + i }));
const props = { format: 'pdf', pages: 12, scheduled: false };
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

type Side = 'track' | 'capture';
const run = {
  track(i: number) {
    telemetry.track('report.generated', props, { user: users[i % 50]! });
  },
  capture(i: number) {
    posthog.capture({ distinctId: String(users[i % 50]!.id), event: 'report.generated', properties: props });
  },
};
const deliver = {
  async track() {
    await telemetry.flush();
    await runtimeOf(telemetry).recorder!.flush();
  },
  async capture() {
    await posthog.flush();
  },
};

/** One batch: ns/call for the call alone and with the deferred in-process work; then untimed delivery. */
async function batch(side: Side): Promise<{ call: number; inProcess: number; deliver: number }> {
  const fn = run[side];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  const t1 = process.hrtime.bigint();
  await tick();
  const t2 = process.hrtime.bigint();
  await deliver[side]();
  const t3 = process.hrtime.bigint();
  return { call: Number(t1 - t0) / N, inProcess: Number(t2 - t0) / N, deliver: Number(t3 - t2) / N };
}

async function round(side: Side) {
  const sums = { call: 0, inProcess: 0, deliver: 0 };
  for (let b = 0; b < BATCHES; b++) {
    const r = await batch(side);
    sums.call += r.call / BATCHES;
    sums.inProcess += r.inProcess / BATCHES;
    sums.deliver += r.deliver / BATCHES;
  }
  return sums;
}

// Warm-up: both paths JIT-compiled, connections to the sink open, SQLite pages cached.
for (let i = 0; i < 3; i++) {
  await round('track');
  await round('capture');
}

const results: Record<Side, { call: number[]; inProcess: number[]; deliver: number[] }> = {
  track: { call: [], inProcess: [], deliver: [] },
  capture: { call: [], inProcess: [], deliver: [] },
};
const callRatios: number[] = [];
const inProcessRatios: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const order: Side[] = r % 2 === 0 ? ['track', 'capture'] : ['capture', 'track'];
  const got = {} as Record<Side, Awaited<ReturnType<typeof round>>>;
  for (const side of order) got[side] = await round(side);
  for (const side of order) for (const k of ['call', 'inProcess', 'deliver'] as const) results[side][k].push(got[side][k]);
  callRatios.push(got.track.call / got.capture.call);
  inProcessRatios.push(got.track.inProcess / got.capture.inProcess);
}

const status = telemetry.status();
const callRatio = median(callRatios);
const inProcessRatio = median(inProcessRatios);
const fmt = (ns: number) => (ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
console.log(`track() vs posthog-node capture() — ${ROUNDS} rounds × ${BATCHES} batches × ${N} calls per client, alternating order, sink ${sink.url}`);
for (const side of ['track', 'capture'] as const) {
  console.log(
    `  ${side.padEnd(8)} call ${fmt(median(results[side].call)).padStart(9)}   call + deferred in-process work ${fmt(median(results[side].inProcess)).padStart(9)}   delivery (untimed in ratios) ${fmt(median(results[side].deliver)).padStart(9)} per event`,
  );
}
const rows: BenchRatio[] = [
  {
    name: 'track()/capture() incl. deferred work',
    value: inProcessRatio,
    target: '<= 0.1',
    met: check(inProcessRatio, '<=', 0.1),
    detail: `${fmt(median(results.track.inProcess))} vs ${fmt(median(results.capture.inProcess))}`,
  },
  { name: 'track()/capture(), the call alone', value: callRatio, target: null, met: null, detail: `${fmt(median(results.track.call))} vs ${fmt(median(results.capture.call))}` },
  {
    name: 'delivery per event, track / capture',
    value: median(results.track.deliver) / median(results.capture.deliver),
    target: null,
    met: null,
    detail: `${fmt(median(results.track.deliver))} vs ${fmt(median(results.capture.deliver))} (export incl. building OTLP records + SQLite write, vs the batch POST)`,
  },
];
for (const row of rows) console.log(`  ${row.name.padEnd(40)} ${row.value.toFixed(3)}  target ${(row.target ?? '—').padEnd(7)} ${verdictOf(row)}`);
console.log(
  `  plugin counters: exported ${status.sink.exported}, export dropped ${status.sink.dropped}, intake dropped ${status.queue.intake_dropped}, local dropped ${status.local_stats.dropped}; sink got ${sink.requests()} requests`,
);
report('track-vs-posthog', rows);

await Promise.race([Promise.all([telemetry.stop(), posthog.shutdown(2000)]), new Promise((r) => setTimeout(r, 3000))]);
sink.server.close();
sink.server.closeAllConnections();
rmSync(dataDir, { recursive: true, force: true });
process.exit(0);
