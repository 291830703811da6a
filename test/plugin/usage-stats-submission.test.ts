// The weekly submission client (docs/privacy-policy.md, section 4). Happy path against a REAL local
// receiver (test/helpers/submission-receiver.ts); faults against nock with every other network
// connection disabled (test/helpers/no-network.ts).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { TABLES } from '../../src/plugin/db/tables.js';
import { mondayOf } from '../../src/plugin/stats/aggregation.js';
import { submissionBackoff } from '../../src/plugin/stats/submission-client.js';
import { HEADERS, SIGNED, idempotencyKey, submissionPayloadSchema, verifySignature } from '../../src/core/protocol.js';
import { SUBMISSION_JOB } from '../../src/plugin/jobs/submission.js';
import { RETENTION_JOB } from '../../src/plugin/jobs/retention.js';
import { heartbeatMinuteOfDay } from '../../src/plugin/jobs/heartbeat.js';
import type { Logger } from '../../src/plugin/types.js';
import { disallowNetwork, nock, restoreNetwork } from '../helpers/no-network.js';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { startSubmissionReceiver, waitUntil } from '../helpers/submission-receiver.js';
import { startReceiverHost, untilNextWeek } from '../helpers/receiver-host.js';
import { tempDirFor } from '../helpers/tmp.js';
import { keptDebugOutput } from '../helpers/debug-output.js';
import { runtimeOf } from '../../src/plugin/internal.js';

const DAY = 86_400_000;
/** An offset that moves the clock into next week (Monday 01:00 UTC): this week's events become a whole week. */
const SECRET = 'ab'.repeat(32);

test.before(disallowNetwork);
test.afterEach.always(() => nock.cleanAll());
test.after.always(restoreNetwork);

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** A host whose plugin submits to `collectorUrl` (nock-intercepted). */
async function withCollector(t: ExecutionContext, collectorUrl: string, telemetry: Record<string, unknown> = {}): Promise<HostApp> {
  const app = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      logger: silent,
      collector: { url: collectorUrl },
      submission: { retryBaseMs: 20, maxAttempts: 3, timeoutMs: 2_000 },
      ...telemetry,
    },
  });
  t.teardown(() => app.close());
  return app;
}

async function ledgerRows(app: HostApp) {
  return (await runtimeOf(app.telemetry).knex(TABLES.submissions).orderBy('id').select('status', 'attempts', 'response_code', 'error', 'idempotency_key', 'payload')) as {
    status: string;
    attempts: number;
    response_code: number | null;
    error: string | null;
    idempotency_key: string;
    payload: string;
  }[];
}

async function submittedFlags(app: HostApp): Promise<boolean[]> {
  return ((await runtimeOf(app.telemetry).knex(TABLES.usageEvents).orderBy('id').pluck('submitted_at')) as unknown[]).map((v) => v !== null);
}

/** A nock'd collector that registers this install; returns the list of submit arrival times. */
function nockRegister(url: string) {
  return nock(url)
    .post('/v1/register')
    .reply(201, (_uri, body) => ({ install_id: (body as { install_id: string }).install_id, secret: SECRET }));
}

// ====================================================================================== happy path

