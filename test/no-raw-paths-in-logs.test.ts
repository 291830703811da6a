// Regressions of the attack "a raw path reaches the logs": the collector's debug request log wrote
// unmatched paths as sent (`/v1/zz/alice@example.com`), and the plugin's 500 log used ctx.path.
// Both now log the matched route template, or "(unmatched)".
import test from 'ava';
import knex from 'knex';
import { startCollectorServer, jsonLogger } from '../src/collector/server.js';
import { startHostApp } from './helpers/host-app.js';
import { tempDirFor } from './helpers/tmp.js';
import { join } from 'node:path';

const PII = 'alice@example.com';

test('the collector\'s request log names route templates, never an attacker\'s raw path', async (t) => {
  const lines: string[] = [];
  const dir = await tempDirFor(t);
  const server = await startCollectorServer({
    env: { DATABASE_URL: join(dir, 'collector.sqlite3'), PORT: '0', HOST: '127.0.0.1', COLLECTOR_ADMIN_TOKEN: 'a'.repeat(32), COLLECTOR_JOBS: '0' },
    logger: jsonLogger('debug', (line) => lines.push(line)),
  });
  t.teardown(() => server.close());
  for (const [method, path] of [
    ['GET', `/v1/zz/${PII}`],
    ['GET', `/${PII}`],
    ['POST', `/v1/register/${encodeURIComponent(PII)}`],
    ['DELETE', `/v1/installations/${PII}`],
    ['GET', `/stats/overview?email=${PII}`],
  ] as const) {
    const response = await fetch(`${server.url}${path}`, { method });
    t.true(response.status >= 400 && response.status < 500, `${method} ${path} → ${response.status}`);
  }
  await server.close();
  const logged = lines.join('\n');
  t.true(logged.includes('(unmatched)'), 'unmatched requests are still logged, by name');
  t.true(logged.includes('/v1/installations/:id'), 'matched requests are logged by their template');
  t.false(logged.includes(PII), 'no raw path');
  t.false(logged.includes(encodeURIComponent(PII)));
});

test('the plugin\'s 500 log names the route template, not the path as sent', async (t) => {
  const dir = await tempDirFor(t);
  const db = knex({ client: 'sqlite3', connection: { filename: join(dir, 'host.sqlite3') }, useNullAsDefault: true });
  const logged: string[] = [];
  const record = (...args: unknown[]) => void logged.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  const host = await startHostApp({ telemetry: { dataDir: dir, db, logger: { debug: record, info: record, warn: record, error: record } } });
  t.teardown(() => host.close());
  await db.destroy(); // the host's database goes away under the plugin: its routes answer 500
  const response = await host.request('/api/v1/usage-stats/LOCAL/', { user: 'admin' });
  t.is(response.status, 500);
  t.deepEqual(await response.json(), { error: { code: 'internal_error', message: 'The telemetry plugin could not complete this request.' } });
  const line = logged.find((l) => l.includes('failed'))!;
  t.truthy(line);
  t.true(line.includes('/api/v1/usage-stats/local'), line);
  t.false(logged.join('\n').includes('LOCAL'), 'the path as sent is not logged');
});
