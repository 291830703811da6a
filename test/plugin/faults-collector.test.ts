// Fault suite (issue 6): the REAL collector (test/helpers/collector.ts) behind a small proxy that
// plays its failures — stopped (connection refused), hanging, answering 500, answering 429 with
// Retry-After — and then healthy again. The host's weekly submission (`submitNow()` with
// `submission: { retryBaseMs: 20, timeoutMs: 5_000 }`) walks through every one of them on its own
// retry policy and ends accepted exactly once at the collector; the host's routes answer all along;
// nothing escapes; and stop() keeps its cap while a submission request hangs.
import test from 'ava';
import { join } from 'node:path';
import knex from 'knex';
import { TABLES } from '../../src/plugin/db/tables.js';
import { DEFAULT_SQLITE_FILE } from '../../src/core/db/connection.js';
import { HEADERS } from '../../src/core/protocol.js';
import { assertNothingEscaped, probeHost, until, watchProcess } from '../helpers/fault-watch.js';
import { countRows, startSubmittingHost } from '../helpers/submitting-host.js';
import { runtimeOf } from '../../src/plugin/internal.js';

const STOP_CAP_MS = 500;
const HANGING_STOP_CAP_MS = 5_000;
const failures = watchProcess();
test.after.always('nothing escaped to the process in this file', (t) => assertNothingEscaped(t));

const knexForFile = (dataDir: string) => knex({ client: 'sqlite3', connection: { filename: join(dataDir, DEFAULT_SQLITE_FILE) }, useNullAsDefault: true });

interface LedgerRow {
  status: string;
  attempts: number;
  response_code: number | null;
  error: string | null;
  idempotency_key: string;
  sent_at: number | string;
}

test('refused → hanging → 500 → 429 + Retry-After → healthy: accepted exactly once at the real collector', async (t) => {
  const before = failures.length;
  const { db, collector, proxy, host, logger, knex } = await startSubmittingHost(t, {
    // The hang ends at the client deadline; 5 s, not less: on a loaded machine a healthy answer of
    // the real collector took longer than 500 ms and counted as one more timeout in the ledger.
    submission: { retryBaseMs: 20, timeoutMs: 5_000, maxAttempts: 10 },
    stopTimeoutMs: STOP_CAP_MS,
    marks: 4,
  });
  const probe = probeHost((p) => host.request(p));

  // 1. The collector is down: connections refused (nothing listens on its port).
  await proxy.refuse();
  await host.telemetry.consent.set({ usageStats: true }); // the opt-in submission starts in the background
  const first = await runtimeOf(host.telemetry).submission.submitNow();
  t.is(first.status, 'failed', `refused: ${JSON.stringify(first)}`);
  t.is(first.responseCode, undefined);
  t.true((first.retryInMs ?? -1) >= 0, 'a retry is scheduled');
  // 2-4. Up again, but the next submissions hang (beyond timeoutMs), get a 500, get a 429 + Retry-After: 1.
  proxy.script(['hang', { status: 500 }, { status: 429, retryAfter: '1' }]);
  await proxy.accept();
  // 5. …then healthy: the retry policy alone carries the submission through.
  const accepted = async () => (await knex(TABLES.submissions).where('status', 'accepted').count({ n: '*' }).first() as { n: number }).n > 0;
  await until(accepted, 60_000, 'an accepted ledger row');
  await new Promise((done) => setTimeout(done, 200)); // a stray retry after the success would show now
  const hosted = await probe.stop();

  const ledger = (await knex(TABLES.submissions).orderBy('id').select('status', 'attempts', 'response_code', 'error', 'idempotency_key')) as LedgerRow[];
  const trail = ledger.map((r) => `${r.status}:${r.response_code ?? r.error}`).join(' | ');
  const refused = ledger.filter((r) => r.status === 'failed' && r.response_code === null && /fetch failed|ECONNREFUSED|connect/i.test(r.error ?? ''));
  t.true(refused.length >= 1, `refused attempts in the ledger: ${trail}`);
  const tail = ledger.slice(refused.length);
  t.is(tail.length, 4, `after the refusals: hang, 500, 429, accepted — got ${trail}`);
  t.is(tail[0]!.status, 'failed');
  t.is(tail[0]!.response_code, null);
  t.regex(tail[0]!.error ?? '', /time|abort/i, 'the hanging request ended by the client deadline');
  t.deepEqual(tail.slice(1).map((r) => [r.status, r.response_code]), [['failed', 500], ['failed', 429], ['accepted', 202]]);
  t.deepEqual(tail.map((r) => r.attempts - tail[0]!.attempts), [0, 1, 2, 3], `one retry chain after the refusals: ${ledger.map((r) => r.attempts).join(',')}`);
  t.is(new Set(ledger.map((r) => r.idempotency_key).filter(Boolean)).size, 1, 'one Idempotency-Key throughout');

  // Retry-After honoured: the attempt after the 429 came at least ~1 s later.
  const submits = proxy.requests.filter((r) => r.path.endsWith('/v1/submit'));
  t.deepEqual(submits.map((r) => r.action), ['hang', JSON.stringify({ status: 500 }), JSON.stringify({ status: 429, retryAfter: '1' }), 'pass']);
  const gap = submits[3]!.at - submits[2]!.at;
  t.true(gap >= 900, `Retry-After: 1 honoured (next attempt after ${gap} ms)`);
  t.is(new Set(submits.map((r) => String(r.headers[HEADERS.idempotencyKey]))).size, 1);

  // Exactly once at the collector: in its database and in its own overview.
  t.is(await countRows(db.knex, 'collector_submissions'), 1, 'one stored submission');
  t.is(Number((await db.knex('collector_installations').first()).submissions_count), 1);
  const overview = (await collector.adminJson('/stats/overview')) as Record<string, unknown>;
  t.is(overview.total, 1, `overview: ${JSON.stringify(overview)}`);

  // Events marked submitted once, after the success.
  const marks = (await knex(TABLES.usageEvents).where('event_type', 'probe.marked').pluck('submitted_at')) as unknown[];
  t.true(marks.length === 4 && marks.every((m) => m !== null));
  t.is(new Set(marks.map(String)).size, 1);
  t.false(runtimeOf(host.telemetry).submission.retryScheduled, 'no retry left after the success');

  t.deepEqual(hosted.errors, []);
  t.true(hosted.statuses.length > 10 && hosted.statuses.every((s) => s === 200), `GET /hello answered 200 throughout (${hosted.statuses.length} probes, max ${hosted.maxLatencyMs} ms)`);
  const status = await host.request('/api/v1/usage-stats/status', { user: 'admin' });
  t.is(status.status, 200);
  await host.close();
  assertNothingEscaped(t, before);
});

