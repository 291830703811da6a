// Regressions of the attack "distinct User-Agent strings grow host memory without bound while
// analytics is on": page-view counting keyed its maps by the cached summary object, and every clear
// of the parse cache minted new objects, so each flood added keys again. Event names counted for
// the app.events metric had no cap either.
import test from 'ava';
import { startHostApp } from '../helpers/host-app.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { tempDirFor } from '../helpers/tmp.js';
import { SUMMARY_LIMIT, UserAgentCache, boundedUserAgent } from '../../src/plugin/telemetry/user-agent.js';
import v8 from 'node:v8';
import vm from 'node:vm';
import { EVENT_COUNT_KEY_LIMIT } from '../../src/plugin/telemetry/analytics.js';
import { runtimeOf } from '../../src/plugin/internal.js';

const FAMILIES = [
  (v: number) => `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.${v}.0 Safari/537.36`,
  (v: number) => `Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:${v}.0) Gecko/20100101 Firefox/${v}.0`,
  (v: number) => `Mozilla/5.0 (iPhone; CPU iPhone OS 17_${v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.${v} Mobile/15E148 Safari/604.1`,
];

test('distinct User-Agent strings do not grow the page-view counters (the parse cache is cleared several times)', async (t) => {
  t.timeout(120_000);
  const receiver = await startOtlpReceiver();
  const host = await startHostApp({
    telemetry: { dataDir: await tempDirFor(t), otlp: { endpoint: receiver.url }, export: { intervalMs: 60_000, metricIntervalMs: 60_000 }, localStats: false },
  });
  t.teardown(async () => {
    await host.close();
    await receiver.close();
  });
  await host.telemetry.consent.set({ analytics: true });

  // 1,800 distinct strings: more than three times the parse cache, in three browser families.
  for (let i = 0; i < 1_800; i += 30) {
    await Promise.all(Array.from({ length: 30 }, (_, j) => host.request('/hello', { headers: { 'user-agent': FAMILIES[(i + j) % 3]!(i + j) } })));
  }
  const runtime = runtimeOf(host.telemetry);
  const keys = runtime.analytics.countingKeys;
  t.true(runtime.userAgents.distinctSummaries <= 3, `one summary per family, not per cache generation (${runtime.userAgents.distinctSummaries})`);
  t.is(keys.pageviewAgents, runtime.userAgents.distinctSummaries, 'one page-view key per family');
  t.true(runtime.userAgents.distinctSummaries <= SUMMARY_LIMIT + 2);

  t.true(await host.telemetry.flush());
  const points = await receiver.waitForMetric('app.pageviews', 5000, (p) => p.some((x) => x.attributes['http.route'] === '/hello'));
  const hello = points.filter((p) => p.attributes['http.route'] === '/hello');
  t.is(hello.reduce((sum, p) => sum + p.value, 0), 1_800, 'every page view is still counted');
  t.true(hello.length <= 3, 'one series per family');
});

test('distinct event names do not grow the app.events counter beyond its cap', async (t) => {
  const host = await startHostApp({
    telemetry: { dataDir: await tempDirFor(t), otlp: { endpoint: 'http://127.0.0.1:9' }, export: { intervalMs: 60_000, metricIntervalMs: 60_000, queueCap: 10 }, localStats: false },
  });
  t.teardown(() => host.close());
  await host.telemetry.consent.set({ analytics: true });
  for (let i = 0; i < EVENT_COUNT_KEY_LIMIT + 500; i++) host.telemetry.track(`flood.name_${i}`);
  runtimeOf(host.telemetry).analytics.drain();
  t.is(runtimeOf(host.telemetry).analytics.countingKeys.eventNames, EVENT_COUNT_KEY_LIMIT);
});

// The attack "long User-Agent headers kept alive": the parse cache kept the first 512 characters of
// each as its key, but a slice of a V8 string points into the whole header, so 500 cached 16 KB
// headers held ~9 MB (and the detailed page-view queue would hold 256 more). Now only a copy of the
// first 512 characters is kept, by the cache and by the queue alike.
test('long User-Agent headers are not kept alive by the parse cache or the page-view queue: only a copy of their first 512 characters', (t) => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const header = (i: number) => `Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.${i}.0 ${'x'.repeat(16_000)}`;
  gc();
  const before = process.memoryUsage().heapUsed;
  const cache = new UserAgentCache();
  const queued: string[] = [];
  for (let i = 0; i < 500; i++) {
    cache.summarize(header(i));
    queued.push(boundedUserAgent(header(i)));
  }
  gc();
  gc();
  const retainedMb = (process.memoryUsage().heapUsed - before) / 1e6;
  t.is(cache.size, 500);
  t.true(queued.every((ua) => ua.length === 512 && ua.startsWith('Mozilla/5.0')));
  // 1,000 kept strings of 512 characters are ~1–2 MB; the whole headers would be ~16 MB.
  t.true(retainedMb < 5, `retained ${retainedMb.toFixed(1)} MB`);
});
