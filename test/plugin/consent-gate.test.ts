// Invariant 1: opted out, no detailed event leaves the process or waits to be exported.
// nock records every request to the OTLP endpoint (net connect disabled: anything else fails);
// a real receiver shows the same from the outside.
import test from 'ava';
import { disallowNetwork, nock, restoreNetwork } from '../helpers/no-network.js';
import { startHostApp } from '../helpers/host-app.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { tempDirFor } from '../helpers/tmp.js';
import { runtimeOf } from '../../src/plugin/internal.js';

const ENDPOINT = 'http://otlp.invalid:4318';

/** Every OTLP body nock answered, as text. */
function recordOtlp(): string[] {
  const bodies: string[] = [];
  nock(ENDPOINT)
    .persist()
    .post(/\/v1\/(logs|metrics)/)
    .reply(200, (_uri, body) => {
      bodies.push(typeof body === 'string' ? body : JSON.stringify(body));
      return {};
    });
  return bodies;
}

test.before(disallowNetwork);
test.afterEach.always(() => nock.cleanAll());
test.after.always(restoreNetwork);

test.serial('opted out (the default): only base telemetry is requested, detailed events are neither sent nor queued', async (t) => {
  const bodies = recordOtlp();
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), otlp: { endpoint: ENDPOINT } } });
  t.teardown(() => host.close());
  t.false(host.telemetry.consent.get().analytics, 'analytics is off by default');

  await host.request('/projects/7', { user: 'alice' });
  await host.request('/timer/start', { method: 'POST', user: 'alice' });
  host.telemetry.track('report.exported', { format: 'csv' });
  host.telemetry.identify({ id: 2 }, { plan: 'pro' });
  await new Promise((done) => setImmediate(done));

  const status = host.telemetry.status();
  t.is(status.queue.export_depth, 0, 'nothing detailed waits to be exported');
  t.is(runtimeOf(host.telemetry).analytics.observation().pageviews.size, 0);
  t.is(runtimeOf(host.telemetry).analytics.observation().events.size, 0);

  t.true(await host.telemetry.flush());
  const sent = bodies.join('\n');
  t.true(sent.includes('base_telemetry.first_seen'), 'the base layer is on when a sink is configured');
  for (const detailed of ['project.viewed', 'timer.started', 'report.exported', 'user.identified', 'app.pageviews', 'app.events', '/projects']) {
    t.false(sent.includes(detailed), `${detailed} must not leave when opted out`);
  }
});

test.serial('opting out drops detailed events already queued and stops counting page views', async (t) => {
  const bodies = recordOtlp();
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), otlp: { endpoint: ENDPOINT }, export: { intervalMs: 60_000 } } });
  t.teardown(() => host.close());
  await host.telemetry.flush();
  await host.telemetry.consent.set({ analytics: true });

  await host.request('/timer/start', { method: 'POST', user: 'alice' });
  await new Promise((done) => setImmediate(done));
  t.true(host.telemetry.status().queue.export_depth > 0, 'queued while opted in');

  await host.telemetry.consent.set({ analytics: false });
  t.is(host.telemetry.status().queue.export_depth, 0, 'dropped on opt-out');
  await host.request('/projects/1', { user: 'alice' });
  t.true(await host.telemetry.flush());
  const sent = bodies.join('\n');
  t.false(sent.includes('timer.started'));
  t.false(sent.includes('app.pageviews'));
});

test.serial('opted out, as seen by a real receiver: base records arrive, no detailed record or metric does', async (t) => {
  const receiver = await startOtlpReceiver();
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), otlp: { endpoint: receiver.url } } });
  t.teardown(async () => {
    await host.close();
    await receiver.close();
  });
  await host.request('/projects/7', { user: 'alice' });
  await host.request('/timer/start', { method: 'POST', user: 'alice' });
  t.true(await host.telemetry.flush());
  t.deepEqual([...new Set(receiver.logs.map((l) => l.body))], ['base_telemetry.first_seen']);
  t.deepEqual(receiver.latestMetric('app.pageviews'), []);
  t.deepEqual(receiver.latestMetric('app.events'), []);
  t.is(receiver.latestMetric('app.install.active').length, 1);
});

test.serial('detailed page views still queued when analytics is withdrawn are dropped: opting in again does not export them', async (t) => {
  const receiver = await startOtlpReceiver();
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), otlp: { endpoint: receiver.url }, export: { intervalMs: 60_000, metricIntervalMs: 60_000 } } });
  t.teardown(async () => {
    await host.close();
    await receiver.close();
  });
  await host.telemetry.consent.set({ analytics: true });
  // Fewer than a batch: they wait in the queue, not yet counted.
  for (let i = 0; i < 3; i++) await host.request('/projects/7', { user: 'alice' });
  await host.telemetry.consent.set({ analytics: false });
  await host.telemetry.consent.set({ analytics: true });
  await host.request('/hello');
  t.true(await host.telemetry.flush());
  const points = receiver.latestMetric('app.pageviews').map((p) => [p.attributes['http.route'] ?? p.attributes.route, p.value]);
  t.deepEqual(points, [['/hello', 1]], 'only the view made after opting in again');
});
