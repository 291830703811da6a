// "Never breaks the host": it never throws into the host, the host's own routes are never affected
// by a plugin failure, and with the sink down memory stays bounded and stop() returns within its cap
// (docs/faq.md, docs/performance.md).
//
// For every way the outside world can fail — the OTLP sink refusing connections, answering 500,
// answering 429 + Retry-After, hanging; the SQLite file unusable; dataDir unusable — a real Koa host
// keeps answering its own routes, ctx.telemetry.track() never throws into a route, nothing escapes
// as an unhandled rejection or uncaught exception, and stop() resolves within stopTimeoutMs.
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setImmediate as nextTick, setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type Router from '@koa/router';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { tempDirFor } from '../helpers/tmp.js';
import { refusedPort } from '../helpers/ports.js';
import type { TelemetryOptions } from '../../src/index.js';

// ------------------------------------------------------------------ process-level failure watch

interface ProcessFailure {
  kind: 'unhandledRejection' | 'uncaughtException';
  error: string;
}

const processFailures: ProcessFailure[] = [];
const describe = (value: unknown): string => (value instanceof Error ? `${value.name}: ${value.message}\n${value.stack ?? ''}` : String(value));
process.on('unhandledRejection', (reason) => {
  processFailures.push({ kind: 'unhandledRejection', error: describe(reason) });
});
process.on('uncaughtException', (error) => {
  processFailures.push({ kind: 'uncaughtException', error: describe(error) });
});

/** Asserts that nothing escaped to the process since `from` (an index into processFailures). */
function assertNoProcessFailures(t: ExecutionContext, from: number): void {
  const escaped = processFailures.slice(from);
  t.deepEqual(escaped, [], `the plugin let errors escape to the process:\n${escaped.map((f) => `${f.kind}: ${f.error}`).join('\n')}`);
}

test.after.always('no unhandled rejection or uncaught exception anywhere in this file', (t) => {
  assertNoProcessFailures(t, 0);
});

// ------------------------------------------------------------------ helpers

const STOP_CAP_MS = 500;
const STOP_SLACK_MS = 300;
const SMALL_EXPORT = { queueCap: 50, intakeCap: 100, batchSize: 10, intervalMs: 50, metricIntervalMs: 200 };
const FAST_OTLP = { timeoutMs: 300 };
/** "Logged once" with a little slack for a retry that fails again later. */
const MAX_REPEATS_OF_ONE_FAILURE = 3;

interface Logged {
  level: string;
  args: unknown[];
}

/** A logger that records instead of printing (and proves the plugin only logs, never throws). */
function recordingLogger(): { logger: TelemetryOptions['logger']; lines: Logged[] } {
  const lines: Logged[] = [];
  const at = (level: string) => (...args: unknown[]) => {
    lines.push({ level, args });
  };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

/**
 * Records what reaches the console while a test runs (and still lets nothing through): with a
 * host-supplied logger, the plugin and the libraries it drives (knex, OpenTelemetry) must report
 * through that logger, never print a stack trace per request onto the host's console (a
 * background failure is caught at its boundary and logged once).
 */
function captureConsole(t: ExecutionContext): string[] {
  const printed: string[] = [];
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;
  const saved = methods.map((m) => [m, console[m]] as const);
  for (const m of methods) {
    console[m] = (...args: unknown[]) => {
      printed.push(`console.${m}: ${args.map((a) => (typeof a === 'string' ? a : describe(a))).join(' ').slice(0, 300)}`);
    };
  }
  t.teardown(() => {
    for (const [m, fn] of saved) console[m] = fn;
  });
  return printed;
}

/** An extra host route that calls ctx.telemetry.track() and reports whether it threw. */
function probeRoute(router: Router): void {
  router.get('/track-probe', (ctx) => {
    let threw: string | null = null;
    let result: unknown = null;
    try {
      result = ctx.telemetry.track('probe.tracked', { source: 'probe', n: 1 });
      ctx.telemetry.track('Not A Valid Name', { nested: { not: 'flat' } });
      ctx.telemetry.identify({ plan: 'pro' });
    } catch (err) {
      threw = describe(err);
    }
    ctx.body = { threw, result };
  });
}

/** Every host route answers exactly as it would without the plugin, a few rounds in a row. */
async function assertHostRoutesAnswer(t: ExecutionContext, host: HostApp, rounds = 3): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const hello = await host.request('/hello', { user: 'alice' });
    t.is(hello.status, 200, `GET /hello (round ${round})`);
    t.regex(hello.headers.get('content-type') ?? '', /application\/json/);
    t.deepEqual(await hello.json(), { hello: 'world' });

    const project = await host.request('/projects/1', { user: 'alice' });
    t.is(project.status, 200, `GET /projects/1 (round ${round})`);
    t.deepEqual(await project.json(), { project: '1' });

    const timer = await host.request('/timer/start', { method: 'POST', user: 'alice' });
    t.is(timer.status, 201, `POST /timer/start (round ${round})`);
    t.deepEqual(await timer.json(), { ok: true });

    const anonymous = await host.request('/hello');
    t.is(anonymous.status, 200, `anonymous GET /hello (round ${round})`);

    const probe = await host.request('/track-probe', { user: 'alice' });
    t.is(probe.status, 200, `GET /track-probe (round ${round})`);
    const body = (await probe.json()) as { threw: string | null; result: unknown };
    t.is(body.threw, null, 'ctx.telemetry.track() threw into the route');
    t.is(typeof body.result, 'boolean');
  }
  // The host's own failures stay the host's: a 500 from the host, not something else.
  const boom = await host.request('/boom', { user: 'alice' });
  t.is(boom.status, 500);
}