test('stop() keeps its cap while a submission request hangs at the collector', async (t) => {
  const before = failures.length;
  // The submission's own deadline (60 s) is far beyond the stop cap: stop() must not wait for it.
  // No wall-clock measurement: stop() must settle while the request still hangs (the proxy only
  // lets it go when it closes, below). The cap leaves a loaded machine time for the final flush.
  // Local statistics are written only by stop()'s final flush (the interval is an hour).
  const { db, proxy, host } = await startSubmittingHost(t, { submission: { retryBaseMs: 20, timeoutMs: 60_000 }, stopTimeoutMs: HANGING_STOP_CAP_MS, offsetMs: 0, recorderIntervalMs: 3_600_000 });
  proxy.setFallback('hang');
  await host.telemetry.consent.set({ usageStats: true });
  const inFlight = runtimeOf(host.telemetry).submission.submitNow();
  let submissionSettled = false;
  void inFlight.finally(() => (submissionSettled = true));
  await until(() => proxy.held === 1, 20_000, 'the submission to hang at the collector');
  t.is((await host.request('/hello')).status, 200, 'the host answers while the submission hangs');

  t.true(host.telemetry.track('probe.final'));
  await host.telemetry.stop();
  t.false(submissionSettled, 'stop() settled before the hanging submission did: it did not wait for it');
  t.is(proxy.held, 1, 'the submission request was still hanging when stop() settled');
  t.is((await host.request('/hello')).status, 200, 'the host still answers after stop()');
  // The hanging request did not eat the final flush's share of the cap.
  const file = knexForFile(runtimeOf(host.telemetry).options.dataDir);
  t.teardown(() => file.destroy());
  t.is(await countRows(file, TABLES.usageEvents, { event_type: 'probe.final' }), 1, 'the event tracked before stop() was written by stop()');

  // The hung request ends when the collector side goes away; that late failure stays inside.
  await proxy.close();
  const outcome = await inFlight;
  t.is(outcome.status, 'failed', `the abandoned attempt settles as failed: ${JSON.stringify(outcome)}`);
  t.false(runtimeOf(host.telemetry).submission.retryScheduled, 'no retry scheduled after stop()');
  t.is(await countRows(db.knex, 'collector_submissions'), 0, 'nothing stored: the request never reached the collector');
  await new Promise((done) => setTimeout(done, 100));
  await host.close();
  assertNothingEscaped(t, before);
});
