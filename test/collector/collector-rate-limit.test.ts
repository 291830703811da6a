// At most one accepted submission per installation per hour (docs/collector.md): 429 with Retry-After,
// enforced by the database inside the ingest transaction — so it holds with several collector
// processes on one database (two real processes race here). The limit counts the *current* period
// only: back-filled past weeks (each once, with the protocol's Idempotency-Key) are not held to it.
import { randomUUID } from 'node:crypto';
import { payloadFor, register, startCollector, submit, spawnCollector, databaseEnv, ADMIN_TOKEN, TestClock } from '../helpers/collector.js';
import { testEachDatabase } from '../helpers/databases.js';
import type { SubmissionPayload } from '../../src/core/protocol.js';
import { checkCollectorAnswers } from '../helpers/openapi.js';

const SPAWNING_TEST_TIMEOUT_MS = 150_000;

const DAY = 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/** The n-th distinct *current* period as of `at`: it ends today (UTC) and starts 7 + n days before. */
const period = (n: number, at: Date) => {
  const today = Math.floor(at.getTime() / DAY) * DAY;
  return { start: day(today - (7 + n) * DAY), end: day(today) };
};
const weekly = (installId: string, n: number, at: Date): SubmissionPayload => payloadFor(installId, { period: period(n, at) });
/** The Monday-to-Monday week that ended `weeksAgo` weeks before the Monday of `at`'s week. */
const pastWeek = (installId: string, weeksAgo: number, at: Date): SubmissionPayload => {
  const today = Math.floor(at.getTime() / DAY) * DAY;
  const monday = today - ((new Date(today).getUTCDay() + 6) % 7) * DAY;
  return payloadFor(installId, { period: { start: day(monday - (weeksAgo + 1) * 7 * DAY), end: day(monday - weeksAgo * 7 * DAY) } });
};

testEachDatabase('a second submission within the hour is 429 with Retry-After; at one hour it is accepted', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const install = await register(c.url);
  t.is((await submit(c.url, c.clock, install, weekly(install.installId, 0, c.clock.now()))).status, 202);

  const limited = await submit(c.url, c.clock, install, weekly(install.installId, 1, c.clock.now()));
  t.is(limited.status, 429);
  t.is(limited.headers.get('retry-after'), '3600');
  const body = await limited.json();
  t.is(body.error.code, 'rate_limited');
  t.is(body.error.details.retry_after_seconds, 3600);

  c.clock.advance(3599_000);
  const almost = await submit(c.url, c.clock, install, weekly(install.installId, 2, c.clock.now()));
  t.is(almost.status, 429);
  t.is(almost.headers.get('retry-after'), '1');

  c.clock.advance(1000);
  t.is((await submit(c.url, c.clock, install, weekly(install.installId, 3, c.clock.now()))).status, 202);
  t.is((await db.knex('collector_submissions').select('id')).length, 2);
});

testEachDatabase('the window is per installation and configurable (rateLimitWindowSeconds)', async (t, db) => {
  const c = await startCollector(t, db, { rateLimitWindowSeconds: 60 });
  checkCollectorAnswers(t, c.url);
  const a = await register(c.url);
  const b = await register(c.url);
  t.is((await submit(c.url, c.clock, a, weekly(a.installId, 0, c.clock.now()))).status, 202);
  t.is((await submit(c.url, c.clock, b, weekly(b.installId, 0, c.clock.now()))).status, 202, 'another installation is not affected');
  const limited = await submit(c.url, c.clock, a, weekly(a.installId, 1, c.clock.now()));
  t.is(limited.status, 429);
  t.is(limited.headers.get('retry-after'), '60');
  c.clock.advance(60_000);
  t.is((await submit(c.url, c.clock, a, weekly(a.installId, 1, c.clock.now()))).status, 202);
});