/** The handle's own API never throws either. */
function assertHandleTrackDoesNotThrow(t: ExecutionContext, host: HostApp): void {
  t.notThrows(() => {
    host.telemetry.track('report.generated', { kind: 'weekly' });
    host.telemetry.track('report.generated', { kind: 'weekly' }, { user: { id: 7 } });
    host.telemetry.track('base_telemetry.first_seen', {});
    host.telemetry.identify({ id: 8 }, { plan: 'pro' });
    host.telemetry.status();
  });
}

/** The admin status route answers 200, or a JSON error; never a crash or a non-JSON 500. */
async function assertStatusRouteAnswers(t: ExecutionContext, host: HostApp): Promise<Record<string, unknown> | null> {
  const response = await host.request('/api/v1/usage-stats/status', { user: 'admin' });
  t.regex(response.headers.get('content-type') ?? '', /application\/json/, 'the status route answers JSON');
  const body = (await response.json()) as Record<string, unknown>;
  if (response.status === 200) return body;
  t.true(response.status >= 400 && response.status < 600);
  t.is(typeof (body.error as { code?: unknown } | undefined)?.code, 'string', 'a JSON error { error: { code, message } }');
  return null;
}

/** stop() resolves within its cap (plus scheduling slack), whatever state the sink is in. */
async function assertStopsWithinCap(t: ExecutionContext, host: HostApp): Promise<void> {
  const started = Date.now();
  await host.telemetry.stop();
  const elapsed = Date.now() - started;
  t.true(elapsed < STOP_CAP_MS + STOP_SLACK_MS, `stop() took ${elapsed} ms (cap ${STOP_CAP_MS} ms)`);
  await host.close(); // stop() is idempotent; this closes the HTTP server
  // Late failures (a retry timer, a destroyed socket) would surface now.
  await sleep(250);
}

// ------------------------------------------------------------------ the failure table

interface FailureSetup {
  telemetry: Partial<TelemetryOptions> & { dataDir: string };
  /** What ready() must do in this situation. */
  ready: 'resolves' | 'rejects';
  /** Wait until the export pipeline has actually met the failure. */
  settle?: () => Promise<unknown>;
  close?: () => Promise<void>;
}

interface FailureCase {
  title: string;
  setup(t: ExecutionContext): Promise<FailureSetup>;
}

