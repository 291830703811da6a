// Registration is open (its key ships inside every client), so it is limited: at most 20
// registrations per client address per hour (the address held only in memory, salted and hashed),
// a collector-wide hourly budget counted in the database (shared by every process), and
// installations that never had a submission accepted count in no statistic and are purged after
// unconfirmedRegistrationDays (default 7).
import test from 'ava';
import { AddressedClient, payloadFor, register, registerAndSubmit, startCollector, submit } from '../helpers/collector.js';
import { testEachDatabase, createTestDatabase } from '../helpers/databases.js';
import { ClientThrottle } from '../../src/collector/client-throttle.js';
import { DEFAULT_REGISTRATIONS_PER_CLIENT_PER_HOUR, DEFAULT_UNCONFIRMED_REGISTRATION_DAYS } from '../../src/collector/options.js';

const DAY = 86_400_000;
const count = async (knex: import('knex').Knex, table: string) => Number(((await knex(table).count({ n: '*' }).first()) as { n: unknown }).n);

test('one client cannot flood registrations', async (t) => {
  const db = await createTestDatabase('sqlite');
  t.teardown(() => db.cleanup());
  const c = await startCollector(t, db);
  t.is(DEFAULT_REGISTRATIONS_PER_CLIENT_PER_HOUR, 20);
  const attacker = new AddressedClient(c.url, '127.0.0.2');
  for (let i = 0; i < 20; i++) t.is((await attacker.register()).status, 201, `registration ${i + 1}`);
  const refused = await attacker.register();
  t.is(refused.status, 429);
  t.is(refused.headers['retry-after'], '3600');
  const body = JSON.parse(refused.text);
  t.is(body.error.code, 'rate_limited');
  t.is(body.error.details.retry_after_seconds, 3600);
  // A forged X-Forwarded-For does not buy a fresh budget (trustProxy is off by default).
  t.is((await attacker.register({ 'x-forwarded-for': '198.51.100.9' })).status, 429);
  t.is(await count(db.knex, 'collector_installations'), 20, 'nothing stored for refused registrations');

  const someoneElse = new AddressedClient(c.url, '127.0.0.3');
  t.is((await someoneElse.register()).status, 201, 'another client still registers');

  c.clock.advance(3_600_000);
  t.is((await attacker.register()).status, 201, 'an hour later the client may register again');
  const metrics = await (await c.admin('/metrics')).text();
  t.regex(metrics, /collector_registrations_total\{outcome="rate_limited"\} 2/);
});

test('with trustProxy the first X-Forwarded-For address is the client', async (t) => {
  const db = await createTestDatabase('sqlite');
  t.teardown(() => db.cleanup());
  const c = await startCollector(t, db, { trustProxy: true, registrationsPerClientPerHour: 2 });
  const proxy = new AddressedClient(c.url, '127.0.0.1');
  const from = (address: string) => ({ 'x-forwarded-for': `${address}, 10.0.0.1` });
  t.is((await proxy.register(from('203.0.113.5'))).status, 201);
  t.is((await proxy.register(from('203.0.113.5'))).status, 201);
  t.is((await proxy.register(from('203.0.113.5'))).status, 429);
  t.is((await proxy.register(from('203.0.113.6'))).status, 201, 'another client behind the same proxy');
});

testEachDatabase('the collector-wide registration budget answers 429 with Retry-After, shared by every process on the database', async (t, db) => {
  const a = await startCollector(t, db, { registrationsPerHour: 3 });
  const b = await startCollector(t, db, { registrationsPerHour: 3, clock: a.clock });
  t.is((await new AddressedClient(a.url, '127.0.0.2').register()).status, 201);
  t.is((await new AddressedClient(b.url, '127.0.0.3').register()).status, 201);
  a.clock.advance(600_000);
  t.is((await new AddressedClient(a.url, '127.0.0.4').register()).status, 201);
  for (const url of [a.url, b.url]) {
    const refused = await new AddressedClient(url, '127.0.0.5').register();
    t.is(refused.status, 429);
    t.is(JSON.parse(refused.text).error.code, 'registration_budget_exhausted');
    t.is(refused.headers['retry-after'], String(3600 - 600), 'until the oldest registration of the hour leaves the window');
  }
  a.clock.advance(3000_000);
  t.is((await new AddressedClient(b.url, '127.0.0.5').register()).status, 201);
});

