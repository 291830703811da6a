// The outbound ledger (issue 10 point 7): everything that leaves — each OTLP batch, the collector
// registration and the erasure request — is recorded with where it went (no credentials), what it
// carried (counts), its size and the answer; bounded by age and rows; browsable, exported, and
// reduced to the erasure's receipt by delete-all. Real OTLP and submission receivers, SQLite and
// PostgreSQL.
import test, { type ExecutionContext } from 'ava';
import { TABLES } from '../../src/plugin/db/tables.js';
import type { OutboundEntry } from '../../src/plugin/stats/outbound-repository.js';
import type { Logger } from '../../src/plugin/types.js';
import { OUTBOUND_PAGE_SIZE } from '../../src/plugin/routes/pages.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { startReceiverHost } from '../helpers/receiver-host.js';
import { waitUntil } from '../helpers/submission-receiver.js';
import { testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { tempDirFor } from '../helpers/tmp.js';
import { refusedPort } from '../helpers/ports.js';
import { runtimeOf } from '../../src/plugin/internal.js';

const API = '/api/v1/usage-stats';
const DAY = 86_400_000;
const TOKEN = 'Bearer otlp-sekret-4f9a1c7e';
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

async function otlpHost(t: ExecutionContext, db: TestDatabase | null, receiverUrl: string, telemetry: Record<string, unknown> = {}): Promise<HostApp> {
  const host = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      logger: silent,
      ...(db ? { db: db.config() } : {}),
      otlp: { endpoint: receiverUrl, headers: { Authorization: TOKEN }, timeoutMs: 1_000 },
      ...telemetry,
    },
  });
  t.teardown(() => host.close());
  return host;
}

async function receiver(t: ExecutionContext): Promise<OtlpReceiver> {
  const rx = await startOtlpReceiver();
  t.teardown(() => rx.close());
  return rx;
}

async function ledger(host: HostApp, query = ''): Promise<{ total: number; limit: number; offset: number; kind: string | null; entries: OutboundEntry[] }> {
  const response = await host.request(`${API}/ledger${query}`, { user: 'admin' });
  if (response.status !== 200) throw new Error(`GET /ledger answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as never;
}

async function csrfToken(app: HostApp): Promise<string> {
  const html = await (await app.request('/telemetry/settings', { user: 'admin' })).text();
  const match = /<meta name="csrf-token" content="([^"]+)">/.exec(html);
  if (!match) throw new Error('no csrf-token meta on /telemetry/settings');
  return match[1]!;
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

// ------------------------------------------------------------------------------------------- OTLP

testEachDatabase('a flush writes one ledger row per OTLP batch whose counts match what the receiver got, with the endpoint and never the Authorization value', async (t, db) => {
  const rx = await receiver(t);
  const host = await otlpHost(t, db, rx.url);
  await host.telemetry.consent.set({ analytics: true });
  host.telemetry.track('timer.started', { source: 'web' });
  host.telemetry.track('timer.started', { source: 'api' });
  host.telemetry.track('report.exported', { format: 'csv' });
  await (await host.request('/projects/7', { user: 'alice' })).arrayBuffer();
  t.true(await host.telemetry.flush());

  const { entries } = await ledger(host, '?limit=200');
  const logs = entries.filter((e) => e.kind === 'otlp_logs');
  const metrics = entries.filter((e) => e.kind === 'otlp_metrics');
  t.true(logs.length >= 1, 'a logs batch is recorded');
  t.true(metrics.length >= 1, 'a metrics export is recorded');

  // Log records: the same total and the same per-event counts as the receiver took.
  t.is(sum(logs.map((e) => e.record_count!)), rx.logs.length);
  const merged: Record<string, number> = {};
  for (const e of logs) for (const [name, n] of Object.entries(e.counts!)) merged[name] = (merged[name] ?? 0) + n;
  t.deepEqual(merged, countBy(rx.logs, (l) => l.body));
  t.is(merged['timer.started'], 2);
  t.is(merged['report.exported'], 1);

  // Metrics: the points per metric name of the export the receiver took.
  const metricRequests = rx.requests.filter((r) => r.path === '/v1/metrics' && r.status === 200);
  t.is(metrics.length, metricRequests.length);
  const lastMetrics = metrics[0]!; // newest first
  t.deepEqual(lastMetrics.counts, countBy(rx.metrics.filter((p) => p.exportIndex === metricRequests.length - 1), (p) => p.name));
  t.is(lastMetrics.record_count, sum(Object.values(lastMetrics.counts!)));

  for (const e of [...logs, ...metrics]) {
    t.is(e.method, 'POST');
    t.is(e.endpoint, `${rx.url}/v1/${e.kind === 'otlp_logs' ? 'logs' : 'metrics'}`);
    t.is(e.outcome, 'accepted');
    t.is(e.response_code, 200);
    t.is(e.error, null);
    t.is(e.attempts, 1);
    t.is(e.request_body, null);
  }
  // Bytes: at least the body the receiver read (the headers come on top).
  const logRequest = rx.requests.find((r) => r.path === '/v1/logs')!;
  t.true(logs.at(-1)!.bytes! > JSON.stringify(logRequest.body).length, `bytes ${logs.at(-1)!.bytes}`);
  t.is(rx.requests[0]!.headers.authorization, TOKEN, 'the header was sent…');

  const stored = JSON.stringify(await runtimeOf(host.telemetry).knex(TABLES.outboundLedger).select());
  t.false(stored.includes('otlp-sekret'), '…but is nowhere in the ledger');
  t.false(stored.toLowerCase().includes('authorization'));
});

test('credentials in the endpoint URL (userinfo, query) are not recorded', async (t) => {
  const rx = await receiver(t);
  const url = new URL(rx.url);
  const host = await otlpHost(t, null, `http://collector-user:pw-sekret-9911@${url.host}/?api_key=key-sekret-5150`);
  t.true(await host.telemetry.flush());
  await rx.waitForLogs(1);
  const { entries } = await ledger(host);
  t.true(entries.length >= 1);
  t.is(entries.find((e) => e.kind === 'otlp_logs')!.endpoint, `${rx.url}/v1/logs`);
  const stored = JSON.stringify(await runtimeOf(host.telemetry).knex(TABLES.outboundLedger).select());
  for (const secret of ['pw-sekret', 'key-sekret', 'collector-user']) t.false(stored.includes(secret), secret);
});

