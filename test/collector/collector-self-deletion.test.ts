// DELETE /v1/installations/:id: an installation erases its own data, signed (v2: method, path,
// timestamp, empty body) — right to erasure — or an admin erases it with the admin token.
import { randomUUID } from 'node:crypto';
import { payloadFor, register, registerAndSubmit, startCollector, submit, type TestCollector, type Installation, ADMIN_TOKEN } from '../helpers/collector.js';
import { testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { PATHS, SIGNED, signedHeaders } from '../../src/core/protocol.js';
import { checkCollectorAnswers } from '../helpers/openapi.js';

function signedDelete(c: TestCollector, signer: Installation, target = signer.installId, seconds = c.clock.seconds()) {
  return fetch(`${c.url}${PATHS.installation(target)}`, { method: 'DELETE', headers: signedHeaders(SIGNED.erase(target), signer.installId, signer.secret, '', seconds) });
}

const rows = async (db: TestDatabase, table: string, installId: string) => (await db.knex(table).where('install_id', installId)).length;

testEachDatabase('a signed DELETE erases the installation and all its submissions', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const install = await registerAndSubmit(c.url, c.clock);
  const other = await registerAndSubmit(c.url, c.clock);
  t.is((await c.adminJson('/stats/overview')).total, 2);

  const response = await signedDelete(c, install);
  t.is(response.status, 200);
  t.deepEqual(await response.json(), { install_id: install.installId, deleted: true, submissions_deleted: 1 });
  t.is(await rows(db, 'collector_installations', install.installId), 0);
  t.is(await rows(db, 'collector_submissions', install.installId), 0);
  t.is(await rows(db, 'collector_installations', other.installId), 1, 'others are untouched');
  t.is(await rows(db, 'collector_submissions', other.installId), 1);

  // Gone: its signature no longer verifies and totals drop.
  const after = await submit(c.url, c.clock, install, payloadFor(install.installId, { period: { start: '2026-03-16', end: '2026-03-23' } }));
  t.is(after.status, 401);
  t.is((await after.json()).error.code, 'unknown_installation');
  t.is((await c.adminJson('/stats/overview')).total, 1);
  t.is((await signedDelete(c, install)).status, 401);
});

testEachDatabase('a bad signature, a stale timestamp, a body or another installation\'s id erase nothing', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const a = await registerAndSubmit(c.url, c.clock);
  const b = await registerAndSubmit(c.url, c.clock);
  t.is((await signedDelete(c, { installId: a.installId, secret: b.secret })).status, 401);
  t.is((await signedDelete(c, a, a.installId, c.clock.seconds() - 600)).status, 401);
  const crossed = await signedDelete(c, a, b.installId);
  t.is(crossed.status, 403);
  t.is((await crossed.json()).error.code, 'forbidden');
  const withBody = await fetch(`${c.url}${PATHS.installation(a.installId)}`, {
    method: 'DELETE',
    headers: signedHeaders(SIGNED.erase(a.installId), a.installId, a.secret, 'something', c.clock.seconds()),
    body: 'something',
  });
  t.is(withBody.status, 400, 'a DELETE carries no body, even one signed correctly');
  t.is((await withBody.json()).error.code, 'body_not_allowed');
  t.is(await rows(db, 'collector_installations', a.installId), 1);
  t.is(await rows(db, 'collector_installations', b.installId), 1);
  t.is(await rows(db, 'collector_submissions', a.installId), 1);
});

testEachDatabase('the admin token can erase any installation; without it the answer is 401', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const install = await registerAndSubmit(c.url, c.clock);
  const anonymous = await fetch(`${c.url}${PATHS.installation(install.installId)}`, { method: 'DELETE' });
  t.is(anonymous.status, 401);
  const wrong = await fetch(`${c.url}${PATHS.installation(install.installId)}`, { method: 'DELETE', headers: { authorization: 'Bearer nope-nope-nope-nope' } });
  t.is(wrong.status, 401);
  t.is(await rows(db, 'collector_installations', install.installId), 1);

  const response = await fetch(`${c.url}${PATHS.installation(install.installId)}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  t.is(response.status, 200);
  t.is((await response.json()).submissions_deleted, 1);
  t.is(await rows(db, 'collector_submissions', install.installId), 0);
  const unknown = await fetch(`${c.url}${PATHS.installation(randomUUID())}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  t.is(unknown.status, 404);
});