test('happy path: registers once, then sends a signed, schema-valid submission; events marked submitted after the 2xx', async (t) => {
  const { app, receiver, clock, dataDir } = await startReceiverHost(t, { collector: { registrationKey: 'app-level-key' } });
  app.telemetry.track('timer.started', { source: 'web' });
  app.telemetry.track('timer.started', { source: 'api' });
  app.telemetry.track('report.exported', { format: 'csv' });
  app.telemetry.track('app.error', { status_code: 500 });
  await waitUntil(async () => (await submittedFlags(app)).length >= 5, 3_000, 'events written');
  clock.offset = untilNextWeek(); // next week: today's week is whole and reported

  // Opting in sends one submission right away.
  await app.telemetry.consent.set({ usageStats: true });
  await receiver.waitFor(() => receiver.accepted.length === 1, 5_000, 'the submission after opt-in');
  await waitUntil(async () => (await ledgerRows(app)).length === 1, 3_000, 'ledger row');

  const installId = app.telemetry.status().install_id!;
  const [register, submit] = receiver.requests;
  t.is(receiver.requests.length, 2);
  t.is(register!.kind, 'register');
  t.deepEqual(JSON.parse(register!.rawBody), { install_id: installId });
  t.is(register!.headers[HEADERS.registrationKey], 'app-level-key');
  t.is(register!.headers[HEADERS.signature], undefined, 'registration is not signed (there is no secret yet)');

  t.is(submit!.kind, 'submit');
  t.is(submit!.status, 202);
  t.is(submit!.headers[HEADERS.installId], installId);
  t.regex(String(submit!.headers[HEADERS.timestamp]), /^\d+$/);
  t.true(Math.abs(Number(submit!.headers[HEADERS.timestamp]) - (Date.now() + clock.offset) / 1000) < 30, 'X-Timestamp is unix seconds of the clock');
  t.regex(String(submit!.headers[HEADERS.signature]), /^v2=[0-9a-f]{64}$/);
  t.true(verifySignature(receiver.installations.get(installId)!, SIGNED.submit, String(submit!.headers[HEADERS.timestamp]), submit!.rawBody, String(submit!.headers[HEADERS.signature])));
  t.true(submit!.headers['content-type']!.startsWith('application/json'));

  const payload = receiver.accepted[0]!.payload;
  const period = { startDay: mondayOf(new Date()).toISOString().slice(0, 10), endDay: mondayOf(new Date(Date.now() + clock.offset)).toISOString().slice(0, 10) };
  t.deepEqual(payload.period, { start: period.startDay, end: period.endDay });
  t.is(submit!.headers[HEADERS.idempotencyKey], idempotencyKey(installId, period.startDay));
  t.true(submit!.idempotencyKeyValid);
  t.true(submissionPayloadSchema.safeParse(JSON.parse(submit!.rawBody)).success);
  t.is(payload.event_counts['timer.started'], 2);
  t.is(payload.event_counts['report.exported'], 1);
  t.is(payload.event_counts['app.started'], 1);
  t.is(payload.error_count, 1);
  t.is(payload.install_id, installId);

  // Marked submitted only now, after the 202; the ledger has exactly what was sent and the answer.
  t.true((await submittedFlags(app)).every(Boolean));
  const [entry] = await ledgerRows(app);
  t.is(entry!.status, 'accepted');
  t.is(entry!.attempts, 1);
  t.is(entry!.response_code, 202);
  t.is(entry!.payload, submit!.rawBody, 'the ledger keeps the exact bytes that were sent');
  t.is(entry!.idempotency_key, idempotencyKey(installId, period.startDay));

  // The secret is kept in installation.json (trust on first use).
  const file = JSON.parse(await readFile(join(dataDir, 'installation.json'), 'utf8'));
  t.is(file.collector.url, receiver.url);
  t.is(file.collector.secret, receiver.installations.get(installId));

  // Next run: the week is accepted, nothing else is whole yet: nothing is sent, nothing counted twice.
  const outcome = await runtimeOf(app.telemetry).submission.submitNow();
  t.like(outcome, { status: 'skipped', weeks: [] });
  t.regex(outcome.reason!, /nothing to send/);
  t.is(receiver.requestsOf('register').length, 1, 'registers once');
  t.is(receiver.accepted.length, 1);
  t.is((await ledgerRows(app)).length, 1, 'a ledger row per attempt, none for a run with nothing to send');
});

test('the collector URL may carry a path (a collector mounted below a prefix, like collectorPlugin({ mountPath }))', async (t) => {
  const { app, receiver } = await startReceiverHost(t, {}, { prefix: '/collector' });
  t.true(receiver.url.endsWith('/collector'));
  await app.telemetry.consent.set({ usageStats: true });
  await waitUntil(async () => (await ledgerRows(app)).length >= 1, 3_000, 'an attempt');
  const paths = receiver.requests.map((r) => `${r.method} ${r.path} → ${r.status}`);
  t.deepEqual(receiver.requests.map((r) => r.path), ['/collector/v1/register', '/collector/v1/submit'], `requests went to: ${paths.join(', ')}`);
  t.is((await ledgerRows(app))[0]!.status, 'accepted');
});