test('a refused connection is recorded as a failure with its cause', async (t) => {
  const port = await refusedPort();
  const host = await otlpHost(t, null, `http://127.0.0.1:${port}`);
  await host.telemetry.consent.set({ analytics: true });
  host.telemetry.track('timer.started', {});
  t.false(await host.telemetry.flush());
  const { entries } = await ledger(host);
  const failed = entries.find((e) => e.kind === 'otlp_logs')!;
  t.truthy(failed, JSON.stringify(entries));
  t.is(failed.outcome, 'failed');
  t.regex(failed.error!, /ECONNREFUSED/);
  t.is(failed.response_code, null);
  t.is(failed.bytes, 0, 'nothing reached the network');
  t.true(failed.attempts >= 1);
  t.is(failed.endpoint, `http://127.0.0.1:${port}/v1/logs`);
  t.like(failed.details, { retry: 'the batch is kept and sent again' });
  t.true(entries.some((e) => e.kind === 'otlp_metrics' && e.outcome === 'failed'));
});

test('a non-retryable answer is recorded as rejected with its status', async (t) => {
  const rx = await startOtlpReceiver({ status: 400 });
  t.teardown(() => rx.close());
  const host = await otlpHost(t, null, rx.url);
  t.false(await host.telemetry.flush());
  const logs = (await ledger(host, '?kind=otlp_logs')).entries;
  t.is(logs.length, 1);
  t.like(logs[0], { outcome: 'rejected', response_code: 400 });
  t.regex(logs[0]!.error!, /400/);
});

test('a database error while writing the ledger is logged once and the export result stands', async (t) => {
  const rx = await receiver(t);
  const warnings: string[] = [];
  const logger: Logger = { ...silent, warn: (...args: unknown[]) => void warnings.push(String(args[1])) };
  const host = await otlpHost(t, null, rx.url, { logger });
  await runtimeOf(host.telemetry).knex.schema.dropTable(TABLES.outboundLedger);
  await host.telemetry.consent.set({ analytics: true });
  host.telemetry.track('timer.started', {});
  t.true(await host.telemetry.flush(), 'the export is accepted');
  host.telemetry.track('timer.started', {});
  t.true(await host.telemetry.flush());
  t.true(rx.logs.filter((l) => l.body === 'timer.started').length === 2);
  t.is(warnings.filter((w) => w.includes('outbound ledger')).length, 1, warnings.join('\n'));
});

