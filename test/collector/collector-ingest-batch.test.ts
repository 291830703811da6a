// Group commit on PostgreSQL (storage/submissions.ts): the submissions that arrive together share one
// transaction and one write, yet every request gets its own answer, exactly as if it had been sent
// alone — accepted, replayed, rate limited or refused — and the per-installation rules hold inside
// a batch and across two processes writing batches at once. On SQLite (no batching) the same
// answers are asserted.
import { randomUUID } from 'node:crypto';
import { payloadFor, register, startCollector, submit, spawnCollector, databaseEnv, ADMIN_TOKEN, TestClock } from '../helpers/collector.js';
import { testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import type { SubmissionPayload } from '../../src/core/protocol.js';

const DAY = 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/** The n-th distinct current period as of `at` (so a distinct Idempotency-Key each). */
const weekly = (installId: string, n: number, at: Date): SubmissionPayload => {
  const today = Math.floor(at.getTime() / DAY) * DAY;
  return payloadFor(installId, { period: { start: day(today - (7 + n) * DAY), end: day(today) } });
};
const rollupSubmissions = async (db: TestDatabase) =>
  Number(((await db.knex('collector_daily_rollups').where('dimension', 'all').sum({ n: 'submissions' }).first()) as { n: unknown }).n);

testEachDatabase('one batch mixing accepted, replayed, rate-limited and invalid submissions answers each request as if it came alone', async (t, db) => {
  // Setup through an ordinary collector; the batched one only flushes once it holds all 8 requests.
  const setup = await startCollector(t, db);
  const batched = await startCollector(t, db, { clock: setup.clock, ingestBatchSize: 8, ingestBatchWaitMs: 60_000 });
  const now = setup.clock.now();
  const [a, b, c, d, e] = [await register(setup.url), await register(setup.url), await register(setup.url), await register(setup.url), await register(setup.url)];
  const aFirst = await submit(setup.url, setup.clock, a, weekly(a.installId, 0, now));
  t.is(aFirst.status, 202);
  const aId = ((await aFirst.json()) as { submission_id: string }).submission_id;

  const send = (install: typeof a, payload: SubmissionPayload, options: Parameters<typeof submit>[4] = {}) => submit(batched.url, batched.clock, install, payload, options);
  const [aReplay, aLimited, b1, b2, cInvalid, dForged, e1, e2] = await Promise.all([
    send(a, weekly(a.installId, 0, now)), // same key as the accepted one: a replay
    send(a, weekly(a.installId, 1, now)), // a new key within the hour of the stored one: 429
    send(b, weekly(b.installId, 0, now)), // b twice with different keys: one accepted, one 429
    send(b, weekly(b.installId, 1, now)),
    send(c, { ...weekly(c.installId, 0, now), country: 'not a country' }), // 422
    send(d, weekly(d.installId, 0, now), { secret: 'f'.repeat(64) }), // 401
    send(e, weekly(e.installId, 0, now)), // e twice with the same key: one accepted, the other its replay
    send(e, weekly(e.installId, 0, now)),
  ]);

  t.is(aReplay.status, 202);
  t.is(aReplay.headers.get('idempotent-replayed'), 'true');
  t.is(((await aReplay.json()) as { submission_id: string }).submission_id, aId);
  t.is(aLimited.status, 429);
  t.is(aLimited.headers.get('retry-after'), '3600');

  t.deepEqual([b1.status, b2.status].sort(), [202, 429]);
  const bAccepted = b1.status === 202 ? b1 : b2;
  const bId = ((await bAccepted.json()) as { submission_id: string }).submission_id;

  t.is(cInvalid.status, 422);
  t.is(((await cInvalid.json()) as { error: { code: string } }).error.code, 'invalid_payload');
  t.is(dForged.status, 401);
  t.is(((await dForged.json()) as { error: { code: string } }).error.code, 'invalid_signature');

  t.deepEqual([e1.status, e2.status], [202, 202]);
  const eIds = [((await e1.json()) as { submission_id: string }).submission_id, ((await e2.json()) as { submission_id: string }).submission_id];
  t.is(eIds[0], eIds[1], 'the same key within one batch names one submission');
  t.is([e1, e2].filter((r) => r.headers.get('idempotent-replayed') === 'true').length, 1);

  if (db.kind === 'postgres') {
    t.deepEqual(batched.handle.collector.submissions.batchStats, { batches: 1, items: 8, fallbacks: 0 }, 'all eight were written as one batch');
  }

  // Stored: a's first, b's accepted one, e's one — nothing of c or d, and the rollups agree.
  const rows = (await db.knex('collector_submissions').select('id', 'install_id')) as { id: string; install_id: string }[];
  t.deepEqual(rows.map((r) => r.id).sort(), [aId, bId, eIds[0]!].sort());
  t.is(await rollupSubmissions(db), 3);
  const counts = (await db.knex('collector_installations').select('install_id', 'submissions_count')) as { install_id: string; submissions_count: unknown }[];
  const countOf = (id: string) => Number(counts.find((r) => r.install_id === id)!.submissions_count);
  t.deepEqual([a, b, c, d, e].map((i) => countOf(i.installId)), [1, 1, 0, 0, 1]);
  const lastSeen = Number(((await db.knex('collector_last_seen_days').sum({ n: 'installations' }).first()) as { n: unknown }).n);
  t.is(lastSeen, 3, 'three installations counted under their last-seen day');
});

testEachDatabase('regression: a batch carries every value the payload schema allows, fractional uptime hours and the largest counts included, without falling back', async (t, db) => {
  // Group commit sends each column as one typed array: a column cast narrower than the table's
  // (uptime_hours is a float, error_count a bigint) would refuse the whole batch.
  const setup = await startCollector(t, db);
  const batched = await startCollector(t, db, { clock: setup.clock, ingestBatchSize: 3, ingestBatchWaitMs: 60_000 });
  const now = setup.clock.now();
  const installs = [await register(setup.url), await register(setup.url), await register(setup.url)];
  const payloads: SubmissionPayload[] = [
    { ...weekly(installs[0]!.installId, 0, now), uptime_hours: 12.5, error_count: 1_000_000_000, event_counts: { 'timer.started': 1_000_000_000 } },
    { ...weekly(installs[1]!.installId, 0, now), uptime_hours: 0.25, error_count: 0, event_counts: {}, feature_flags: {} },
    { ...weekly(installs[2]!.installId, 0, now), uptime_hours: 768, app_version: '10.0.0-rc.1+build.7', platform: 'linux_musl' },
  ];
  const answers = await Promise.all(installs.map((install, i) => submit(batched.url, batched.clock, install, payloads[i]!)));
  t.deepEqual(answers.map((r) => r.status), [202, 202, 202]);
  if (db.kind === 'postgres') t.deepEqual(batched.handle.collector.submissions.batchStats, { batches: 1, items: 3, fallbacks: 0 }, 'written as one batch');
  const rows = (await db.knex('collector_submissions').select('install_id', 'uptime_hours', 'error_count', 'event_total', 'app_version', 'platform')) as Record<string, unknown>[];
  const byId = (id: string) => rows.find((r) => r.install_id === id)!;
  t.like(byId(installs[0]!.installId), { app_version: '1.4.0' });
  t.is(Number(byId(installs[0]!.installId).uptime_hours), 12.5);
  t.is(Number(byId(installs[0]!.installId).error_count), 1_000_000_000);
  t.is(Number(byId(installs[0]!.installId).event_total), 1_000_000_000);
  t.is(Number(byId(installs[1]!.installId).uptime_hours), 0.25);
  t.like(byId(installs[2]!.installId), { app_version: '10.0.0-rc.1+build.7', platform: 'linux_musl' });
});

testEachDatabase('attack: an uptime too small for the column (1e-300 hours) is stored as 0, never a 5xx, and does not push its batch onto the one-by-one path', async (t, db) => {
  // uptime_hours is a PostgreSQL real: 1e-300 underflows it. A client could send it to fail its
  // batch (every request of it then retried alone) or to get a 500.
  const setup = await startCollector(t, db);
  const batched = await startCollector(t, db, { clock: setup.clock, ingestBatchSize: 2, ingestBatchWaitMs: 60_000 });
  const now = setup.clock.now();
  const [hostile, innocent] = [await register(setup.url), await register(setup.url)];
  const answers = await Promise.all([
    submit(batched.url, batched.clock, hostile, { ...weekly(hostile.installId, 0, now), uptime_hours: 1e-300 }),
    submit(batched.url, batched.clock, innocent, { ...weekly(innocent.installId, 0, now), uptime_hours: 3e-39 }),
  ]);
  t.deepEqual(answers.map((r) => r.status), [202, 202]);
  if (db.kind === 'postgres') t.deepEqual(batched.handle.collector.submissions.batchStats, { batches: 1, items: 2, fallbacks: 0 });
  const stored = (await db.knex('collector_submissions').select('install_id', 'uptime_hours')) as { install_id: string; uptime_hours: unknown }[];
  t.is(Number(stored.find((r) => r.install_id === hostile.installId)!.uptime_hours), 0);
  t.is(Number(stored.find((r) => r.install_id === innocent.installId)!.uptime_hours), 0);
});

testEachDatabase('two collector processes writing batches of the same installations: exactly one accepted per installation and hour', async (t, db) => {
  t.timeout(90_000);
  // A long batch wait, so each process's batches hold several requests of the same installations.
  const env = { ...databaseEnv(db), COLLECTOR_ADMIN_TOKEN: ADMIN_TOKEN, COLLECTOR_INGEST_BATCH_WAIT_MS: '40', COLLECTOR_INGEST_BATCH_SIZE: '16' };
  const [p, q] = await Promise.all([spawnCollector(t, env), spawnCollector(t, env)]);
  const clock = new TestClock(new Date());
  const installs = [];
  for (let i = 0; i < 10; i++) installs.push(await register(i % 2 ? p.url : q.url, randomUUID()));
  clock.set(new Date());
  const attempts = installs.flatMap((install) => Array.from({ length: 6 }, (_, n) => ({ install, n, url: n % 2 === 0 ? p.url : q.url })));
  const answers = await Promise.all(attempts.map(({ install, n, url }) => submit(url, clock, install, weekly(install.installId, n, clock.now()))));
  const perInstall = new Map<string, number[]>();
  attempts.forEach(({ install }, i) => perInstall.set(install.installId, [...(perInstall.get(install.installId) ?? []), answers[i]!.status]));
  for (const [id, statuses] of perInstall) t.deepEqual(statuses.sort(), [202, 429, 429, 429, 429, 429], id);
  const rows = (await db.knex('collector_submissions').select('install_id')) as { install_id: string }[];
  t.is(rows.length, installs.length);
  t.is(new Set(rows.map((r) => r.install_id)).size, installs.length);
  t.is(await rollupSubmissions(db), installs.length);
  const counted = Number(((await db.knex('collector_installations').sum({ n: 'submissions_count' }).first()) as { n: unknown }).n);
  t.is(counted, installs.length);
  t.is(await p.stop(), 0);
  t.is(await q.stop(), 0);
});