async function receiverCase(
  t: ExecutionContext,
  options: Parameters<typeof startOtlpReceiver>[0],
  telemetry: Partial<TelemetryOptions> = {},
): Promise<FailureSetup & { receiver: OtlpReceiver }> {
  const receiver = await startOtlpReceiver(options);
  return {
    receiver,
    telemetry: { dataDir: await tempDirFor(t), otlp: { endpoint: receiver.url, ...FAST_OTLP }, ...telemetry },
    ready: 'resolves',
    settle: () => receiver.waitForRequests(1, 5000).catch(() => undefined),
    close: () => receiver.close(),
  };
}

const CASES: FailureCase[] = [
  {
    title: 'sink refusing connections (port opened and closed)',
    async setup(t) {
      const port = await refusedPort();
      return {
        telemetry: { dataDir: await tempDirFor(t), otlp: { endpoint: `http://127.0.0.1:${port}`, ...FAST_OTLP } },
        ready: 'resolves',
        settle: () => sleep(300),
      };
    },
  },
  {
    title: 'sink answering 500 to every export',
    setup: (t) => receiverCase(t, { status: 500 }),
  },
  {
    title: 'sink answering 429 with Retry-After',
    setup: (t) => receiverCase(t, { status: 429, retryAfter: '1' }),
  },
  {
    title: 'sink accepting connections and never answering (hang)',
    setup: (t) => receiverCase(t, { hang: true }),
  },
  {
    title: 'SQLite database unusable (telemetry.sqlite3 is a directory)',
    async setup(t) {
      const dataDir = await tempDirFor(t);
      await mkdir(join(dataDir, 'telemetry.sqlite3'));
      const receiver = await startOtlpReceiver();
      return {
        telemetry: { dataDir, otlp: { endpoint: receiver.url, ...FAST_OTLP } },
        ready: 'rejects',
        close: () => receiver.close(),
      };
    },
  },
  {
    title: 'dataDir unusable (a path under a regular file)',
    async setup(t) {
      const root = await tempDirFor(t);
      const file = join(root, 'not-a-directory');
      await writeFile(file, 'I am a regular file\n');
      const receiver = await startOtlpReceiver();
      return {
        telemetry: { dataDir: join(file, 'data'), otlp: { endpoint: receiver.url, ...FAST_OTLP } },
        ready: 'rejects',
        close: () => receiver.close(),
      };
    },
  },
];

for (const failure of CASES) {
  test.serial(`never breaks the host: ${failure.title}`, async (t) => {
    const failuresBefore = processFailures.length;
    const setup = await failure.setup(t);
    if (setup.close) t.teardown(setup.close);
    const { logger, lines } = recordingLogger();
    const printed = captureConsole(t);

    let host: HostApp;
    try {
      host = await startHostApp({
        telemetry: { ...setup.telemetry, logger, stopTimeoutMs: STOP_CAP_MS, export: SMALL_EXPORT },
        routes: probeRoute,
        ready: false,
      });
    } catch (err) {
      t.fail(`telemetryPlugin(options) threw while the host was being set up — it must not do I/O or throw for a runtime condition; ready() should reject instead:\n${describe(err)}`);
      return;
    }
    t.teardown(() => host.close());

    // ready(): succeeds against a failing sink; rejects when its own storage is unusable.
    if (setup.ready === 'resolves') {
      await t.notThrowsAsync(host.telemetry.ready(), 'ready() must not depend on the sink being up');
      const consent = await host.telemetry.consent.set({ analytics: true });
      t.true(consent.analytics, 'opted in to detailed analytics');
    } else {
      await t.throwsAsync(host.telemetry.ready(), undefined, 'ready() rejects so the host can decide what to do');
      // Setting consent needs a working install; it may reject, but must settle and not crash anything.
      await host.telemetry.consent.set({ analytics: true }).catch(() => undefined);
    }

    await assertHostRoutesAnswer(t, host);
    assertHandleTrackDoesNotThrow(t, host);
    await setup.settle?.();
    // A second burst after the failure was met (back-off / retry state in place).
    await assertHostRoutesAnswer(t, host, 2);

    const status = await assertStatusRouteAnswers(t, host);
    if (setup.ready === 'resolves') {
      t.truthy(status, 'the status route answers 200 to an admin');
      const queue = status!.queue as { export_depth: number; intake_depth: number };
      t.true(queue.export_depth <= SMALL_EXPORT.queueCap);
      t.true(queue.intake_depth <= SMALL_EXPORT.intakeCap);
      // The failure was really met (not a vacuous pass) and is visible to the admin.
      const deadline = Date.now() + 3000;
      while (!host.telemetry.status().sink.lastError && Date.now() < deadline) await sleep(25);
      t.truthy(host.telemetry.status().sink.lastError, 'the sink reports the export failure in status()');
    }

    await assertStopsWithinCap(t, host);
    t.false(
      lines.some((l) => l.level === 'error' && String(l.args.at(-1)).includes('telemetry route')),
      'no plugin route failed with an internal error',
    );
    // The same failure is reported a few times at most, not once per request/track() call.
    const repeats = new Map<string, number>();
    for (const l of lines) if (l.level === 'warn' || l.level === 'error') repeats.set(String(l.args.at(-1)), (repeats.get(String(l.args.at(-1))) ?? 0) + 1);
    const storms = [...repeats].filter(([, n]) => n > MAX_REPEATS_OF_ONE_FAILURE);
    t.deepEqual(storms, [], `a background failure must be logged once, not per request; repeated: ${JSON.stringify(storms)}`);
    t.deepEqual(printed, [], 'with a host logger, nothing is printed to the console (no per-request log storm)');
    assertNoProcessFailures(t, failuresBefore);
  });
}