test('events are marked submitted only after a 2xx: a failed attempt leaves them pending, the next success marks them', async (t) => {
  const { app, receiver, clock } = await startReceiverHost(t, { submission: { retryBaseMs: 20, maxAttempts: 1, timeoutMs: 2_000 } });
  receiver.script('submit', [503]);
  app.telemetry.track('timer.started', {});
  await waitUntil(async () => (await submittedFlags(app)).length >= 2, 3_000, 'events written');
  clock.offset = untilNextWeek();
  await app.telemetry.consent.set({ usageStats: true }); // the opt-in submission gets the 503
  await waitUntil(async () => (await ledgerRows(app)).length === 1, 3_000, 'first attempt');
  t.deepEqual((await ledgerRows(app)).map((r) => [r.status, r.response_code]), [['failed', 503]]);
  t.false((await submittedFlags(app)).some(Boolean), 'nothing marked after a 503');
  t.is(receiver.accepted.length, 0);

  const outcome = await runtimeOf(app.telemetry).submission.submitNow();
  t.is(outcome.status, 'accepted');
  t.deepEqual((await ledgerRows(app)).map((r) => r.status), ['failed', 'accepted']);
  t.true((await submittedFlags(app)).every(Boolean), 'marked after the 202');
  t.is(receiver.accepted[0]!.payload.event_counts['timer.started'], 1, 'the failed attempt did not use the events up');
});

test('exactly one submission right after opt-in; opting in again (no change) sends nothing more', async (t) => {
  const { app, receiver } = await startReceiverHost(t);
  await app.telemetry.consent.set({ analytics: true });
  await sleep(100);
  t.is(receiver.requestsOf('submit').length, 0, 'analytics consent alone sends no usage statistics');
  await app.telemetry.consent.set({ usageStats: true });
  await receiver.waitFor(() => receiver.accepted.length === 1, 3_000, 'submission after opt-in');
  await app.telemetry.consent.set({ usageStats: true });
  await sleep(150);
  t.is(receiver.requestsOf('submit').length, 1);
  t.is((await ledgerRows(app)).length, 1);
});

test('changing only the analytics category (usage statistics already on) does not send the weekly summary again', async (t) => {
  const { app, receiver } = await startReceiverHost(t);
  await app.telemetry.consent.set({ usageStats: true });
  await receiver.waitFor(() => receiver.accepted.length === 1, 3_000, 'submission after opt-in');
  await waitUntil(async () => (await ledgerRows(app)).length === 1, 3_000, 'ledger');

  // An admin opting OUT of detailed analytics must not cause a usage-statistics submission.
  await app.telemetry.consent.set({ analytics: true });
  await app.telemetry.consent.set({ analytics: false });
  await sleep(200);
  t.is(receiver.requestsOf('submit').length, 1, `submissions after analytics-only changes: ${receiver.requestsOf('submit').length - 1}`);
  t.is((await ledgerRows(app)).length, 1);
});

test('a 401 for clock skew does not lock the installation out: with the clock right again it submits with its secret', async (t) => {
  const server = { offset: 0 };
  const { app, receiver, clock } = await startReceiverHost(t, { submission: { retryBaseMs: 20, maxAttempts: 1, timeoutMs: 2_000 } }, { nowMs: () => Date.now() + server.offset });
  await app.telemetry.consent.set({ usageStats: true });
  await receiver.waitFor(() => receiver.accepted.length === 1, 3_000, 'registered and submitted');
  await waitUntil(async () => (await ledgerRows(app)).length === 1, 3_000, 'ledger');
  const installId = app.telemetry.status().install_id!;

  // A week later (so a new week is due), our clock runs 10 minutes ahead of the server's for a while.
  server.offset = untilNextWeek();
  clock.offset = server.offset + 10 * 60_000;
  const skewed = await runtimeOf(app.telemetry).submission.submitNow();
  t.is(skewed.responseCode, 401);
  t.is(receiver.requests.at(-1)!.kind, 'submit');
  t.true(receiver.installations.has(installId), 'the collector still knows the installation: only the timestamp was refused');

  clock.offset = server.offset; // fixed (NTP)
  const outcome = await runtimeOf(app.telemetry).submission.submitNow();
  const trail = receiver.requests.map((r) => `${r.kind}→${r.status}`).join(', ');
  t.is(outcome.status, 'accepted', `after the clock was fixed: ${outcome.status} ${outcome.reason ?? ''} (requests: ${trail})`);
  t.is(receiver.requestsOf('register').length, 1, 'the installation keeps its registration');
});

