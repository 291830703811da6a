// POST /v1/submit signatures (SPEC §8): HMAC-SHA256 over "timestamp.rawBody" with the installation's
// secret; 401 for a bad or missing signature, an unknown installation or a clock skew over 5 minutes.
import { randomUUID } from 'node:crypto';
import { testEachDatabase } from './helpers/databases.js';
import { payloadFor, register, startCollector, submit } from './helpers/collector.js';
import { PATHS, signBody } from '../src/stats/submission-protocol.js';

async function submissionCount(db: { knex: import('knex').Knex }): Promise<number> {
  return Number(((await db.knex('collector_submissions').count({ n: '*' }).first()) as { n: unknown }).n);
}

testEachDatabase('a correctly signed submission is accepted: 202 with a submission id, stored', async (t, db) => {
  const c = await startCollector(t, db);
  const install = await register(c.url);
  const response = await submit(c.url, c.clock, install, payloadFor(install.installId));
  t.is(response.status, 202);
  const body = await response.json();
  t.regex(body.submission_id, /^[0-9a-f-]{36}$/);
  const row = await db.knex('collector_submissions').where('id', body.submission_id).first();
  t.is(row.install_id, install.installId);
  t.is(row.app_version, '1.4.0');
  t.is(row.period_start, '2026-03-09');
  t.deepEqual(JSON.parse(row.payload).event_counts, { 'timer.started': 12, 'report.generated': 3 });
});

testEachDatabase('the signature covers the raw bytes: pretty-printed JSON signed as sent is accepted', async (t, db) => {
  const c = await startCollector(t, db);
  const install = await register(c.url);
  const body = `${JSON.stringify(payloadFor(install.installId), null, 4)}\n\n`;
  const response = await submit(c.url, c.clock, install, payloadFor(install.installId), { body });
  t.is(response.status, 202);
});

testEachDatabase('bad or missing signatures are 401 and store nothing', async (t, db) => {
  const c = await startCollector(t, db);
  const install = await register(c.url);
  const payload = payloadFor(install.installId);
  const body = JSON.stringify(payload);
  const ts = String(c.clock.seconds());
  const send = (headers: Record<string, string>, sent = body) =>
    fetch(`${c.url}${PATHS.submit}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: sent });

  const cases: [string, Record<string, string>, string, string][] = [
    ['wrong secret', { 'x-install-id': install.installId, 'x-timestamp': ts, 'x-signature': signBody('f'.repeat(64), ts, body) }, body, 'invalid_signature'],
    ['tampered body', { 'x-install-id': install.installId, 'x-timestamp': ts, 'x-signature': signBody(install.secret, ts, body) }, body.replace('"1.4.0"', '"1.4.1"'), 'invalid_signature'],
    ['signature of another timestamp', { 'x-install-id': install.installId, 'x-timestamp': ts, 'x-signature': signBody(install.secret, Number(ts) - 1, body) }, body, 'invalid_signature'],
    ['no sha256= prefix', { 'x-install-id': install.installId, 'x-timestamp': ts, 'x-signature': signBody(install.secret, ts, body).slice(7) }, body, 'invalid_signature'],
    ['missing signature', { 'x-install-id': install.installId, 'x-timestamp': ts }, body, 'missing_signature'],
    ['missing install id', { 'x-timestamp': ts, 'x-signature': signBody(install.secret, ts, body) }, body, 'unauthorized'],
    ['malformed timestamp', { 'x-install-id': install.installId, 'x-timestamp': 'yesterday', 'x-signature': signBody(install.secret, 'yesterday', body) }, body, 'invalid_timestamp'],
  ];
  for (const [label, headers, sent, code] of cases) {
    const response = await send(headers, sent);
    t.is(response.status, 401, label);
    t.is((await response.json()).error.code, code, label);
  }
  t.is(await submissionCount(db), 0);
});

testEachDatabase('an unknown installation is 401 unknown_installation', async (t, db) => {
  const c = await startCollector(t, db);
  const stranger = { installId: randomUUID(), secret: 'a'.repeat(64) };
  const response = await submit(c.url, c.clock, stranger, payloadFor(stranger.installId));
  t.is(response.status, 401);
  t.is((await response.json()).error.code, 'unknown_installation');
  t.is(await submissionCount(db), 0);
});

testEachDatabase('a timestamp more than 5 minutes off either way is 401; within 5 minutes it is accepted', async (t, db) => {
  const c = await startCollector(t, db);
  for (const offset of [-301, 301, -3600, 86_400]) {
    const install = await register(c.url);
    const response = await submit(c.url, c.clock, install, payloadFor(install.installId), { seconds: c.clock.seconds() + offset });
    t.is(response.status, 401, `offset ${offset}`);
    t.is((await response.json()).error.code, 'timestamp_out_of_range');
  }
  t.is(await submissionCount(db), 0);
  for (const offset of [-299, 0, 299]) {
    const install = await register(c.url);
    const response = await submit(c.url, c.clock, install, payloadFor(install.installId), { seconds: c.clock.seconds() + offset });
    t.is(response.status, 202, `offset ${offset}`);
  }
  t.is(await submissionCount(db), 3);
});

testEachDatabase('a payload naming another installation than X-Install-Id is 422', async (t, db) => {
  const c = await startCollector(t, db);
  const install = await register(c.url);
  const response = await submit(c.url, c.clock, install, payloadFor(randomUUID()));
  t.is(response.status, 422);
  const json = await response.json();
  t.deepEqual(json.error.details, [{ path: 'install_id', message: 'does not match the X-Install-Id header' }]);
  t.is(await submissionCount(db), 0);
});
