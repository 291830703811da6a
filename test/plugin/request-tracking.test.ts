// Page views are counted per route template, never by raw URL, and never disturb the response.
import test, { type ExecutionContext } from 'ava';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';
import { runtimeOf } from '../../src/plugin/internal.js';

async function optedInHost(t: ExecutionContext) {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), debug: true, debugOutput: () => {}, logger: { debug() {}, info() {}, warn() {}, error() {} } } });
  t.teardown(() => host.close());
  await host.telemetry.consent.set({ analytics: true });
  return host;
}

const routes = (host: Awaited<ReturnType<typeof optedInHost>>) =>
  [...runtimeOf(host.telemetry).analytics.observation().pageviews.values()].map((p): Record<string, string | number> => ({ ...p.attributes, count: p.count }));

test('requests are counted under their route template with method and status class', async (t) => {
  const host = await optedInHost(t);
  await host.request('/projects/1?q=secret');
  await host.request('/projects/2');
  await host.request('/hello');
  await host.request('/boom');
  const counted = routes(host);
  t.like(counted.find((r) => r['http.route'] === '/projects/:id'), { count: 2, 'http.method': 'GET', 'http.status_class': '2xx' });
  t.like(counted.find((r) => r['http.route'] === '/boom'), { count: 1, 'http.status_class': '5xx' });
  t.false(JSON.stringify(counted).includes('secret'));
  t.false(JSON.stringify(counted).includes('/projects/1'));
});

test('unmatched paths share one bucket, so arbitrary URLs never become keys', async (t) => {
  const host = await optedInHost(t);
  for (let i = 0; i < 20; i++) await host.request(`/random/${i}?token=${i}`);
  const counted = routes(host).filter((r) => r['http.route'] === '(unmatched)');
  t.is(counted.length, 1);
  t.is(counted[0]!.count, 20);
});

test("the plugin's own routes are not counted as page views, and the host's response is untouched", async (t) => {
  const host = await optedInHost(t);
  const response = await host.request('/hello');
  t.deepEqual(await response.json(), { hello: 'world' });
  await host.request('/api/v1/usage-stats/status', { user: 'admin' });
  t.false(routes(host).some((r) => String(r['http.route']).startsWith('/api/v1/usage-stats')));
});

test('opted out, no page view is counted for export', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), debug: true, debugOutput: () => {}, logger: { debug() {}, info() {}, warn() {}, error() {} } } });
  t.teardown(() => host.close());
  await host.request('/projects/1');
  t.is(runtimeOf(host.telemetry).analytics.observation().pageviews.size, 0);
});

test('with local statistics off, page views are counted from the request after opting in (and not before)', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), debug: true, debugOutput: () => {}, localStats: false, logger: { debug() {}, info() {}, warn() {}, error() {} } } });
  t.teardown(() => host.close());
  t.deepEqual(await (await host.request('/hello')).json(), { hello: 'world' }, 'the host answers as usual with nothing counting');
  t.is(runtimeOf(host.telemetry).analytics.observation().pageviews.size, 0);
  await host.telemetry.consent.set({ analytics: true });
  await host.request('/projects/7');
  t.like(routes(host).find((r) => r['http.route'] === '/projects/:id'), { count: 1 });
  await host.telemetry.consent.set({ analytics: false });
  await host.request('/projects/8');
  t.is(runtimeOf(host.telemetry).analytics.observation().pageviews.size, 0, 'opting out forgets the counts and stops counting');
});