test('a 401 for clock skew on the erasure request keeps the registration, so delete-all can be repeated and reach the collector', async (t) => {
  const { app, receiver, clock } = await startReceiverHost(t, {}, { nowMs: () => Date.now() });
  await app.telemetry.consent.set({ usageStats: true });
  await receiver.waitFor(() => receiver.accepted.length === 1, 3_000, 'registered and submitted');
  await waitUntil(async () => (await ledgerRows(app)).length === 1, 3_000, 'ledger');
  const installId = app.telemetry.status().install_id!;

  clock.offset = 10 * 60_000; // skewed clock: the collector refuses the signed DELETE (timestamp_out_of_range)
  const first = await app.telemetry.stats.deleteAll();
  t.deepEqual(first.remote, { requested: true, deleted: false, status: 401 });
  t.true(receiver.installations.has(installId), 'the collector still holds the data');
  t.not(runtimeOf(app.telemetry).file.current.collector, null, 'the secret needed to erase it is kept');

  clock.offset = 0;
  const second = await app.telemetry.stats.deleteAll();
  t.true(second.remote.deleted, `second delete-all: ${JSON.stringify(second.remote)}`);
  t.deepEqual(receiver.deleted, [installId]);
});

test('TELEMETRY_DEBUG=1: delete-all does not send the erasure request either (printed instead)', async (t) => {
  // First run: registered at the collector.
  const receiver = await startSubmissionReceiver();
  t.teardown(() => receiver.close());
  const dataDir = await tempDirFor(t);
  const first = await startHostApp({ telemetry: { dataDir, logger: silent, collector: { url: receiver.url } } });
  await first.telemetry.consent.set({ usageStats: true });
  await receiver.waitFor(() => receiver.accepted.length === 1, 3_000, 'registered');
  await waitUntil(async () => (await ledgerRows(first)).length === 1, 3_000, 'ledger');
  await first.close();

  // Second run of the same installation with TELEMETRY_DEBUG=1.
  const printed = keptDebugOutput();
  const second = await startHostApp({ telemetry: { dataDir, logger: silent, debugOutput: printed.output, collector: { url: receiver.url }, env: { TELEMETRY_DEBUG: '1' } } });
  t.teardown(() => second.close());
  const before = receiver.requests.length;
  const result = await second.telemetry.stats.deleteAll();
  t.is(receiver.requests.length - before, 0, `requests sent in debug mode: ${receiver.requests.slice(before).map((r) => `${r.method} ${r.path}`).join(', ')}; result ${JSON.stringify(result.remote)}`);
  t.true(printed.payloads().some((p) => p.title.includes('erasure request would be sent') && p.payload.method === 'DELETE'), 'what would be sent is printed');
  t.is(await runtimeOf(second.telemetry).knex(TABLES.usageEvents).count({ n: '*' }).first().then((r) => Number((r as { n: number }).n)), 0, 'the local data is deleted all the same');
});

// ====================================================================================== faults (nock)

