// Idempotency-Key (required on submit): a request repeating an accepted key — a retry after a lost answer —
// gets the first answer again and stores nothing new; the replay check comes before the rate limit.
import { payloadFor, register, startCollector, submit } from '../helpers/collector.js';
import { testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { idempotencyKey } from '../../src/core/protocol.js';
import { checkCollectorAnswers } from '../helpers/openapi.js';

const count = async (db: TestDatabase, table: string) => Number(((await db.knex(table).count({ n: '*' }).first()) as { n: unknown }).n);
const rollupSubmissions = async (db: TestDatabase) =>
  Number(((await db.knex('collector_daily_rollups').where('dimension', 'all').sum({ n: 'submissions' }).first()) as { n: unknown }).n);

testEachDatabase('a repeated key gets the first 202 again (replay header), and nothing new is stored', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const install = await register(c.url);
  const payload = payloadFor(install.installId);
  const first = await submit(c.url, c.clock, install, payload);
  t.is(first.status, 202);
  const { submission_id } = await first.json();

  c.clock.advance(30_000); // a retry half a minute later: new timestamp, new signature, same key
  const retry = await submit(c.url, c.clock, install, payload);
  t.is(retry.status, 202, 'the replay is answered before the rate limit');
  t.is(retry.headers.get('idempotent-replayed'), 'true');
  t.deepEqual(await retry.json(), { submission_id });

  // Even a changed body under the same key is the same submission.
  const changed = await submit(c.url, c.clock, install, { ...payload, uptime_hours: 150 });
  t.deepEqual(await changed.json(), { submission_id });

  t.is(await count(db, 'collector_submissions'), 1);
  t.is(await rollupSubmissions(db), 1);
  const installation = await db.knex('collector_installations').where('install_id', install.installId).first();
  t.is(Number(installation.submissions_count), 1);
  t.is(Number(installation.last_error_count), 0);
});

testEachDatabase('a different key within the hour is rate limited, the accepted key still replays', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const install = await register(c.url);
  const payload = payloadFor(install.installId);
  const first = await (await submit(c.url, c.clock, install, payload)).json();
  const other = await submit(c.url, c.clock, install, { ...payload, period: { start: '2026-03-16', end: '2026-03-23' } });
  t.is(other.status, 429);
  t.deepEqual(await (await submit(c.url, c.clock, install, payload)).json(), first);
  t.is(await count(db, 'collector_submissions'), 1);
});

testEachDatabase('concurrent identical requests: one submission stored, every answer names it', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const install = await register(c.url);
  const payload = payloadFor(install.installId);
  const answers = await Promise.all(Array.from({ length: 10 }, () => submit(c.url, c.clock, install, payload)));
  t.deepEqual(
    answers.map((r) => r.status),
    Array(10).fill(202),
  );
  const ids = new Set(await Promise.all(answers.map(async (r) => (await r.json()).submission_id)));
  t.is(ids.size, 1);
  t.is(await count(db, 'collector_submissions'), 1);
  t.is(await rollupSubmissions(db), 1);
});

testEachDatabase('keys are per installation: the same key value from another installation is its own submission', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const a = await register(c.url);
  const b = await register(c.url);
  const key = idempotencyKey(a.installId, '2026-03-09');
  const first = await (await submit(c.url, c.clock, a, payloadFor(a.installId), { idempotencyKey: key })).json();
  const second = await submit(c.url, c.clock, b, payloadFor(b.installId), { idempotencyKey: key });
  t.is(second.status, 202);
  t.not((await second.json()).submission_id, first.submission_id);
  t.is(await count(db, 'collector_submissions'), 2);
});

testEachDatabase('without a key the submission is refused (400 idempotency_key_required); a malformed key is 400', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const install = await register(c.url);
  const payload = payloadFor(install.installId);
  const missing = await submit(c.url, c.clock, install, payload, { idempotencyKey: null });
  t.is(missing.status, 400);
  t.is((await missing.json()).error.code, 'idempotency_key_required');
  const bad = await submit(c.url, c.clock, install, payload, { idempotencyKey: 'bad key with spaces' });
  t.is(bad.status, 400);
  t.is((await bad.json()).error.code, 'invalid_idempotency_key');
  t.is(await count(db, 'collector_submissions'), 0);
  t.is((await submit(c.url, c.clock, install, payload)).status, 202);
  t.is(await count(db, 'collector_submissions'), 1);
});
