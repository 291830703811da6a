// Global Privacy Control: a request carrying `Sec-GPC: 1` is an opt-out for that request. Nothing it
// triggers (its events, its page view, its support funnel events) reaches a real OTLP receiver,
// while a request without the signal in the same run does. `DNT: 1` counts only with honorDnt.
import test, { type ExecutionContext } from 'ava';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { tempDirFor } from '../helpers/tmp.js';
import type { TelemetryOptions } from '../../src/index.js';

const GPC = { 'sec-gpc': '1' };

async function hostWithReceiver(t: ExecutionContext, extra: Partial<TelemetryOptions> = {}): Promise<{ host: HostApp; receiver: OtlpReceiver }> {
  const receiver = await startOtlpReceiver();
  const host = await startHostApp({
    telemetry: { dataDir: await tempDirFor(t), otlp: { endpoint: receiver.url }, export: { intervalMs: 60_000, metricIntervalMs: 60_000 }, ...extra },
    routes: (router) => {
      router.get('/signal/:n', (ctx) => {
        ctx.telemetry.track('signal.page', { source: 'web' });
        ctx.body = 'ok';
      });
      router.get('/plain/:n', (ctx) => {
        ctx.telemetry.track('plain.page', { source: 'web' });
        ctx.body = 'ok';
      });
    },
  });
  t.teardown(async () => {
    await host.close();
    await receiver.close();
  });
  await host.telemetry.consent.set({ analytics: true });
  return { host, receiver };
}

test('a request with Sec-GPC: 1 sends nothing detailed, while a request without it in the same run does', async (t) => {
  const { host, receiver } = await hostWithReceiver(t);

  await host.request('/signal/1', { user: 'alice', headers: GPC });
  await host.request('/timer/start', { method: 'POST', user: 'alice', headers: GPC });
  await host.request('/plain/1', { user: 'alice' });
  t.true(await host.telemetry.flush());

  const logs = await receiver.waitForLogs(1);
  const names = logs.map((l) => l.body);
  t.true(names.includes('plain.page'), 'the same user\'s request without the signal is exported');
  t.false(names.includes('signal.page'), 'the event of the GPC request stays local');
  t.false(names.includes('timer.started'));

  const pageviews = await receiver.waitForMetric('app.pageviews', 5000, (points) => points.some((p) => p.attributes['http.route'] === '/plain/:n'));
  t.false(pageviews.some((p) => p.attributes['http.route'] === '/signal/:n'), 'the GPC request\'s page view is not exported');
  t.false(pageviews.some((p) => p.attributes['http.route'] === '/timer/start'));

  // Still recorded locally for the admin, but never counted for the collector.
  const local = (await (await host.request('/api/v1/usage-stats/local', { user: 'admin' })).json()) as { by_type: { event_type: string }[] };
  t.true(local.by_type.some((r) => r.event_type === 'signal.page'));
});

test('a support funnel event sent with Sec-GPC: 1 does not leave the installation', async (t) => {
  const { host, receiver } = await hostWithReceiver(t);
  const html = await (await host.request('/telemetry/me', { user: 'alice' })).text();
  const token = /<meta name="csrf-token" content="([^"]+)">/.exec(html)![1]!;
  const send = (headers: Record<string, string>, source: string) =>
    host.request('/donate/track-support-event', {
      method: 'POST',
      user: 'alice',
      headers: { 'content-type': 'application/json', 'x-csrf-token': token, ...headers },
      body: JSON.stringify({ event: 'modal_opened', source }),
    });
  t.is((await send(GPC, 'header')).status, 202);
  t.is((await send({}, 'sidebar')).status, 202);
  t.true(await host.telemetry.flush());

  const logs = await receiver.waitForLogs(1);
  const opened = logs.filter((l) => l.body === 'support.modal_opened');
  t.is(opened.length, 1, 'only the funnel event without the signal is exported');
  t.is(opened[0]!.attributes.source, 'sidebar');
});

test('GET {api}/me reports the signal and the page says it is honoured', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t) } });
  t.teardown(() => host.close());
  t.deepEqual(await (await host.request('/api/v1/usage-stats/me', { user: 'alice', headers: GPC })).json(), { analytics: true, gpc: true, installation_analytics: false });
  t.deepEqual(await (await host.request('/api/v1/usage-stats/me', { user: 'alice', headers: { 'sec-gpc': '0' } })).json(), { analytics: true, gpc: false, installation_analytics: false });
  const page = await (await host.request('/telemetry/me', { user: 'alice', headers: GPC })).text();
  t.true(page.includes('data-telemetry-gpc'));
  const plain = await (await host.request('/telemetry/me', { user: 'alice' })).text();
  t.false(plain.includes('data-telemetry-gpc'));
});

test('DNT: 1 is ignored by default and honoured like GPC with honorDnt', async (t) => {
  const plain = await hostWithReceiver(t);
  await plain.host.request('/signal/1', { user: 'alice', headers: { dnt: '1' } });
  t.true(await plain.host.telemetry.flush());
  t.true((await plain.receiver.waitForLogs(1)).some((l) => l.body === 'signal.page'), 'DNT alone does not opt out by default');

  const honoring = await hostWithReceiver(t, { honorDnt: true });
  await honoring.host.request('/signal/1', { user: 'alice', headers: { dnt: '1' } });
  await honoring.host.request('/plain/1', { user: 'alice' });
  t.true(await honoring.host.telemetry.flush());
  const names = (await honoring.receiver.waitForLogs(1)).map((l) => l.body);
  t.true(names.includes('plain.page'));
  t.false(names.includes('signal.page'));
  t.deepEqual(await (await honoring.host.request('/api/v1/usage-stats/me', { user: 'alice', headers: { dnt: '1' } })).json(), { analytics: true, gpc: true, installation_analytics: true });
});
