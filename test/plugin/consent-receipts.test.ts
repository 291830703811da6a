// Consent receipts (issue 10, item 5): every change of installation consent appends one receipt —
// when, which categories, old → new, the privacy-notice version, and who (admin:<pseudonym>, cli,
// api), never a raw id. The settings page shows the history, GET {api}/receipts pages through it, the
// JSON export carries every receipt (installation and user), delete-all leaves only the receipt of the
// deletion, and nothing can rewrite a receipt.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { Context } from 'koa';
import { ConsentReceiptsRepository, userActor } from '../../src/plugin/installation/consent-receipts.js';
import { Pseudonymizer } from '../../src/plugin/installation/pseudonym.js';
import { migrateLatest, migrateRollbackAll } from '../../src/plugin/db/migration-source.js';
import { TABLES } from '../../src/plugin/db/tables.js';
import { runCli } from '../../src/cli.js';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { tempDirFor } from '../helpers/tmp.js';
import { runtimeOf } from '../../src/plugin/internal.js';

const API = '/api/v1/usage-stats';
/** A raw admin id that must never be stored: the receipt names the admin by pseudonym only. */
const RAW_ADMIN_ID = 'root-admin@example.com';

async function host(t: ExecutionContext, db: TestDatabase): Promise<HostApp> {
  const app = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      db: db.knex,
      getUser: (ctx: Context) => {
        const user = ctx.state.user as { id: number; isAdmin: boolean } | undefined;
        if (!user) return null;
        return { id: user.isAdmin ? RAW_ADMIN_ID : user.id };
      },
    },
  });
  t.teardown(() => app.close());
  return app;
}

async function csrfToken(app: HostApp): Promise<string> {
  const html = await (await app.request('/telemetry/settings', { user: 'admin' })).text();
  const match = /<meta name="csrf-token" content="([^"]+)">/.exec(html);
  if (!match) throw new Error('no csrf-token meta on /telemetry/settings');
  return match[1]!;
}

