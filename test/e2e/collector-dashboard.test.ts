// Browser test of the collector dashboard (Debian's chromium driven by playwright-core) against the
// standalone server: sign in with the admin token, the cards show /stats/overview's numbers, the
// anomaly list shows severities, all five charts are drawn (non-empty canvases), Export JSON
// downloads the export, the report buttons pass CSRF — and nothing is fetched from anywhere else.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser } from 'playwright-core';
import { keepRequestsLocal, launchChromium } from '../helpers/browser.js';
import test from 'ava';
import { startCollectorServer, jsonLogger, type CollectorServer } from '../../src/collector/server.js';
import { testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { ADMIN_TOKEN, TestClock, databaseEnv, payloadFor, register, submit, type Installation } from '../helpers/collector.js';
import { makeTempDir } from '../helpers/tmp.js';

const CHARTS = ['chart-installations', 'chart-deployment', 'chart-versions', 'chart-countries', 'chart-features'];

let browser: Browser;
test.before(async () => {
  browser = await launchChromium();
});
test.after.always(async () => {
  await browser?.close();
});

/** Two weeks of history: 8 installations the week before last, 6 of them last week (all with errors). */
async function seeded(db: TestDatabase): Promise<{ server: CollectorServer; clock: TestClock }> {
  const clock = new TestClock('2026-03-04T10:00:00Z');
  const server = await startCollectorServer({
    env: { ...databaseEnv(db), PORT: '0', HOST: '127.0.0.1', COLLECTOR_ADMIN_TOKEN: ADMIN_TOKEN, COLLECTOR_JOBS: '0' },
    logger: jsonLogger('error', () => undefined),
    collector: { now: clock.now },
  });
  let n = 0;
  const send = async (install: Installation, over: Parameters<typeof payloadFor>[1]) => {
    const start = new Date(Date.UTC(2026, 0, 5 + 7 * n++)).toISOString().slice(0, 10);
    const end = new Date(Date.parse(start) + 7 * 86_400_000).toISOString().slice(0, 10);
    const r = await submit(server.url, clock, install, payloadFor(install.installId, { period: { start, end }, ...over }));
    if (r.status !== 202) throw new Error(await r.text());
  };
  const installs: Installation[] = [];
  for (let i = 0; i < 8; i++) {
    installs.push(await register(server.url));
    await send(installs[i]!, { app_version: '2.0.0', deployment_type: i < 5 ? 'docker' : 'native', country: i < 5 ? 'DE' : 'FR', feature_flags: { sso: i < 6, dark_mode: true } });
  }
  clock.set('2026-03-11T10:00:00Z');
  for (let i = 0; i < 6; i++) await send(installs[i]!, { app_version: '2.1.0', deployment_type: 'docker', country: 'DE', error_count: 3, feature_flags: { sso: true, dark_mode: true } });
  clock.set('2026-03-17T09:00:00Z');
  return { server, clock };
}

testEachDatabase('sign in, cards, anomalies, five drawn charts, export, report buttons — all served locally', async (t, db) => {
  t.timeout(60_000);
  const { server } = await seeded(db);
  t.teardown(() => server.close());
  const overview = await (await fetch(`${server.url}/stats/overview`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
  const downloads = await makeTempDir('kct-e2e-collector-');

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  t.teardown(() => context.close());
  context.setDefaultTimeout(15_000);
  const external = await keepRequestsLocal(context, server.url);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });

  // Sign in: a wrong token first.
  await page.goto(`${server.url}/`);
  t.regex(page.url(), /\/dashboard$/);
  await page.fill('#kct-token', 'definitely-not-the-token');
  await page.click('[data-sign-in-form] button[type=submit]');
  t.regex((await page.textContent('[data-sign-in-error]')) ?? '', /not right/);
  problems.length = 0; // the 401 answer of the wrong sign-in is logged by the browser; that was expected
  await page.fill('#kct-token', ADMIN_TOKEN);
  await Promise.all([page.waitForURL(/\/dashboard$/), page.click('[data-sign-in-form] button[type=submit]')]);
  await page.waitForSelector('#chart-features');
  const session = (await context.cookies()).find((c) => c.name === 'kct_collector_session');
  t.truthy(session);
  t.true(session!.httpOnly);
  t.is(session!.sameSite, 'Strict');

  // Cards: the same numbers as /stats/overview.
  const card = async (key: string) => (await page.textContent(`[data-card="${key}"] .kct-value`))?.trim();
  t.is(await card('total'), String(overview.total));
  t.is(await card('active_7d'), String(overview.active_7d));
  t.is(await card('active_30d'), String(overview.active_30d));
  t.is(await card('growth'), overview.growth_7d_percent === null ? '–' : `${overview.growth_7d_percent} %`);

  // Anomalies with severities: last week 6 of 6 installations reported errors; 8 → 6 is a 25 % drop.
  t.is(await page.textContent('[data-anomaly="high_error_rate"] .kct-severity'), 'high');
  t.is(await page.textContent('[data-anomaly="active_installs_drop"] .kct-severity'), 'medium');

  // Charts: five Chart.js instances, each canvas with drawn (non-transparent) pixels.
  await page.waitForFunction((ids) => ids.every((id: string) => (window as unknown as { kctCharts?: Record<string, unknown> }).kctCharts?.[id]), CHARTS);
  for (const id of CHARTS) {
    const drawn = await page.evaluate((canvasId) => {
      const canvas = document.getElementById(canvasId) as HTMLCanvasElement;
      if (!canvas || canvas.width === 0 || canvas.height === 0) return 0;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let painted = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) painted++;
      return painted;
    }, id);
    t.true(drawn > 100, `${id}: ${drawn} painted pixels`);
  }
  t.is(await page.evaluate(() => typeof (window as unknown as { Chart?: unknown }).Chart), 'function', 'Chart.js came from the collector');

  // Export JSON downloads the k-protected export.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-export-json]')]);
  t.regex(download.suggestedFilename(), /^collector-stats-2026-03-17\.json$/);
  const file = join(downloads, 'export.json');
  await download.saveAs(file);
  const exported = JSON.parse(await readFile(file, 'utf8'));
  t.is(exported.overview.total, overview.total);
  t.deepEqual(
    exported.geography.countries.map((r: { country: string }) => r.country),
    ['DE'], // the FR "other" row (2 installations) is under k: suppressed
  );

  // "Send weekly report": the POST carries the CSRF token (a 403 otherwise); e-mail is not configured here.
  await page.click('[data-send-report="weekly"]');
  await page.waitForFunction(() => /Not sent|was sent/.test(document.querySelector('[data-report-status]')?.textContent ?? ''));
  t.regex((await page.textContent('[data-report-status]')) ?? '', /Not sent: No report recipients are configured/);

  await page.screenshot({ path: '/tmp/collector-dashboard.png', fullPage: true });
  t.deepEqual(external, [], 'nothing requested from outside the collector');
  t.deepEqual(problems.filter((p) => !/409 \(Conflict\)/.test(p)), [], 'no script errors, no CSP violations');

  // Sign out: back to the form.
  await Promise.all([page.waitForURL(/\/dashboard$/), page.click('[data-sign-out]')]);
  t.truthy(await page.$('[data-sign-in-form]'));
});