// ----------------------------------------------------------------------- registration and erasure

testEachDatabase('registration and erasure are recorded as the requests that were sent, never with the secret; delete-all leaves exactly the erasure', async (t, db) => {
  const { app, receiver: collector } = await startReceiverHost(t, { db: db.config() });
  await app.telemetry.consent.set({ usageStats: true });
  await collector.waitFor(() => collector.accepted.length === 1, 5_000, 'the submission after opt-in');
  const installId = app.telemetry.status().install_id!;
  const secret = collector.installations.get(installId)!;
  t.truthy(secret);
  await app.telemetry.flush();

  const registration = (await ledger(app, '?kind=registration')).entries;
  t.is(registration.length, 1);
  t.like(registration[0], {
    kind: 'registration',
    method: 'POST',
    endpoint: `${collector.url}/v1/register`,
    request_body: collector.requestsOf('register')[0]!.rawBody,
    outcome: 'accepted',
    response_code: 201,
    error: null,
    details: { secret_received: true },
  });
  t.deepEqual(JSON.parse(registration[0]!.request_body!), { install_id: installId });

  const exported = await (await app.request(`${API}/export`, { user: 'admin' })).text();
  t.true(JSON.parse(exported).outbound_ledger.some((e: OutboundEntry) => e.kind === 'registration'), 'the export includes the outbound ledger');
  t.false(exported.includes(secret), 'the secret is not in the export');

  const token = await csrfToken(app);
  const response = await app.request(`${API}/delete-all`, { method: 'DELETE', user: 'admin', headers: { 'x-csrf-token': token } });
  t.is(response.status, 200);
  t.like(await response.json(), { remote: { requested: true, deleted: true, status: 204 } });

  const after = await ledger(app);
  t.is(after.total, 1, JSON.stringify(after.entries));
  t.like(after.entries[0], {
    kind: 'erasure',
    method: 'DELETE',
    endpoint: `${collector.url}/v1/installations/${installId}`,
    request_body: null,
    outcome: 'accepted',
    response_code: 204,
    error: null,
  });
  const stored = JSON.stringify(await runtimeOf(app.telemetry).knex(TABLES.outboundLedger).select());
  t.false(stored.includes(secret), 'the secret is nowhere in the ledger');
  t.false(stored.includes('v2='), 'nor the signature');
});

test('a refused registration is recorded with the collector\'s error code and no secret', async (t) => {
  const { app, receiver: collector } = await startReceiverHost(t, { submission: { retryBaseMs: 20, maxAttempts: 1, timeoutMs: 2_000 } });
  collector.script('register', [{ status: 403, body: { error: { code: 'registration_closed', message: 'no' } } }]);
  await app.telemetry.consent.set({ usageStats: true }); // submits (and so registers) right away
  await collector.waitFor(() => collector.requestsOf('register').length === 1, 5_000, 'the registration');
  await waitUntil(async () => (await ledger(app, '?kind=registration')).total === 1, 3_000, 'the ledger entry');
  const [failed] = (await ledger(app, '?kind=registration')).entries;
  t.like(failed, { outcome: 'rejected', response_code: 403, error: 'registration_closed' });
  t.is(failed!.details, null);
});

test('an erasure that cannot reach the collector is recorded with its cause, and is the receipt delete-all keeps', async (t) => {
  const { app, receiver: collector } = await startReceiverHost(t);
  await app.telemetry.consent.set({ usageStats: true });
  await collector.waitFor(() => collector.accepted.length === 1, 5_000, 'the submission after opt-in');
  await collector.close();

  const token = await csrfToken(app);
  const body = await (await app.request(`${API}/delete-all`, { method: 'DELETE', user: 'admin', headers: { 'x-csrf-token': token } })).json();
  t.like(body, { remote: { requested: true, deleted: false } });
  const after = await ledger(app);
  t.is(after.total, 1, JSON.stringify(after.entries));
  t.like(after.entries[0], { kind: 'erasure', method: 'DELETE', outcome: 'failed', response_code: null });
  t.regex(after.entries[0]!.error!, /ECONNREFUSED/);
});

// ------------------------------------------------------------------------------ route and page

