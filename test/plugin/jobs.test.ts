// Background jobs: the per-install heartbeat minute, JobScheduler (next run, runNow, errors, stop),
// and the promise that no job keeps the host process alive (checked in a child process).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import schedule from 'node-schedule';
import { JobScheduler, dailyAt } from '../../src/core/scheduler.js';
import { HEARTBEAT_JOB, heartbeatMinuteOfDay, scheduleHeartbeat } from '../../src/plugin/jobs/heartbeat.js';
import type { BaseLayer } from '../../src/plugin/telemetry/base-layer.js';
import type { Logger } from '../../src/plugin/types.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

function recordingLogger(): Logger & { warnings: unknown[][] } {
  const warnings: unknown[][] = [];
  const noop = (): void => {};
  return { debug: noop, info: noop, error: noop, warn: (...args: unknown[]) => void warnings.push(args), warnings };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

// ------------------------------------------------------------------------------------ heartbeat minute

test('heartbeatMinuteOfDay is deterministic per install id and within 0..1439', (t) => {
  for (let i = 0; i < 200; i++) {
    const id = randomUUID();
    const minute = heartbeatMinuteOfDay(id);
    t.true(Number.isInteger(minute));
    t.true(minute >= 0 && minute <= 1439, `${minute} in range`);
    t.is(heartbeatMinuteOfDay(id), minute);
  }
});

// Expected minutes computed outside this code base, with Python:
//   int.from_bytes(hashlib.sha256(id.encode()).digest()[:4], 'big') % 1440
const KNOWN_HEARTBEAT_MINUTES: [id: string, minuteOfDay: number][] = [
  ['1b4e28ba-2fa1-41d2-883f-0016d3cca427', 164], // 02:44
  ['00000000-0000-4000-8000-000000000000', 896], // 14:56
  ['ffffffff-ffff-4fff-bfff-ffffffffffff', 1329], // 22:09
];

test('heartbeatMinuteOfDay is the first four bytes of sha256(install id), big-endian, modulo 1440 (known answers)', (t) => {
  for (const [id, minute] of KNOWN_HEARTBEAT_MINUTES) t.is(heartbeatMinuteOfDay(id), minute, id);
});

test('heartbeatMinuteOfDay spreads installs over the day (1000 ids → at least 500 distinct minutes)', (t) => {
  const minutes = new Set<number>();
  const hours = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const m = heartbeatMinuteOfDay(randomUUID());
    minutes.add(m);
    hours.add(Math.floor(m / 60));
  }
  t.true(minutes.size >= 500, `${minutes.size} distinct minutes`);
  t.is(hours.size, 24, 'every hour of the day gets some installs');
});

test('scheduleHeartbeat schedules a daily job at the install\'s minute that sends the heartbeat', async (t) => {
  const scheduler = new JobScheduler(recordingLogger());
  t.teardown(() => scheduler.stop());
  let sent = 0;
  const base = { sendHeartbeat: async () => (sent++, true) } as unknown as BaseLayer;
  const [installId] = KNOWN_HEARTBEAT_MINUTES[0]!; // 02:44
  scheduleHeartbeat(scheduler, base, installId);

  const [job] = scheduler.list();
  t.is(job?.name, HEARTBEAT_JOB);
  const next = new Date(job!.nextRunAt!);
  t.is(next.getHours(), 2);
  t.is(next.getMinutes(), 44);
  t.is(next.getSeconds(), 0);
  t.true(next.getTime() > Date.now());
  t.true(next.getTime() - Date.now() <= 24 * 3600_000 + 3600_000, 'within the next day (DST allowance)');

  await scheduler.runNow(HEARTBEAT_JOB);
  t.is(sent, 1);
});

// ------------------------------------------------------------------------------------ JobScheduler

