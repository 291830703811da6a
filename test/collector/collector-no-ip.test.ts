// Client IP addresses are never stored or logged (docs/collector.md). Requests come from 127.0.0.2 (the
// client socket is bound to it) and carry X-Forwarded-For / X-Real-IP; afterwards neither the
// database nor the collector's log output (debug level, request log on) contains any of them.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { startCollectorServer, jsonLogger } from '../../src/collector/server.js';
import { testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { databaseEnv, ADMIN_TOKEN, payloadFor } from '../helpers/collector.js';
import { PATHS, SIGNED, signedHeaders } from '../../src/core/protocol.js';

const CLIENT = '127.0.0.2';
const FORWARDED = ['203.0.113.77', '2001:db8::77', '198.51.100.23'];

function request(url: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string; cookies: string[] }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}${path}`,
      {
        method,
        localAddress: CLIENT,
        headers: { 'x-forwarded-for': `${FORWARDED[0]}, ${FORWARDED[1]}`, 'x-real-ip': FORWARDED[2]!, forwarded: `for=${FORWARDED[2]}`, ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, cookies: (res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]!) }));
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function databaseText(db: TestDatabase): Promise<string> {
  if (db.kind === 'sqlite') {
    const dir = dirname(db.location);
    const files = (await readdir(dir)).filter((f) => f.startsWith('test.sqlite3'));
    const contents = await Promise.all(files.map((f) => readFile(join(dir, f))));
    return contents.map((b) => b.toString('latin1')).join('\n');
  }
  const tables = (await db.knex('information_schema.tables').where('table_schema', db.location).pluck('table_name')) as string[];
  const dumps = await Promise.all(tables.map(async (table) => JSON.stringify(await db.knex(table).select('*'))));
  return dumps.join('\n');
}

async function exercise(t: ExecutionContext, db: TestDatabase, extraEnv: Record<string, string> = {}) {
  const lines: string[] = [];
  const server = await startCollectorServer({
    env: { ...databaseEnv(db), PORT: '0', HOST: '127.0.0.1', COLLECTOR_ADMIN_TOKEN: ADMIN_TOKEN, COLLECTOR_JOBS: '0', COLLECTOR_RATE_LIMIT_WINDOW_SECONDS: '1', COLLECTOR_REGISTRATIONS_PER_CLIENT_PER_HOUR: '3', ...extraEnv },
    logger: jsonLogger('debug', (line) => lines.push(line)),
  });
  t.teardown(() => server.close());
  const url = server.url;

  const installId = randomUUID();
  const registered = await request(url, 'POST', PATHS.register, { 'content-type': 'application/json' }, JSON.stringify({ install_id: installId }));
  t.is(registered.status, 201);
  const { secret } = JSON.parse(registered.body);
  const body = JSON.stringify(payloadFor(installId));
  const now = () => Math.floor(Date.now() / 1000);
  t.is((await request(url, 'POST', PATHS.submit, { 'content-type': 'application/json', ...signedHeaders(SIGNED.submit, installId, secret, body, now(), '2026-03-09') }, body)).status, 202);
  t.is((await request(url, 'POST', PATHS.submit, { 'content-type': 'application/json', ...signedHeaders(SIGNED.submit, installId, 'f'.repeat(64), body, now(), '2026-03-09') }, body)).status, 401);
  t.is((await request(url, 'POST', PATHS.submit, { 'content-type': 'application/json', ...signedHeaders(SIGNED.submit, installId, secret, '{}', now(), '2026-03-16') }, '{}')).status, 422);
  t.is((await request(url, 'GET', '/stats/overview', { authorization: `Bearer ${ADMIN_TOKEN}` })).status, 200);
  t.is((await request(url, 'GET', '/stats/export', { authorization: 'Bearer wrong-token-wrong-token' })).status, 401);
  t.is((await request(url, 'GET', '/dashboard', {})).status, 200);
  t.is((await request(url, 'GET', '/nowhere', {})).status, 404);
  const other = randomUUID();
  const second = JSON.parse((await request(url, 'POST', PATHS.register, { 'content-type': 'application/json' }, JSON.stringify({ install_id: other }))).body);
  t.is((await request(url, 'DELETE', PATHS.installation(other), signedHeaders(SIGNED.erase(other), other, second.secret, '', now()))).status, 200);
  // The per-client registration limit (3 here) reads the address, keeps it only in memory…
  t.is((await request(url, 'POST', PATHS.register, { 'content-type': 'application/json' }, JSON.stringify({ install_id: randomUUID() }))).status, 201);
  const limited = await request(url, 'POST', PATHS.register, { 'content-type': 'application/json' }, JSON.stringify({ install_id: randomUUID() }));
  t.is(limited.status, 429);
  // …and so do failed sign-ins (throttled per client), and a session.
  const signInPage = await request(url, 'GET', '/dashboard', {});
  const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(signInPage.body)![1]!;
  const cookie = signInPage.cookies.join('; ');
  const signIn = (token: string) =>
    request(url, 'POST', '/dashboard/sign-in', { cookie, 'content-type': 'application/x-www-form-urlencoded' }, new URLSearchParams({ token, _csrf: csrf }).toString());
  for (let i = 0; i < 10; i++) t.is((await signIn(`wrong-token-${i}-0123456789`)).status, 401);
  t.is((await signIn('wrong-token-x-0123456789')).status, 429);
  await server.close();
  return lines.join('\n');
}

testEachDatabase('requests from 127.0.0.2 with forwarding headers leave no address in the database or the logs', async (t, db) => {
  await checkNoAddress(t, db, {});
});

testEachDatabase('with COLLECTOR_TRUST_PROXY the forwarded address is used for rate limits, and still never stored or logged', async (t, db) => {
  await checkNoAddress(t, db, { COLLECTOR_TRUST_PROXY: '1' });
});

async function checkNoAddress(t: ExecutionContext, db: TestDatabase, extraEnv: Record<string, string>) {
  const logs = await exercise(t, db, extraEnv);
  t.true(logs.includes('"msg":"request"'), 'the request log was on');
  t.true(logs.includes('/v1/submit'));
  const stored = await databaseText(db);
  t.true(stored.length > 0);
  for (const address of [CLIENT, ...FORWARDED]) {
    t.false(stored.includes(address), `database contains ${address}`);
    t.false(logs.includes(address), `logs contain ${address}`);
  }
}
