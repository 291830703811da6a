// Regression: stop() waited without a bound for work already under way — here a scheduled job still
// running; a submission hanging at the collector is the same bug, covered in faults-collector —
// before its final local write. The cap still held (stop() resolved on time), but what was buffered
// was written only after stop() had resolved, or never if the process exited then. Each wait now
// gets a share of the cap.
import { join } from 'node:path';
import test from 'ava';
import knex from 'knex';
import { TABLES } from '../../src/plugin/db/tables.js';
import { DEFAULT_SQLITE_FILE } from '../../src/core/db/connection.js';
import { dailyAt } from '../../src/core/scheduler.js';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';
import { runtimeOf } from '../../src/plugin/internal.js';

const STOP_CAP_MS = 600;

test('a job still running at stop() does not keep the buffered statistics from being written', async (t) => {
  const dataDir = await tempDirFor(t);
  // Local statistics are written only by stop()'s final flush (the interval is an hour).
  const host = await startHostApp({ telemetry: { dataDir, recorder: { intervalMs: 3_600_000 }, stopTimeoutMs: STOP_CAP_MS } });
  t.teardown(() => host.close());
  const { scheduler } = runtimeOf(host.telemetry);
  let release: () => void = () => {};
  scheduler.schedule('hanging-job', dailyAt(3, 0), () => new Promise<void>((done) => (release = done)));
  void scheduler.runNow('hanging-job');
  t.teardown(() => release());

  t.true(host.telemetry.track('probe.final'));
  t.is((await host.request('/hello')).status, 200);
  await host.telemetry.stop();
  t.is((await host.request('/hello')).status, 200, 'the host still answers after stop()');

  const file = knex({ client: 'sqlite3', connection: { filename: join(dataDir, DEFAULT_SQLITE_FILE) }, useNullAsDefault: true });
  t.teardown(() => file.destroy());
  const rows = (await file(TABLES.usageEvents).where({ event_type: 'probe.final' }).count({ n: '*' }).first()) as { n: number | string };
  t.is(Number(rows.n), 1, 'the event tracked before stop() was written by stop()');
  const pageviews = (await file(TABLES.pageviewCounts).where({ route: '/hello' }).sum({ n: 'count' }).first()) as { n: number | string | null };
  t.is(Number(pageviews.n), 1, 'and so was the page view');
});