testEachDatabase('concurrent submissions of one installation in one process: exactly one 202', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const install = await register(c.url);
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => submit(c.url, c.clock, install, weekly(install.installId, i, c.clock.now()))));
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
  const answers = await Promise.all(attempts.map(({ install, n, url }) => submit(url, realClock, install, weekly(install.installId, n, realClock.now()))));
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
  t.is((await submit(proc.url, clock, install, weekly(install.installId, 0, clock.now()))).status, 202);
  const limited = await submit(proc.url, clock, install, weekly(install.installId, 1, clock.now()));
  t.is(limited.status, 429);
  const retryAfter = Number(limited.headers.get('retry-after'));
  t.true(retryAfter > 3500 && retryAfter <= 3600, `Retry-After ${retryAfter}`);
  const row = await db.knex('collector_installations').where('install_id', install.installId).first();
  const stored = new Date(typeof row.last_seen_at === 'number' ? row.last_seen_at : row.last_seen_at).getTime();
  t.true(Math.abs(stored - Date.now()) < 60_000, `last_seen_at ${new Date(stored).toISOString()}`);
  t.is(await proc.stop(), 0);
});

testEachDatabase('back-filled weeks are not held to the hourly limit: a catch-up of past weeks then the current one all arrive in one go', async (t, db) => {
  const c = await startCollector(t, db);
  const install = await register(c.url);
  for (const weeksAgo of [3, 2, 1]) {
    t.is((await submit(c.url, c.clock, install, pastWeek(install.installId, weeksAgo, c.clock.now()))).status, 202, `week -${weeksAgo}`);
  }
  t.is((await submit(c.url, c.clock, install, weekly(install.installId, 0, c.clock.now()))).status, 202, 'the current period after the back-fill');
  // The current period is still limited to one per hour, back-fills around it or not.
  const limited = await submit(c.url, c.clock, install, weekly(install.installId, 1, c.clock.now()));
  t.is(limited.status, 429);
  t.is(limited.headers.get('retry-after'), '3600');
  t.is((await db.knex('collector_submissions').where('install_id', install.installId)).length, 4);
});

testEachDatabase('anti-flood: a back-filled week is stored once; outside the horizon or under a foreign Idempotency-Key it counts as current', async (t, db) => {
  const c = await startCollector(t, db);
  const install = await register(c.url);
  t.is((await submit(c.url, c.clock, install, weekly(install.installId, 0, c.clock.now()))).status, 202);
  const past = pastWeek(install.installId, 2, c.clock.now());
  t.is((await submit(c.url, c.clock, install, past)).status, 202, 'a past week inside the hour of a current submission');
  const again = await submit(c.url, c.clock, install, past);
  t.is(again.status, 202, 'the same week again is a replay');
  t.is((await db.knex('collector_submissions').where('install_id', install.installId)).length, 2, 'and stores nothing new');
  t.is((await submit(c.url, c.clock, install, past, { idempotencyKey: `other-key-${randomUUID()}` })).status, 429, 'a key that is not the period\'s own is held to the limit');
  t.is((await submit(c.url, c.clock, install, pastWeek(install.installId, 20, c.clock.now()))).status, 429, 'a week beyond the 16-week horizon is held to the limit');
});

testEachDatabase('anti-flood: past periods with made-up starts (not one Monday-to-Monday week) count as current, so a client cannot mint back-fill keys', async (t, db) => {
  const c = await startCollector(t, db);
  const install = await register(c.url);
  t.is((await submit(c.url, c.clock, install, weekly(install.installId, 0, c.clock.now()))).status, 202);
  const week = pastWeek(install.installId, 3, c.clock.now()).period;
  const shifted = (startDays: number, endDays: number) =>
    payloadFor(install.installId, { period: { start: day(Date.parse(week.start) + startDays * DAY), end: day(Date.parse(week.end) + endDays * DAY) } });
  t.is((await submit(c.url, c.clock, install, shifted(1, 1))).status, 429, 'a seven-day period from a Tuesday');
  t.is((await submit(c.url, c.clock, install, shifted(-3, 0))).status, 429, 'a ten-day period ending on a Monday');
  t.is((await submit(c.url, c.clock, install, shifted(0, 0))).status, 202, 'the real week is a back-fill');
  t.is((await db.knex('collector_submissions').where('install_id', install.installId)).length, 2);
});
