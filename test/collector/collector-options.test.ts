// collectorPlugin options: one zod schema with a default on every field, env fallbacks, and a
// TypeError naming the field for a bad option; the collector answers only under its own paths.
import test from 'ava';
import { collectorPlugin, resolveCollectorOptions } from '../../src/collector/plugin.js';
import { createTestDatabase } from '../helpers/databases.js';
import { ADMIN_TOKEN, registerAndSubmit, startCollector } from '../helpers/collector.js';

test('defaults', (t) => {
  const o = resolveCollectorOptions({ env: {} });
  t.like(o, {
    dbFile: './collector-data/collector.sqlite3',
    adminToken: null,
    registrationKey: null,
    mountPath: '',
    kThreshold: 5,
    retentionDays: 730,
    rateLimitWindowSeconds: 3600,
    reportRecipients: [],
    jobs: true,
    publicMetrics: false,
    sessionKeys: null,
  });
  t.like(o.smtp, { host: null, port: 587, secure: false, user: null, pass: null });
  t.false(o.isAdmin({} as never) as boolean, 'deny by default');
  t.true(o.now() instanceof Date);
});

test('defaults: an smtp object given in part keeps every default it leaves out', (t) => {
  const o = resolveCollectorOptions({ env: {}, smtp: { port: 25 } });
  t.deepEqual(o.smtp, { host: null, port: 25, secure: false, user: null, pass: null, from: 'koa-consent-telemetry collector <collector@localhost>', allowInvalidCertificates: false });
  t.throws(() => resolveCollectorOptions({ env: {}, smtp: { port: 0 } }), { instanceOf: TypeError, message: /invalid option `smtp\.port`/ });
});

test('env fallbacks fill what the options leave undefined; explicit values (and null) win', (t) => {
  const env = {
    COLLECTOR_ADMIN_TOKEN: 'env-admin-token-0123456789',
    COLLECTOR_REGISTRATION_KEY: 'env-registration-key',
    SMTP_HOST: 'smtp.example.test',
    SMTP_PORT: '465',
    SMTP_SECURE: 'true',
    SMTP_USER: 'mailer',
    SMTP_PASS: 'secret',
    SMTP_FROM: 'Reports <reports@example.test>',
    COLLECTOR_REPORT_RECIPIENTS: 'a@example.test, b@example.test',
    COLLECTOR_SESSION_KEYS: 'k'.repeat(32),
    COLLECTOR_PUBLIC_METRICS: '1',
  };
  const o = resolveCollectorOptions({ env });
  t.is(o.adminToken, env.COLLECTOR_ADMIN_TOKEN);
  t.is(o.registrationKey, env.COLLECTOR_REGISTRATION_KEY);
  t.deepEqual(o.smtp, { host: 'smtp.example.test', port: 465, secure: true, user: 'mailer', pass: 'secret', from: 'Reports <reports@example.test>', allowInvalidCertificates: false });
  t.deepEqual(o.reportRecipients, ['a@example.test', 'b@example.test']);
  t.deepEqual(o.sessionKeys, ['k'.repeat(32)]);
  t.true(o.publicMetrics);
  const explicit = resolveCollectorOptions({ env, adminToken: null, registrationKey: 'option-key-123', smtp: { host: null }, reportRecipients: [] });
  t.is(explicit.adminToken, null);
  t.is(explicit.registrationKey, 'option-key-123');
  t.is(explicit.smtp.host, null);
  t.deepEqual(explicit.reportRecipients, []);
  t.notThrows(() => resolveCollectorOptions({ env: process.env }), 'process.env itself is accepted');
});

test('an unknown option key is a TypeError suggesting the nearest known key, at every level', (t) => {
  const cases: [Record<string, unknown>, string][] = [
    [{ retentionDay: 30 }, 'unknown option `retentionDay` (did you mean retentionDays?)'],
    [{ kTreshold: 3 }, 'unknown option `kTreshold` (did you mean kThreshold?)'],
    [{ smtp: { hots: 'smtp.example.com' } }, 'unknown option `smtp.hots` (did you mean smtp.host?)'],
    [{ smtp: { password: 'secret' } }, 'unknown option `smtp.password`'],
    [{ completelyDifferent: 1 }, 'unknown option `completelyDifferent`'],
  ];
  for (const [input, message] of cases) {
    const err = t.throws(() => resolveCollectorOptions({ env: {}, ...input } as never), { instanceOf: TypeError }, message);
    t.is(err?.message, `koa-consent-telemetry collector: ${message}`);
  }
});

test('a bad option is a TypeError naming the field', (t) => {
  const cases: [Record<string, unknown>, string][] = [
    [{ kThreshold: 0 }, 'kThreshold'],
    [{ retentionDays: 'long' }, 'retentionDays'],
    [{ rateLimitWindowSeconds: 1.5 }, 'rateLimitWindowSeconds'],
    [{ adminToken: 'short' }, 'adminToken'],
    [{ mountPath: 'collector' }, 'mountPath'],
    [{ smtp: { port: 'x' } }, 'smtp.port'],
    [{ env: { SMTP_PORT: 'abc' } }, 'smtp.port'],
    [{ smtp: { user: 'u' } }, 'smtp.pass'],
    [{ reportRecipients: ['not-an-address'] }, 'reportRecipients.0'],
    [{ env: { COLLECTOR_REPORT_RECIPIENTS: 'ok@example.test,broken' } }, 'reportRecipients.1'],
    [{ db: 'postgres://x' }, 'db'],
    [{ isAdmin: true }, 'isAdmin'],
    [{ logger: console.log }, 'logger'],
    [{ now: 5 }, 'now'],
    [{ env: 'production' }, 'env'],
  ];
  for (const [input, field] of cases) {
    const err = t.throws(() => collectorPlugin({ env: {}, ...input } as never), { instanceOf: TypeError }, field);
    t.true(err?.message.includes(`\`${field}\``), `${field}: ${err?.message}`);
  }
  t.throws(() => collectorPlugin({ db: { client: 'mysql2', connection: {} }, env: {} }), { instanceOf: TypeError, message: /SQLite or PostgreSQL/ });
});

test('mounted under mountPath inside a host: only its own paths answer, host routes are untouched', async (t) => {
  const db = await createTestDatabase('sqlite');
  t.teardown(() => db.cleanup());
  const c = await startCollector(t, db, { mountPath: '/collector/' });
  t.is(c.handle.options.mountPath, '/collector');
  t.true(c.url.endsWith('/collector'));
  await registerAndSubmit(c.url, c.clock);
  t.is((await c.adminJson('/stats/overview')).total, 1);
  const root = c.url.replace(/\/collector$/, '');
  for (const path of ['/v1/register', '/stats/overview', '/health', '/dashboard', '/anything']) {
    const response = await fetch(`${root}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    t.deepEqual(await response.json(), { host: true }, `${path} belongs to the host`);
  }
  t.deepEqual(await (await fetch(`${c.url}-other/health`)).json(), { host: true });
  const unknown = await fetch(`${c.url}/v1/unknown`);
  t.is(unknown.status, 404);
  t.is((await unknown.json()).error.code, 'not_found');
  t.is((await fetch(`${c.url}/health`)).status, 200);
});