test('GET /ledger pages newest first, filters by kind, validates its query and is admin only', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: silent } });
  t.teardown(() => host.close());
  const outbound = runtimeOf(host.telemetry).outbound;
  for (let i = 0; i < 5; i++) {
    outbound.record({ kind: i % 2 ? 'otlp_metrics' : 'otlp_logs', method: 'POST', endpoint: `http://otlp.test/v1/${i}`, request_body: null, record_count: i, counts: { [`e.${i}`]: i }, bytes: 100 + i, attempts: 1, outcome: 'accepted', response_code: 200, error: null, details: null });
  }
  await outbound.flush();

  const first = await ledger(host, '?limit=2');
  t.is(first.total, 5);
  t.deepEqual(first.entries.map((e) => e.record_count), [4, 3]);
  t.deepEqual((await ledger(host, '?limit=2&offset=2')).entries.map((e) => e.record_count), [2, 1]);
  t.deepEqual((await ledger(host, '?limit=2&offset=4')).entries.map((e) => e.record_count), [0]);
  const metrics = await ledger(host, '?kind=otlp_metrics');
  t.is(metrics.total, 2);
  t.is(metrics.kind, 'otlp_metrics');
  t.deepEqual(metrics.entries.map((e) => e.counts), [{ 'e.3': 3 }, { 'e.1': 1 }]);

  for (const query of ['?kind=everything', '?limit=0', '?limit=201', '?offset=-1', '?limit=abc']) {
    const response = await host.request(`${API}/ledger${query}`, { user: 'admin' });
    t.is(response.status, 400, query);
    t.is(((await response.json()) as { error: { code: string } }).error.code, 'invalid_request');
  }
  t.is((await host.request(`${API}/ledger`, { user: 'alice' })).status, 403);
  t.is((await host.request(`${API}/ledger`)).status, 401);
});

test('the stats page lists the newest outbound entries (autoescaped) and offers more', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: silent } });
  t.teardown(() => host.close());
  const outbound = runtimeOf(host.telemetry).outbound;
  outbound.record({ kind: 'otlp_logs', method: 'POST', endpoint: 'http://otlp.test/v1/logs', request_body: null, record_count: 3, counts: { 'timer.started': 2, '<b>odd</b>': 1 }, bytes: 1234, attempts: 2, outcome: 'failed', response_code: 503, error: 'HTTP 503 Service Unavailable', details: null });
  outbound.record({ kind: 'registration', method: 'POST', endpoint: 'http://collector.test/v1/register', request_body: '{"install_id":"x"}', record_count: null, counts: null, bytes: null, attempts: 1, outcome: 'accepted', response_code: 201, error: null, details: { secret_received: true } });
  await outbound.flush();

  const response = await host.request('/telemetry/stats', { user: 'admin' });
  t.is(response.status, 200);
  const html = await response.text();
  const section = html.slice(html.indexOf('data-telemetry-outbound'));
  t.true(section.length > 0);
  t.true(section.includes('http://otlp.test/v1/logs'));
  t.true(section.includes('timer.started'));
  t.true(section.includes('1,234'), 'bytes in the locale\'s notation');
  t.true(section.includes('503'));
  t.true(section.includes('HTTP 503 Service Unavailable'));
  t.true(section.includes('http://collector.test/v1/register'));
  t.true(section.includes('secret received'));
  t.true(section.includes('&lt;b&gt;odd&lt;/b&gt;'), 'autoescaped');
  t.false(html.includes('<b>odd</b>'));
  t.false(html.includes('data-telemetry-outbound-more'), 'everything is shown: no "show more"');

  for (let i = 0; i < OUTBOUND_PAGE_SIZE; i++) outbound.record({ kind: 'otlp_metrics', method: 'POST', endpoint: 'http://otlp.test/v1/metrics', request_body: null, record_count: 1, counts: { 'app.events': 1 }, bytes: 10, attempts: 1, outcome: 'accepted', response_code: 200, error: null, details: null });
  await outbound.flush();
  const longer = await (await host.request('/telemetry/stats', { user: 'admin' })).text();
  t.true(longer.includes('data-telemetry-outbound-more'), 'a "show more" control');
  t.true(longer.includes(`${OUTBOUND_PAGE_SIZE} of ${OUTBOUND_PAGE_SIZE + 2}`));
  t.false(longer.includes('http://collector.test/v1/register'), 'the oldest entry waits behind "show more"');
});