async function adminPost(app: HostApp, path: string, body?: unknown, method = 'POST'): Promise<Response> {
  const token = await csrfToken(app);
  const res = await app.request(`${API}${path}`, {
    method,
    user: 'admin',
    headers: { 'x-csrf-token': token, 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
  return res;
}

async function saltOf(app: HostApp): Promise<string> {
  return JSON.parse(await readFile(join(runtimeOf(app.telemetry).options.dataDir, 'installation.json'), 'utf8')).salt as string;
}

async function allRows(db: TestDatabase): Promise<Record<string, unknown>[]> {
  return db.knex(TABLES.consentReceipts).orderBy('id');
}

testEachDatabase('an admin change writes one receipt: when, categories, old → new, notice version, the admin as pseudonym', async (t, db) => {
  const app = await host(t, db);
  await adminPost(app, '/opt-in', { categories: ['analytics'] });
  const expectedActor = `admin:${new Pseudonymizer(await saltOf(app)).pseudonym(RAW_ADMIN_ID)}`;

  const { receipts, total } = await runtimeOf(app.telemetry).consent.receipts({ scope: 'installation', limit: 10 });
  t.is(total, 1);
  t.like(receipts[0], {
    scope: 'installation',
    subject: null,
    action: 'change',
    actor: expectedActor,
    categories: ['analytics'],
    previous: { analytics: false, usageStats: false },
    next: { analytics: true, usageStats: false },
    notice_version: 1,
  });
  t.true(Math.abs(Date.parse(receipts[0]!.at) - Date.now()) < 60_000);

  // A no-op change writes nothing; the handle's consent.set is `api`; the CLI is `cli`.
  await adminPost(app, '/opt-in', { categories: ['analytics'] });
  await app.telemetry.consent.set({ usageStats: true });
  t.is((await allRows(db)).length, 2);
  const latest = (await runtimeOf(app.telemetry).consent.receipts({ scope: 'installation', limit: 1 })).receipts[0]!;
  t.like(latest, { actor: 'api', categories: ['usageStats'], previous: { usageStats: false }, next: { usageStats: true } });
});

test('the CLI records its changes as `cli`', async (t) => {
  const dataDir = await tempDirFor(t);
  const lines: string[] = [];
  t.is(await runCli(['enable', 'analytics', '--data-dir', dataDir], (l) => lines.push(l)), 0);
  t.is(await runCli(['export', join(dataDir, 'out.json'), '--data-dir', dataDir], (l) => lines.push(l)), 0);
  const exported = JSON.parse(await readFile(join(dataDir, 'out.json'), 'utf8'));
  t.is(exported.consent_receipts.length, 1);
  t.like(exported.consent_receipts[0], { actor: 'cli', categories: ['analytics'], next: { analytics: true } });
});

testEachDatabase('no receipt, page, API answer or export contains the raw admin id', async (t, db) => {
  const app = await host(t, db);
  await adminPost(app, '/opt-in');
  await adminPost(app, '/opt-out', { categories: ['usageStats'] });
  const stored = JSON.stringify(await allRows(db));
  t.false(stored.includes(RAW_ADMIN_ID));
  t.false(stored.includes('root-admin'));
  const page = await (await app.request('/telemetry/settings', { user: 'admin' })).text();
  const api = await (await app.request(`${API}/receipts`, { user: 'admin' })).text();
  const exported = await (await app.request(`${API}/export`, { user: 'admin' })).text();
  for (const [what, text] of [['settings page', page], ['GET /receipts', api], ['export', exported]]) {
    t.false(text!.includes(RAW_ADMIN_ID), `${what} carries the raw admin id`);
  }
  t.regex(api, /"actor":"admin:[0-9a-f]{16}"/);
});

testEachDatabase('the settings page lists the installation history, latest first, escaped', async (t, db) => {
  const app = await host(t, db);
  await adminPost(app, '/opt-in', { categories: ['usageStats'] });
  await adminPost(app, '/opt-out', { categories: ['usageStats'] });
  // A row written outside the plugin (a tampered or foreign row) is still shown as text, never as markup.
  await db.knex(TABLES.consentReceipts).insert({
    created_at: new Date(),
    scope: 'installation',
    subject: null,
    actor: '<script>alert(1)</script>',
    action: 'change',
    categories: '["analytics"]',
    previous: '{"analytics":false}',
    next: '{"analytics":true}',
    notice_version: 1,
  });
  const html = await (await app.request('/telemetry/settings', { user: 'admin' })).text();
  const section = html.slice(html.indexOf('data-telemetry-consent-history'));
  const rows = [...section.matchAll(/data-telemetry-receipt="(\d+)"/g)].map((m) => Number(m[1]));
  t.is(rows.length, 3);
  t.deepEqual(rows, [...rows].sort((x, y) => y - x), 'latest first');
  t.regex(section, /usageStats: off → on/);
  t.regex(section, /usageStats: on → off/);
  t.false(html.includes('<script>alert(1)</script>'));
  t.true(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
});

testEachDatabase('GET /receipts is admin-only and paged like /submissions; scope=user lists the users\' receipts', async (t, db) => {
  const app = await host(t, db);
  t.is((await app.request(`${API}/receipts`)).status, 401);
  t.is((await app.request(`${API}/receipts`, { user: 'alice' })).status, 403);
  await adminPost(app, '/opt-in');
  await adminPost(app, '/opt-out', { categories: ['analytics'] });
  await adminPost(app, '/opt-out');
  const page = (await (await app.request(`${API}/receipts?limit=2&offset=1`, { user: 'admin' })).json()) as { total: number; limit: number; offset: number; receipts: { next: Record<string, boolean> }[] };
  t.like(page, { total: 3, limit: 2, offset: 1 });
  t.deepEqual(page.receipts.map((r) => r.next), [{ analytics: false, usageStats: true }, { analytics: true, usageStats: true }]);
  const bad = await app.request(`${API}/receipts?limit=0`, { user: 'admin' });
  t.is(bad.status, 400);
  t.is(((await bad.json()) as { error: { code: string } }).error.code, 'invalid_request');

  const pseudonymizer = new Pseudonymizer(await saltOf(app));
  const subject = pseudonymizer.pseudonym(2);
  await runtimeOf(app.telemetry).receipts.append({ at: new Date(), scope: 'user', subject, actor: userActor(pseudonymizer, 2), action: 'change', categories: ['analytics'], previous: { analytics: true }, next: { analytics: false }, noticeVersion: 1 });
  const users = (await (await app.request(`${API}/receipts?scope=user`, { user: 'admin' })).json()) as { total: number; receipts: { subject: string }[] };
  t.is(users.total, 1);
  t.is(users.receipts[0]!.subject, subject);
});

testEachDatabase('the JSON export includes every receipt, installation and user', async (t, db) => {
  const app = await host(t, db);
  await adminPost(app, '/opt-in', { categories: ['analytics'] });
  const pseudonymizer = new Pseudonymizer(await saltOf(app));
  await runtimeOf(app.telemetry).receipts.append({ at: new Date(), scope: 'user', subject: pseudonymizer.pseudonym(2), actor: userActor(pseudonymizer, 2), action: 'change', categories: ['analytics'], previous: { analytics: true }, next: { analytics: false }, noticeVersion: 1 });
  const exported = (await (await app.request(`${API}/export`, { user: 'admin' })).json()) as { consent_receipts: { scope: string; actor: string }[] };
  t.deepEqual(exported.consent_receipts.map((r) => r.scope), ['installation', 'user']);
  t.regex(exported.consent_receipts[1]!.actor, /^user:[0-9a-f]{16}$/);
});

testEachDatabase('delete-all leaves exactly one receipt: that the deletion happened, and by whom', async (t, db) => {
  const app = await host(t, db);
  await adminPost(app, '/opt-in');
  await adminPost(app, '/opt-out', { categories: ['analytics'] });
  const pseudonymizer = new Pseudonymizer(await saltOf(app));
  await runtimeOf(app.telemetry).receipts.append({ at: new Date(), scope: 'user', subject: pseudonymizer.pseudonym(2), actor: userActor(pseudonymizer, 2), action: 'change', categories: ['analytics'], previous: { analytics: true }, next: { analytics: false }, noticeVersion: 1 });
  t.is((await allRows(db)).length, 3);

  await adminPost(app, '/delete-all', {}, 'DELETE');
  const rows = await allRows(db);
  t.is(rows.length, 1);
  const [only] = (await runtimeOf(app.telemetry).consent.receipts({ scope: 'installation', limit: 10 })).receipts;
  t.like(only, { action: 'deleted', actor: `admin:${pseudonymizer.pseudonym(RAW_ADMIN_ID)}`, next: { analytics: false, usageStats: true } });
  t.is((await runtimeOf(app.telemetry).consent.receipts({ scope: 'user', limit: 10 })).total, 0);
});

testEachDatabase('receipts are append-only: no update method, and the database refuses an UPDATE', async (t, db) => {
  await migrateLatest(db.knex);
  const repository = new ConsentReceiptsRepository(db.knex);
  t.deepEqual(Object.getOwnPropertyNames(ConsentReceiptsRepository.prototype).sort(), ['all', 'append', 'constructor', 'deleteAll', 'list']);
  await repository.append({ at: new Date(), scope: 'installation', actor: 'api', action: 'change', categories: ['analytics'], previous: { analytics: false }, next: { analytics: true }, noticeVersion: 1 });
  await t.throwsAsync(db.knex(TABLES.consentReceipts).update({ actor: 'cli' }), { message: /append-only/ });
  t.is((await repository.list({ scope: 'installation', limit: 5 })).receipts[0]!.actor, 'api');
  // Bad input cannot smuggle a raw id in: actors and subjects have a fixed shape.
  await t.throwsAsync(repository.append({ at: new Date(), scope: 'installation', actor: 'admin:alice@example.com' as never, action: 'change', categories: [], previous: {}, next: {}, noticeVersion: 1 }));
  await t.throwsAsync(repository.append({ at: new Date(), scope: 'user', subject: 'alice@example.com', actor: 'api', action: 'change', categories: [], previous: {}, next: {}, noticeVersion: 1 }));
  t.is((await repository.list({ scope: 'installation', limit: 5 })).total, 1);
});

testEachDatabase('migration 004 goes up and down cleanly (table and its update guard)', async (t, db) => {
  await migrateLatest(db.knex);
  t.true(await db.knex.schema.hasTable(TABLES.consentReceipts));
  await migrateRollbackAll(db.knex);
  t.false(await db.knex.schema.hasTable(TABLES.consentReceipts));
  await migrateLatest(db.knex);
  const repository = new ConsentReceiptsRepository(db.knex);
  await repository.append({ at: new Date(), scope: 'installation', actor: 'system', action: 'import', categories: [], previous: {}, next: {}, noticeVersion: 1 });
  await t.throwsAsync(db.knex(TABLES.consentReceipts).update({ actor: 'api' }), { message: /append-only/ });
});