test.serial('500 → retried with exponential backoff and jitter; every attempt in the ledger; marked after the 2xx', async (t) => {
  const url = 'https://collector-500.invalid';
  const times: number[] = [];
  nockRegister(url);
  nock(url)
    .post('/v1/submit')
    .times(2)
    .reply(() => (times.push(Date.now()), [500, { error: { code: 'internal', message: 'boom' } }]))
    .post('/v1/submit')
    .reply(() => (times.push(Date.now()), [202, { submission_id: 'sub-1' }]));
  const app = await withCollector(t, url, { submission: { retryBaseMs: 20, maxAttempts: 5, timeoutMs: 2_000 } });
  await app.telemetry.consent.set({ usageStats: true });
  await waitUntil(async () => (await ledgerRows(app)).length === 3, 5_000, 'three attempts');
  const rows = await ledgerRows(app);
  t.deepEqual(rows.map((r) => [r.status, r.attempts, r.response_code]), [
    ['failed', 1, 500],
    ['failed', 2, 500],
    ['accepted', 3, 202],
  ]);
  t.is(times.length, 3);
  t.true(times[1]! - times[0]! >= 15, `first backoff ≈ 20 ms ±20 % (${times[1]! - times[0]!} ms)`);
  t.true(times[2]! - times[1]! >= 31, `second backoff ≈ 40 ms ±20 % (${times[2]! - times[1]!} ms)`);
  t.true(rows.every((r) => r.idempotency_key === rows[0]!.idempotency_key && r.idempotency_key.length === 64), 'one Idempotency-Key for every retry of the period');
  t.false(runtimeOf(app.telemetry).submission.retryScheduled);
  t.true(nock.isDone());
});

test('the submission backoff doubles per attempt within ±20 % jitter from retryBaseMs and is capped at 6 hours', (t) => {
  const policy = submissionBackoff(1000);
  t.is(policy.delay(1, () => 0.5), 1000);
  t.is(policy.delay(2, () => 0.5), 2000);
  t.is(policy.delay(4, () => 0.5), 8000);
  t.is(policy.delay(1, () => 0), 800);
  t.is(policy.delay(1, () => 0.999999), 1200);
  t.is(submissionBackoff(60_000).delay(40, () => 0.999999), 6 * 3_600_000, 'capped at 6 hours, jitter included');
});

// One retry rule for every outbound path (src/core/resilience/retryable-status.ts): 408 used to be
// retried for OTLP logs but final for submissions.
test.serial('408 (request timeout) is retried like a 5xx, as for the OTLP export', async (t) => {
  const url = 'https://collector-408.invalid';
  nockRegister(url);
  nock(url)
    .post('/v1/submit')
    .reply(408, { error: { code: 'request_timeout', message: 'too slow' } })
    .post('/v1/submit')
    .reply(202, { submission_id: 'sub-1' });
  const app = await withCollector(t, url);
  await app.telemetry.consent.set({ usageStats: true });
  await waitUntil(async () => (await ledgerRows(app)).length === 2, 5_000, 'two attempts');
  t.deepEqual((await ledgerRows(app)).map((r) => [r.status, r.attempts, r.response_code]), [
    ['failed', 1, 408],
    ['accepted', 2, 202],
  ]);
  t.true(nock.isDone());
});

test.serial('501 (not implemented) is final: rejected, not retried', async (t) => {
  const url = 'https://collector-501.invalid';
  let submits = 0;
  nockRegister(url);
  nock(url)
    .persist()
    .post('/v1/submit')
    .reply(() => (submits++, [501, { error: { code: 'not_implemented', message: 'no' } }]));
  const app = await withCollector(t, url);
  await app.telemetry.consent.set({ usageStats: true });
  await waitUntil(async () => (await ledgerRows(app)).length === 1, 5_000, 'one attempt');
  await sleep(150); // retryBaseMs is 20: a retry would have come by now
  t.is(submits, 1);
  t.deepEqual((await ledgerRows(app)).map((r) => [r.status, r.response_code]), [['rejected', 501]]);
});

test.serial('429 with Retry-After (seconds) is honoured instead of the backoff', async (t) => {
  const url = 'https://collector-429.invalid';
  const times: number[] = [];
  nockRegister(url);
  nock(url)
    .post('/v1/submit')
    .reply(() => (times.push(Date.now()), [429, { error: { code: 'rate_limited', message: 'slow down' } }, { 'Retry-After': '1' }]))
    .post('/v1/submit')
    .reply(() => (times.push(Date.now()), [202, { submission_id: 'sub-2' }]));
  // A 60 s backoff base: only Retry-After can bring the retry within the test's time.
  const app = await withCollector(t, url, { submission: { retryBaseMs: 60_000, maxAttempts: 3, timeoutMs: 2_000 } });
  await app.telemetry.consent.set({ usageStats: true }); // starts one attempt in the background
  const outcome = await runtimeOf(app.telemetry).submission.submitNow(); // the same attempt
  t.is(outcome.status, 'failed');
  t.is(outcome.responseCode, 429);
  t.is(outcome.retryInMs, 1_000);
  t.true(runtimeOf(app.telemetry).submission.retryScheduled);
  await waitUntil(() => times.length === 2, 4_000, 'the retry');
  t.true(times[1]! - times[0]! >= 950, `waited ${times[1]! - times[0]!} ms`);
  await waitUntil(async () => (await ledgerRows(app)).length === 2, 2_000, 'ledger');
  t.deepEqual((await ledgerRows(app)).map((r) => [r.status, r.response_code]), [
    ['failed', 429],
    ['accepted', 202],
  ]);
});

