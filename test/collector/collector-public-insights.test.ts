// The public insights page (docs/collector.md): off by default (the paths stay the host's, or 404
// standalone); on, /public and /public/insights.json answer without auth and without cookies,
// with counts rounded to 10 and rows rounding under k left out, cached in memory and by
// Cache-Control for the cache period.
import test from 'ava';
import { registerAndSubmit, startCollector, databaseEnv, ADMIN_TOKEN, TestClock } from '../helpers/collector.js';
import { testEachDatabase } from '../helpers/databases.js';
import { startCollectorServer, jsonLogger } from '../../src/collector/server.js';
import { roundCount } from '../../src/collector/analytics/public-insights.js';
import { resolveCollectorOptions } from '../../src/collector/options.js';

const MINUTE = 60_000;

test('publicInsights is off by default and COLLECTOR_PUBLIC_INSIGHTS=1 turns it on', (t) => {
  t.false(resolveCollectorOptions({ env: {} }).publicInsights);
  t.true(resolveCollectorOptions({ env: { COLLECTOR_PUBLIC_INSIGHTS: '1' } }).publicInsights);
  t.false(resolveCollectorOptions({ env: { COLLECTOR_PUBLIC_INSIGHTS: '1' }, publicInsights: false }).publicInsights);
  t.is(resolveCollectorOptions({ env: {} }).publicInsightsCacheMinutes, 60);
  t.throws(() => resolveCollectorOptions({ env: {}, publicInsightsCacheMinutes: 0 }), { instanceOf: TypeError, message: /publicInsightsCacheMinutes/ });
});

test('roundCount rounds to the nearest 10', (t) => {
  t.deepEqual([0, 4, 5, 14, 15, 24, 26].map((n) => roundCount(n)), [0, 0, 10, 10, 20, 20, 30]);
});

testEachDatabase('off: a mounted collector leaves /public to the host', async (t, db) => {
  const c = await startCollector(t, db);
  for (const path of ['/public', '/public/insights.json']) {
    const response = await fetch(`${c.url}${path}`);
    t.is(response.status, 200, path);
    t.deepEqual(await response.json(), { host: true });
  }
});

