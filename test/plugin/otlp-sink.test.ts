import test from 'ava';
import nock from 'nock';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { metrics } from '@opentelemetry/api';
import { logs } from '@opentelemetry/api-logs';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import type { LogRecordExporter, ReadableLogRecord, SdkLogRecord } from '@opentelemetry/sdk-logs';
import { createOtlpSink, type OtlpSinkConfig, type SinkObservation } from '../../src/plugin/telemetry/otlp-sink.js';
import {
  BoundedLogProcessor,
  EXPORT_FAILED,
  EXPORT_SUCCESS,
  logExportBackoff,
  type ExportResult,
} from '../../src/plugin/telemetry/bounded-log-processor.js';
import type { Logger } from '../../src/plugin/types.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { refusedPort } from '../helpers/ports.js';
import { ManualTimers } from '../helpers/manual-timers.js';
import { keptDebugOutput } from '../helpers/debug-output.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');

// Any unhandled rejection anywhere in this file fails the tests that check for it.
const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => {
  unhandled.push(reason);
});

interface LogCall {
  level: keyof Logger;
  args: unknown[];
}
function captureLogger(): Logger & { calls: LogCall[] } {
  const calls: LogCall[] = [];
  const at =
    (level: keyof Logger) =>
    (...args: unknown[]): void => {
      calls.push({ level, args });
    };
  return { calls, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const emptyObservation = (): SinkObservation => ({ activeInstall: null, events: new Map(), pageviews: new Map() });

type ConfigOverrides = Partial<Omit<OtlpSinkConfig, 'export'>> & Pick<OtlpSinkConfig, 'endpoint'> & { export?: Partial<OtlpSinkConfig['export']> };

function config(over: ConfigOverrides): OtlpSinkConfig {
  return {
    headers: {},
    timeoutMs: 2000,
    debug: false,
    resource: { serviceName: 'koa-app', serviceVersion: '2.3.4', instanceId: 'install-123' },
    logger: captureLogger(),
    observe: emptyObservation,
    ...over,
    // Background exports effectively off unless a test wants them: tests drive flush().
    export: { queueCap: 100, batchSize: 50, intervalMs: 60_000, metricIntervalMs: 60_000, ...over.export },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true (the receiver may see a request before the sink sees the answer). */
async function until(check: () => boolean, timeoutMs = 20_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}

async function withReceiver(
  opts: Parameters<typeof startOtlpReceiver>[0],
  fn: (rx: OtlpReceiver) => Promise<void>,
): Promise<void> {
  const rx = await startOtlpReceiver(opts);
  try {
    await fn(rx);
  } finally {
    await rx.close();
  }
}

/** A URL on 127.0.0.1 where nothing listens (a receiver started and closed again). */
async function closedPortUrl(): Promise<string> {
  const rx = await startOtlpReceiver();
  await rx.close();
  return rx.url;
}

// ------------------------------------------------------------------ nock (serial: shared state)

test.serial('debug mode prints the would-be payloads whole to the debug output and sends nothing', async (t) => {
  const attempted: string[] = [];
  const onNoMatch = (req: { hostname?: string; path?: string }): void => {
    attempted.push(`${req.hostname ?? ''}${req.path ?? ''}`);
  };
  nock.disableNetConnect();
  nock.emitter.on('no match', onNoMatch);
  const printed = keptDebugOutput();
  const sink = createOtlpSink(
    config({
      endpoint: 'https://otlp.example.invalid/otlp',
      headers: { Authorization: 'Basic c2VjcmV0OnNlY3JldA==' },
      debug: true,
      debugOutput: printed.output,
      logger: captureLogger(),
      observe: () => ({
        activeInstall: { app_version: '2.3.4', platform: 'linux' },
        events: new Map([['timer.started', 2]]),
        pageviews: new Map(),
      }),
    }),
  );
  try {
    sink.emit('timer.started', { project_count: 3, source: 'web' });
    t.true(await sink.flush());
    const payloads = printed.payloads().map((p) => p.payload as Record<string, unknown>);
    const logPayload = payloads.find((p) => p.signal === 'logs');
    t.like(logPayload, {
      signal: 'logs',
      resource: { 'service.name': 'koa-app', 'service.version': '2.3.4', 'service.instance.id': 'install-123' },
    });
    t.like((logPayload?.records as unknown[])[0], { body: 'timer.started', attributes: { project_count: 3, source: 'web' } });
    const metricPayload = payloads.find((p) => p.signal === 'metrics') as
      | { metrics: { name: string; points: { attributes: Record<string, unknown>; value: unknown }[] }[] }
      | undefined;
    t.truthy(metricPayload);
    const events = metricPayload?.metrics.find((m) => m.name === 'app.events');
    t.deepEqual(events?.points, [{ attributes: { 'event.name': 'timer.started' }, value: 2 }]);
    const install = metricPayload?.metrics.find((m) => m.name === 'app.install.active');
    t.deepEqual(install?.points, [{ attributes: { app_version: '2.3.4', platform: 'linux' }, value: 1 }]);
    t.deepEqual(attempted, [], 'no request was attempted');
    // Positive control: the 'no match' listener does see a blocked request.
    await t.throwsAsync(fetch('http://control.invalid/'), { any: true });
    t.is(attempted.length, 1);
    attempted.length = 0;
    t.like(sink.stats(), {
      configured: true,
      debug: true,
      endpoint: 'https://otlp.example.invalid/otlp',
      exported: 1,
      failedExports: 0,
      queueDepth: 0,
    });
    // Debug mode also works without an endpoint.
    const bare = createOtlpSink(config({ endpoint: null, debug: true, debugOutput: keptDebugOutput().output, logger: captureLogger() }));
    bare.emit('x.y', {});
    t.true(await bare.flush());
    t.like(bare.stats(), { configured: true, debug: true, endpoint: null, exported: 1 });
    await bare.shutdown(500);
  } finally {
    await sink.shutdown(1000);
    nock.emitter.removeListener('no match', onNoMatch);
    nock.enableNetConnect();
  }
  t.deepEqual(attempted, []);
});

test.serial('no endpoint and no debug: cheap no-op sink, no network', async (t) => {
  nock.disableNetConnect();
  const attempted: unknown[] = [];
  const onNoMatch = (req: unknown): void => {
    attempted.push(req);
  };
  nock.emitter.on('no match', onNoMatch);
  let observed = 0;
  try {
    const sink = createOtlpSink(
      config({
        endpoint: null,
        observe: () => {
          observed++;
          return emptyObservation();
        },
      }),
    );
    for (let i = 0; i < 1000; i++) sink.emit('timer.started', { i });
    t.true(await sink.flush());
    t.deepEqual(sink.stats(), {
      configured: false,
      endpoint: null,
      debug: false,
      queueDepth: 0,
      queueCap: 100,
      dropped: 0,
      exported: 0,
      failedExports: 0,
      lastError: null,
      lastExportAt: null,
    });
    t.is(sink.discard(() => true), 0);
    await sink.shutdown(100);
    t.is(observed, 0, 'no metric collection happens');
  } finally {
    nock.emitter.removeListener('no match', onNoMatch);
    nock.enableNetConnect();
  }
  t.deepEqual(attempted, []);
});

test.serial('OTEL_EXPORTER_OTLP_* env of the host neither redirects nor leaks into our export', async (t) => {
  // The rest of the file exercises the real http stack, without nock's interceptor.
  nock.restore();
  const saved = { ...process.env };
  process.env.OTEL_EXPORTER_OTLP_HEADERS = 'x-host-secret=host-token';
  process.env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT = 'http://127.0.0.1:9/elsewhere';
  process.env.OTEL_EXPORTER_OTLP_COMPRESSION = 'gzip';
  try {
    await withReceiver({}, async (rx) => {
      const sink = createOtlpSink(config({ endpoint: rx.url }));
      t.is(process.env.OTEL_EXPORTER_OTLP_HEADERS, 'x-host-secret=host-token', 'env restored');
      sink.emit('a.b', {});
      t.true(await sink.flush());
      await rx.waitForLogs(1);
      t.true(rx.requests.length > 0);
      for (const r of rx.requests) {
        t.is(r.headers['x-host-secret'], undefined);
        t.is(r.headers['content-encoding'], undefined);
      }
      await sink.shutdown(1000);
    });
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});

// ------------------------------------------------------------------ delivery

test('a log record arrives with body = event name, exact attributes and the resource', async (t) => {
  await withReceiver({}, async (rx) => {
    const sink = createOtlpSink(config({ endpoint: rx.url }));
    sink.emit('timer.started', { project_count: 3, ratio: 0.25, source: 'web', billable: true });
    t.true(await sink.flush());
    const [log] = await rx.waitForLogs(1);
    t.is(log?.body, 'timer.started');
    t.deepEqual(log?.attributes, { project_count: 3, ratio: 0.25, source: 'web', billable: true });
    t.deepEqual(log?.resource, {
      'service.name': 'koa-app',
      'service.version': '2.3.4',
      'service.instance.id': 'install-123',
    });
    t.is(log?.traceId, undefined, 'no host trace context attached');
    const s = sink.stats();
    t.like(s, { configured: true, debug: false, endpoint: rx.url, exported: 1, queueDepth: 0, failedExports: 0 });
    t.truthy(s.lastExportAt && !Number.isNaN(Date.parse(s.lastExportAt)));
    t.true(rx.requests.every((r) => r.headers['content-type'] === 'application/json'));
    await sink.shutdown(1000);
  });
});

test('records are sent in batches of batchSize, in order', async (t) => {
  await withReceiver({}, async (rx) => {
    // flush() gives up after timeoutMs; three batches may take longer than 2 s on a starved machine.
    const sink = createOtlpSink(config({ endpoint: rx.url, export: { batchSize: 4 }, timeoutMs: 30_000 }));
    for (let i = 0; i < 10; i++) sink.emit(`e.n${i}`, { i });
    t.true(await sink.flush());
    const got = await rx.waitForLogs(10);
    t.deepEqual(
      got.map((l) => l.body),
      Array.from({ length: 10 }, (_, i) => `e.n${i}`),
    );
    t.is(rx.requests.filter((r) => r.path === '/v1/logs').length, 3);
    await sink.shutdown(1000);
  });
});

test('a record is built at export time from the parts queued at emit: attributes merged in order like a spread, time of the emit', async (t) => {
  await withReceiver({}, async (rx) => {
    const sink = createOtlpSink(config({ endpoint: rx.url }));
    const shared = { install_id: 'install-1', app_version: '2.3.4' };
    const before = Date.now();
    sink.emit('report.generated', { format: 'pdf', install_id: 'from-props' }, shared, { 'user.pseudonym': 'abc' });
    sink.emit('report.generated', { format: 'csv' }, shared);
    const after = Date.now();
    while (Date.now() <= after + 2) {
      // let the clock move on: a record timed at export would no longer fall within [before, after]
    }
    t.true(await sink.flush());
    const got = await rx.waitForLogs(2);
    t.deepEqual(got[0]!.attributes, { format: 'pdf', install_id: 'install-1', app_version: '2.3.4', 'user.pseudonym': 'abc' });
    t.deepEqual(Object.keys(got[0]!.attributes), ['format', 'install_id', 'app_version', 'user.pseudonym'], 'key order of { ...props, ...shared, ...user }');
    t.deepEqual(got[1]!.attributes, { format: 'csv', install_id: 'install-1', app_version: '2.3.4' });
    for (const record of got) {
      const ms = Number(BigInt(record.timeUnixNano!) / 1_000_000n);
      t.true(ms >= before && ms <= after, `timeUnixNano ${ms} within the emit [${before}, ${after}]`);
    }
    await sink.shutdown(1000);
  });
});

test('metrics arrive: install gauge, events and pageviews counters (cumulative)', async (t) => {
  await withReceiver({}, async (rx) => {
    const events = new Map<string, number>([
      ['timer.started', 3],
      ['job_completed', 1],
    ]);
    const pageviews = new Map([
      [
        'GET /projects/:id 2xx',
        {
          attributes: { route: '/projects/:id', method: 'GET', status_class: '2xx', browser: 'Firefox', device: 'desktop' },
          count: 5,
        },
      ],
    ]);
    const sink = createOtlpSink(
      config({
        endpoint: rx.url,
        observe: () => ({
          activeInstall: { app_version: '2.3.4', platform: 'linux', deployment_type: 'docker', release_channel: 'stable' },
          events,
          pageviews,
        }),
      }),
    );
    t.true(await sink.flush());
    const [install] = await rx.waitForMetric('app.install.active');
    t.like(install, {
      type: 'gauge',
      value: 1,
      attributes: { app_version: '2.3.4', platform: 'linux', deployment_type: 'docker', release_channel: 'stable' },
    });
    t.is(install?.resource['service.instance.id'], 'install-123');
    const ev = rx.latestMetric('app.events');
    t.deepEqual(
      ev.map((p) => [p.attributes['event.name'], p.value]).sort(),
      [
        ['job_completed', 1],
        ['timer.started', 3],
      ],
    );
    t.true(ev.every((p) => p.type === 'sum' && p.isMonotonic === true && p.aggregationTemporality === 2));
    const [pv] = rx.latestMetric('app.pageviews');
    t.like(pv, {
      value: 5,
      attributes: { route: '/projects/:id', method: 'GET', status_class: '2xx', browser: 'Firefox', device: 'desktop' },
    });

    // Cumulative counts are read at each collection.
    events.set('timer.started', 7);
    t.true(await sink.flush());
    const updated = await rx.waitForMetric('app.events', 5000, (pts) =>
      pts.some((p) => p.attributes['event.name'] === 'timer.started' && p.value === 7),
    );
    t.truthy(updated);
    await sink.shutdown(1000);
  });
});

test('observe() throwing reports nothing and breaks nothing', async (t) => {
  await withReceiver({}, async (rx) => {
    const sink = createOtlpSink(
      config({
        endpoint: rx.url,
        observe: () => {
          throw new Error('boom');
        },
      }),
    );
    sink.emit('a.b', {});
    t.true(await sink.flush());
    await rx.waitForLogs(1);
    t.is(rx.metrics.length, 0);
    t.is(rx.requests.filter((r) => r.path === '/v1/metrics').length, 0);
    await sink.shutdown(1000);
  });
});

test('headers reach the receiver; endpoint path and trailing slash are honoured', async (t) => {
  await withReceiver({}, async (rx) => {
    const sink = createOtlpSink(
      config({
        endpoint: `${rx.url}/otlp/`,
        headers: { Authorization: 'Basic dXNlcjprZXk=', 'X-Scope-OrgID': 'tenant-1' },
        observe: () => ({ activeInstall: { app_version: '1' }, events: new Map(), pageviews: new Map() }),
      }),
    );
    sink.emit('a.b', {});
    t.true(await sink.flush());
    await rx.waitForLogs(1);
    t.deepEqual([...new Set(rx.requests.map((r) => r.path))].sort(), ['/otlp/v1/logs', '/otlp/v1/metrics']);
    for (const r of rx.requests) {
      t.is(r.headers.authorization, 'Basic dXNlcjprZXk=');
      t.is(r.headers['x-scope-orgid'], 'tenant-1');
    }
    t.is(sink.stats().endpoint, `${rx.url}/otlp`);
    await sink.shutdown(1000);
  });
});

test('stats().endpoint never shows credentials or query', (t) => {
  const sink = createOtlpSink(config({ endpoint: 'https://user:s3cret@otlp.example.com:4318/otlp/?token=abc' }));
  t.is(sink.stats().endpoint, 'https://otlp.example.com:4318/otlp');
  t.true(sink.stats().configured);
  return sink.shutdown(200);
});

test('an invalid endpoint degrades to a sink that exports nothing, without throwing', async (t) => {
  const logger = captureLogger();
  const sink = createOtlpSink(config({ endpoint: 'not a url', logger }));
  sink.emit('a.b', {});
  t.false(await sink.flush());
  t.like(sink.stats(), { configured: true, endpoint: null, queueDepth: 0, lastError: 'invalid OTLP endpoint URL' });
  t.true(logger.calls.some((c) => c.level === 'warn'));
  await sink.shutdown(100);
});

// ------------------------------------------------------------------ failures and retry

test('receiver answering 500 then 200: records are kept and delivered later', async (t) => {
  await withReceiver({ status: (p) => (p === '/v1/logs' ? 500 : 200) }, async (rx) => {
    const logger = captureLogger();
    const sink = createOtlpSink(
      config({ endpoint: rx.url, logger, headers: { Authorization: 'Bearer top-secret-token-value' } }),
    );
    sink.emit('e.one', { n: 1 });
    sink.emit('e.two', { n: 2 });
    sink.emit('e.three', { n: 3 });
    t.false(await sink.flush());
    let s = sink.stats();
    t.is(s.queueDepth, 3);
    t.is(s.failedExports, 1);
    t.is(s.exported, 0);
    t.regex(s.lastError ?? '', /^logs: HTTP 500/);
    t.false((s.lastError ?? '').includes('top-secret-token-value'));

    t.false(await sink.flush());
    t.is(sink.stats().failedExports, 2);
    const warns = logger.calls.filter((c) => c.level === 'warn');
    t.is(warns.length, 1, 'the same failure kind is logged once');
    t.false(JSON.stringify(warns).includes('top-secret-token-value'));

    rx.setStatus(200);
    t.true(await sink.flush());
    const got = await rx.waitForLogs(3);
    t.deepEqual(
      got.map((l) => l.body),
      ['e.one', 'e.two', 'e.three'],
    );
    s = sink.stats();
    t.like(s, { queueDepth: 0, exported: 3, failedExports: 2, dropped: 0 });
    t.true(logger.calls.some((c) => c.level === 'info' && String(c.args[1]).includes('recovered')));
    await sink.shutdown(1000);
  });
});

test('429 with Retry-After is honoured and the records are delivered', async (t) => {
  await withReceiver(
    { status: (p, i) => (p === '/v1/logs' && i === 0 ? 429 : 200), retryAfter: '1' },
    async (rx) => {
      const sink = createOtlpSink(config({ endpoint: rx.url, timeoutMs: 5000 }));
      sink.emit('e.rate_limited', {});
      t.true(await sink.flush());
      await rx.waitForLogs(1);
      const reqs = rx.requests.filter((r) => r.path === '/v1/logs');
      t.deepEqual(
        reqs.map((r) => r.status),
        [429, 200],
      );
      const gap = (reqs[1]?.at ?? 0) - (reqs[0]?.at ?? 0);
      t.true(gap >= 900, `retried after ${gap} ms, Retry-After asked for 1000 ms`);
      t.like(sink.stats(), { exported: 1, failedExports: 0, queueDepth: 0 });
      await sink.shutdown(1000);
    },
  );
});

test('non-retryable 4xx drops the batch (counted) instead of looping', async (t) => {
  await withReceiver({ status: (p) => (p === '/v1/logs' ? 401 : 200) }, async (rx) => {
    const sink = createOtlpSink(config({ endpoint: rx.url }));
    for (let i = 0; i < 3; i++) sink.emit('e.x', { i });
    t.false(await sink.flush());
    t.like(sink.stats(), { queueDepth: 0, dropped: 3, exported: 0, failedExports: 1 });
    t.regex(sink.stats().lastError ?? '', /HTTP 401/);
    t.true(await sink.flush(), 'nothing left to send');
    t.is(rx.requests.filter((r) => r.path === '/v1/logs').length, 1);
    await sink.shutdown(1000);
  });
});

test('queue is drop-oldest: after an outage the newest records are delivered', async (t) => {
  await withReceiver({ status: (p) => (p === '/v1/logs' ? 500 : 200) }, async (rx) => {
    const sink = createOtlpSink(config({ endpoint: rx.url, export: { queueCap: 5, batchSize: 2 } }));
    for (let i = 0; i < 50; i++) sink.emit(`e.n${i}`, {});
    t.like(sink.stats(), { queueDepth: 5, dropped: 45 });
    t.false(await sink.flush());
    t.like(sink.stats(), { queueDepth: 5, dropped: 45 });
    rx.setStatus(200);
    t.true(await sink.flush());
    const got = await rx.waitForLogs(5);
    t.deepEqual(
      got.map((l) => l.body),
      ['e.n45', 'e.n46', 'e.n47', 'e.n48', 'e.n49'],
    );
    await sink.shutdown(1000);
  });
});

test('receiver down: flush resolves false, queue bounded by the cap, overflow counted, nothing thrown', async (t) => {
  const url = await closedPortUrl();
  const before = unhandled.length;
  const cap = 20;
  const logger = captureLogger();
  // timeoutMs below the transport's first back-off (1 s): one attempt per export.
  const sink = createOtlpSink(config({ endpoint: url, export: { queueCap: cap, batchSize: 7 }, timeoutMs: 300, logger }));
  t.notThrows(() => {
    for (let i = 0; i < 10 * cap; i++) sink.emit('e.offline', { i });
  });
  t.is(sink.stats().queueDepth, cap);
  t.is(sink.stats().dropped, 9 * cap);
  t.false(await sink.flush());
  const s = sink.stats();
  t.is(s.queueDepth, cap);
  t.is(s.dropped, 9 * cap);
  t.true(s.failedExports >= 1);
  t.regex(s.lastError ?? '', /ECONNREFUSED/);
  t.false(await sink.flush());
  t.is(sink.stats().queueDepth, cap);
  await sink.shutdown(500);
  await sleep(50);
  t.is(unhandled.length, before, 'no unhandled rejection');
  t.true(logger.calls.filter((c) => c.level === 'warn').length <= 2, 'no log storm');
});

test('background exports back off exponentially while failing and recover', async (t) => {
  // The processor's timers are fired by hand: each firing is one background attempt, and the
  // delay it asks for next is the back-off (two intervals, x2 per failure, ±20 %), reset on success.
  await withReceiver({ status: (p) => (p === '/v1/logs' ? 500 : 200) }, async (rx) => {
    const timers = new ManualTimers();
    const intervalMs = 50;
    const sink = createOtlpSink(config({ endpoint: rx.url, export: { intervalMs }, startTimer: timers.start }));
    t.deepEqual(timers.requested, [intervalMs], 'the first background export is one interval away');
    sink.emit('e.bg', {});
    const logAttempts = () => rx.requests.filter((r) => r.path === '/v1/logs').length;
    const retryDelays: number[] = [];
    for (let failure = 1; failure <= 4; failure++) {
      timers.fireNext();
      t.true(await until(() => timers.pending.length === 1, 20_000), `a retry is scheduled after failure ${failure}`);
      t.is(logAttempts(), failure, 'one request per background attempt');
      retryDelays.push(timers.pending[0]!.delayMs);
    }
    retryDelays.forEach((delay, i) => {
      const nominal = 2 * intervalMs * 2 ** i;
      t.true(delay >= nominal * 0.8 && delay <= nominal * 1.2, `retry ${i + 1} waits ${delay} ms, nominal ${nominal} ms ±20 %`);
    });
    t.like(sink.stats(), { exported: 0, queueDepth: 1, dropped: 0 });

    rx.setStatus(200);
    timers.fireNext();
    await rx.waitForLogs(1, 20_000);
    t.true(await until(() => sink.stats().exported === 1 && timers.pending.length === 1, 20_000));
    t.like(sink.stats(), { exported: 1, queueDepth: 0, dropped: 0 });
    t.is(timers.pending[0]!.delayMs, intervalMs, 'after a success the schedule is back to one interval');
    await sink.shutdown(1000);
  });
});

test('a full batch is exported in the background without waiting for the interval', async (t) => {
  await withReceiver({}, async (rx) => {
    const sink = createOtlpSink(config({ endpoint: rx.url, export: { batchSize: 5, intervalMs: 60_000 } }));
    for (let i = 0; i < 5; i++) sink.emit('e.batch', { i });
    await rx.waitForLogs(5, 5000);
    t.pass();
    await sink.shutdown(1000);
  });
});

test('discard() removes queued records by event name', async (t) => {
  await withReceiver({}, async (rx) => {
    const sink = createOtlpSink(config({ endpoint: rx.url }));
    sink.emit('base_telemetry.heartbeat', {});
    sink.emit('timer.started', {});
    sink.emit('base_telemetry.first_seen', {});
    t.is(
      sink.discard((name) => !name.startsWith('base_telemetry.')),
      1,
    );
    t.is(sink.stats().queueDepth, 2);
    t.true(await sink.flush());
    const got = await rx.waitForLogs(2);
    t.deepEqual(
      got.map((l) => l.body),
      ['base_telemetry.heartbeat', 'base_telemetry.first_seen'],
    );
    t.is(sink.stats().dropped, 0);
    await sink.shutdown(1000);
  });
});

// ------------------------------------------------------------------ shutdown

test('shutdown resolves within its cap against a receiver that never answers', async (t) => {
  await withReceiver({ hang: true }, async (rx) => {
    // The export's own deadline (60 s) is far past the test's timeout: only shutdown()'s cap can
    // end it in time (no wall-clock bound here).
    t.timeout(30_000);
    const sink = createOtlpSink(config({ endpoint: rx.url, timeoutMs: 60_000 }));
    sink.emit('e.hang', {});
    const flushing = sink.flush();
    await rx.waitForRequests(1, 20_000);
    await sink.shutdown(1000);
    // The in-flight export was aborted, not left hanging for timeoutMs.
    t.is(await flushing, false, 'the in-flight export was aborted');
    const count = rx.requests.length;
    await sleep(300);
    t.is(rx.requests.length, count, 'nothing is sent after shutdown');
    sink.emit('e.after', {});
    t.is(sink.stats().queueDepth, 1, 'the unsent record stays counted; new ones are refused');
  });
});

test('shutdown delivers what is queued when the receiver is healthy, and is idempotent', async (t) => {
  await withReceiver({}, async (rx) => {
    const sink = createOtlpSink(
      config({
        endpoint: rx.url,
        observe: () => ({ activeInstall: { app_version: '1' }, events: new Map(), pageviews: new Map() }),
      }),
    );
    sink.emit('e.last', {});
    await sink.shutdown(2000);
    await sink.shutdown(2000);
    t.deepEqual(
      rx.logs.map((l) => l.body),
      ['e.last'],
    );
    t.is(rx.latestMetric('app.install.active')[0]?.value, 1);
    t.like(sink.stats(), { exported: 1, queueDepth: 0 });
  });
});

// ------------------------------------------------------------------ isolation

test.serial('the host global MeterProvider and LoggerProvider are untouched and receive none of our data', async (t) => {
  class HostReader extends MetricReader {
    protected async onForceFlush(): Promise<void> {}
    protected async onShutdown(): Promise<void> {}
  }
  const hostReader = new HostReader();
  const hostMeterProvider = new MeterProvider({ readers: [hostReader] });
  hostMeterProvider.getMeter('host').createCounter('host.requests').add(1);
  const hostRecords: unknown[] = [];
  const hostLoggerProvider = new LoggerProvider({
    processors: [
      {
        onEmit: (r: SdkLogRecord) => {
          hostRecords.push(r.body);
        },
        forceFlush: async () => {},
        shutdown: async () => {},
      },
    ],
  });
  t.true(metrics.setGlobalMeterProvider(hostMeterProvider));
  t.is(logs.setGlobalLoggerProvider(hostLoggerProvider), hostLoggerProvider);
  try {
    await withReceiver({}, async (rx) => {
      const sink = createOtlpSink(
        config({
          endpoint: rx.url,
          observe: () => ({ activeInstall: { a: '1' }, events: new Map([['x.y', 1]]), pageviews: new Map() }),
        }),
      );
      sink.emit('x.y', { a: 1 });
      t.true(await sink.flush());
      await rx.waitForLogs(1);
      t.is(metrics.getMeterProvider(), hostMeterProvider);
      t.is(logs.getLoggerProvider(), hostLoggerProvider);
      const { resourceMetrics } = await hostReader.collect();
      const names = resourceMetrics.scopeMetrics.flatMap((sm) => sm.metrics.map((m) => m.descriptor.name));
      t.deepEqual(names, ['host.requests']);
      t.deepEqual(hostRecords, []);
      await sink.shutdown(1000);
      t.is(metrics.getMeterProvider(), hostMeterProvider);
      t.is(logs.getLoggerProvider(), hostLoggerProvider);
    });
  } finally {
    metrics.disable();
    logs.disable();
    await hostMeterProvider.shutdown();
    await hostLoggerProvider.shutdown();
  }
});

// ------------------------------------------------------------------ process lifetime

function runChild(
  mode: 'natural' | 'hang' | 'refused',
  url: string,
): Promise<{ code: number | null; signal: string | null; afterDoneMs: number | null; done: unknown; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', path.join(here, '..', 'helpers', 'otlp-sink-child.ts'), mode, url], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let stdout = '';
    let stderr = '';
    let doneAt: number | null = null;
    let done: unknown = null;
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      const m = /^DONE (.*)$/m.exec(stdout);
      if (m && doneAt === null) {
        doneAt = Date.now();
        done = JSON.parse(m[1] ?? 'null') as unknown;
      }
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    // A safety net for a child that never exits, counted from spawn: starting node + tsx + the
    // OTel SDK alone can take over 10 s on a saturated machine (docs/testing.md: 60 s).
    const killer = setTimeout(() => {
      child.kill('SIGKILL');
    }, 60_000);
    child.on('error', (err) => {
      clearTimeout(killer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, afterDoneMs: doneAt === null ? null : Date.now() - doneAt, done, stdout, stderr });
    });
  });
}

test('the process exits on its own without shutdown() (no timer or socket keeps it alive)', async (t) => {
  await withReceiver({}, async (rx) => {
    const r = await runChild('natural', rx.url);
    t.is(r.signal, null, `child was killed (stderr: ${r.stderr})`);
    t.is(r.code, 0, r.stderr);
    t.not(r.afterDoneMs, null);
    t.true((r.afterDoneMs ?? Infinity) < 2000, `exited ${r.afterDoneMs} ms after its last own work`);
    // The background timers did run: the log record and the install gauge arrived.
    t.true(rx.logs.some((l) => l.body === 'child.started'));
    t.true(rx.metrics.some((m) => m.name === 'app.install.active' && m.value === 1));
  });
});

test('after shutdown against a hanging receiver the process exits at once', async (t) => {
  await withReceiver({ hang: true }, async (rx) => {
    const r = await runChild('hang', rx.url);
    t.is(r.signal, null, `child was killed (stderr: ${r.stderr})`);
    t.is(r.code, 0, r.stderr);
    const done = r.done as { shutdownMs: number; flushed: boolean };
    t.true(done.shutdownMs < 1000, `shutdown(500) took ${done.shutdownMs} ms`);
    t.false(done.flushed);
    t.true((r.afterDoneMs ?? Infinity) < 2000, `exited ${r.afterDoneMs} ms after shutdown`);
  });
});

test('after shutdown against a refusing receiver nothing connects again: the transport\'s pending retries end', async (t) => {
  const port = await refusedPort();
  t.timeout(90_000);
  const r = await runChild('refused', `http://127.0.0.1:${port}`);
  t.is(r.signal, null, `child was killed (stderr: ${r.stderr})`);
  t.is(r.code, 0, r.stderr);
  t.false((r.done as { flushed: boolean }).flushed);
  t.regex(r.stdout, /^AFTER 0$/m, `TCP connections opened after shutdown resolved:\n${r.stdout}`);
});

// ------------------------------------------------------------------ BoundedLogProcessor unit

function fakeRecord(body: string): ReadableLogRecord {
  return { body, eventName: body } as unknown as ReadableLogRecord;
}

test('BoundedLogProcessor: a failed batch goes back in front, oldest dropped first when full', async (t) => {
  const sent: string[][] = [];
  let pending: ((r: ExportResult) => void) | null = null;
  const exporter: LogRecordExporter = {
    export(batch, cb) {
      sent.push(batch.map((r) => String(r.body)));
      pending = cb;
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const p = new BoundedLogProcessor({ exporter, queueCap: 4, batchSize: 2, flushIntervalMs: 60_000, exportDeadlineMs: 5000 });
  for (const b of ['a', 'b', 'c', 'd']) p.onEmit(fakeRecord(b) as SdkLogRecord);
  const first = p.flush();
  await sleep(10);
  t.deepEqual(sent, [['a', 'b']]);
  // While a,b are in flight: queue c,d + e,f (full) + g drops c.
  for (const b of ['e', 'f', 'g']) p.onEmit(fakeRecord(b) as SdkLogRecord);
  t.like(p.stats(), { queueDepth: 4, dropped: 1, inFlight: 2 });
  (pending as unknown as (r: ExportResult) => void)({ code: EXPORT_FAILED, error: new Error('HTTP 500') });
  t.false(await first);
  // a,b come back in front of a full queue: both dropped (they are the oldest).
  t.like(p.stats(), { queueDepth: 4, dropped: 3, failedExports: 1 });

  const second = p.flush();
  for (let i = 0; i < 2; i++) {
    await sleep(10);
    (pending as unknown as (r: ExportResult) => void)({ code: EXPORT_SUCCESS });
  }
  t.true(await second);
  t.deepEqual(sent.slice(1), [
    ['d', 'e'],
    ['f', 'g'],
  ]);
  t.like(p.stats(), { queueDepth: 0, exported: 4, dropped: 3 });
  await p.shutdown();
});

test('BoundedLogProcessor: an export that never calls back hits the deadline and is retried later', async (t) => {
  let calls = 0;
  const exporter: LogRecordExporter = {
    export(_batch, cb) {
      calls++;
      if (calls > 1) cb({ code: EXPORT_SUCCESS });
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const p = new BoundedLogProcessor({ exporter, queueCap: 10, batchSize: 10, flushIntervalMs: 60_000, exportDeadlineMs: 100 });
  p.onEmit(fakeRecord('a') as SdkLogRecord);
  t.false(await p.flush());
  t.like(p.stats(), { queueDepth: 1, failedExports: 1 });
  t.true(await p.flush());
  t.like(p.stats(), { queueDepth: 0, exported: 1 });
  await p.shutdown();
});

// One retry rule for every outbound path (src/core/resilience/retryable-status.ts): 501 and 505 are
// final here as for the submission; 408 is retried there as here.
test('BoundedLogProcessor: 408 and 503 keep the batch for a retry; 501, 505 and 400 drop it', async (t) => {
  const outcomes: Record<number, string> = {};
  for (const status of [408, 503, 501, 505, 400]) {
    const exporter: LogRecordExporter = {
      export(_batch, cb) {
        cb({ code: EXPORT_FAILED, error: Object.assign(new Error(`HTTP ${status}`), { code: status }) });
      },
      forceFlush: async () => {},
      shutdown: async () => {},
    };
    const p = new BoundedLogProcessor({
      exporter,
      queueCap: 10,
      batchSize: 10,
      flushIntervalMs: 60_000,
      exportDeadlineMs: 5000,
      onOutcome: (o) => (outcomes[status] = o.disposition),
    });
    p.onEmit(fakeRecord('a') as SdkLogRecord);
    t.false(await p.flush());
    await p.shutdown();
  }
  t.deepEqual(outcomes, { 408: 'requeued', 503: 'requeued', 501: 'dropped', 505: 'dropped', 400: 'dropped' });
});

test('the background retry after failed log exports starts at two intervals, doubles, and is capped at 5 minutes', (t) => {
  const policy = logExportBackoff(1000);
  t.like(policy, { baseMs: 2000, factor: 2, jitter: 0.2, maxMs: 300_000 });
  for (let f = 1; f < 12; f++) {
    const d = policy.delay(f);
    const nominal = Math.min(1000 * 2 ** f, 300_000);
    t.true(d >= nominal * 0.8 - 1 && d <= Math.min(nominal * 1.2 + 1, 300_000), `failure ${f}: ${d}`);
  }
  t.true(policy.delay(40) <= 300_000);
  t.like(logExportBackoff(600_000), { baseMs: 600_000, maxMs: 600_000 }, 'an interval above 5 minutes is its own cap');
});

// ------------------------------------------------------------------ flush() is bounded by otlp.timeoutMs

// Regression: flush() took 24.8 s against a refused port although otlp.timeoutMs (10 s, "retries
// included") is documented: it waited for the export in flight, then ran one more. The bound is the
// documented contract, so it is checked here with generous slack (the unbounded flush took > 2×).
test('flush() answers false within otlp.timeoutMs against a hanging receiver, an export already in flight included', async (t) => {
  await withReceiver({ hang: true }, async (rx) => {
    const sink = createOtlpSink(config({ endpoint: rx.url, timeoutMs: 1_000 }));
    sink.emit('e.hang', {});
    const first = sink.flush(); // starts an export that hangs
    await rx.waitForRequests(1, 5000);
    sink.emit('e.second', {});
    // The receiver never answers: flush() can only settle by its own otlp.timeoutMs deadline
    // (no wall-clock bound here; a flush that waited for the export would never settle).
    t.false(await sink.flush());
    t.false(await first);
    await sink.shutdown(200);
  });
});

test('flush() answers false within otlp.timeoutMs against a refused port', async (t) => {
  const port = await refusedPort();
  const sink = createOtlpSink(config({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 1_000 }));
  sink.emit('e.refused', {});
  // The transport retries a refused connection until otlp.timeoutMs; flush() then answers false
  // (no wall-clock bound: on a loaded machine the retries' timers fire late).
  t.false(await sink.flush());
  t.regex(sink.stats().lastError ?? '', /ECONNREFUSED/);
  await sink.shutdown(200);
});
