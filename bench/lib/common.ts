// Helpers shared by the benchmarks: medians, a local HTTP sink, a quiet logger, and the one-line
// machine-readable result each bench prints for bench/run-all.ts.
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { once } from 'node:events';

export const quiet = { debug() {}, info() {}, warn() {}, error() {} };

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** A local HTTP sink on 127.0.0.1 that accepts everything (OTLP JSON and PostHog batches alike). */
export async function startSink(): Promise<{ server: http.Server; url: string; requests: () => number; bytes: () => number }> {
  let requests = 0;
  let bytes = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}`, requests: () => requests, bytes: () => bytes };
}

export interface BenchRatio {
  name: string;
  value: number;
  /** e.g. '>= 0.97' or '<= 2'; null when the figure is informational. */
  target: string | null;
  met: boolean | null;
  detail?: string;
}

/** The last line a bench prints: picked up by bench/run-all.ts for the summary table. */
export function report(bench: string, ratios: BenchRatio[], extra: Record<string, unknown> = {}): void {
  console.log(`BENCH_RESULT ${JSON.stringify({ bench, ratios, extra })}`);
}

/** PASS / FAIL against the target; `no verdict` when a target exists but the run cannot decide it; `info` when the figure has none. */
export const verdictOf = (ratio: BenchRatio): string => (ratio.met === null ? (ratio.target === null ? 'info' : 'no verdict') : ratio.met ? 'PASS' : 'FAIL');

export const check = (value: number, op: '>=' | '<=', bound: number): boolean => (op === '>=' ? value >= bound : value <= bound);

/** A seeded generator (the same data gives the same interval on every run). */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

/** The 95 % percentile-bootstrap interval of the median of `values`. */
export function medianInterval(values: number[], resamples = 4_000): [number, number] {
  const next = seeded(0x6b6374);
  const medians = new Float64Array(resamples);
  const sample = new Array<number>(values.length);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < values.length; i++) sample[i] = values[Math.floor(next() * values.length)]!;
    medians[r] = median(sample);
  }
  medians.sort();
  return [medians[Math.floor(resamples * 0.025)]!, medians[Math.ceil(resamples * 0.975) - 1]!];
}

/**
 * The verdict of a median against its bound, decided by its 95 % interval: met when the whole
 * interval meets the bound, missed when none of it does, null (no verdict) when it straddles it.
 */
export function checkInterval([low, high]: [number, number], op: '>=' | '<=', bound: number): boolean | null {
  if (check(low, op, bound) && check(high, op, bound)) return true;
  if (!check(low, op, bound) && !check(high, op, bound)) return false;
  return null;
}

/** Sends `{ type }` to a forked bench server and resolves with its first message of type `answer`. */
export function ask<T>(child: ChildProcess, type: string, answer: string): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (message: { type: string }) => {
      if (message.type !== answer) return;
      child.off('message', onMessage);
      resolve(message as T);
    };
    child.on('message', onMessage);
    child.send({ type });
  });
}
