// POST /v1/submit signatures (v2, docs/collector.md): HMAC-SHA256 with the installation's secret over
// "v2", the method, the path, the timestamp and the SHA-256 of the raw body; 401 for a bad or missing
// signature, an unknown installation or a timestamp outside the window.
import { randomUUID } from 'node:crypto';
import { testEachDatabase } from '../helpers/databases.js';
import { payloadFor, register, startCollector, submit } from '../helpers/collector.js';
import { PATHS, SIGNED, signRequest } from '../../src/core/protocol.js';
import { checkCollectorAnswers } from '../helpers/openapi.js';

const signBody = (secret: string, ts: string | number, body: string) => signRequest(secret, SIGNED.submit, ts, body);

async function submissionCount(db: { knex: import('knex').Knex }): Promise<number> {
  return Number(((await db.knex('collector_submissions').count({ n: '*' }).first()) as { n: unknown }).n);
}

testEachDatabase('a correctly signed submission is accepted: 202 with a submission id, stored', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
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
  checkCollectorAnswers(t, c.url);
  const install = await register(c.url);
  const body = `${JSON.stringify(payloadFor(install.installId), null, 4)}\n\n`;
  const response = await submit(c.url, c.clock, install, payloadFor(install.installId), { body });
  t.is(response.status, 202);
});

testEachDatabase('bad or missing signatures are 401 and store nothing', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const install = await register(c.url);
  const payload = payloadFor(install.installId);
  const body = JSON.stringify(payload);
  const ts = String(c.clock.seconds());
  const send = (headers: Record<string, string>, sent = body) =>
    fetch(`${c.url}${PATHS.submit}`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'key-0123456789', ...headers }, body: sent });

  const cases: [string, Record<string, string>, string, string][] = [
    ['wrong secret', { 'x-install-id': install.installId, 'x-timestamp': ts, 'x-signature': signBody('f'.repeat(64), ts, body) }, body, 'invalid_signature'],
    ['tampered body', { 'x-install-id': install.installId, 'x-timestamp': ts, 'x-signature': signBody(install.secret, ts, body) }, body.replace('"1.4.0"', '"1.4.1"'), 'invalid_signature'],
    ['signature of another timestamp', { 'x-install-id': install.installId, 'x-timestamp': ts, 'x-signature': signBody(install.secret, Number(ts) - 1, body) }, body, 'invalid_signature'],
    ['no v2= prefix', { 'x-install-id': install.installId, 'x-timestamp': ts, 'x-signature': signBody(install.secret, ts, body).slice(3) }, body, 'unsupported_signature_version'],
    ['signed for DELETE', { 'x-install-id': install.installId, 'x-timestamp': ts, 'x-signature': signRequest(install.secret, SIGNED.erase(install.installId), ts, body) }, body, 'invalid_signature'],
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
  checkCollectorAnswers(t, c.url);
  const stranger = { installId: randomUUID(), secret: 'a'.repeat(64) };
  const response = await submit(c.url, c.clock, stranger, payloadFor(stranger.installId));
  t.is(response.status, 401);
  t.is((await response.json()).error.code, 'unknown_installation');
  t.is(await submissionCount(db), 0);
});

testEachDatabase('a timestamp far off either way is 401 (the exact bounds: collector-protocol-security.test.ts)', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  for (const offset of [-301, 301, -3600, 86_400]) {
    const install = await register(c.url);
    const response = await submit(c.url, c.clock, install, payloadFor(install.installId), { seconds: c.clock.seconds() + offset });
    t.is(response.status, 401, `offset ${offset}`);
    t.is((await response.json()).error.code, 'timestamp_out_of_range');
  }
  t.is(await submissionCount(db), 0);
});

testEachDatabase('a payload naming another installation than X-Install-Id is 422', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const install = await register(c.url);
  const response = await submit(c.url, c.clock, install, payloadFor(randomUUID()));
  t.is(response.status, 422);
  const json = await response.json();
  t.deepEqual(json.error.details, [{ path: 'install_id', message: 'does not match the X-Install-Id header' }]);
  t.is(await submissionCount(db), 0);
});
