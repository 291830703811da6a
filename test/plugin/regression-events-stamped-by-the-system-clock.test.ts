// Regression: track() and the page-view count stamped what they recorded with the system clock
// while the weekly summary counted weeks by the plugin's `now` clock. With an injected clock, events
// fell outside the week that was reported, and the submission tests passed only on Sundays (real
// Sunday + one day of clock offset happened to be the week after the events).
import test from 'ava';
import { TABLES } from '../../src/plugin/db/tables.js';
import { runtimeOf } from '../../src/plugin/internal.js';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';

const INJECTED = '2026-03-04T10:15:00.000Z'; // a Wednesday, far from the real date

test('events, page views and uptime hours are recorded at the time of the injected clock', async (t) => {
  const clock = { at: INJECTED };
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), now: () => new Date(clock.at) } });
  t.teardown(() => host.close());
  host.telemetry.track('timer.started', { source: 'web' });
  t.is((await host.request('/hello')).status, 200);
  const runtime = runtimeOf(host.telemetry);
  runtime.analytics.drain();
  await runtime.recorder!.flush();

  const knex = runtime.knex;
  const events = (await knex(TABLES.usageEvents).select('event_type', 'occurred_at')) as { event_type: string; occurred_at: unknown }[];
  t.deepEqual(events.map((e) => e.event_type).sort(), ['app.started', 'timer.started']);
  for (const e of events) t.is(new Date(e.occurred_at as string).toISOString(), INJECTED, `${e.event_type} stamped by the injected clock`);
  const pageviews = (await knex(TABLES.pageviewCounts).select('hour_start')) as { hour_start: unknown }[];
  t.true(pageviews.length > 0, 'the page view was counted');
  for (const p of pageviews) t.is(new Date(p.hour_start as string).toISOString(), '2026-03-04T10:00:00.000Z');
  const hours = (await knex(TABLES.uptimeHours).select('hour_start')) as { hour_start: unknown }[];
  t.deepEqual(hours.map((h) => new Date(h.hour_start as string).toISOString()), ['2026-03-04T10:00:00.000Z']);

  // And so the week the summary reports once that week is over contains them.
  clock.at = '2026-03-10T08:00:00.000Z'; // the next Tuesday
  const [week, ...more] = await host.telemetry.stats.preview();
  t.is(more.length, 0);
  t.deepEqual(week?.period, { start: '2026-03-02', end: '2026-03-09' });
  t.is(week?.event_counts['timer.started'], 1);
  t.is(week?.event_counts['app.started'], 1);
});

test('a host clock that throws or gives an invalid date never fails the route that tracks: the system time is used', async (t) => {
  let mode: 'ok' | 'throw' | 'invalid' = 'ok'; // a working clock while the plugin starts
  const host = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      now: () => {
        if (mode === 'throw') throw new Error('clock service down');
        return mode === 'invalid' ? new Date('not a date') : new Date();
      },
    },
  });
  t.teardown(() => host.close());
  await host.telemetry.ready();
  const before = Date.now();
  mode = 'throw';
  t.true(host.telemetry.track('timer.started', { source: 'web' }));
  mode = 'invalid';
  t.true(host.telemetry.track('timer.started', { source: 'api' }));
  t.is((await host.request('/hello')).status, 200);
  mode = 'ok';
  const runtime = runtimeOf(host.telemetry);
  runtime.analytics.drain();
  await runtime.recorder!.flush();
  const events = (await runtime.knex(TABLES.usageEvents).where('event_type', 'timer.started').select('occurred_at')) as { occurred_at: unknown }[];
  t.is(events.length, 2);
  for (const e of events) t.true(new Date(e.occurred_at as string).getTime() >= before - 1000, 'stamped with the system time');
});
