// At most one accepted submission per installation per hour (docs/collector.md): 429 with Retry-After,
// enforced by the database inside the ingest transaction — so it holds with several collector
// processes on one database (two real processes race here).
import { randomUUID } from 'node:crypto';
import { payloadFor, register, startCollector, submit, spawnCollector, databaseEnv, ADMIN_TOKEN, TestClock } from '../helpers/collector.js';
import { testEachDatabase } from '../helpers/databases.js';
import type { SubmissionPayload } from '../../src/core/protocol.js';

const SPAWNING_TEST_TIMEOUT_MS = 150_000;

const period = (n: number) => {
  const start = new Date(Date.UTC(2026, 0, 5 + 7 * n));
  const end = new Date(start.getTime() + 7 * 86_400_000);
  return { start: start.toISOString().slice(0, 10), end: end.toISOString().slice(0, 10) };
};
const weekly = (installId: string, n: number): SubmissionPayload => payloadFor(installId, { period: period(n) });

testEachDatabase('a second submission within the hour is 429 with Retry-After; at one hour it is accepted', async (t, db) => {
  const c = await startCollector(t, db);
  const install = await register(c.url);
  t.is((await submit(c.url, c.clock, install, weekly(install.installId, 0))).status, 202);

  const limited = await submit(c.url, c.clock, install, weekly(install.installId, 1));
  t.is(limited.status, 429);
  t.is(limited.headers.get('retry-after'), '3600');
  const body = await limited.json();
  t.is(body.error.code, 'rate_limited');
  t.is(body.error.details.retry_after_seconds, 3600);

  c.clock.advance(3599_000);
  const almost = await submit(c.url, c.clock, install, weekly(install.installId, 2));
  t.is(almost.status, 429);
  t.is(almost.headers.get('retry-after'), '1');

  c.clock.advance(1000);
  t.is((await submit(c.url, c.clock, install, weekly(install.installId, 3))).status, 202);
  t.is((await db.knex('collector_submissions').select('id')).length, 2);
});

testEachDatabase('the window is per installation and configurable (rateLimitWindowSeconds)', async (t, db) => {
  const c = await startCollector(t, db, { rateLimitWindowSeconds: 60 });
  const a = await register(c.url);
  const b = await register(c.url);
  t.is((await submit(c.url, c.clock, a, weekly(a.installId, 0))).status, 202);
  t.is((await submit(c.url, c.clock, b, weekly(b.installId, 0))).status, 202, 'another installation is not affected');
  const limited = await submit(c.url, c.clock, a, weekly(a.installId, 1));
  t.is(limited.status, 429);
  t.is(limited.headers.get('retry-after'), '60');
  c.clock.advance(60_000);
  t.is((await submit(c.url, c.clock, a, weekly(a.installId, 1))).status, 202);
});

testEachDatabase('concurrent submissions of one installation in one process: exactly one 202', async (t, db) => {
  const c = await startCollector(t, db);
  const install = await register(c.url);
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => submit(c.url, c.clock, install, weekly(install.installId, i))));
  const statuses = answers.map((r) => r.status).sort();
  t.deepEqual(statuses, [202, ...Array(9).fill(429)]);
  t.is((await db.knex('collector_submissions').select('id')).length, 1);
});

testEachDatabase('two collector processes on one database: one accepted submission per installation, however they race', async (t, db) => {
  // Past spawnCollector's own 60 s start deadline (a cold tsx start on a loaded machine), so a slow
  // start fails with the collector's output, not with an anonymous test timeout.
  t.timeout(SPAWNING_TEST_TIMEOUT_MS);
  const env = { ...databaseEnv(db), COLLECTOR_ADMIN_TOKEN: ADMIN_TOKEN };
  // Both start together on a fresh database (their migrations race too).
  const [a, b] = await Promise.all([spawnCollector(t, env), spawnCollector(t, env)]);
  const realClock = new TestClock(new Date());
  const installs = [];
  for (let i = 0; i < 8; i++) installs.push(await register(i % 2 ? a.url : b.url, randomUUID()));

  realClock.set(new Date());
  const attempts = installs.flatMap((install) =>
    Array.from({ length: 6 }, (_, n) => ({ install, n, url: n % 2 === 0 ? a.url : b.url })),
  );
  const answers = await Promise.all(attempts.map(({ install, n, url }) => submit(url, realClock, install, weekly(install.installId, n))));
  const perInstall = new Map<string, number[]>();
  attempts.forEach(({ install }, i) => perInstall.set(install.installId, [...(perInstall.get(install.installId) ?? []), answers[i]!.status]));
  for (const [id, statuses] of perInstall) {
    t.deepEqual(statuses.sort(), [202, 429, 429, 429, 429, 429], id);
  }
  const rows = await db.knex('collector_submissions').select('install_id');
  t.is(rows.length, installs.length);
  t.is(new Set(rows.map((r: { install_id: string }) => r.install_id)).size, installs.length);
  // The rollups agree: one submission per installation.
  const rolled = await db.knex('collector_daily_rollups').where('dimension', 'all').sum({ n: 'submissions' }).first();
  t.is(Number((rolled as { n: unknown }).n), installs.length);
  t.is(await a.stop(), 0);
  t.is(await b.stop(), 0);
});

testEachDatabase('timestamps are stored as instants whatever the process time zone (the window starts now, not hours away)', async (t, db) => {
  // It timed out at 30 s: less than spawnCollector's own start deadline.
  t.timeout(SPAWNING_TEST_TIMEOUT_MS);
  const proc = await spawnCollector(t, { ...databaseEnv(db), COLLECTOR_ADMIN_TOKEN: ADMIN_TOKEN, TZ: 'Asia/Kolkata' });
  const clock = new TestClock(new Date());
  const install = await register(proc.url);
  t.is((await submit(proc.url, clock, install, weekly(install.installId, 0))).status, 202);
  const limited = await submit(proc.url, clock, install, weekly(install.installId, 1));
  t.is(limited.status, 429);
  const retryAfter = Number(limited.headers.get('retry-after'));
  t.true(retryAfter > 3500 && retryAfter <= 3600, `Retry-After ${retryAfter}`);
  const row = await db.knex('collector_installations').where('install_id', install.installId).first();
  const stored = new Date(typeof row.last_seen_at === 'number' ? row.last_seen_at : row.last_seen_at).getTime();
  t.true(Math.abs(stored - Date.now()) < 60_000, `last_seen_at ${new Date(stored).toISOString()}`);
  t.is(await proc.stop(), 0);
});
