#!/usr/bin/env node
// npm run test:stress [-- --runs N] [-- <ava arguments>]
//
// Runs the test suite (ava, with the same config as `npm test`) N times in a row (default 3, or
// TEST_STRESS_RUNS) while CPU hogs — one child process spinning per core — keep every core busy,
// the way a contributor's busy laptop or a shared CI runner does. Prints each run's passed and
// failed counts and exits non-zero when any run had a failure. The hogs are stopped however the
// script ends. Extra arguments go to ava (e.g. a file list to stress only those files).
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const AVA = fileURLToPath(new URL('../node_modules/ava/entrypoints/cli.mjs', import.meta.url));

function parseArgs(argv) {
  let runs = Number(process.env.TEST_STRESS_RUNS ?? 3);
  const avaArgs = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runs') runs = Number(argv[++i]);
    else if (argv[i].startsWith('--runs=')) runs = Number(argv[i].slice('--runs='.length));
    else avaArgs.push(argv[i]);
  }
  if (!Number.isInteger(runs) || runs < 1) {
    console.error(`test:stress: --runs must be a positive whole number, got ${runs}`);
    process.exit(2);
  }
  return { runs, avaArgs };
}

function startHogs() {
  const hogs = [];
  for (let i = 0; i < availableParallelism(); i++) {
    hogs.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  }
  return hogs;
}

function stopHogs(hogs) {
  for (const hog of hogs) if (hog.exitCode === null && hog.signalCode === null) hog.kill('SIGKILL');
}

/** One ava run; resolves with its exit code and the counts from ava's TAP summary. */
function runAva(avaArgs) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [AVA, '--tap', ...avaArgs], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let tap = '';
    let inFailure = false;
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      tap += chunk;
      // Failures are shown as they happen, with their YAML diagnostics; the rest stays quiet.
      for (const line of chunk.split('\n')) {
        if (/^not ok /.test(line)) inFailure = true;
        else if (/^(ok |# )/.test(line)) inFailure = false;
        if (inFailure && line) process.stdout.write(`  ${line}\n`);
      }
    });
    child.on('exit', (code, signal) => {
      const count = (name) => Number(new RegExp(`^# ${name} (\\d+)`, 'm').exec(tap)?.[1] ?? 0);
      const notOk = (tap.match(/^not ok /gm) ?? []).length;
      resolve({
        code: code ?? signal,
        passed: count('pass'),
        failed: Math.max(count('fail'), notOk),
        seconds: Math.round((Date.now() - started) / 1000),
      });
    });
  });
}

const { runs, avaArgs } = parseArgs(process.argv.slice(2));
const hogs = startHogs();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopHogs(hogs);
    process.exit(130);
  });
}
process.on('exit', () => stopHogs(hogs));

console.log(`test:stress: ${runs} run(s) of ava with ${hogs.length} CPU hog(s) spinning`);
const results = [];
try {
  for (let run = 1; run <= runs; run++) {
    const result = await runAva(avaArgs);
    results.push(result);
    console.log(`run ${run}/${runs}: ${result.passed} passed, ${result.failed} failed, exit ${result.code}, ${result.seconds} s`);
  }
} finally {
  stopHogs(hogs);
}
const bad = results.filter((r) => r.failed > 0 || r.code !== 0).length;
console.log(bad === 0 ? `test:stress: all ${runs} run(s) green` : `test:stress: ${bad} of ${runs} run(s) failed`);
process.exit(bad === 0 ? 0 : 1);
