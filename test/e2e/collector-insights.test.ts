// Browser test of the insights (Debian's chromium driven by playwright-core) on seed-demo data: the
// dashboard's top-versions, top-countries, enabled/disabled feature, least-used and errors by
// version × deployment mode panels render, and the public insights page draws its charts from the
// collector's own assets, without cookies and without any request elsewhere.
import { type Browser, type Page } from 'playwright-core';
import test from 'ava';
import { keepRequestsLocal, launchChromium } from '../helpers/browser.js';
import { startCollectorServer, jsonLogger, type CollectorServer } from '../../src/collector/server.js';
import { testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { ADMIN_TOKEN, TestClock, databaseEnv } from '../helpers/collector.js';
import { migrateCollector } from '../../src/collector/storage/migrations.js';
import { DemoFleetRepository } from '../../src/collector/storage/demo-fleet.js';
import { seedDemo } from '../../src/collector/demo/seed.js';

const DASHBOARD_CHARTS = ['chart-versions', 'chart-countries', 'chart-features', 'chart-errors-version-mode'];
const PUBLIC_CHARTS = [30, 90].flatMap((d) => ['versions', 'modes', 'countries', 'features'].map((c) => `public-${d}-${c}`));

let browser: Browser;
test.before(async () => {
  browser = await launchChromium();
});
test.after.always(async () => {
  await browser?.close();
});

async function demoCollector(db: TestDatabase): Promise<CollectorServer> {
  const clock = new TestClock('2026-03-18T12:00:00Z');
  await migrateCollector(db.knex);
  const seeded = await seedDemo(new DemoFleetRepository(db.knex), { installations: 400, weeks: 26, seed: 1, now: clock.now(), force: false });
  if (seeded.outcome !== 'seeded') throw new Error('not seeded');
  return startCollectorServer({
    env: { ...databaseEnv(db), PORT: '0', HOST: '127.0.0.1', COLLECTOR_ADMIN_TOKEN: ADMIN_TOKEN, COLLECTOR_JOBS: '0', COLLECTOR_PUBLIC_INSIGHTS: '1' },
    logger: jsonLogger('error', () => undefined),
    collector: { now: clock.now },
  });
}

/** Painted (non-transparent) pixels of each canvas, once every chart exists. */
async function paintedPixels(page: Page, ids: string[]): Promise<Record<string, number>> {
  await page.waitForFunction((list) => list.every((id: string) => (window as unknown as { kctCharts?: Record<string, unknown> }).kctCharts?.[id]), ids);
  return page.evaluate((list) => {
    const out: Record<string, number> = {};
    for (const id of list) {
      const canvas = document.getElementById(id) as HTMLCanvasElement;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let painted = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) painted++;
      out[id] = painted;
    }
    return out;
  }, ids);
}

testEachDatabase('seed-demo data: the insight panels render on the dashboard, and /public draws its charts without cookies or outside requests', async (t, db) => {
  t.timeout(120_000);
  const server = await demoCollector(db);
  t.teardown(() => server.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  t.teardown(() => context.close());
  context.setDefaultTimeout(20_000);
  const external = await keepRequestsLocal(context, server.url);
  const problems: string[] = [];
  const page = await context.newPage();
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });

  // The public page first, in a context that has no cookie yet: it sets none.
  const response = await page.goto(`${server.url}/public`);
  t.is(response?.status(), 200);
  const publicPixels = await paintedPixels(page, PUBLIC_CHARTS);
  for (const id of PUBLIC_CHARTS) t.true(publicPixels[id]! > 100, `${id}: ${publicPixels[id]} painted pixels`);
  t.regex((await page.textContent('[data-window="30"] h2')) ?? '', /^Last 30 days · about \d+0 active installations$/);
  t.deepEqual(await context.cookies(), [], 'the public page sets no cookie');
  await page.screenshot({ path: '/tmp/collector-public-insights.png', fullPage: true });

  // The dashboard, signed in.
  await page.goto(`${server.url}/dashboard`);
  await page.fill('#kct-token', ADMIN_TOKEN);
  await Promise.all([page.waitForURL(/\/dashboard$/), page.click('[data-sign-in-form] button[type=submit]')]);
  // The demo's incident last week shows as an anomaly.
  t.truthy(await page.$('[data-anomaly="error_spike"]'));
  const pixels = await paintedPixels(page, DASHBOARD_CHARTS);
  for (const id of DASHBOARD_CHARTS) t.true(pixels[id]! > 100, `${id}: ${pixels[id]} painted pixels`);
  // The charts carry the API's numbers: stacked enabled/disabled bars, at most 5 versions + other, 10 countries + other.
  const adoption = await (await fetch(`${server.url}/stats/feature-adoption`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
  // (No named functions inside evaluate: the test transpiler would wrap them in a helper the page lacks.)
  const chartData = await page.evaluate((ids) => {
    const charts = (window as unknown as { kctCharts: Record<string, { data: { labels: string[]; datasets: { label: string; data: number[] }[] } }> }).kctCharts;
    return ids.map((id) => ({ labels: charts[id]!.data.labels, datasets: charts[id]!.data.datasets.map((d) => ({ label: d.label, data: d.data })) }));
  }, ['chart-features', 'chart-versions', 'chart-countries', 'chart-errors-version-mode']).then(([features, versions, countries, errors]) => ({ features: features!, versions: versions!, countries: countries!, errors: errors! }));
  t.deepEqual(chartData.features.labels, adoption.features.map((f: { feature: string }) => f.feature));
  t.deepEqual(chartData.features.datasets.map((d) => d.label), ['Enabled', 'Disabled']);
  t.deepEqual(chartData.features.datasets[1]!.data, adoption.features.map((f: { disabled: number }) => f.disabled));
  const labels = (rows: { other?: boolean; version?: string; country?: string }[]) => rows.map((r) => (r.other ? 'other' : (r.version ?? r.country)));
  t.deepEqual(chartData.versions.labels, labels(adoption.top_versions));
  t.true(chartData.versions.labels.length <= 6);
  t.deepEqual(chartData.countries.labels, labels(adoption.top_countries));
  t.is(chartData.countries.labels.length, 11, 'ten countries and "other"');
  t.is(chartData.countries.labels.at(-1), 'other');
  t.deepEqual(chartData.errors.datasets.map((d) => d.label).sort(), ['docker', 'native', 'other'].filter((m) => chartData.errors.datasets.some((d) => d.label === m)));
  // The demo's bad release: 2.0.0 on native has the highest error rate of the table.
  const rates = await page.$$eval('[data-errors-version-mode] tbody tr', (rows) =>
    rows.map((r) => ({ key: `${r.getAttribute('data-version')}/${r.getAttribute('data-mode')}`, rate: Number.parseFloat(r.children[4]!.textContent ?? '') })),
  );
  t.true(rates.length >= 2);
  const worst = rates.reduce((a, b) => (b.rate > a.rate ? b : a));
  t.is(worst.key, '2.0.0/native');
  const leastUsed = await page.$$eval('[data-least-used] li', (items) => items.map((li) => li.getAttribute('data-feature')));
  t.deepEqual(leastUsed, adoption.least_used.map((f: { feature: string }) => f.feature));
  t.true(leastUsed.length > 0);
  await page.screenshot({ path: '/tmp/collector-dashboard-insights.png', fullPage: true });

  t.deepEqual(external, [], 'nothing requested from outside the collector');
  t.deepEqual(problems, [], 'no script errors, no CSP violations');
});
