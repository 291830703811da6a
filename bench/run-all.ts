// `npm run bench`: runs the benchmarks one after another, each in its own process (so one's heap,
// JIT state and timers cannot skew the next), echoes their output and ends with a summary table of
// every ratio. bench:collector stays separate (it needs PostgreSQL and minutes of data generation).
import { spawn } from 'node:child_process';
import os from 'node:os';
import { verdictOf, type BenchRatio } from './lib/common.js';

// request-instructions.ts needs valgrind (one line and no figures without it) and runs for most of
// an hour under callgrind: only when named (`npm run bench -- request-instructions`).
const BENCHES = ['request-overhead.ts', 'request-instructions.ts', 'track-vs-posthog.ts', 'local-aggregation.ts', 'sink-down.ts'];
const WHEN_NAMED = new Set(['request-instructions.ts']);
const only = process.argv.slice(2);

interface Result {
  bench: string;
  ratios: BenchRatio[];
}

function run(file: string): Promise<Result | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', new URL(`./${file}`, import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] });
    let result: Result | null = null;
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('BENCH_RESULT ')) result = JSON.parse(line.slice('BENCH_RESULT '.length)) as Result;
        else console.log(line);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(result) : reject(new Error(`${file} exited with ${code}`))));
  });
}

const started = Date.now();
console.log(`bench — ${new Date().toISOString()}, node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const results: Result[] = [];
for (const file of BENCHES) {
  if (only.length > 0 && !only.some((name) => file.startsWith(name))) continue;
  if (only.length === 0 && WHEN_NAMED.has(file)) {
    console.log(`\n=== ${file}: skipped (long; run it by name: npm run bench -- ${file.replace('.ts', '')})`);
    continue;
  }
  console.log(`\n=== ${file}`);
  const result = await run(file);
  if (result) results.push(result);
}

const rows = results.flatMap((r) => r.ratios.map((ratio) => ({ bench: r.bench, ...ratio })));
const width = Math.max(...rows.map((r) => r.name.length), 10);
console.log(`\n=== summary (${((Date.now() - started) / 1000).toFixed(0)} s, load at end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
console.log(`${'bench'.padEnd(18)} ${'ratio'.padEnd(width)} ${'value'.padStart(9)}  ${'target'.padEnd(9)} ${'verdict'.padEnd(7)} detail`);
for (const r of rows) {
  const value = Math.abs(r.value) >= 100 ? r.value.toFixed(0) : r.value.toFixed(3);
  const verdict = verdictOf(r);
  console.log(`${r.bench.padEnd(18)} ${r.name.padEnd(width)} ${value.padStart(9)}  ${(r.target ?? '—').padEnd(9)} ${verdict.padEnd(7)} ${r.detail ?? ''}`);
}
