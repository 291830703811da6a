// Consent is one truth for every process (issue 10, item 6): two REAL processes of one app on one data
// folder, the CLI against a running app, and two plugin instances sharing one PostgreSQL database
// through host knex instances. A change made in one place is seen everywhere within a generous bound
// (the default consentSyncIntervalMs is 2 s), and from the moment a process has seen an opt-out no
// detailed event of it reaches the real OTLP receiver — not even one that was already waiting.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import knex, { type Knex } from 'knex';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { createTestDatabase, pgUrl, testEachDatabase } from '../helpers/databases.js';
import { keptLogger } from '../helpers/fault-watch.js';
import { ConsentSync } from '../../src/plugin/installation/consent-sync.js';
import { SettingsRepository } from '../../src/plugin/installation/settings-repository.js';
import { migrateLatest } from '../../src/plugin/db/migration-source.js';
import { CookieClient } from '../helpers/cookie-client.js';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { startSubmissionReceiver } from '../helpers/submission-receiver.js';
import { tempDirFor } from '../helpers/tmp.js';

/** Generous: the promise is "within 5 s" at the default 2 s poll; a loaded machine gets slack. */
const SEEN_WITHIN_MS = 15_000;
const TSX = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const CHILD = fileURLToPath(new URL('../helpers/consent-child.ts', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

interface Child {
  url: string;
  admin: CookieClient;
}

async function startChild(t: ExecutionContext, name: string, env: Record<string, string>): Promise<Child> {
  const child: ChildProcess = spawn(process.execPath, [`--import=${TSX}`, CHILD], {
    env: { ...process.env, PROCESS_NAME: name, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  let output = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => void (output += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child ${name} did not start:\n${output}`)), 30_000);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const match = /^READY (.+)$/m.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve((JSON.parse(match[1]!) as { url: string }).url);
      }
    });
    void exited.then(() => reject(new Error(`child ${name} exited before READY:\n${output}`)));
  });
  return { url, admin: new CookieClient(url) };
}

const ADMIN = { 'x-test-user': 'admin' };
const ALICE = { 'x-test-user': 'alice' };
const API = '/api/v1/usage-stats';

/** An admin's consent switch through the plugin's own route (CSRF token from the settings page). */
async function adminSets(child: Child, action: 'opt-in' | 'opt-out', categories: string[]): Promise<void> {
  const html = await (await child.admin.get('/telemetry/settings', ADMIN)).text();
  const token = /<meta name="csrf-token" content="([^"]+)">/.exec(html)?.[1];
  if (!token) throw new Error('no csrf-token on the settings page');
  const res = await child.admin.request(`${API}/${action}`, { method: 'POST', json: { categories }, headers: { ...ADMIN, 'x-csrf-token': token } });
  if (res.status !== 200) throw new Error(`${action} answered ${res.status}: ${await res.text()}`);
}

async function statusOf(child: Child): Promise<{ analytics: boolean; usageStats: boolean }> {
  const res = await fetch(`${child.url}${API}/status`, { headers: ADMIN });
  return ((await res.json()) as { consent: { analytics: boolean; usageStats: boolean } }).consent;
}

/** Polls until `check` holds; rejects (naming `what`) after `withinMs`. No fixed sleeps. */
async function eventually(what: string, check: () => Promise<boolean> | boolean, withinMs = SEEN_WITHIN_MS): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

const work = (child: Child, phase: string) => fetch(`${child.url}/test/work?phase=${phase}`, { headers: ALICE }).then((r) => r.arrayBuffer());
const flush = (child: Child) => fetch(`${child.url}/test/flush`, { method: 'POST', headers: ALICE }).then((r) => r.json());
const phasesFrom = (receiver: OtlpReceiver, name: string) =>
  receiver.logs.filter((l) => l.body === 'work.done' && l.attributes.process === name).map((l) => String(l.attributes.phase));

/** Two processes on one data folder, analytics turned on in a and seen by b, which exported one event (phase while-in). */
async function optedInPair(t: ExecutionContext): Promise<{ receiver: OtlpReceiver; a: Child; b: Child }> {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const dataDir = await tempDirFor(t);
  const env = { DATA_DIR: dataDir, OTLP_URL: receiver.url };
  const a = await startChild(t, 'a', env);
  const b = await startChild(t, 'b', env);
  await adminSets(a, 'opt-in', ['analytics']);
  await eventually('b sees the opt-in made in a', async () => (await statusOf(b)).analytics);
  await work(b, 'while-in');
  await flush(b);
  t.deepEqual(phasesFrom(receiver, 'b'), ['while-in'], 'b exports while opted in (the proofs after it are not vacuous)');
  return { receiver, a, b };
}

test('two processes on one data folder: an admin opt-out in one is seen by the other, which exports nothing detailed from then on', async (t) => {
  const { receiver, a, b } = await optedInPair(t);

  await work(b, 'queued'); // waits in b's export queue
  await adminSets(a, 'opt-out', ['analytics']);
  t.false((await statusOf(a)).analytics);
  await eventually('b sees the opt-out made in a', async () => !(await statusOf(b)).analytics);
  await work(b, 'after');
  await flush(b);
  t.deepEqual(phasesFrom(receiver, 'b'), ['while-in'], 'neither the queued event nor a later one left b');

  // And back: b's opt-in is seen by a.
  await adminSets(b, 'opt-in', ['analytics']);
  await eventually('a sees the opt-in made in b', async () => (await statusOf(a)).analytics);
});

test('the CLI `disable` reaches a running app: its /status changes and nothing detailed leaves it afterwards', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const dataDir = await tempDirFor(t);
  const app = await startChild(t, 'app', { DATA_DIR: dataDir, OTLP_URL: receiver.url });
  await adminSets(app, 'opt-in', ['analytics', 'usageStats']);
  await work(app, 'while-in');
  await flush(app);
  t.deepEqual(phasesFrom(receiver, 'app'), ['while-in']);
  await work(app, 'queued');

  const cli = spawn(process.execPath, [`--import=${TSX}`, CLI, 'disable', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let printed = '';
  cli.stdout.setEncoding('utf8').on('data', (chunk: string) => void (printed += chunk));
  const code = await new Promise<number | null>((done) => cli.once('exit', done));
  t.is(code, 0, printed);
  t.like(JSON.parse(printed).consent, { analytics: false, usageStats: false });

  await eventually('the running app sees the CLI opt-out', async () => {
    const consent = await statusOf(app);
    return !consent.analytics && !consent.usageStats;
  });
  await work(app, 'after');
  await flush(app);
  t.deepEqual(phasesFrom(receiver, 'app'), ['while-in'], 'nothing queued or new left after the CLI opt-out was seen');
});

// ------------------------------------------------------------------------- shared PostgreSQL

async function pgHosts(t: ExecutionContext, extra: Record<string, unknown> = {}): Promise<{ one: HostApp; two: HostApp; receiver: OtlpReceiver }> {
  const db = await createTestDatabase('postgres');
  t.teardown(() => db.cleanup());
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const hosts: HostApp[] = [];
  for (const name of ['one', 'two']) {
    // Each host has its own knex (its own pool) on the shared database, and its own data folder.
    const hostKnex = knex(db.config());
    const host = await startHostApp({
      telemetry: {
        dataDir: await tempDirFor(t),
        db: hostKnex,
        otlp: { endpoint: receiver.url },
        export: { queueCap: 1_000, batchSize: 500, intervalMs: 600_000, metricIntervalMs: 600_000, intakeCap: 10_000 },
        ...extra,
      },
      routes: (router) =>
        router.get('/test/work', (ctx) => {
          ctx.telemetry.track('work.done', { process: name, phase: String(ctx.query.phase) });
          ctx.body = { ok: true };
        }),
    });
    t.teardown(async () => {
      await host.close();
      await hostKnex.destroy();
    });
    hosts.push(host);
  }
  return { one: hosts[0]!, two: hosts[1]!, receiver };
}

const pgTest = pgUrl() ? test : test.skip;

pgTest('two hosts on one PostgreSQL database (host knex): an opt-out in one stops the other\'s detailed export [postgres]', async (t) => {
  const { one, two, receiver } = await pgHosts(t);
  await one.telemetry.consent.set({ analytics: true });
  await eventually('host two sees the opt-in', () => two.telemetry.consent.get().analytics);
  await two.request('/test/work?phase=while-in', { user: 'alice' });
  await two.telemetry.flush();
  t.deepEqual(phasesFrom(receiver, 'two'), ['while-in']);

  await two.request('/test/work?phase=queued', { user: 'alice' });
  await one.telemetry.consent.set({ analytics: false });
  await eventually('host two sees the opt-out', () => !two.telemetry.consent.get().analytics);
  t.false(two.telemetry.status().consent.analytics);
  await two.request('/test/work?phase=after', { user: 'alice' });
  await two.telemetry.flush();
  t.deepEqual(phasesFrom(receiver, 'two'), ['while-in']);
});

pgTest('an opt-in to usage statistics is submitted once, by the host that made it, not by every host that sees it [postgres]', async (t) => {
  const collector = await startSubmissionReceiver();
  t.teardown(() => collector.close());
  const { one, two } = await pgHosts(t, { collector: { url: collector.url } });
  await one.telemetry.consent.set({ usageStats: true });
  await eventually('host two sees the opt-in', () => two.telemetry.consent.get().usageStats);
  await Promise.all([one.telemetry.flush(), two.telemetry.flush()]); // waits for the background submission
  const submits = collector.requests.filter((r) => r.kind === 'submit');
  t.is(submits.length, 1);
});

// ------------------------------------------------------------------------- ConsentSync itself

/** The real repository on a real database, with a switch that makes its revision read fail. */
class FlakySettings extends SettingsRepository {
  failing = false;
  override async revision(trx?: Knex.Transaction): Promise<number | null> {
    if (this.failing) throw new Error('connection refused');
    return super.revision(trx);
  }
}

testEachDatabase('ConsentSync: a database error in the poll is logged once and never thrown; the change is seen once it answers again', async (t, db) => {
  await migrateLatest(db.knex);
  const logger = keptLogger();
  const settings = new FlakySettings(db.knex);
  const sync = new ConsentSync({ settings, intervalMs: 60_000, logger, now: () => new Date() });
  t.teardown(() => sync.stop());
  let reloads = 0;
  sync.register(async () => void reloads++);
  await sync.start();
  t.false(await sync.check(), 'nothing moved');

  await sync.changed(); // another process's change, as far as this poller is concerned
  settings.failing = true;
  t.false(await sync.check());
  t.false(await sync.check());
  t.is(logger.lines.filter((l) => l.level === 'warn').length, 1, 'one warning for the outage, not one per poll');
  t.is(reloads, 0);

  settings.failing = false;
  t.true(await sync.check());
  t.is(reloads, 1);
  t.false(await sync.check(), 'caught up: no reload without a new change');
});

testEachDatabase('ConsentSync: a failing reload is retried at the next poll until it succeeds', async (t, db) => {
  await migrateLatest(db.knex);
  const sync = new ConsentSync({ settings: new SettingsRepository(db.knex), intervalMs: 60_000, logger: keptLogger(), now: () => new Date() });
  t.teardown(() => sync.stop());
  let attempts = 0;
  sync.register(async () => {
    attempts++;
    if (attempts === 1) throw new Error('reload failed');
  });
  await sync.start();
  const before = sync.revision ?? 0;
  const revision = await sync.changed();
  t.is(revision, before + 1);
  t.false(await sync.check());
  t.true(await sync.check());
  t.is(sync.revision, revision);
  t.is(attempts, 2);
});

test('ConsentSync: its timer never keeps the process alive, and stop() ends it', async (t) => {
  const dir = await tempDirFor(t);
  const script = `
    import knex from 'knex';
    import { join } from 'node:path';
    import { migrateLatest } from ${JSON.stringify(new URL('../../src/plugin/db/migration-source.ts', import.meta.url).href)};
    import { SettingsRepository } from ${JSON.stringify(new URL('../../src/plugin/installation/settings-repository.ts', import.meta.url).href)};
    import { ConsentSync } from ${JSON.stringify(new URL('../../src/plugin/installation/consent-sync.ts', import.meta.url).href)};
    const db = knex({ client: 'sqlite3', connection: { filename: join(${JSON.stringify(dir)}, 'db.sqlite3') }, useNullAsDefault: true, pool: { min: 0, max: 1, idleTimeoutMillis: 100 } });
    await migrateLatest(db);
    const quiet = () => {};
    const sync = new ConsentSync({ settings: new SettingsRepository(db), intervalMs: 100, logger: { debug: quiet, info: quiet, warn: quiet, error: quiet }, now: () => new Date() });
    await sync.start();
    console.log('POLLING ' + sync.running);
    // the knex pool is closed, the sync's interval is left running: the process must still end.
    await db.destroy();
  `;
  const child = spawn(process.execPath, [`--import=${TSX}`, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => void (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => void (out += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((done) => child.once('exit', (c) => done(c)));
  clearTimeout(timer);
  t.is(code, 0, out);
  t.regex(out, /POLLING true/);

  const memory = knex({ client: 'sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
  t.teardown(() => memory.destroy());
  const sync = new ConsentSync({ settings: new SettingsRepository(memory), intervalMs: 100, logger: keptLogger(), now: () => new Date() });
  await sync.start();
  t.true(sync.running);
  await sync.stop();
  t.false(sync.running);
});

test('two processes on one data folder: a user\'s own opt-out made in one stops the other exporting that user\'s events', async (t) => {
  const { receiver, a, b } = await optedInPair(t);

  // Alice turns analytics off for herself, on process a.
  const alice = new CookieClient(a.url);
  const html = await (await alice.get('/telemetry/me', ALICE)).text();
  const token = /<meta name="csrf-token" content="([^"]+)">/.exec(html)![1]!;
  const res = await alice.request(`${API}/me/opt-out`, { method: 'POST', json: {}, headers: { ...ALICE, 'x-csrf-token': token } });
  t.is(res.status, 200);
  const meOn = async (child: Child) => ((await (await fetch(`${child.url}${API}/me`, { headers: ALICE })).json()) as { analytics: boolean }).analytics;
  await eventually('b sees alice\'s opt-out made in a', async () => !(await meOn(b)));
  await work(b, 'after');
  await flush(b);
  t.deepEqual(phasesFrom(receiver, 'b'), ['while-in'], 'nothing of alice leaves b once it has seen her choice');
});