test('list() shows the next run time of a dailyAt rule at that hour and minute', (t) => {
  const scheduler = new JobScheduler(recordingLogger());
  t.teardown(() => scheduler.stop());
  scheduler.schedule('retention', dailyAt(3, 17), async () => {});
  scheduler.schedule('report', dailyAt(23, 59), async () => {});

  const jobs = scheduler.list();
  t.deepEqual(jobs.map((j) => j.name).sort(), ['report', 'retention']);
  const retention = jobs.find((j) => j.name === 'retention')!;
  t.is(retention.lastRunAt, null);
  t.is(retention.lastError, null);
  const next = new Date(retention.nextRunAt!);
  t.is(next.getHours(), 3);
  t.is(next.getMinutes(), 17);
  t.is(next.getSeconds(), 0);
  t.true(next.getTime() > Date.now());
  t.true(next.getTime() - Date.now() <= 25 * 3600_000);

  const report = new Date(jobs.find((j) => j.name === 'report')!.nextRunAt!);
  t.is(report.getHours(), 23);
  t.is(report.getMinutes(), 59);
});

test('schedule() under an existing name replaces the job', async (t) => {
  const scheduler = new JobScheduler(recordingLogger());
  t.teardown(() => scheduler.stop());
  const ran: string[] = [];
  scheduler.schedule('job', dailyAt(1, 0), async () => void ran.push('old'));
  scheduler.schedule('job', dailyAt(2, 30), async () => void ran.push('new'));
  const jobs = scheduler.list();
  t.is(jobs.length, 1);
  t.is(new Date(jobs[0]!.nextRunAt!).getHours(), 2);
  await scheduler.runNow('job');
  t.deepEqual(ran, ['new']);
});

test('runNow runs the task and records lastRunAt', async (t) => {
  const scheduler = new JobScheduler(recordingLogger());
  t.teardown(() => scheduler.stop());
  let runs = 0;
  scheduler.schedule('job', dailyAt(4, 0), async () => {
    runs++;
  });
  await scheduler.runNow('job');
  t.is(runs, 1);
  const [info] = scheduler.list();
  t.truthy(info!.lastRunAt);
  t.is(info!.lastError, null);
  t.truthy(info!.nextRunAt, 'still scheduled after a manual run');
  await scheduler.runNow('job');
  t.is(runs, 2);
  await t.notThrowsAsync(scheduler.runNow('no-such-job'));
});

test('runNow collapses concurrent runs of one job into one', async (t) => {
  const scheduler = new JobScheduler(recordingLogger());
  t.teardown(() => scheduler.stop());
  const gate = deferred();
  let runs = 0;
  scheduler.schedule('job', dailyAt(4, 0), async () => {
    runs++;
    await gate.promise;
  });
  const a = scheduler.runNow('job');
  const b = scheduler.runNow('job');
  gate.resolve();
  await Promise.all([a, b]);
  t.is(runs, 1);
});

test('a throwing task records lastError, does not reject, and the job stays scheduled', async (t) => {
  const logger = recordingLogger();
  const scheduler = new JobScheduler(logger);
  t.teardown(() => scheduler.stop());
  let fail = true;
  scheduler.schedule('submission', dailyAt(5, 0), async () => {
    if (fail) throw new Error('collector unreachable');
  });

  await t.notThrowsAsync(scheduler.runNow('submission'));
  const [failed] = scheduler.list();
  t.regex(failed!.lastError ?? '', /collector unreachable/);
  t.truthy(failed!.lastRunAt);
  t.truthy(failed!.nextRunAt);
  t.is(logger.warnings.length, 1);

  fail = false;
  await scheduler.runNow('submission');
  t.is(scheduler.list()[0]!.lastError, null, 'a later success clears the error');
});

test('a task that throws synchronously (non-async function) does not reject either', async (t) => {
  const scheduler = new JobScheduler(recordingLogger());
  t.teardown(() => scheduler.stop());
  scheduler.schedule('sync', dailyAt(6, 0), (() => {
    throw new Error('sync boom');
  }) as unknown as () => Promise<void>);
  await t.notThrowsAsync(scheduler.runNow('sync'));
  t.regex(scheduler.list()[0]!.lastError ?? '', /sync boom/);
});

test('stop() cancels every job (list empty, runNow and schedule do nothing afterwards)', async (t) => {
  const scheduler = new JobScheduler(recordingLogger());
  let runs = 0;
  scheduler.schedule('a', dailyAt(1, 0), async () => void runs++);
  scheduler.schedule('b', dailyAt(2, 0), async () => void runs++);
  await scheduler.stop();
  t.deepEqual(scheduler.list(), []);
  await scheduler.runNow('a');
  scheduler.schedule('c', dailyAt(3, 0), async () => void runs++);
  t.deepEqual(scheduler.list(), []);
  t.is(runs, 0);
  await t.notThrowsAsync(scheduler.stop(), 'stop() twice is fine');
});

