// Fault suite (issue 6): receivers that accept a request and then close the connection in the middle
// of their answer — half the status line/headers, headers + half a body then socket.destroy(), or a
// chunked body cut before its terminating chunk. Both outbound channels are covered: the OTLP sink
// (in front of the real OTLP test receiver) and the weekly submission (in front of the REAL collector
// of test/helpers/collector.ts, which deduplicates by Idempotency-Key).
//
// For each: the host's routes keep answering, nothing escapes to the process, OTLP records stay
// queued and arrive once the receiver answers properly again (each exactly once), and a submission
// whose answer was lost is retried, the ledger shows the failure then the success, the collector
// stores it once, and the events are marked submitted once.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { TABLES } from '../../src/plugin/db/tables.js';
import { HEADERS } from '../../src/core/protocol.js';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { startFaultProxy, type FaultAction } from '../helpers/fault-proxy.js';
import { assertNothingEscaped, keptLogger, probeHost, until, watchProcess } from '../helpers/fault-watch.js';
import { tempDirFor } from '../helpers/tmp.js';
import { markRoute, startSubmittingHost } from '../helpers/submitting-host.js';
import { runtimeOf } from '../../src/plugin/internal.js';

const STOP_CAP_MS = 800;
const failures = watchProcess();
test.after.always('nothing escaped to the process in this file', (t) => assertNothingEscaped(t));

async function stopWithinCap(t: ExecutionContext, host: HostApp): Promise<void> {
  const started = Date.now();
  await host.telemetry.stop();
  t.true(Date.now() - started < STOP_CAP_MS + 400, `stop() took ${Date.now() - started} ms (cap ${STOP_CAP_MS})`);
  await host.close();
}

// ------------------------------------------------------------------------------------------ OTLP

test('OTLP: answers cut mid-headers, mid-body (503 + half a body, destroyed) and as a truncated chunked body → records stay queued, then arrive exactly once', async (t) => {
  const before = failures.length;
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const proxy = await startFaultProxy(receiver.url, { match: (path) => path.endsWith('/v1/logs') });
  t.teardown(() => proxy.close());
  const logger = keptLogger();
  const host = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      logger,
      otlp: { endpoint: proxy.url, timeoutMs: 1_000 },
      export: { queueCap: 500, intakeCap: 500, batchSize: 10, intervalMs: 40, metricIntervalMs: 60_000 },
      stopTimeoutMs: STOP_CAP_MS,
    },
    routes: markRoute,
  });
  t.teardown(() => host.close());
  await host.telemetry.consent.set({ analytics: true });
  await host.telemetry.flush(); // first_seen and app.started out of the way (through a healthy proxy)

  // Every log export from now on meets a mid-response close, in rotation, until the script is used up.
  const faults: FaultAction[] = [
    { cut: 'headers', status: 200 },
    { cut: 'body', status: 503 },
    { cut: 'chunked', status: 503 },
    'cut-body', // forwarded: the receiver got the records, the client gets 200 + half a body
    { cut: 'body', status: 503 },
    { cut: 'chunked', status: 503 },
    { cut: 'headers', status: 200 },
  ];
  proxy.script(faults);
  const probe = probeHost((p) => host.request(p));
  const N = 30;
  for (let n = 0; n < N; n++) {
    const response = await host.request(`/mark/${n}`, { user: 'alice' });
    t.is(response.status, 200);
    t.deepEqual(await response.json(), { tracked: true });
  }

  await until(() => proxy.requests.filter((r) => r.action !== 'pass').length >= faults.length, 15_000, 'every scripted fault to be met');
  await until(() => receiver.logs.filter((l) => l.body === 'probe.marked').length >= N, 15_000, `${N} probe records at the receiver`);
  await until(() => host.telemetry.status().queue.export_depth === 0, 5_000, 'the export queue to drain');
  const hosted = await probe.stop();

  // The faults really met queued probe records (the records were in the cut requests' bodies).
  const cutWithProbes = proxy.requests.filter((r) => r.action !== 'pass' && r.body.toString('utf8').includes('probe.marked'));
  t.true(cutWithProbes.length >= 2, `mid-response closes met the probe records (${cutWithProbes.length} of ${proxy.requests.length} requests)`);
  // Each record arrived exactly once: none lost, none duplicated by a retry.
  const seen = receiver.logs.filter((l) => l.body === 'probe.marked').map((l) => Number(l.attributes.n));
  t.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i), 'every probe record exactly once');
  const status = host.telemetry.status();
  t.is(status.queue.export_dropped, 0, 'nothing dropped');
  t.truthy(status.sink.lastExportAt, 'exports succeed again');

  t.deepEqual(hosted.errors, []);
  t.true(hosted.statuses.length > 0 && hosted.statuses.every((s) => s === 200), `GET /hello kept answering 200 (${hosted.statuses.length} probes)`);
  t.is((await host.request('/hello')).status, 200);
  await stopWithinCap(t, host);
  assertNothingEscaped(t, before);
});