testEachDatabase('standalone: 404 when off; on with COLLECTOR_PUBLIC_INSIGHTS=1, served without auth and without any cookie', async (t, db) => {
  const env = { ...databaseEnv(db), PORT: '0', HOST: '127.0.0.1', COLLECTOR_ADMIN_TOKEN: ADMIN_TOKEN, COLLECTOR_JOBS: '0' };
  const logger = jsonLogger('error', () => undefined);
  const off = await startCollectorServer({ env, logger });
  t.teardown(() => off.close());
  for (const path of ['/public', '/public/insights.json']) {
    const response = await fetch(`${off.url}${path}`);
    t.is(response.status, 404, path);
    t.is(((await response.json()) as { error: { code: string } }).error.code, 'not_found');
  }
  await off.close();

  const on = await startCollectorServer({ env: { ...env, COLLECTOR_PUBLIC_INSIGHTS: '1' }, logger });
  t.teardown(() => on.close());
  const json = await fetch(`${on.url}/public/insights.json`);
  t.is(json.status, 200);
  t.is(json.headers.get('set-cookie'), null);
  t.is(json.headers.get('cache-control'), 'public, max-age=3600');
  const body = (await json.json()) as { rounding: number; k_threshold: number; windows: { window_days: number }[] };
  t.is(body.rounding, 10);
  t.deepEqual(body.windows.map((w) => w.window_days), [30, 90]);

  const page = await fetch(`${on.url}/public`);
  t.is(page.status, 200);
  t.is(page.headers.get('set-cookie'), null);
  t.is(page.headers.get('cache-control'), 'public, max-age=3600');
  t.regex(page.headers.get('content-type') ?? '', /^text\/html/);
  t.regex(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  t.regex(page.headers.get('content-security-policy') ?? '', /connect-src 'none'/);
  const html = await page.text();
  for (const id of ['public-30-versions', 'public-30-modes', 'public-30-countries', 'public-30-features', 'public-90-versions']) t.true(html.includes(`id="${id}"`), id);
  // Every script and stylesheet is the collector's own.
  const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
  t.true(sources.length >= 3);
  for (const source of sources) t.regex(source, /^\/(dashboard\/assets|public)\//, source);
  const chart = await fetch(`${on.url}${sources.find((s) => s.includes('chart.umd.min.js'))}`);
  t.is(chart.status, 200);
  t.is(chart.headers.get('set-cookie'), null);
  const script = await fetch(`${on.url}${sources.find((s) => s.includes('public.js'))}`);
  t.is(script.status, 200);
  t.false((await script.text()).includes('fetch('), 'the page fetches nothing');
});

testEachDatabase('counts are rounded to 10, rows rounding under k are left out, and answers are cached for the cache period', async (t, db) => {
  const clock = new TestClock('2026-03-18T12:00:00Z');
  const c = await startCollector(t, db, { clock, publicInsights: true, kThreshold: 12, publicInsightsCacheMinutes: 30, registrationsPerClientPerHour: 1000 });
  const send = async (n: number, over: Parameters<typeof registerAndSubmit>[2]) => {
    for (let i = 0; i < n; i++) await registerAndSubmit(c.url, c.clock, over);
  };
  // 41 active: DE 16 (→ 20), FR 12 (≥ k, but → 10 < k: left out), US 5 + NL 8 (merged: other 13 → 10 < k: left out).
  await send(16, { country: 'DE', deployment_type: 'docker', feature_flags: { sso: true } });
  await send(12, { country: 'FR', deployment_type: 'docker', feature_flags: { sso: false } });
  await send(5, { country: 'US', deployment_type: 'native', feature_flags: { sso: false } });
  await send(8, { country: 'NL', deployment_type: 'native', feature_flags: { sso: false } });

  const first = await (await fetch(`${c.url}/public/insights.json`)).json();
  t.is(first.k_threshold, 12);
  const last30 = first.windows[0];
  t.is(last30.window_days, 30);
  t.is(last30.active, 40);
  t.deepEqual(last30.countries, [{ label: 'DE', installations: 20, percent: 50 }]);
  t.deepEqual(last30.versions, [{ label: '1.4.0', installations: 40, percent: 100 }]);
  // docker 28 → 30; native 13 → 10 < k.
  t.deepEqual(last30.deployment_modes, [{ label: 'docker', installations: 30, percent: 75 }]);
  t.deepEqual(last30.features, [{ label: 'sso', installations: 20, percent: 50 }]);
  for (const w of first.windows) {
    for (const list of [w.versions, w.deployment_modes, w.countries, w.features]) for (const row of list) t.is(row.installations % 10, 0);
  }

  // One more FR installation: within the cache period nothing changes (the same document)…
  await send(1, { country: 'FR', deployment_type: 'docker', feature_flags: { sso: false } });
  c.clock.advance(29 * MINUTE);
  t.deepEqual(await (await fetch(`${c.url}/public/insights.json`)).json(), first);
  // …after it the numbers are recomputed, and still rounded: FR 13 → 10 (left out), active 42 → 40.
  c.clock.advance(2 * MINUTE);
  const later = await (await fetch(`${c.url}/public/insights.json`)).json();
  t.not(later.generated_at, first.generated_at);
  t.deepEqual(later.windows, first.windows);
  // Three more FR: 16 → 20 is shown.
  await send(3, { country: 'FR', deployment_type: 'docker', feature_flags: { sso: false } });
  c.clock.advance(31 * MINUTE);
  const after = await (await fetch(`${c.url}/public/insights.json`)).json();
  t.deepEqual(after.windows[0].countries, [
    { label: 'DE', installations: 20, percent: 40 },
    { label: 'FR', installations: 20, percent: 40 },
  ]);
  t.is(after.windows[0].active, 50);
});
