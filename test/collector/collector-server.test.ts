// The standalone collector: startCollectorServer({ env }) and `koa-consent-telemetry collector`
// (a real process: env config, SQLite by default, PostgreSQL by DATABASE_URL; clean exit on
// SIGTERM/SIGINT), and the dashboard's static assets served from the package.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { startCollectorServer, databaseFromEnv, jsonLogger, collectorOptionsFromEnv } from '../../src/collector/server.js';
import { writeFile } from 'node:fs/promises';
import { chartJsUmdPath } from '../../src/collector/assets/index.js';
import { runCli } from '../../src/cli.js';
import { testEachDatabase } from '../helpers/databases.js';
import { tempDirFor } from '../helpers/tmp.js';
import { ADMIN_TOKEN, databaseEnv, registerAndSubmit, spawnCollector, TestClock } from '../helpers/collector.js';

const quiet = jsonLogger('error', () => undefined);

testEachDatabase('startCollectorServer from env: health, redirect, ingest, stats, env options applied', async (t, db) => {
  const server = await startCollectorServer({
    env: { ...databaseEnv(db), PORT: '0', HOST: '127.0.0.1', COLLECTOR_ADMIN_TOKEN: ADMIN_TOKEN, COLLECTOR_K_THRESHOLD: '2', COLLECTOR_JOBS: '0', COLLECTOR_TITLE: 'Acme collector' },
    logger: quiet,
  });
  t.teardown(() => server.close());
  t.regex(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.is(server.collector.options.kThreshold, 2);
  t.false(server.collector.options.jobs);
  t.is(server.collector.collector.database.dialect, db.kind === 'sqlite' ? 'sqlite' : 'postgres');
  t.is((await fetch(`${server.url}/health`)).status, 200);
  const root = await fetch(`${server.url}/`, { redirect: 'manual' });
  t.is(root.status, 302);
  t.is(root.headers.get('location'), '/dashboard');
  const missing = await fetch(`${server.url}/nope`);
  t.is(missing.status, 404);
  t.is((await missing.json()).error.code, 'not_found');
  t.regex(await (await fetch(`${server.url}/dashboard`)).text(), /Acme collector/);

  await registerAndSubmit(server.url, new TestClock(new Date()));
  const overview = await (await fetch(`${server.url}/stats/overview`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
  t.is(overview.total, 1);
  await server.close();
  await t.throwsAsync(fetch(`${server.url}/health`));
});

test('DATABASE_URL forms: postgres:// → pg with search path; sqlite:, file: and plain paths → SQLite files', (t) => {
  const pg = databaseFromEnv({ DATABASE_URL: 'postgres://u@db:5432/telemetry', DATABASE_SCHEMA: 'collector', DATABASE_POOL_MAX: '20' });
  t.like(pg.config, { client: 'pg', searchPath: ['collector'], pool: { min: 0, max: 20 } });
  t.is(databaseFromEnv({ DATABASE_URL: 'postgresql://u@db/x' }).config?.client, 'pg');
  t.is(databaseFromEnv({ DATABASE_URL: 'sqlite:./data/c.sqlite3' }).file, './data/c.sqlite3');
  t.is(databaseFromEnv({ DATABASE_URL: 'sqlite:///var/lib/c.sqlite3' }).file, '/var/lib/c.sqlite3');
  t.is(databaseFromEnv({ DATABASE_URL: 'file:c.sqlite3' }).file, 'c.sqlite3');
  t.is(databaseFromEnv({ DATABASE_URL: '/srv/c.sqlite3' }).file, '/srv/c.sqlite3');
  t.deepEqual(databaseFromEnv({}), { config: undefined, file: undefined });
});

test('a bad environment fails to start with a message naming the variable', async (t) => {
  const dir = await tempDirFor(t);
  await t.throwsAsync(startCollectorServer({ env: { PORT: 'eighty', DATABASE_URL: join(dir, 'c.sqlite3') }, logger: quiet }), { message: /PORT must be a whole number/ });
  await t.throwsAsync(startCollectorServer({ env: { PORT: '0', COLLECTOR_K_THRESHOLD: 'x', DATABASE_URL: join(dir, 'c.sqlite3') }, logger: quiet }), { message: /COLLECTOR_K_THRESHOLD/ });
  await t.throwsAsync(startCollectorServer({ env: { PORT: '0', SMTP_PORT: 'abc', DATABASE_URL: join(dir, 'c.sqlite3') }, logger: quiet }), { message: /smtp\.port/ });
});

test('`koa-consent-telemetry collector`: SQLite in ./collector-data by default, runs until SIGTERM, exits 0', async (t) => {
  const cwd = await tempDirFor(t);
  const proc = await spawnCollector(t, { COLLECTOR_ADMIN_TOKEN: ADMIN_TOKEN }, cwd);
  t.true(existsSync(join(cwd, 'collector-data', 'collector.sqlite3')));
  t.is((await fetch(`${proc.url}/health`)).status, 200);
  await registerAndSubmit(proc.url, new TestClock(new Date()));
  t.is(await proc.stop(), 0);
  t.regex(proc.output(), /"msg":"collector stopped"/);
  t.false(proc.output().includes('Error'), proc.output());
});

test('`collector` also closes cleanly on SIGINT; a start failure is exit code 1', async (t) => {
  const cwd = await tempDirFor(t);
  const proc = await spawnCollector(t, {}, cwd);
  proc.child.kill('SIGINT');
  t.is(await proc.stop(), 0);
  await t.throwsAsync(spawnCollector(t, { PORT: 'not-a-port' }, cwd), { message: /exited with 1 before listening[\s\S]*PORT must be a whole number/ });
});

test('`collector` with extra arguments is wrong usage (exit 2); the help text lists it', async (t) => {
  const lines: string[] = [];
  t.is(await runCli(['collector', 'now'], (l) => lines.push(l)), 2);
  t.regex(lines.join('\n'), /Usage: koa-consent-telemetry/);
  const help: string[] = [];
  t.is(await runCli(['--help'], (l) => help.push(l)), 0);
  t.regex(help.join('\n'), /collector {12}run the collector/);
});

test('dashboard assets: Chart.js from the installed package, own CSS/JS, long cache, ETag', async (t) => {
  const umd = chartJsUmdPath();
  t.true(existsSync(umd), umd);
  t.true(umd.endsWith(join('chart.js', 'dist', 'chart.umd.min.js')));
  const server = await startCollectorServer({ env: { PORT: '0', HOST: '127.0.0.1', DATABASE_URL: join(await tempDirFor(t), 'c.sqlite3'), COLLECTOR_JOBS: '0' }, logger: quiet });
  t.teardown(() => server.close());
  const chart = await fetch(`${server.url}/dashboard/assets/chart.umd.min.js?v=whatever`);
  t.is(chart.status, 200);
  t.regex(chart.headers.get('content-type') ?? '', /^text\/javascript/);
  t.is(chart.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  const body = Buffer.from(await chart.arrayBuffer());
  t.deepEqual(body, readFileSync(umd));
  const etag = chart.headers.get('etag')!;
  t.is((await fetch(`${server.url}/dashboard/assets/chart.umd.min.js`, { headers: { 'if-none-match': etag } })).status, 304);
  t.regex(await (await fetch(`${server.url}/dashboard/assets/dashboard.js`)).text(), /kct-collector-data/);
  t.regex((await fetch(`${server.url}/dashboard/assets/dashboard.css`)).headers.get('content-type') ?? '', /^text\/css/);
  t.is((await fetch(`${server.url}/dashboard/assets/..%2Fpackage.json`)).status, 404);
  t.is((await fetch(`${server.url}/dashboard/assets/other.js`)).status, 404);
});

test('COLLECTOR_ADMIN_TOKEN_FILE: the token from a secret file (trimmed); COLLECTOR_ADMIN_TOKEN wins; a missing file is a clear start error', async (t) => {
  const dir = await tempDirFor(t);
  const file = join(dir, 'collector_admin_token');
  await writeFile(file, 'token-from-a-secret-file-0123456789\n');
  const logger = jsonLogger('error', () => undefined);
  t.is(collectorOptionsFromEnv({ COLLECTOR_ADMIN_TOKEN_FILE: file }, logger).adminToken, 'token-from-a-secret-file-0123456789');
  t.is(collectorOptionsFromEnv({ COLLECTOR_ADMIN_TOKEN_FILE: file, COLLECTOR_ADMIN_TOKEN: 'from-the-environment-0123456789' }, logger).adminToken, undefined, 'the env token is resolved later, unchanged');
  t.throws(() => collectorOptionsFromEnv({ COLLECTOR_ADMIN_TOKEN_FILE: join(dir, 'missing') }, logger), { message: /COLLECTOR_ADMIN_TOKEN_FILE .*missing/ });
});
