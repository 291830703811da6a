// Retention (docs/privacy-policy.md, section 3): the daily job purges local usage statistics older than
// retentionDays (default 365) and keeps newer ones. The clock is injected through the `now` option.
import test, { type ExecutionContext } from 'ava';
import { TABLES } from '../../src/plugin/db/tables.js';
import { RETENTION_JOB } from '../../src/plugin/jobs/retention.js';
import { UsageStatsRepository } from '../../src/plugin/stats/repository.js';
import { DEFAULT_RETENTION_DAYS } from '../../src/plugin/options.js';
import type { Logger } from '../../src/plugin/types.js';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';
import { runtimeOf } from '../../src/plugin/internal.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

async function host(t: ExecutionContext, telemetry: Record<string, unknown> = {}): Promise<{ app: HostApp; clock: { ms: number } }> {
  const clock = { ms: Date.parse('2026-06-15T12:00:00Z') };
  const app = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: silent, jobs: true, now: () => new Date(clock.ms), ...telemetry } });
  t.teardown(() => app.close());
  return { app, clock };
}

async function eventTypes(app: HostApp): Promise<string[]> {
  return (await runtimeOf(app.telemetry).knex(TABLES.usageEvents).orderBy('id').pluck('event_type')) as string[];
}

async function rows(app: HostApp, table: string): Promise<number> {
  return Number(((await runtimeOf(app.telemetry).knex(table).count({ n: '*' }).first()) as { n: number }).n);
}

test('the retention job is scheduled daily', async (t) => {
  const { app } = await host(t);
  const job = app.telemetry.status().jobs.find((j) => j.name === RETENTION_JOB);
  t.truthy(job);
  const next = new Date(job!.nextRunAt!);
  t.true(next.getTime() > Date.now() && next.getTime() <= Date.now() + DAY, 'within the next day');
  t.is(DEFAULT_RETENTION_DAYS, 365);
});

test('default 365 days: older events, page views and uptime hours are purged by the job, newer kept, the ledger untouched', async (t) => {
  const { app, clock } = await host(t);
  const now = clock.ms;
  const repo = new UsageStatsRepository(runtimeOf(app.telemetry).knex);
  const at = (daysAgo: number) => new Date(now - daysAgo * DAY);
  await repo.recordBatch(
    [
      { event_type: 'very.old', occurred_at: at(900), metadata: '{}' },
      { event_type: 'just.expired', occurred_at: new Date(now - 365 * DAY - 1), metadata: '{}' },
      { event_type: 'on.the.edge', occurred_at: at(365), metadata: '{}' },
      { event_type: 'recent.one', occurred_at: at(364), metadata: '{}' },
      { event_type: 'yesterday', occurred_at: at(1), metadata: '{}' },
    ],
    [
      { route: '/old', hour_start: new Date(Math.floor((now - 400 * DAY) / HOUR) * HOUR), count: 9 },
      { route: '/new', hour_start: new Date(Math.floor((now - 10 * DAY) / HOUR) * HOUR), count: 2 },
    ],
    [new Date(Math.floor((now - 400 * DAY) / HOUR) * HOUR), new Date(Math.floor((now - 10 * DAY) / HOUR) * HOUR)],
  );
  await repo.insertLedger({ period_start: '2024-01-01', period_end: '2024-01-08', idempotency_key: 'k', payload: '{}', status: 'accepted', attempts: 1, response_code: 202, response_body: null, error: null, sent_at: at(800) });

  await runtimeOf(app.telemetry).scheduler.runNow(RETENTION_JOB);
  const types = await eventTypes(app);
  t.false(types.includes('very.old'));
  t.false(types.includes('just.expired'));
  for (const kept of ['on.the.edge', 'recent.one', 'yesterday']) t.true(types.includes(kept), `${kept} kept`);
  t.deepEqual((await runtimeOf(app.telemetry).knex(TABLES.pageviewCounts).pluck('route')) as string[], ['/new']);
  t.is(await rows(app, TABLES.submissions), 1, 'what was sent stays readable');
  const job = app.telemetry.status().jobs.find((j) => j.name === RETENTION_JOB)!;
  t.truthy(job.lastRunAt);
  t.is(job.lastError, null);
});

test('retentionDays is honoured and the purge follows the injected clock', async (t) => {
  const { app, clock } = await host(t, { retentionDays: 30 });
  const repo = new UsageStatsRepository(runtimeOf(app.telemetry).knex);
  const start = clock.ms;
  await repo.recordBatch(
    [
      { event_type: 'day.minus_31', occurred_at: new Date(start - 31 * DAY), metadata: '{}' },
      { event_type: 'day.minus_29', occurred_at: new Date(start - 29 * DAY), metadata: '{}' },
      { event_type: 'day.minus_0', occurred_at: new Date(start), metadata: '{}' },
    ],
    [],
    [],
  );
  await runtimeOf(app.telemetry).scheduler.runNow(RETENTION_JOB);
  t.deepEqual((await eventTypes(app)).filter((n) => n.startsWith('day.')), ['day.minus_29', 'day.minus_0']);

  clock.ms = start + 2 * DAY; // two days later the 29-day-old event is 31 days old
  await runtimeOf(app.telemetry).scheduler.runNow(RETENTION_JOB);
  t.deepEqual((await eventTypes(app)).filter((n) => n.startsWith('day.')), ['day.minus_0']);

  clock.ms = start + 31 * DAY;
  await runtimeOf(app.telemetry).scheduler.runNow(RETENTION_JOB);
  t.deepEqual((await eventTypes(app)).filter((n) => n.startsWith('day.')), []);
});

test('events tracked through the plugin are purged once the clock passes retentionDays', async (t) => {
  // Local events carry the real time they happened; move the injected clock past retention.
  const clock = { offset: 0 };
  const app = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: silent, jobs: true, retentionDays: 1, now: () => new Date(Date.now() + clock.offset) } });
  t.teardown(() => app.close());
  app.telemetry.track('timer.started', {});
  await runtimeOf(app.telemetry).recorder!.flush();
  await new Promise((done) => setImmediate(done));
  await runtimeOf(app.telemetry).scheduler.runNow(RETENTION_JOB);
  t.true((await eventTypes(app)).includes('timer.started'), 'kept while younger than a day');
  clock.offset = DAY + HOUR;
  await runtimeOf(app.telemetry).scheduler.runNow(RETENTION_JOB);
  t.false((await eventTypes(app)).includes('timer.started'), 'purged a day later');
  t.is(await rows(app, TABLES.uptimeHours), 0, 'the uptime hours of that day went too');
});