// ------------------------------------------------------------------------------------ submission

interface SubmissionCase {
  title: string;
  fault: FaultAction;
  /** Ledger statuses expected after the fault and the recovery. */
  ledger: string[];
}

const SUBMISSION_CASES: SubmissionCase[] = [
  {
    title: 'the collector stores it, the answer is cut mid-headers → retried, replayed by Idempotency-Key',
    fault: 'cut-headers',
    ledger: ['failed', 'accepted'],
  },
  {
    title: '503 headers + half a body, then socket.destroy() → retried',
    fault: { cut: 'body', status: 503 },
    ledger: ['failed', 'accepted'],
  },
  {
    title: '503 with a truncated chunked body → retried',
    fault: { cut: 'chunked', status: 503 },
    ledger: ['failed', 'accepted'],
  },
  {
    title: 'the collector stores it, 202 headers + half the body, then socket.destroy() → the 2xx status counts',
    fault: 'cut-body',
    ledger: ['accepted'],
  },
  {
    title: 'the collector stores it, 202 with a truncated chunked body → the 2xx status counts',
    fault: 'chunked-truncated',
    ledger: ['accepted'],
  },
];

for (const c of SUBMISSION_CASES) {
  test(`submission: ${c.title}`, async (t) => {
    const before = failures.length;
    const { db, collector, proxy, host, logger, knex } = await startSubmittingHost(t, {
      submission: { retryBaseMs: 20, maxAttempts: 4, timeoutMs: 2_000 },
      stopTimeoutMs: STOP_CAP_MS,
      marks: 5,
    });
    proxy.script([c.fault]);

    const probe = probeHost((p) => host.request(p));
    const first = await runtimeOf(host.telemetry).submission.submitNow();
    t.is(first.status, 'skipped', 'nothing is sent without usage-statistics consent');
    await host.telemetry.consent.set({ usageStats: true }); // the submission after opt-in meets the fault
    const rows = async () =>
      (await knex(TABLES.submissions).orderBy('id').select('status', 'response_code', 'error', 'idempotency_key')) as {
        status: string;
        response_code: number | null;
        error: string | null;
        idempotency_key: string;
      }[];
    await until(async () => (await rows()).some((r) => r.status === 'accepted'), 10_000, 'an accepted ledger row');
    await new Promise((done) => setTimeout(done, 150)); // a stray extra retry would show now
    const hosted = await probe.stop();

    const ledger = await rows();
    t.deepEqual(ledger.map((r) => r.status), c.ledger, `ledger: ${JSON.stringify(ledger)}`);
    if (c.ledger[0] === 'failed') t.truthy(ledger[0]!.error ?? ledger[0]!.response_code, 'the failure is described in the ledger');
    t.is(new Set(ledger.map((r) => r.idempotency_key)).size, 1, 'one Idempotency-Key for the period');

    // The collector stores the submission once, whatever happened to its answers.
    const stored = Number(((await db.knex('collector_submissions').count({ n: '*' }).first()) as { n: number }).n);
    t.is(stored, 1, 'exactly one submission stored at the collector');
    const installation = await db.knex('collector_installations').first();
    t.is(Number(installation.submissions_count), 1);
    const submits = proxy.requests.filter((r) => r.path.endsWith('/v1/submit'));
    t.is(new Set(submits.map((r) => String(r.headers[HEADERS.idempotencyKey]))).size, 1, 'every attempt carried the same Idempotency-Key');

    // Events marked submitted once: all of them, all with one timestamp (one markSubmitted that changed rows).
    const marks = (await knex(TABLES.usageEvents).where('event_type', 'probe.marked').pluck('submitted_at')) as unknown[];
    t.is(marks.length, 5);
    t.true(marks.every((m) => m !== null), 'marked after the 2xx');
    t.is(new Set(marks.map(String)).size, 1, 'marked by one update only');

    t.deepEqual(hosted.errors, []);
    t.true(hosted.statuses.every((s) => s === 200) && hosted.statuses.length > 0, 'GET /hello kept answering 200');
    t.is((await host.request('/hello')).status, 200);
    await stopWithinCap(t, host);
    assertNothingEscaped(t, before);
  });
}
