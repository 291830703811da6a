// The client against the REAL collector when the collector refuses this installation (unknown id,
// wrong secret, id taken or erased): it stops sending, shows the admin a persistent, explained
// problem (GET {api}/status, the settings and statistics pages) and offers a clean re-registration
// with a new identity. And after delete-all it starts a new identity (install id, salt, no secret),
// so nothing sent afterwards links to what was erased. See docs/faq.md.
import test, { type ExecutionContext } from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TABLES } from '../../src/plugin/db/tables.js';
import { HEARTBEAT_JOB, heartbeatMinuteOfDay } from '../../src/plugin/jobs/heartbeat.js';
import { SUBMISSION_JOB } from '../../src/plugin/jobs/submission.js';
import { PATHS } from '../../src/core/protocol.js';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { startCollector, TestClock, type TestCollector } from '../helpers/collector.js';
import { createTestDatabase } from '../helpers/databases.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { until } from '../helpers/fault-watch.js';
import { tempDirFor } from '../helpers/tmp.js';
import type { Logger } from '../../src/plugin/types.js';
import { runtimeOf } from '../../src/plugin/internal.js';

const DAY = 86_400_000;
const API = '/api/v1/usage-stats';
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A real collector whose clock follows the host's (both one day ahead: today's events are reported). */
const shifts = new WeakMap<TestCollector, { ms: number }>();
async function realCollector(t: ExecutionContext): Promise<TestCollector> {
  const db = await createTestDatabase('sqlite');
  t.teardown(() => db.cleanup());
  const shift = { ms: DAY };
  const now = () => new Date(Date.now() + shift.ms);
  const c = await startCollector(t, db, { clock: new TestClock(now()), now });
  shifts.set(c, shift);
  return c;
}

/** Both clocks a week on: one more whole week is due. */
const nextWeek = (c: TestCollector): void => {
  shifts.get(c)!.ms += 7 * DAY;
};

async function host(t: ExecutionContext, collector: TestCollector, dataDir?: string, telemetry: Record<string, unknown> = {}): Promise<HostApp> {
  const app = await startHostApp({
    telemetry: {
      dataDir: dataDir ?? (await tempDirFor(t)),
      logger: silent,
      collector: { url: collector.url },
      submission: { retryBaseMs: 20, maxAttempts: 3, timeoutMs: 5_000 },
      now: () => new Date(Date.now() + shifts.get(collector)!.ms),
      ...telemetry,
    },
  });
  t.teardown(() => app.close());
  return app;
}

async function csrfToken(app: HostApp): Promise<string> {
  const html = await (await app.request('/telemetry/settings', { user: 'admin' })).text();
  return /<meta name="csrf-token" content="([^"]+)">/.exec(html)![1]!;
}

const collectorRows = async (c: TestCollector, table: string, where: Record<string, unknown> = {}) =>
  Number(((await c.handle.collector.knex(table).where(where).count({ n: '*' }).first()) as { n: unknown }).n);

async function optedInAndAccepted(app: HostApp, c: TestCollector): Promise<string> {
  app.telemetry.track('timer.started', { source: 'web' });
  await app.telemetry.flush();
  await app.telemetry.consent.set({ usageStats: true });
  const installId = app.telemetry.status().install_id!;
  await until(async () => (await collectorRows(c, 'collector_submissions', { install_id: installId })) === 1, 10_000, 'the opt-in submission was accepted');
  return installId;
}