// ---------------------------------------------------------------------------------------- bounds

testEachDatabase('retention: entries older than retentionDays are purged by the retention job, following the injected clock', async (t, db) => {
  const clock = { offset: 0 };
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: silent, db: db.config(), outboundLedger: { retentionDays: 30 }, now: () => new Date(Date.now() + clock.offset) } });
  t.teardown(() => host.close());
  const outbound = runtimeOf(host.telemetry).outbound;
  const entry = { kind: 'otlp_logs', method: 'POST', endpoint: 'http://otlp.test/v1/logs', request_body: null, record_count: 1, counts: {}, bytes: 1, attempts: 1, outcome: 'accepted', response_code: 200, error: null, details: null } as const;
  outbound.record({ ...entry, record_count: 1 });
  await outbound.flush();
  clock.offset = 20 * DAY;
  outbound.record({ ...entry, record_count: 2 });
  await outbound.flush();

  clock.offset = 29 * DAY;
  await runtimeOf(host.telemetry).stats.purgeExpired();
  t.is((await ledger(host)).total, 2, 'nothing is 30 days old yet');
  clock.offset = 31 * DAY;
  const purged = await runtimeOf(host.telemetry).stats.purgeExpired();
  t.is(purged.outbound_ledger, 1);
  t.deepEqual((await ledger(host)).entries.map((e) => e.record_count), [2]);
});

testEachDatabase('size cap: only the newest maxRows entries are kept, enforced on every write', async (t, db) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: silent, db: db.config(), outboundLedger: { maxRows: 3 } } });
  t.teardown(() => host.close());
  const outbound = runtimeOf(host.telemetry).outbound;
  for (let i = 1; i <= 7; i++) {
    outbound.record({ kind: 'otlp_metrics', method: 'POST', endpoint: 'http://otlp.test/v1/metrics', request_body: null, record_count: i, counts: {}, bytes: 1, attempts: 1, outcome: 'accepted', response_code: 200, error: null, details: null });
    if (i % 2 === 0) await outbound.flush();
  }
  await outbound.flush();
  const { total, entries } = await ledger(host);
  t.is(total, 3);
  t.deepEqual(entries.map((e) => e.record_count), [7, 6, 5]);
});

// ----------------------------------------------------------------------------- kill switch / debug

for (const env of [{ DO_NOT_TRACK: '1' }, { TELEMETRY_DISABLED: '1' }, { TELEMETRY_DEBUG: '1' }]) {
  const name = Object.keys(env)[0]!;
  test(`${name}=1: nothing leaves, so the ledger records nothing (OTLP, registration, erasure)`, async (t) => {
    const rx = await receiver(t);
    const { app, receiver: collector } = await startReceiverHost(t, { env, otlp: { endpoint: rx.url } });
    await app.telemetry.consent.set({ analytics: true, usageStats: true });
    app.telemetry.track('timer.started', {});
    await app.telemetry.flush();
    await runtimeOf(app.telemetry).submission.submitNow();
    const token = await csrfToken(app);
    t.is((await app.request(`${API}/delete-all`, { method: 'DELETE', user: 'admin', headers: { 'x-csrf-token': token } })).status, 200);
    await app.telemetry.flush();
    t.is(rx.requests.length, 0);
    t.is(collector.requests.length, 0);
    t.is((await ledger(app)).total, 0);
  });
}

test('the ledger entries of the final flush at stop() are written before the database closes', async (t) => {
  const rx = await receiver(t);
  const dataDir = await tempDirFor(t);
  const host = await startHostApp({ telemetry: { dataDir, logger: silent, otlp: { endpoint: rx.url }, stopTimeoutMs: 5_000 } });
  await host.telemetry.consent.set({ analytics: true });
  host.telemetry.track('timer.started', {});
  await host.close();
  await waitUntil(() => rx.logs.some((l) => l.body === 'timer.started'), 3_000, 'the final flush');

  const again = await startHostApp({ telemetry: { dataDir, logger: silent } });
  t.teardown(() => again.close());
  const logs = (await ledger(again, '?kind=otlp_logs')).entries;
  t.true(logs.some((e) => e.counts?.['timer.started'] === 1), JSON.stringify(logs));
});
