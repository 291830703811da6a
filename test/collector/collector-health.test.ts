// /health (docs/collector.md): 200 while the database answers, 503 when it does not (never a hang).
import test from 'ava';
import knex from 'knex';
import { startCollector } from '../helpers/collector.js';
import { testEachDatabase } from '../helpers/databases.js';
import { collectorPlugin } from '../../src/collector/plugin.js';
import Koa from 'koa';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

testEachDatabase('200 with the database reachable; 503 once it is gone; the rest answers 503/5xx as JSON', async (t, db) => {
  // The host's own knex instance, so the test can take it away.
  const hostKnex = knex(db.config());
  const c = await startCollector(t, db, { db: hostKnex });
  const ok = await fetch(`${c.url}/health`);
  t.is(ok.status, 200);
  t.deepEqual(await ok.json(), { status: 'ok', database: 'reachable' });
  t.is(ok.headers.get('cache-control'), 'no-store');

  await hostKnex.destroy();
  const started = Date.now();
  const down = await fetch(`${c.url}/health`);
  t.is(down.status, 503);
  t.deepEqual(await down.json(), { status: 'unavailable', database: 'unreachable' });
  t.true(Date.now() - started < 3000);
  const stats = await c.admin('/stats/overview');
  t.true(stats.status >= 500);
  const body = await stats.json();
  t.is(typeof body.error.code, 'string');
  t.false(JSON.stringify(body).includes('\n    at '));
});

test('a database that never answers: /health is 503 within its timeout, other routes 503 collector_unavailable', async (t) => {
  const handle = collectorPlugin({
    db: { client: 'pg', connection: { host: '127.0.0.1', port: 1, user: 'nobody', database: 'none' }, acquireConnectionTimeout: 1500, pool: { min: 0, max: 1 } },
    adminToken: 'x'.repeat(32),
    jobs: false,
    env: {},
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  });
  const app = new Koa();
  app.use(handle);
  const server = http.createServer(app.callback()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    server.closeAllConnections();
    server.close();
    await handle.stop();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const health = await fetch(`${url}/health`);
  t.is(health.status, 503);
  const stats = await fetch(`${url}/stats/overview`, { headers: { authorization: `Bearer ${'x'.repeat(32)}` } });
  t.is(stats.status, 503);
  t.is((await stats.json()).error.code, 'collector_unavailable');
  t.is(stats.headers.get('retry-after'), '30');
});

// Regression: during the collector fuzz /health answered 503 "unreachable" while the database was
// only busy, so a probe on /health would page an operator for load. Busy is not gone.
testEachDatabase('a database that is only busy (every connection held) is 200 "busy", not 503', async (t, db) => {
  const hostKnex = knex({ ...db.config(), pool: { min: 0, max: 1 } });
  t.teardown(() => hostKnex.destroy());
  const c = await startCollector(t, db, { db: hostKnex });
  t.is((await fetch(`${c.url}/health`)).status, 200, 'it has answered before');

  let release!: () => void;
  const held = new Promise<void>((done) => (release = done));
  const holding = hostKnex.transaction(async (trx) => {
    await trx.raw('select 1');
    await held; // the only connection stays taken until /health has answered
  });
  const busy = await fetch(`${c.url}/health`);
  release();
  await holding;
  t.is(busy.status, 200);
  t.deepEqual(await busy.json(), { status: 'ok', database: 'busy' });
  t.deepEqual(await (await fetch(`${c.url}/health`)).json(), { status: 'ok', database: 'reachable' });
});