// ------------------------------------------------------------------ bounded memory

test.serial('bounded memory: sink refusing, 20× queueCap events → queues capped, oldest dropped and counted', async (t) => {
  const failuresBefore = processFailures.length;
  const port = await refusedPort();
  const { logger } = recordingLogger();
  const host = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      otlp: { endpoint: `http://127.0.0.1:${port}`, ...FAST_OTLP },
      export: SMALL_EXPORT,
      stopTimeoutMs: STOP_CAP_MS,
      logger,
    },
    routes: probeRoute,
  });
  t.teardown(() => host.close());
  await host.telemetry.consent.set({ analytics: true });

  const total = 20 * SMALL_EXPORT.queueCap; // 1000
  let maxIntake = 0;
  let maxExport = 0;
  const sample = () => {
    const { queue } = host.telemetry.status();
    maxIntake = Math.max(maxIntake, queue.intake_depth);
    maxExport = Math.max(maxExport, queue.export_depth);
  };

  // Some through real requests (each one a track() and a page view)...
  for (let i = 0; i < 50; i++) {
    const response = await host.request('/timer/start', { method: 'POST', user: 'alice' });
    t.is(response.status, 201);
    sample();
  }
  // ...a synchronous burst larger than the intake ring (nothing drains in between)...
  for (let i = 0; i < 200; i++) host.telemetry.track('timer.started', { source: 'burst', i });
  sample();
  t.true(host.telemetry.status().queue.intake_depth <= SMALL_EXPORT.intakeCap, 'the intake ring is capped');
  // ...and the rest in chunks that the drain moves into the export queue between chunks.
  for (let sent = 250; sent < total; sent += 25) {
    for (let i = 0; i < 25; i++) host.telemetry.track('timer.started', { source: 'chunk', i });
    sample();
    await nextTick();
    await nextTick();
    sample();
  }
  await sleep(200); // a few export intervals against the refusing sink
  sample();

  const status = host.telemetry.status();
  t.true(status.queue.export_depth <= SMALL_EXPORT.queueCap, `export_depth ${status.queue.export_depth} <= ${SMALL_EXPORT.queueCap}`);
  t.true(status.queue.export_dropped > 0, 'drop-oldest counted in export_dropped');
  t.true(status.queue.intake_depth <= SMALL_EXPORT.intakeCap, `intake_depth ${status.queue.intake_depth} <= ${SMALL_EXPORT.intakeCap}`);
  t.true(maxExport <= SMALL_EXPORT.queueCap, `export queue never exceeded its cap (max seen ${maxExport})`);
  t.true(maxIntake <= SMALL_EXPORT.intakeCap, `intake never exceeded its cap (max seen ${maxIntake})`);
  t.is(status.sink.queueCap, SMALL_EXPORT.queueCap);
  t.true(status.sink.exported === 0, 'nothing was accepted by a refusing sink');
  t.truthy(status.sink.lastError, 'the failure is visible to the admin');
  // Everything accepted is accounted for: exported + queued + dropped (export) + dropped (intake).
  t.true(status.queue.export_dropped + status.queue.intake_dropped + status.queue.export_depth + status.queue.intake_depth <= total + 100);

  // The same numbers over HTTP, to an admin.
  const overHttp = await assertStatusRouteAnswers(t, host);
  t.truthy(overHttp);
  const queue = overHttp!.queue as { export_depth: number; export_dropped: number; intake_depth: number };
  t.true(queue.export_depth <= SMALL_EXPORT.queueCap);
  t.true(queue.export_dropped > 0);
  t.true(queue.intake_depth <= SMALL_EXPORT.intakeCap);

  // The host still answers normally afterwards.
  await assertHostRoutesAnswer(t, host, 1);
  await assertStopsWithinCap(t, host);
  assertNoProcessFailures(t, failuresBefore);
});