test.serial('429 with Retry-After as an HTTP date is honoured', async (t) => {
  const url = 'https://collector-429-date.invalid';
  nockRegister(url);
  nock(url)
    .post('/v1/submit')
    .reply(() => [429, {}, { 'Retry-After': new Date(Date.now() + 2_000).toUTCString() }]);
  const app = await withCollector(t, url, { submission: { retryBaseMs: 60_000, maxAttempts: 2, timeoutMs: 2_000 } });
  await app.telemetry.consent.set({ usageStats: true });
  const outcome = await runtimeOf(app.telemetry).submission.submitNow();
  t.is(outcome.responseCode, 429);
  t.true(outcome.retryInMs! > 0 && outcome.retryInMs! <= 2_000, `retry in ${outcome.retryInMs} ms`);
});

test.serial('an absurd Retry-After never makes the client retry at once (no timer overflow) and stays bounded', async (t) => {
  const url = 'https://collector-429-huge.invalid';
  let submits = 0;
  nockRegister(url);
  nock(url)
    .persist()
    .post('/v1/submit')
    .reply(() => (submits++, [429, {}, { 'Retry-After': '3000000' }])); // ~35 days: beyond setTimeout's 2^31-1 ms
  const app = await withCollector(t, url, { submission: { retryBaseMs: 60_000, maxAttempts: 6, timeoutMs: 2_000 } });
  await app.telemetry.consent.set({ usageStats: true });
  const outcome = await runtimeOf(app.telemetry).submission.submitNow();
  t.is(outcome.responseCode, 429);
  await sleep(300);
  t.is(submits, 1, `the collector was asked to wait ~35 days but got ${submits - 1} retries within 300 ms`);
  t.true(outcome.retryInMs === undefined || outcome.retryInMs <= 2 ** 31 - 1, `retry in ${outcome.retryInMs} ms fits a timer (or is left to the next weekly run)`);
});

for (const status of [401, 403, 400, 404, 422]) {
  test.serial(`${status} → rejected, no retry, one ledger row`, async (t) => {
    const url = `https://collector-${status}.invalid`;
    let submits = 0;
    nockRegister(url);
    nock(url)
      .persist()
      .post('/v1/submit')
      // 401 as the collector says it for an installation it does not know (any more).
      .reply(() => (submits++, [status, { error: { code: status === 401 ? 'unknown_installation' : 'nope', message: `status ${status}` } }]));
    const app = await withCollector(t, url);
    await app.telemetry.consent.set({ usageStats: true });
    const outcome = await runtimeOf(app.telemetry).submission.submitNow();
    t.is(outcome.status, 'rejected');
    t.is(outcome.responseCode, status);
    t.is(outcome.retryInMs, undefined);
    t.false(runtimeOf(app.telemetry).submission.retryScheduled);
    await sleep(150); // with retryBaseMs 20 a retry would have come by now
    t.is(submits, 1);
    const rows = await ledgerRows(app);
    t.deepEqual(rows.map((r) => [r.status, r.response_code]), [['rejected', status]]);
    // unknown_installation is kept as a problem for the admin (re-registration is the admin's call).
    if (status === 401) t.is(runtimeOf(app.telemetry).file.current.collector_problem?.code, 'unknown_installation');
    else t.is(runtimeOf(app.telemetry).file.current.collector_problem, null);
    t.not(runtimeOf(app.telemetry).file.current.collector, null);
  });
}

