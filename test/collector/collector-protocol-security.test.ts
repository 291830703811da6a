// The signed protocol against an attacker who can read one request (a logging TLS proxy, an http://
// collector URL): signature v2 binds method, path, timestamp and body; a DELETE takes no body; an
// erased id cannot be registered again for ERASED_ID_BLOCK_DAYS; the Idempotency-Key is required,
// so an exact signed request sent again never stores anything new. See docs/collector.md,
// "Security model".
import test from 'ava';
import { createHmac } from 'node:crypto';
import { PATHS, SIGNED, signedHeaders, HEADERS } from '../../src/core/protocol.js';
import { ERASED_ID_BLOCK_DAYS } from '../../src/collector/storage/installations.js';
import { payloadFor, register, registerAndSubmit, startCollector, submit } from '../helpers/collector.js';
import { testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { startSubmittingHost, countRows } from '../helpers/submitting-host.js';
import { until } from '../helpers/fault-watch.js';

const DAY_MS = 86_400_000;
const count = async (db: TestDatabase, table: string, where: Record<string, unknown> = {}) =>
  Number(((await db.knex(table).where(where).count({ n: '*' }).first()) as { n: unknown }).n);

test('a captured submission cannot be replayed as an erasure', async (t) => {
  // The real plugin client submits to the real collector through a proxy that records every request.
  const { db, collector, proxy, host } = await startSubmittingHost(t, { submission: { retryBaseMs: 20, maxAttempts: 1, timeoutMs: 5_000 }, stopTimeoutMs: 2_000, marks: 2 });
  await host.telemetry.consent.set({ usageStats: true });
  await until(async () => (await countRows(db.knex, 'collector_submissions')) === 1, 10_000, 'the real client submitted');
  // The collector stores the row before its answer has passed back through the proxy: wait for that too.
  const capturedSubmit = () => proxy.requests.find((r) => r.method === 'POST' && r.path.endsWith(PATHS.submit) && r.targetStatus === 202);
  await until(() => capturedSubmit() !== undefined, 10_000, 'the proxy saw the collector accept it');
  const captured = capturedSubmit();
  t.truthy(captured, 'a signed POST /v1/submit went through the proxy');
  const installId = String(captured!.headers[HEADERS.installId]);
  t.regex(String(captured!.headers[HEADERS.signature]), /^v2=[0-9a-f]{64}$/);
  const stolen = {
    [HEADERS.installId]: installId,
    [HEADERS.timestamp]: String(captured!.headers[HEADERS.timestamp]),
    [HEADERS.signature]: String(captured!.headers[HEADERS.signature]),
  };

  // Its headers resent as DELETE (within the timestamp window): the signature was for POST /v1/submit.
  const replayed = await fetch(`${collector.url}${PATHS.installation(installId)}`, { method: 'DELETE', headers: stolen });
  t.is(replayed.status, 401);
  t.is((await replayed.json()).error.code, 'invalid_signature');
  // With the captured body too: a DELETE takes no body at all.
  const withBody = await fetch(`${collector.url}${PATHS.installation(installId)}`, { method: 'DELETE', headers: { ...stolen, 'content-type': 'application/json' }, body: new Uint8Array(captured!.body) });
  t.is(withBody.status, 400);
  t.is((await withBody.json()).error.code, 'body_not_allowed');

  // Nothing was erased, and the id cannot be taken over by registering it again.
  t.is(await countRows(db.knex, 'collector_installations', { install_id: installId }), 1);
  t.is(await countRows(db.knex, 'collector_submissions', { install_id: installId }), 1);
  t.is(await countRows(db.knex, 'collector_erased_installations'), 0);
  const takeover = await fetch(`${collector.url}${PATHS.register}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ install_id: installId }) });
  t.is(takeover.status, 409);
  t.is((await collector.adminJson('/stats/overview')).total, 1);
  // The real client's own erasure still works with its secret.
  const erased = await host.telemetry.stats.deleteAll();
  t.like(erased.remote, { requested: true, deleted: true, status: 200 });
  t.is(await countRows(db.knex, 'collector_installations', { install_id: installId }), 0);
});

testEachDatabase('a signature is bound to its method and path: a v2 signature for one request authorises no other, the v1 scheme is refused', async (t, db) => {
  const c = await startCollector(t, db);
  const a = await registerAndSubmit(c.url, c.clock);
  const ts = c.clock.seconds();
  const erase = (headers: Record<string, string>) => fetch(`${c.url}${PATHS.installation(a.installId)}`, { method: 'DELETE', headers });
  // Signed for POST /v1/submit over an empty body: method and path differ from the DELETE.
  const asSubmit = await erase(signedHeaders(SIGNED.submit, a.installId, a.secret, '', ts));
  t.is(asSubmit.status, 401);
  t.is((await asSubmit.json()).error.code, 'invalid_signature');
  // Signed for DELETE of another path.
  t.is((await erase(signedHeaders({ method: 'DELETE', path: '/v1/installations/other' }, a.installId, a.secret, '', ts))).status, 401);
  // The retired scheme (hmac over "timestamp.body", sha256= prefix).
  const v1 = `sha256=${createHmac('sha256', a.secret).update(`${ts}.`).digest('hex')}`;
  const old = await erase({ [HEADERS.installId]: a.installId, [HEADERS.timestamp]: String(ts), [HEADERS.signature]: v1 });
  t.is(old.status, 401);
  t.is((await old.json()).error.code, 'unsupported_signature_version');
  t.is(await count(db, 'collector_installations', { install_id: a.installId }), 1);
  // Control: the right signature erases.
  t.is((await erase(signedHeaders(SIGNED.erase(a.installId), a.installId, a.secret, '', ts))).status, 200);
});

testEachDatabase('an erased installation id cannot be re-registered', async (t, db) => {
  const c = await startCollector(t, db);
  const byItself = await registerAndSubmit(c.url, c.clock);
  const byAdmin = await registerAndSubmit(c.url, c.clock);
  const signed = await fetch(`${c.url}${PATHS.installation(byItself.installId)}`, {
    method: 'DELETE',
    headers: signedHeaders(SIGNED.erase(byItself.installId), byItself.installId, byItself.secret, '', c.clock.seconds()),
  });
  t.is(signed.status, 200);
  t.is((await c.admin(PATHS.installation(byAdmin.installId), { method: 'DELETE' })).status, 200);

  // Only a hash of the id is kept.
  const kept = (await db.knex('collector_erased_installations').select('*')) as Record<string, unknown>[];
  t.is(kept.length, 2);
  t.false(JSON.stringify(kept).includes(byItself.installId));
  t.false(JSON.stringify(kept).includes(byAdmin.installId));

  for (const id of [byItself.installId, byAdmin.installId, byItself.installId.toUpperCase()]) {
    const again = await fetch(`${c.url}${PATHS.register}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ install_id: id }) });
    t.is(again.status, 409, id);
    t.is((await again.json()).error.code, 'installation_erased');
  }
  t.is(await count(db, 'collector_installations'), 0);

  // One second before the block ends it still holds (and maintenance keeps the hash) ...
  c.clock.advance(ERASED_ID_BLOCK_DAYS * DAY_MS - 1_000);
  t.is((await c.handle.maintenance()).erasedIds, 0);
  await t.throwsAsync(register(c.url, byItself.installId), { message: /409/ });
  // ... after it, maintenance forgets the hash and the id may register as a new installation.
  c.clock.advance(1_000);
  t.is((await c.handle.maintenance()).erasedIds, 2);
  t.is(await count(db, 'collector_erased_installations'), 0);
  const fresh = await register(c.url, byItself.installId);
  t.not(fresh.secret, byItself.secret);
});

