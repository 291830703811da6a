// For the fault suites: a host whose weekly submission goes to the REAL collector through a fault
// proxy (test/helpers/fault-proxy.ts, matching only /v1/submit), with `marks` events already written
// locally. The marks are tracked with both clocks a week behind (`offsetMs` − 7 days), then the
// clocks move to `offsetMs` ahead of real time: whatever the weekday, the marks then lie in the last
// whole UTC week (Monday to Monday), the week a submission reports.
import type { ExecutionContext } from 'ava';
import type Router from '@koa/router';
import type { Knex } from 'knex';
import { TABLES } from '../../src/plugin/db/tables.js';
import { startHostApp, type HostApp } from './host-app.js';
import { startCollector, TestClock } from './collector.js';
import { createTestDatabase, type TestDatabase } from './databases.js';
import { startFaultProxy } from './fault-proxy.js';
import { keptLogger, until, type KeptLogger } from './fault-watch.js';
import { tempDirFor } from './tmp.js';
import { runtimeOf } from '../../src/plugin/internal.js';

export const DAY = 86_400_000;

/** GET /mark/:n tracks one `probe.marked` event. */
export const markRoute = (router: Router): void => {
  router.get('/mark/:n', (ctx) => {
    ctx.body = { tracked: ctx.telemetry.track('probe.marked', { n: Number(ctx.params.n) }) };
  });
};

export const countRows = async (knex: Knex, table: string, where: Record<string, unknown> = {}): Promise<number> =>
  Number(((await knex(table).where(where).count({ n: '*' }).first()) as { n: number | string }).n);

export interface SubmittingHost {
  db: TestDatabase;
  collector: Awaited<ReturnType<typeof startCollector>>;
  proxy: Awaited<ReturnType<typeof startFaultProxy>>;
  host: HostApp;
  logger: KeptLogger;
  knex: Knex;
}

export async function startSubmittingHost(
  t: ExecutionContext,
  options: { submission: { retryBaseMs?: number; timeoutMs?: number; maxAttempts?: number }; stopTimeoutMs: number; marks?: number; offsetMs?: number; recorderIntervalMs?: number },
): Promise<SubmittingHost> {
  const offset = options.offsetMs ?? DAY;
  const marks = options.marks ?? 0;
  // t − 7 days always falls in the whole week before the one containing t.
  let shift = marks > 0 ? offset - 7 * DAY : offset;
  const now = () => new Date(Date.now() + shift);
  const db = await createTestDatabase('sqlite');
  t.teardown(() => db.cleanup());
  const collector = await startCollector(t, db, { clock: new TestClock(now()), now });
  const proxy = await startFaultProxy(collector.url, { match: (path) => path.endsWith('/v1/submit') });
  t.teardown(() => proxy.close());
  const logger = keptLogger();
  const host = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      logger,
      collector: { url: proxy.url },
      submission: options.submission,
      recorder: { intervalMs: options.recorderIntervalMs ?? 20 },
      stopTimeoutMs: options.stopTimeoutMs,
      now,
    },
    routes: markRoute,
  });
  t.teardown(() => host.close());
  const knex = runtimeOf(host.telemetry).knex;
  for (let n = 0; n < marks; n++) t.is((await host.request(`/mark/${n}`, { user: 'alice' })).status, 200);
  await until(async () => (await countRows(knex, TABLES.usageEvents, { event_type: 'probe.marked' })) === marks, 5_000, 'events written');
  shift = offset;
  return { db, collector, proxy, host, logger, knex };
}