test.serial('registration refused (403) → rejected without retry; the ledger says why', async (t) => {
  const url = 'https://collector-reg403.invalid';
  let registers = 0;
  nock(url)
    .persist()
    .post('/v1/register')
    .reply(() => (registers++, [403, { error: { code: 'forbidden', message: 'registration key required' } }]));
  const submit = nock(url).post('/v1/submit').reply(202, {});
  const app = await withCollector(t, url);
  await app.telemetry.consent.set({ usageStats: true });
  const outcome = await runtimeOf(app.telemetry).submission.submitNow();
  t.is(outcome.status, 'rejected');
  await sleep(150);
  t.is(registers, 1);
  t.false(submit.isDone(), 'nothing is submitted unregistered');
  const [row] = await ledgerRows(app);
  t.is(row!.status, 'rejected');
  t.is(row!.response_code, 403);
  t.regex(row!.error!, /registration answered 403/);
  t.is(runtimeOf(app.telemetry).file.current.collector, null);
});

test.serial('a network error → retried; the ledger records the error without a response code', async (t) => {
  const url = 'https://collector-neterr.invalid';
  nockRegister(url);
  nock(url)
    .post('/v1/submit')
    .replyWithError({ code: 'ECONNRESET', message: 'socket hang up' })
    .post('/v1/submit')
    .reply(202, { submission_id: 'sub-3' });
  const app = await withCollector(t, url);
  await app.telemetry.consent.set({ usageStats: true });
  await waitUntil(async () => (await ledgerRows(app)).length === 2, 5_000, 'retry after the network error');
  const rows = await ledgerRows(app);
  t.is(rows[0]!.status, 'failed');
  t.is(rows[0]!.response_code, null);
  t.truthy(rows[0]!.error);
  t.deepEqual([rows[1]!.status, rows[1]!.attempts], ['accepted', 2]);
});

test.serial('maxAttempts is respected: after the last failure nothing more is scheduled', async (t) => {
  const url = 'https://collector-max.invalid';
  let submits = 0;
  nockRegister(url);
  nock(url)
    .persist()
    .post('/v1/submit')
    .reply(() => (submits++, [503, { error: { code: 'unavailable', message: 'down' } }]));
  const app = await withCollector(t, url, { submission: { retryBaseMs: 20, maxAttempts: 3, timeoutMs: 2_000 } });
  await app.telemetry.consent.set({ usageStats: true });
  await waitUntil(async () => (await ledgerRows(app)).length === 3, 5_000, 'three attempts');
  await sleep(300);
  t.is(submits, 3);
  t.deepEqual((await ledgerRows(app)).map((r) => [r.status, r.attempts]), [
    ['failed', 1],
    ['failed', 2],
    ['failed', 3],
  ]);
  t.false(runtimeOf(app.telemetry).submission.retryScheduled);
});

test.serial('stop() cancels a scheduled retry', async (t) => {
  const url = 'https://collector-stop.invalid';
  let submits = 0;
  nockRegister(url);
  nock(url)
    .persist()
    .post('/v1/submit')
    .reply(() => (submits++, [500, {}]));
  const app = await withCollector(t, url, { submission: { retryBaseMs: 200, maxAttempts: 5, timeoutMs: 2_000 } });
  await app.telemetry.consent.set({ usageStats: true });
  await runtimeOf(app.telemetry).submission.submitNow();
  t.true(runtimeOf(app.telemetry).submission.retryScheduled);
  await app.close();
  await sleep(400);
  t.is(submits, 1);
});

// ====================================================================================== nothing sent

/** A nock scope that would catch ANY request to the collector (never expected to be used). */
function catchAll(url: string) {
  return nock(url).persist().intercept(/.*/, 'POST').reply(202, {}).intercept(/.*/, 'DELETE').reply(204).intercept(/.*/, 'GET').reply(200, {});
}