test('stop() waits for a task that is already running', async (t) => {
  const scheduler = new JobScheduler(recordingLogger());
  const gate = deferred();
  let finished = false;
  scheduler.schedule('long', dailyAt(1, 0), async () => {
    await gate.promise;
    finished = true;
  });
  const run = scheduler.runNow('long');
  let stopped = false;
  const stopping = scheduler.stop().then(() => {
    stopped = true;
  });
  for (let i = 0; i < 5; i++) await tick();
  t.false(stopped, 'stop() has not resolved while the task runs');
  t.deepEqual(scheduler.list(), [], 'but the job is already cancelled');

  gate.resolve();
  await stopping;
  t.true(finished, 'the task completed before stop() resolved');
  await run;
});

test('a due job fires on its own timer and is armed again for the next time', async (t) => {
  const scheduler = new JobScheduler(recordingLogger());
  t.teardown(() => scheduler.stop());
  const everySecond = new schedule.RecurrenceRule(); // hour/minute: any
  everySecond.second = new schedule.Range(0, 59); // any second: due within a second
  let runs = 0;
  const twoRuns = deferred();
  scheduler.schedule('ticker', everySecond, async () => {
    if (++runs === 2) twoRuns.resolve();
  });
  const capped = await Promise.race([twoRuns.promise.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000).unref())]);
  t.true(capped, `the job ran ${runs} time(s) by itself`);
  const [info] = scheduler.list();
  t.truthy(info!.lastRunAt);
  t.truthy(info!.nextRunAt);
});

test('cancel() removes a single job', async (t) => {
  const scheduler = new JobScheduler(recordingLogger());
  t.teardown(() => scheduler.stop());
  scheduler.schedule('a', dailyAt(1, 0), async () => {});
  scheduler.schedule('b', dailyAt(2, 0), async () => {});
  scheduler.cancel('a');
  scheduler.cancel('unknown');
  t.deepEqual(scheduler.list().map((j) => j.name), ['b']);
});

// ------------------------------------------------------------------------------------ process exit

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the child was still running at the deadline and was killed. */
  killed: boolean;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node --import=tsx <script>` in the project root. When `deadlineMs` passes — counted from
 * the first line on stdout, i.e. from when the script has finished its setup — the child is killed.
 * A hard cap (`hardCapMs`, from spawn) also applies, so a child that never prints cannot hang the test.
 */
function runChild(script: string, deadlineMs: number, hardCapMs = 15_000): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', script], {
      cwd: projectRoot,
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    let deadline: NodeJS.Timeout | undefined;
    const kill = (): void => {
      if (child.exitCode === null && child.signalCode === null) {
        killed = true;
        child.kill('SIGKILL');
      }
    };
    const hardCap = setTimeout(kill, hardCapMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (!deadline && stdout.includes('\n')) deadline = setTimeout(kill, deadlineMs);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err) => {
      clearTimeout(hardCap);
      clearTimeout(deadline);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(hardCap);
      clearTimeout(deadline);
      resolve({ code, signal, killed, stdout, stderr });
    });
  });
}

test('a process that only creates a JobScheduler with daily jobs exits on its own', async (t) => {
  t.timeout(30_000);
  // 15 s cap from spawn: a timeout (the child killed by us) counts as failure.
  const result = await runChild('test/helpers/scheduler-child.ts', 15_000, 15_000);
  t.is(result.stdout.trim(), 'scheduled 2 true', `stderr: ${result.stderr}`);
  t.false(result.killed, 'the child had to be killed: a job timer keeps the process alive');
  t.is(result.code, 0, `stderr: ${result.stderr}`);
});

test('contrast: plain node-schedule keeps a child process alive (why the wrapper exists)', async (t) => {
  t.timeout(30_000);
  // Still running 3 s after it scheduled its job → killed by us.
  const result = await runChild('test/helpers/node-schedule-child.ts', 3_000, 15_000);
  t.is(result.stdout.trim(), 'scheduled true', `stderr: ${result.stderr}`);
  t.true(result.killed, 'plain node-schedule did not keep the process alive — the wrapper may no longer be needed');
  t.is(result.signal, 'SIGKILL');
});