// ------------------------------------------------------------------ a broken host callback

test.serial("the host's getUser throwing: requests still answer and track() still works", async (t) => {
  const failuresBefore = processFailures.length;
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const { logger } = recordingLogger();
  const host = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      otlp: { endpoint: receiver.url, ...FAST_OTLP },
      export: SMALL_EXPORT,
      stopTimeoutMs: STOP_CAP_MS,
      logger,
      getUser: () => {
        throw new Error('host getUser bug');
      },
    },
    routes: probeRoute,
  });
  t.teardown(() => host.close());
  await host.telemetry.consent.set({ analytics: true });

  await assertHostRoutesAnswer(t, host);
  assertHandleTrackDoesNotThrow(t, host);

  const probe = await host.request('/track-probe', { user: 'alice' });
  t.deepEqual(await probe.json(), { threw: null, result: true }, 'track() accepted the event');

  // The events really flow: they reach the sink, with no user pseudonym (the user is unknown).
  const deadline = Date.now() + 5000;
  while (!receiver.logs.some((l) => l.body === 'probe.tracked') && Date.now() < deadline) await sleep(25);
  const probes = receiver.logs.filter((l) => l.body === 'probe.tracked');
  t.true(probes.length > 0, 'a tracked event reached the sink');
  for (const log of probes) t.false('user.pseudonym' in log.attributes);

  // Admin routes treat the broken callback as "signed out": a JSON 401, not a crash.
  const status = await host.request('/api/v1/usage-stats/status', { user: 'admin' });
  t.is(status.status, 401);
  t.is(((await status.json()) as { error: { code: string } }).error.code, 'unauthorized');

  await assertStopsWithinCap(t, host);
  assertNoProcessFailures(t, failuresBefore);
});

test('attack: a host middleware that empties the URL of a signed-in user\'s page request: the host still answers, the plugin adds no error', async (t) => {
  const { default: Koa } = await import('koa');
  const { default: session } = await import('koa-session');
  const { default: http } = await import('node:http');
  const { telemetryPlugin } = await import('../../src/index.js');
  const telemetry = telemetryPlugin({
    appName: 'Host',
    appVersion: '1.0.0',
    dataDir: await tempDirFor(t),
    env: {},
    jobs: false,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    getUser: () => ({ id: 7, isAdmin: false }),
  });
  t.teardown(() => telemetry.stop());
  const app = new Koa();
  app.keys = ['test-key'];
  app.use(session(app));
  app.use(async (ctx, next) => {
    ctx.req.url = ''; // Koa's ctx.path is null from here on
    await next();
  });
  app.use(telemetry);
  app.use((ctx) => {
    ctx.body = 'the host page';
  });
  const errors: Error[] = [];
  app.on('error', (err: Error) => errors.push(err));
  const server = http.createServer(app.callback());
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  t.teardown(() => new Promise<void>((done) => server.close(() => done())));
  const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/reports`, { headers: { accept: 'text/html' } });
  t.is(response.status, 200);
  t.is(await response.text(), 'the host page');
  t.deepEqual(errors, []);
});