test.serial('usage-stats consent off: nothing is sent (opt-in to analytics only, job run, submitNow)', async (t) => {
  const url = 'https://collector-off.invalid';
  const scope = catchAll(url);
  const app = await withCollector(t, url, { jobs: true });
  app.telemetry.track('timer.started', {});
  await app.telemetry.consent.set({ analytics: true });
  await runtimeOf(app.telemetry).scheduler.runNow(SUBMISSION_JOB);
  const outcome = await runtimeOf(app.telemetry).submission.submitNow();
  t.deepEqual(outcome, { status: 'skipped', reason: 'usage statistics sharing is off', weeks: [] });
  await sleep(100);
  t.false(scope.isDone(), 'no request reached the collector');
  t.is((await ledgerRows(app)).length, 0);
  // The admin can still see what would be sent.
  const preview = await app.telemetry.stats.preview();
  t.is(preview.length, 1);
  t.true(submissionPayloadSchema.safeParse(preview[0]).success);
});

for (const variable of ['DO_NOT_TRACK', 'TELEMETRY_DISABLED'] as const) {
  test.serial(`${variable}=1: nothing is sent even with consent (opt-in, job, delete-all)`, async (t) => {
    const url = `https://collector-${variable.toLowerCase()}.invalid`;
    const scope = catchAll(url);
    const app = await withCollector(t, url, { env: { [variable]: '1' }, jobs: true });
    await app.telemetry.consent.set({ analytics: true, usageStats: true });
    await runtimeOf(app.telemetry).scheduler.runNow(SUBMISSION_JOB);
    const outcome = await runtimeOf(app.telemetry).submission.submitNow();
    t.is(outcome.status, 'skipped');
    t.regex(outcome.reason!, new RegExp(variable));
    const deleted = await app.telemetry.stats.deleteAll();
    t.false(deleted.remote.requested);
    await sleep(100);
    t.false(scope.isDone());
    t.is((await ledgerRows(app)).length, 0);
  });
}

test.serial('TELEMETRY_DEBUG=1: the payload is printed, nothing is sent', async (t) => {
  const url = 'https://collector-debug.invalid';
  const scope = catchAll(url);
  const printed = keptDebugOutput();
  const app = await withCollector(t, url, { env: { TELEMETRY_DEBUG: '1' }, debugOutput: printed.output });
  await app.telemetry.consent.set({ usageStats: true });
  const outcome = await runtimeOf(app.telemetry).submission.submitNow();
  t.is(outcome.status, 'debug');
  await sleep(100);
  t.false(scope.isDone());
  const line = printed.payloads().find((p) => /usage statistics submission would send this/.test(p.title));
  t.truthy(line, 'the would-be submission is printed');
  const payload = line!.payload as unknown;
  t.true(submissionPayloadSchema.safeParse(payload).success);
  t.deepEqual([payload], await app.telemetry.stats.preview());
  t.is((await ledgerRows(app)).length, 0);
});

// ====================================================================================== the weekly job

test('the weekly job is scheduled for the next Monday at the install\'s own minute, and running it submits', async (t) => {
  const { app, receiver, clock } = await startReceiverHost(t, { jobs: true });
  const jobs = app.telemetry.status().jobs;
  const job = jobs.find((j) => j.name === SUBMISSION_JOB);
  t.truthy(job, `jobs: ${jobs.map((j) => j.name).join(', ')}`);
  t.truthy(jobs.find((j) => j.name === RETENTION_JOB));
  const next = new Date(job!.nextRunAt!);
  t.is(next.getDay(), 1, `next run ${job!.nextRunAt} is a Monday (server time)`);
  t.true(next.getTime() > Date.now() && next.getTime() <= Date.now() + 7 * DAY);
  const minute = heartbeatMinuteOfDay(app.telemetry.status().install_id!);
  t.deepEqual([next.getHours(), next.getMinutes(), next.getSeconds()], [Math.floor(minute / 60), minute % 60, 0]);

  await app.telemetry.consent.set({ usageStats: true });
  await receiver.waitFor(() => receiver.accepted.length === 1, 3_000, 'opt-in submission');
  await waitUntil(async () => (await ledgerRows(app)).length === 1, 3_000, 'the opt-in attempt finished');
  clock.offset = untilNextWeek(); // the job runs on the next Monday: one more whole week
  await runtimeOf(app.telemetry).scheduler.runNow(SUBMISSION_JOB);
  t.is(receiver.accepted.length, 2, 'the job sends a submission');
  t.is(app.telemetry.status().jobs.find((j) => j.name === SUBMISSION_JOB)!.lastError, null);
});
