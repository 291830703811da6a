// POST /v1/register (docs/collector.md): trust on first use, 409 on a second registration, the optional
// app-level registration key, and exactly one winner when registrations race.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { testEachDatabase } from '../helpers/databases.js';
import { startCollector } from '../helpers/collector.js';
import { checkCollectorAnswers } from '../helpers/openapi.js';

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/register`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

testEachDatabase('register answers 201 with the install id and a 32-byte hex secret, stored once', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const id = randomUUID();
  const response = await post(c.url, JSON.stringify({ install_id: id }));
  t.is(response.status, 201);
  t.is(response.headers.get('cache-control'), 'no-store');
  const body = await response.json();
  t.is(body.install_id, id);
  t.regex(body.secret, /^[0-9a-f]{64}$/);
  const rows = await db.knex('collector_installations').where('install_id', id);
  t.is(rows.length, 1);
  t.is(rows[0].secret, body.secret);
  t.is(Number(rows[0].submissions_count), 0);
});

testEachDatabase('a second registration of the same id is 409 and keeps the first secret', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const id = randomUUID();
  const first = await (await post(c.url, JSON.stringify({ install_id: id }))).json();
  for (const variant of [id, id.toUpperCase()]) {
    const again = await post(c.url, JSON.stringify({ install_id: variant }));
    t.is(again.status, 409);
    t.deepEqual(Object.keys(await again.json()), ['error']);
  }
  const again = await post(c.url, JSON.stringify({ install_id: id }));
  t.is((await again.json()).error.code, 'already_registered');
  const rows = await db.knex('collector_installations').where('install_id', id);
  t.is(rows.length, 1);
  t.is(rows[0].secret, first.secret);
});

testEachDatabase('racing registrations of one id: exactly one 201, the rest 409', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const id = randomUUID();
  const answers = await Promise.all(Array.from({ length: 12 }, () => post(c.url, JSON.stringify({ install_id: id }))));
  const statuses = answers.map((r) => r.status).sort();
  t.deepEqual(statuses, [201, ...Array(11).fill(409)]);
  t.is(Number(((await db.knex('collector_installations').count({ n: '*' }).first()) as { n: unknown }).n), 1);
});

testEachDatabase('invalid registrations: 422 with field errors, 400 for broken JSON, nothing stored', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const cases: [string, number, string | null][] = [
    [JSON.stringify({ install_id: 'not-a-uuid' }), 422, 'install_id'],
    [JSON.stringify({}), 422, 'install_id'],
    [JSON.stringify({ install_id: randomUUID(), extra: 1 }), 422, '(body)'],
    ['{"install_id": ', 400, null],
    ['', 400, null],
  ];
  for (const [body, status, path] of cases) {
    const response = await post(c.url, body);
    t.is(response.status, status, body);
    const json = await response.json();
    t.is(typeof json.error.message, 'string');
    t.false(JSON.stringify(json).includes('at '), 'no stack trace');
    if (path) t.true(json.error.details.some((d: { path: string }) => d.path === path), JSON.stringify(json.error.details));
  }
  t.is((await db.knex('collector_installations').select('install_id')).length, 0);
});

testEachDatabase('with a registration key, register needs it in X-Registration-Key (401 otherwise)', async (t, db) => {
  const c = await startCollector(t, db, { registrationKey: 'app-level-key-123' });
  checkCollectorAnswers(t, c.url);
  const body = () => JSON.stringify({ install_id: randomUUID() });
  const missing = await post(c.url, body());
  t.is(missing.status, 401);
  t.is((await missing.json()).error.code, 'registration_key_required');
  t.is((await post(c.url, body(), { 'x-registration-key': 'wrong-key-xxxxxx' })).status, 401);
  t.is((await post(c.url, body(), { 'x-registration-key': 'app-level-key-123' })).status, 201);
  t.is((await db.knex('collector_installations').select('install_id')).length, 1);
});

test('without a registration key, registration is open (the default)', async (t) => {
  const { createTestDatabase } = await import('../helpers/databases.js');
  const db = await createTestDatabase('sqlite');
  t.teardown(() => db.cleanup());
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  t.is(c.handle.options.registrationKey, null);
  t.is((await post(c.url, JSON.stringify({ install_id: randomUUID() }))).status, 201);
  t.is((await fetch(`${c.url}/v1/register`)).status, 405, 'GET is not allowed');
});
