// Dashboard sessions: a random id (32 bytes, base64url) in an HttpOnly SameSite=Strict cookie
// (Secure over https); the database keeps only its hash, so every collector process shares it;
// sign-out deletes it, a new admin token ends every session, and it ends after idle and absolute
// expiry.
import test from 'ava';
import { ADMIN_TOKEN, AddressedClient, databaseEnv, spawnCollector, startCollector, type TestCollector } from '../helpers/collector.js';
import { createTestDatabase, testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { SESSION_COOKIE } from '../../src/collector/auth.js';
import { DEFAULT_SESSION_ABSOLUTE_HOURS, DEFAULT_SESSION_IDLE_MINUTES } from '../../src/collector/options.js';
import { checkCollectorAnswers } from '../helpers/openapi.js';

const MINUTE = 60_000;

async function sqlite(t: import('ava').ExecutionContext): Promise<TestDatabase> {
  const db = await createTestDatabase('sqlite');
  t.teardown(() => db.cleanup());
  return db;
}

/** Signs in through the form; returns the signed-in client and its dashboard's CSRF token. */
async function signIn(url: string, address = '127.0.0.1'): Promise<{ client: AddressedClient; csrf: string }> {
  const client = new AddressedClient(url, address);
  const response = await client.form('/dashboard/sign-in', { token: ADMIN_TOKEN, _csrf: await client.csrf() });
  if (response.status !== 303) throw new Error(`sign-in answered ${response.status}`);
  return { client, csrf: await client.csrf() };
}

function copyOf(client: AddressedClient, url = client.base): AddressedClient {
  const copy = new AddressedClient(url, '127.0.0.9');
  copy.jar.set(SESSION_COOKIE, client.jar.get(SESSION_COOKIE)!);
  return copy;
}

const overview = async (client: AddressedClient) => (await client.request('/stats/overview')).status;

test('a copied session cookie stops working after sign-out', async (t) => {
  const db = await sqlite(t);
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const { client, csrf } = await signIn(c.url);
  const thief = copyOf(client);
  t.is(await overview(thief), 200, 'the copy works while the session lives');
  t.is((await client.form('/dashboard/sign-out', { _csrf: csrf })).status, 303);
  t.false(client.jar.has(SESSION_COOKIE));
  t.is(await overview(thief), 401, 'sign-out ended the session itself, not just the cookie');
  t.regex((await thief.request('/dashboard')).text, /data-sign-in-form/);
  t.is(Number(((await db.knex('collector_sessions').count({ n: '*' }).first()) as { n: unknown }).n), 0);
});

test('each sign-in gets its own random session id; only its hash is stored', async (t) => {
  const db = await sqlite(t);
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const one = (await signIn(c.url)).client.jar.get(SESSION_COOKIE)!;
  const two = (await signIn(c.url)).client.jar.get(SESSION_COOKIE)!;
  t.regex(one, /^[A-Za-z0-9_-]{43}$/);
  t.not(one, two);
  const stored = JSON.stringify(await db.knex('collector_sessions').select('*'));
  t.false(stored.includes(one) || stored.includes(two), 'no session id in the database');
  t.false(stored.includes(ADMIN_TOKEN), 'no admin token in the database');
});

test('rotating the admin token ends every session', async (t) => {
  const db = await sqlite(t);
  const before = await startCollector(t, db);
  checkCollectorAnswers(t, before.url);
  const sessions = [await signIn(before.url), await signIn(before.url, '127.0.0.2')];
  for (const s of sessions) t.is(await overview(s.client), 200);
  await before.close();

  const after = await startCollector(t, db, { adminToken: 'a-brand-new-admin-token-123456' });

  checkCollectorAnswers(t, after.url);
  for (const s of sessions) t.is(await overview(copyOf(s.client, after.url)), 401, 'a session of the old token is void');
  t.is(Number(((await db.knex('collector_sessions').count({ n: '*' }).first()) as { n: unknown }).n), 0, 'and deleted on sight');
});

test('a session ends after the idle timeout (each request restarts it)', async (t) => {
  const c = await startCollector(t, await sqlite(t), { sessionIdleMinutes: 30 });
  checkCollectorAnswers(t, c.url);
  t.is(DEFAULT_SESSION_IDLE_MINUTES, 120);
  const { client } = await signIn(c.url);
  c.clock.advance(29 * MINUTE);
  t.is(await overview(client), 200);
  c.clock.advance(29 * MINUTE);
  t.is(await overview(client), 200, 'the request above kept it alive');
  c.clock.advance(31 * MINUTE);
  t.is(await overview(client), 401, 'idle too long');
});

test('a session ends at its absolute expiry however busy it is', async (t) => {
  const c: TestCollector = await startCollector(t, await sqlite(t), { sessionHours: 1, sessionIdleMinutes: 120 });
  checkCollectorAnswers(t, c.url);
  t.is(DEFAULT_SESSION_ABSOLUTE_HOURS, 12);
  const { client } = await signIn(c.url);
  for (let i = 0; i < 5; i++) {
    c.clock.advance(11 * MINUTE);
    t.is(await overview(client), 200, `after ${(i + 1) * 11} minutes`);
  }
  c.clock.advance(6 * MINUTE);
  t.is(await overview(client), 401, 'an hour after sign-in');
});

test('the session cookie is HttpOnly, SameSite=Strict, and Secure over https', async (t) => {
  const c = await startCollector(t, await sqlite(t));
  checkCollectorAnswers(t, c.url);
  c.app.proxy = true; // this test's own app honours X-Forwarded-Proto
  for (const [proto, secure] of [['http', false], ['https', true]] as const) {
    const client = new AddressedClient(c.url, '127.0.0.1');
    const csrf = await client.csrf();
    const response = await client.form('/dashboard/sign-in', { token: ADMIN_TOKEN, _csrf: csrf }, { 'x-forwarded-proto': proto });
    t.is(response.status, 303);
    const cookie = (response.headers['set-cookie'] ?? []).find((v) => v.startsWith(`${SESSION_COOKIE}=`))!;
    t.regex(cookie, /httponly/i);
    t.regex(cookie, /samesite=strict/i);
    t.is(/;\s*secure/i.test(cookie), secure, proto);
  }
});

testEachDatabase('two collector processes on one database share a session: sign in on one, use it on the other, sign out on one, refused on the other', async (t, db) => {
  t.timeout(120_000);
  const env = { ...databaseEnv(db), COLLECTOR_ADMIN_TOKEN: ADMIN_TOKEN };
  const [a, b] = await Promise.all([spawnCollector(t, env), spawnCollector(t, env)]);
  const { client, csrf } = await signIn(a.url);
  const onB = copyOf(client, b.url);
  t.is(await overview(onB), 200, 'signed in on A, accepted by B');
  t.regex((await onB.request('/dashboard')).text, /id="chart-versions"/);
  t.is((await client.form('/dashboard/sign-out', { _csrf: csrf })).status, 303, 'signed out on A');
  t.is(await overview(onB), 401, 'refused by B');
  t.is(await overview(copyOf(onB, a.url)), 401, 'and by A');
});