testEachDatabase('timestamps: up to 300 s in the past and 60 s in the future are accepted, one second more is refused', async (t, db) => {
  const c = await startCollector(t, db);
  for (const offset of [-301, 61, 299, -3600]) {
    const install = await register(c.url);
    const response = await submit(c.url, c.clock, install, payloadFor(install.installId), { seconds: c.clock.seconds() + offset });
    t.is(response.status, 401, `offset ${offset}`);
    t.is((await response.json()).error.code, 'timestamp_out_of_range', `offset ${offset}`);
  }
  t.is(await count(db, 'collector_submissions'), 0);
  for (const offset of [-300, 0, 60]) {
    const install = await register(c.url);
    const response = await submit(c.url, c.clock, install, payloadFor(install.installId), { seconds: c.clock.seconds() + offset });
    t.is(response.status, 202, `offset ${offset}`);
  }
  // The same bounds for a signed erasure.
  const install = await registerAndSubmit(c.url, c.clock);
  const erase = (offset: number) =>
    fetch(`${c.url}${PATHS.installation(install.installId)}`, {
      method: 'DELETE',
      headers: signedHeaders(SIGNED.erase(install.installId), install.installId, install.secret, '', c.clock.seconds() + offset),
    });
  t.is((await erase(61)).status, 401);
  t.is((await erase(-301)).status, 401);
  t.is((await erase(60)).status, 200);
});

testEachDatabase('a submission without an Idempotency-Key is 400 idempotency_key_required and stores nothing', async (t, db) => {
  const c = await startCollector(t, db);
  const install = await register(c.url);
  for (const key of [null, '']) {
    const response = await submit(c.url, c.clock, install, payloadFor(install.installId), { idempotencyKey: key });
    t.is(response.status, 400);
    t.is((await response.json()).error.code, 'idempotency_key_required');
  }
  t.is(await count(db, 'collector_submissions'), 0);
});

testEachDatabase('the exact signed request replayed after the rate-limit window gets the first answer and stores nothing new', async (t, db) => {
  const c = await startCollector(t, db, { rateLimitWindowSeconds: 60 });
  const install = await register(c.url);
  const body = JSON.stringify(payloadFor(install.installId));
  const headers = { 'content-type': 'application/json', ...signedHeaders(SIGNED.submit, install.installId, install.secret, body, c.clock.seconds(), '2026-03-09') };
  const send = () => fetch(`${c.url}${PATHS.submit}`, { method: 'POST', headers, body });
  const first = await send();
  t.is(first.status, 202);
  const answer = await first.json();

  c.clock.advance(61_000); // the rate-limit window is over, the timestamp is still within 300 s
  const replay = await send();
  t.is(replay.status, 202);
  t.is(replay.headers.get('idempotent-replayed'), 'true');
  t.deepEqual(await replay.json(), answer);
  t.is(await count(db, 'collector_submissions'), 1);
  const rollup = await db.knex('collector_daily_rollups').where('dimension', 'all').sum({ n: 'submissions' }).first();
  t.is(Number((rollup as { n: unknown }).n), 1);
  const row = await db.knex('collector_installations').where('install_id', install.installId).first();
  t.is(Number(row.submissions_count), 1);
});