test('unknown_installation: the client stops, keeps an explained problem across restarts, and re-registers with a new identity on the admin\'s request', async (t) => {
  const c = await realCollector(t);
  const dataDir = await tempDirFor(t);
  let app = await host(t, c, dataDir);
  const oldId = await optedInAndAccepted(app, c);
  // The collector loses the installation (its operator erased it).
  t.is((await c.admin(PATHS.installation(oldId), { method: 'DELETE' })).status, 200);

  nextWeek(c);
  const refused = await runtimeOf(app.telemetry).submission.submitNow();
  t.like(refused, { status: 'rejected', responseCode: 401 });
  t.false(runtimeOf(app.telemetry).submission.retryScheduled, 'no retry');
  const status = (await (await app.request(`${API}/status`, { user: 'admin' })).json()) as { collector: { problem: { code: string; explanation: string; since: string } | null } };
  t.is(status.collector.problem?.code, 'unknown_installation');
  t.regex(status.collector.problem!.explanation, /re-register/);
  t.truthy(Date.parse(status.collector.problem!.since));

  // Nothing more is sent while the problem stands: the next run is skipped and says why.
  const ledgerBefore = await runtimeOf(app.telemetry).knex(TABLES.submissions).count({ n: '*' }).first();
  const skipped = await runtimeOf(app.telemetry).submission.submitNow();
  t.is(skipped.status, 'skipped');
  t.regex(skipped.reason!, /unknown_installation/);
  t.deepEqual(await runtimeOf(app.telemetry).knex(TABLES.submissions).count({ n: '*' }).first(), ledgerBefore);

  // It persists across a restart, and both pages show it with the way out.
  await app.close();
  app = await host(t, c, dataDir);
  t.is(app.telemetry.status().collector.problem?.code, 'unknown_installation');
  for (const page of ['/telemetry/settings', '/telemetry/stats']) {
    const html = await (await app.request(page, { user: 'admin' })).text();
    t.regex(html, /data-telemetry-collector-problem/, page);
    t.regex(html, /unknown_installation/, page);
    t.regex(html, /data-telemetry-re-register/, page);
  }

  // Re-registration is an admin action with the CSRF token.
  t.is((await app.request(`${API}/collector/re-register`, { method: 'POST', user: 'admin' })).status, 403);
  t.is((await app.request(`${API}/collector/re-register`, { method: 'POST', user: 'alice', headers: { 'x-csrf-token': await csrfToken(app) } })).status, 403);
  const token = await csrfToken(app);
  const response = await app.request(`${API}/collector/re-register`, { method: 'POST', user: 'admin', headers: { 'x-csrf-token': token, 'content-type': 'application/json' }, body: '{}' });
  t.is(response.status, 200);
  const result = (await response.json()) as { install_id: string; registered: boolean; problem: unknown };
  t.true(result.registered);
  t.not(result.install_id, oldId);
  t.is(result.problem, null);
  t.is(app.telemetry.status().install_id, result.install_id);
  t.is(app.telemetry.status().collector.problem, null);
  t.is(await collectorRows(c, 'collector_installations', { install_id: result.install_id }), 1);
  const accepted = await runtimeOf(app.telemetry).submission.submitNow();
  t.is(accepted.status, 'accepted', JSON.stringify(accepted));
  t.is(await collectorRows(c, 'collector_submissions', { install_id: result.install_id }), 1);
});

test('invalid_signature (the secret kept here is not the collector\'s): the same explained problem, no retry', async (t) => {
  const c = await realCollector(t);
  const app = await host(t, c);
  await optedInAndAccepted(app, c);
  await runtimeOf(app.telemetry).file.update((current) => ({ collector: { ...current.collector!, secret: 'f'.repeat(64) } }));
  nextWeek(c);
  const refused = await runtimeOf(app.telemetry).submission.submitNow();
  t.like(refused, { status: 'rejected', responseCode: 401 });
  t.false(runtimeOf(app.telemetry).submission.retryScheduled);
  t.is(app.telemetry.status().collector.problem?.code, 'invalid_signature');
  t.is((await runtimeOf(app.telemetry).submission.submitNow()).status, 'skipped');
});

test('an installation id someone else registered first (409 already_registered) is shown as a problem, not retried forever', async (t) => {
  const c = await realCollector(t);
  const app = await host(t, c);
  const installId = app.telemetry.status().install_id!;
  const squatted = await fetch(`${c.url}${PATHS.register}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ install_id: installId }) });
  t.is(squatted.status, 201);
  await app.telemetry.consent.set({ usageStats: true });
  await until(() => app.telemetry.status().collector.problem !== null, 10_000, 'the problem is recorded');
  t.is(app.telemetry.status().collector.problem?.code, 'already_registered');
  await until(async () => (await runtimeOf(app.telemetry).knex(TABLES.submissions).where('status', 'rejected').count({ n: '*' }).first().then((r) => Number((r as { n: unknown }).n))) === 1, 5_000, 'the refused attempt in the ledger');
  t.is((await runtimeOf(app.telemetry).submission.submitNow()).status, 'skipped');
  const renewed = await runtimeOf(app.telemetry).stats.reRegister();
  t.true(renewed.registered);
  t.not(renewed.install_id, installId);
});

test('an installation id the collector erased recently (409 installation_erased) is shown as a problem too', async (t) => {
  const c = await realCollector(t);
  const app = await host(t, c);
  const installId = app.telemetry.status().install_id!;
  // Someone registered this id and the collector's operator erased it: now it is blocked for 30 days.
  t.is((await fetch(`${c.url}${PATHS.register}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ install_id: installId }) })).status, 201);
  t.is((await c.admin(PATHS.installation(installId), { method: 'DELETE' })).status, 200);
  await app.telemetry.consent.set({ usageStats: true });
  await until(() => app.telemetry.status().collector.problem !== null, 10_000, 'the problem is recorded');
  t.is(app.telemetry.status().collector.problem?.code, 'installation_erased');
  t.regex(app.telemetry.status().collector.problem!.explanation, /erased/);
});