testEachDatabase('registrations that never submit are not counted', async (t, db) => {
  const c = await startCollector(t, db);
  const counted = await registerAndSubmit(c.url, c.clock, { app_version: '5.0.0' });
  for (let i = 0; i < 3; i++) await register(c.url);
  const overview = await c.adminJson('/stats/overview');
  t.like(overview, { total: 1, active_7d: 1, active_30d: 1, new_7d: 1 });
  const installations = await c.adminJson('/stats/installations?days=7');
  t.is(installations.total, 1);
  t.deepEqual(installations.trend.map((p: { total: number }) => p.total), [0, 0, 0, 0, 0, 0, 1]);
  const metrics = await (await c.admin('/metrics')).text();
  t.regex(metrics, /collector_installations\{state="total"\} 1\n/);
  for (const path of ['/stats/versions?window=7', '/stats/deployment-modes', '/stats/geography', '/stats/platforms', '/stats/features']) {
    t.is((await c.adminJson(path)).active, 1, path);
  }
  t.is((await c.adminJson('/stats/export')).overview.total, 1);

  // Its first accepted submission is when an installation starts to count.
  const late = await register(c.url);
  t.is((await c.adminJson('/stats/overview')).total, 1);
  t.is((await submit(c.url, c.clock, late, payloadFor(late.installId))).status, 202);
  t.like(await c.adminJson('/stats/overview'), { total: 2, new_7d: 2 });
  t.is((await c.admin(`/v1/installations/${counted.installId}`, { method: 'DELETE' })).status, 200);
  t.like(await c.adminJson('/stats/overview'), { total: 1 });
});

testEachDatabase('never-submitting registrations are purged', async (t, db) => {
  const c = await startCollector(t, db);
  t.is(c.handle.options.unconfirmedRegistrationDays, DEFAULT_UNCONFIRMED_REGISTRATION_DAYS);
  t.is(DEFAULT_UNCONFIRMED_REGISTRATION_DAYS, 7);
  const silent = [await register(c.url), await register(c.url)];
  const active = await registerAndSubmit(c.url, c.clock);
  c.clock.advance(7 * DAY - 60_000);
  t.like(await c.handle.maintenance(), { unconfirmedInstallations: 0 });
  t.is(await count(db.knex, 'collector_installations'), 3);
  c.clock.advance(120_000);
  t.like(await c.handle.maintenance(), { unconfirmedInstallations: 2, installations: 0 });
  const left = (await db.knex('collector_installations').pluck('install_id')) as string[];
  t.deepEqual(left, [active.installId]);
  for (const s of silent) t.false(left.includes(s.installId));
  t.is((await db.knex('collector_daily_rollups').where('dimension', 'removed').select('day')).length, 0, 'never counted, so never counted out');
  t.is((await c.adminJson('/stats/overview')).total, 1);
});

testEachDatabase('unconfirmedRegistrationDays is configurable', async (t, db) => {
  const c = await startCollector(t, db, { unconfirmedRegistrationDays: 2 });
  await register(c.url);
  c.clock.advance(2 * DAY + 1000);
  t.like(await c.handle.maintenance(), { unconfirmedInstallations: 1 });
});

test('the per-client map is bounded: beyond its cap the oldest window is evicted', (t) => {
  let now = 0;
  const throttle = new ClientThrottle({ limit: 1, windowMs: 60_000, now: () => new Date(now), maxClients: 100 });
  for (let i = 0; i < 1000; i++) {
    now += 1;
    throttle.take(`198.51.100.${i}`);
    t.true(throttle.size <= 100);
  }
  t.is(throttle.size, 100);
  t.false(throttle.take('198.51.100.999').allowed, 'a recent client is still limited');
  t.true(throttle.take('198.51.100.0').allowed, 'the oldest was evicted');
});
