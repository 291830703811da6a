// Page views are counted per route template, never by raw URL, and never disturb the response.
import test, { type ExecutionContext } from 'ava';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';
import { runtimeOf } from '../../src/plugin/internal.js';
import { UserAgentCache } from '../../src/plugin/telemetry/user-agent.js';

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

test('a mixed stream of browsers, routes, methods and statuses is counted exactly, run by run and across queue batches', async (t) => {
  const host = await optedInHost(t);
  const { analytics } = runtimeOf(host.telemetry);
  const firefox = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
  const chrome = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36';
  const iphone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';
  const longAgent = `${chrome} ${'x'.repeat(2_000)}`;
  const agents = [firefox, chrome, iphone, longAgent, undefined];
  const routes = ['/projects/:id', '/hello', undefined, '/users/jane@example.com'];
  const expectedRoute = (route: string | undefined) => (route === '/projects/:id' || route === '/hello' ? route : '(unmatched)');
  const summaries = new UserAgentCache();
  const expected = new Map<string, number>();
  // Runs of one browser that change route, method or status mid-run, browsers alternating view by
  // view, headers equal in text but new strings (as Node's parser makes them), and 700 views in all
  // (the queue counts 256 at a time).
  let seed = 7;
  const next = (n: number) => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) % n;
  for (let view = 0; view < 700; view++) {
    const agentIndex = view % 50 < 25 ? Math.floor(view / 50) % agents.length : next(agents.length);
    const agent = agents[agentIndex];
    const header = agent === undefined ? undefined : Buffer.from(agent, 'latin1').toString('latin1');
    const route = routes[next(10) < 7 ? 0 : next(routes.length)];
    const method = next(10) < 8 ? 'GET' : 'POST';
    const status = next(10) < 8 ? 200 : 404;
    analytics.exportPageView(route === undefined ? undefined : `${route}`, method, status, header);
    const summary = summaries.summarize(agent);
    const key = [expectedRoute(route), method, status === 200 ? '2xx' : '4xx', summary.browser, summary.device].join(' ');
    expected.set(key, (expected.get(key) ?? 0) + 1);
  }
  const counted = new Map(
    [...analytics.observation().pageviews.values()].map((p) => [
      [p.attributes['http.route'], p.attributes['http.method'], p.attributes['http.status_class'], p.attributes['browser.family'], p.attributes['device.class']].join(' '),
      p.count,
    ]),
  );
  t.deepEqual(Object.fromEntries([...counted].sort()), Object.fromEntries([...expected].sort()));
  t.is([...counted.values()].reduce((a, b) => a + b, 0), 700);
});