test('after delete-all the installation starts a new identity: new install id and salt, no secret; exports and submissions carry only the new id', async (t) => {
  const c = await realCollector(t);
  const otlp = await startOtlpReceiver();
  t.teardown(() => otlp.close());
  const dataDir = await tempDirFor(t);
  const app = await host(t, c, dataDir, { otlp: { endpoint: otlp.url }, export: { intervalMs: 50 }, jobs: true });
  const oldId = await optedInAndAccepted(app, c);
  const oldFile = JSON.parse(await readFile(join(dataDir, 'installation.json'), 'utf8')) as { salt: string; collector: unknown };
  t.truthy(oldFile.collector);
  await app.telemetry.consent.set({ analytics: true });
  app.telemetry.track('timer.started', { source: 'web' }, { user: { id: 42 } });
  await app.telemetry.flush();
  const before = otlp.logs.find((l) => l.attributes.install_id === oldId && l.attributes['user.pseudonym']);
  t.truthy(before, 'a detailed event of the old identity was exported');

  const result = await app.telemetry.stats.deleteAll();
  t.like(result.remote, { requested: true, deleted: true });
  t.true(result.new_identity.started);
  await app.telemetry.flush(); // the previous identity's sink has flushed and shut down
  const newId = app.telemetry.status().install_id!;
  t.true(otlp.logs.some((l) => l.body === 'base_telemetry.first_seen' && l.attributes.install_id === newId), 'first_seen for the new id');
  otlp.clear();
  const file = JSON.parse(await readFile(join(dataDir, 'installation.json'), 'utf8')) as { install_id: string; salt: string; collector: unknown; consent: { usageStats: boolean } };
  t.not(file.install_id, oldId);
  t.not(file.salt, oldFile.salt);
  t.is(file.collector, null);
  t.true(file.consent.usageStats, 'consent is not an identity: it stays');
  t.is(app.telemetry.status().install_id, file.install_id);
  t.is(await collectorRows(c, 'collector_installations', { install_id: oldId }), 0);

  // Exports from now on: the new id as attribute and resource, the same user under another pseudonym.
  app.telemetry.track('timer.started', { source: 'web' }, { user: { id: 42 } });
  await app.telemetry.flush();
  await until(() => otlp.logs.some((l) => l.attributes['user.pseudonym']), 5_000, 'the new event exported');
  const after = otlp.logs.find((l) => l.attributes['user.pseudonym'])!;
  t.is(after.attributes.install_id, file.install_id);
  t.is(after.resource['service.instance.id'], file.install_id);
  t.not(after.attributes['user.pseudonym'], before!.attributes['user.pseudonym']);
  await until(() => otlp.metrics.length > 0, 5_000, 'metrics exported by the new sink');
  t.false(JSON.stringify(otlp.requests.map((r) => r.body)).includes(oldId), 'nothing exported after delete-all names the old id');
  // The daily and weekly jobs run at the new id's own minute of the day.
  for (const name of [HEARTBEAT_JOB, SUBMISSION_JOB]) {
    const job = app.telemetry.status().jobs.find((j) => j.name === name)!;
    const at = new Date(job.nextRunAt!);
    t.is(at.getHours() * 60 + at.getMinutes(), heartbeatMinuteOfDay(file.install_id), name);
  }

  // The next submission registers the new id; nothing at the collector names the old one.
  app.telemetry.track('timer.started', { source: 'web' });
  await app.telemetry.flush();
  const outcome = await runtimeOf(app.telemetry).submission.submitNow();
  t.is(outcome.status, 'accepted', JSON.stringify(outcome));
  t.is(await collectorRows(c, 'collector_installations', { install_id: file.install_id }), 1);
  const stored = JSON.stringify(await c.handle.collector.knex('collector_submissions').select('*'));
  t.false(stored.includes(oldId));
});

test('delete-all whose erasure does not reach the collector keeps the identity (and its secret) so it can be repeated', async (t) => {
  const c = await realCollector(t);
  const app = await host(t, c);
  const oldId = await optedInAndAccepted(app, c);
  await c.close(); // unreachable
  const result = await app.telemetry.stats.deleteAll();
  t.like(result.remote, { requested: true, deleted: false });
  t.false(result.new_identity.started);
  t.is(app.telemetry.status().install_id, oldId);
  t.not(runtimeOf(app.telemetry).file.current.collector, null);
});
