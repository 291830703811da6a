// Browser test of issue 3 (Debian's chromium driven by playwright-core, see ../shared/TOOLCHAIN.md):
// sign in to the example host as admin, opt in (with the confirmation on opt-out), record events
// through the host's real UI, see both charts drawn, export, delete through the confirmation dialog
// and see the counts drop to zero. Every request outside 127.0.0.1 is blocked: the pages must work
// without internet (Chart.js is served by the plugin).
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { createExampleHost } from '../../example-host/app.js';
import { startSubmissionReceiver, waitUntil } from '../helpers/submission-receiver.js';
import { tempDirFor } from '../helpers/tmp.js';

const SCREENSHOT = '/tmp/usage-stats-e2e.png';

interface CanvasState {
  width: number;
  height: number;
  painted: number;
  chart: boolean;
}

/** Size, number of non-transparent pixels and whether Chart.js owns the canvas. */
function canvasState(page: Page, which: 'by-day' | 'by-type'): Promise<CanvasState> {
  return page.evaluate((selector) => {
    const canvas = document.querySelector(selector) as HTMLCanvasElement;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
    const Chart = (window as unknown as { Chart?: { getChart(c: HTMLCanvasElement): unknown } }).Chart;
    return { width: canvas.width, height: canvas.height, painted, chart: Boolean(Chart?.getChart(canvas)) };
  }, `[data-telemetry-chart="${which}"]`);
}

const number = async (page: Page, selector: string) => Number((await page.textContent(selector))!.trim());

// One Chromium for the file (launching is the slow part); every test opens its own context.
let browser: Browser;
test.before(async () => {
  browser = await launchChromium();
});
test.after.always(async () => {
  await browser?.close();
});

test('admin opts in, records events, sees both charts, exports, deletes and sees zero', async (t) => {
  t.timeout(90_000);
  const receiver = await startSubmissionReceiver();
  t.teardown(() => receiver.close());
  const dataDir = await tempDirFor(t, 'kct-e2e-');
  const host = await createExampleHost({
    dataDir,
    logger: { info() {}, error() {} },
    telemetry: {
      env: {},
      jobs: false,
      collector: { url: receiver.url },
      recorder: { intervalMs: 50 },
      submission: { retryBaseMs: 50, maxAttempts: 1, timeoutMs: 2_000 },
    },
  });
  const server = await host.listen(0, '127.0.0.1');
  t.teardown(async () => {
    await server.close();
    await host.close();
  });

  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  t.teardown(() => context.close());
  const external: string[] = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1' || url.protocol === 'data:') return route.continue();
    external.push(url.href);
    return route.abort();
  });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    // The deliberate 400 page below logs "Failed to load resource … 400"; anything else is a finding.
    if (msg.type() === 'error' && !/status of 400/.test(msg.text())) pageErrors.push(msg.text());
  });

  // ---- sign in as admin and find the plugin's pages from the host's administration page
  await page.goto(`${server.url}/login`);
  await page.fill('input[name="username"]', 'admin');
  await page.fill('input[name="password"]', 'demo');
  await Promise.all([page.waitForURL(`${server.url}/`), page.click('button[type="submit"]')]);
  await page.goto(`${server.url}/admin/settings`);
  await Promise.all([page.waitForURL('**/telemetry/settings'), page.click('[data-telemetry-settings-link]')]);
  t.is(await page.textContent('h1'), 'Privacy & Analytics');
  t.is((await page.textContent('[data-telemetry-category="usageStats"] [data-telemetry-state]'))!.trim(), 'Off');

  // ---- opt in to weekly usage statistics (no confirmation needed to turn something on)
  await Promise.all([page.waitForEvent('load'), page.click('[data-telemetry-toggle="usageStats"]')]);
  await page.waitForSelector('[data-telemetry-category="usageStats"] [data-telemetry-on="true"]');
  t.is((await page.textContent('[data-telemetry-category="usageStats"] [data-telemetry-state]'))!.trim(), 'On');
  t.true(host.telemetry.consent.get().usageStats);
  await receiver.waitFor(() => receiver.accepted.length === 1, 5_000, 'the submission right after opt-in');

  // Turning it off asks first; Cancel keeps it on.
  await page.click('[data-telemetry-toggle="usageStats"]');
  await page.waitForSelector('dialog[data-telemetry-confirm][open]');
  t.regex((await page.textContent('dialog[data-telemetry-confirm] p'))!, /Stop sharing/);
  await page.click('[data-telemetry-confirm-cancel]');
  await page.waitForSelector('dialog[data-telemetry-confirm]', { state: 'detached' });
  t.true(host.telemetry.consent.get().usageStats, 'cancelled: still on');

  // ---- record events through the host's own UI
  await page.goto(`${server.url}/projects`);
  await page.fill('#project-name', 'Website redesign');
  await Promise.all([page.waitForEvent('load'), page.click('form[action="/projects"] button[type="submit"]')]);
  await page.goto(`${server.url}/`);
  await Promise.all([page.waitForEvent('load'), page.click('form[action="/timer/start"] button[type="submit"]')]);
  await Promise.all([page.waitForEvent('load'), page.click('form[action="/timer/stop"] button[type="submit"]')]);
  await page.goto(`${server.url}/reports`);
  const [csv] = await Promise.all([page.waitForEvent('download'), page.click('[data-export-csv]')]);
  t.regex(csv.suggestedFilename(), /\.csv$/);
  const bad = await page.goto(`${server.url}/reports?from=not-a-date&to=2026-01-01`);
  t.is(bad!.status(), 400, 'an error from the host error handler');

  // ---- the statistics viewer: counts and both charts
  await page.goto(`${server.url}/admin/settings`);
  await Promise.all([page.waitForURL('**/telemetry/stats'), page.click('[data-telemetry-stats-link]')]);
  await page.waitForFunction(() => {
    const Chart = (window as unknown as { Chart?: { getChart(c: Element): unknown } }).Chart;
    return Boolean(Chart && [...document.querySelectorAll('canvas[data-telemetry-chart]')].every((c) => Chart.getChart(c)));
  });
  const total = await number(page, '[data-telemetry-total]');
  const weekTotal = await number(page, '[data-telemetry-week-total]');
  t.true(total >= 7, `events stored: ${total}`); // app.started, auth.login, project.created, timer.started/stopped, report.exported, app.error, …
  t.true(weekTotal >= 7);
  const byType = await page.$$eval('[data-telemetry-by-type] tbody tr', (trs) => trs.map((tr) => tr.querySelector('code')?.textContent ?? ''));
  for (const name of ['timer.started', 'timer.stopped', 'report.exported', 'project.created', 'app.error', 'auth.login']) t.true(byType.includes(name), `${name} in the table (${byType.join(', ')})`);
  for (const which of ['by-day', 'by-type'] as const) {
    const state = await canvasState(page, which);
    t.true(state.chart, `${which}: a Chart.js chart`);
    t.true(state.width > 0 && state.height > 0, `${which}: has a size`);
    t.true(state.painted > 500, `${which}: drawn (${state.painted} painted pixels)`);
  }
  const dataUrlLength = await page.$eval('[data-telemetry-chart="by-type"]', (c) => (c as HTMLCanvasElement).toDataURL().length);
  t.true(dataUrlLength > 2_000, `by-type canvas image is not blank (${dataUrlLength} chars)`);
  t.regex((await page.textContent('[data-telemetry-ledger] tbody'))!, /accepted \(202\)/, 'the opt-in submission is in the ledger');
  // "Submit now" (POST {api}/submit-now with the page's CSRF token): the week is sent already, so the run says so.
  await page.click('[data-telemetry-submit-now]');
  await page.waitForFunction(() => (document.querySelector('[data-telemetry-submit-now-message]')?.textContent ?? '').length > 0);
  t.is((await page.textContent('[data-telemetry-submit-now-message]'))!.trim(), 'Nothing to send: every whole week has been submitted.');
  t.is(receiver.accepted.length, 1, 'nothing sent twice');
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // ---- export through the download
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[data-telemetry-export]')]);
  t.regex(download.suggestedFilename(), /^telemetry-export-\d{4}-\d{2}-\d{2}\.json$/);
  const exported = JSON.parse(await readFile((await download.path())!, 'utf8'));
  t.is(exported.installation.install_id, host.telemetry.status().install_id);
  t.true(exported.events.length >= total);
  t.true(exported.events.some((e: { event_type: string }) => e.event_type === 'timer.started'));
  t.is(exported.ledger.length, 1);
  t.is(exported.settings['consent.usage_stats'], 'true');

  // ---- delete: Cancel first (nothing happens), then confirm
  await page.click('button[data-telemetry-delete]');
  await page.waitForSelector('dialog[data-telemetry-confirm][open]');
  await page.click('[data-telemetry-confirm-cancel]');
  t.is(await number(page, '[data-telemetry-total]'), total);
  t.is(receiver.requestsOf('delete').length, 0);

  await page.click('button[data-telemetry-delete]');
  await page.waitForSelector('dialog[data-telemetry-confirm][open]');
  t.regex((await page.textContent('dialog[data-telemetry-confirm] p'))!, /cannot be undone/);
  await page.click('[data-telemetry-confirm-ok]');
  await page.waitForFunction(() => document.querySelector('[data-telemetry-total]')?.textContent?.trim() === '0', undefined, { timeout: 10_000 });
  t.is(await number(page, '[data-telemetry-total]'), 0);
  t.is(await number(page, '[data-telemetry-week-total]'), 0);
  t.regex((await page.textContent('[data-telemetry-ledger] tbody'))!, /Nothing has been sent/);
  t.regex((await page.textContent('[data-telemetry-by-type] tbody'))!, /Nothing recorded yet/);
  await waitUntil(() => receiver.deleted.length === 1, 3_000, 'the collector erased the installation');

  t.deepEqual(external, [], 'no request left 127.0.0.1');
  t.deepEqual(pageErrors, [], 'no script errors on the pages');
});

test('delete-all from the settings page says so when the collector could not erase its copy', async (t) => {
  t.timeout(60_000);
  const receiver = await startSubmissionReceiver();
  t.teardown(() => receiver.close());
  const host = await createExampleHost({
    dataDir: await tempDirFor(t, 'kct-e2e-'),
    logger: { info() {}, error() {} },
    telemetry: { env: {}, jobs: false, collector: { url: receiver.url }, submission: { retryBaseMs: 50, maxAttempts: 1, timeoutMs: 2_000 } },
  });
  const server = await host.listen(0, '127.0.0.1');
  t.teardown(async () => {
    await server.close();
    await host.close();
  });
  await host.telemetry.consent.set({ usageStats: true });
  await receiver.waitFor(() => receiver.accepted.length === 1, 5_000, 'registered');
  receiver.script('delete', [503]); // the collector is down when the admin deletes

  const context = await browser.newContext();
  t.teardown(() => context.close());
  const page = await context.newPage();
  await page.goto(`${server.url}/login`);
  await page.fill('input[name="username"]', 'admin');
  await page.fill('input[name="password"]', 'demo');
  await Promise.all([page.waitForURL(`${server.url}/`), page.click('button[type="submit"]')]);
  await page.goto(`${server.url}/telemetry/settings`);
  await page.click('button[data-telemetry-delete]');
  await page.waitForSelector('dialog[data-telemetry-confirm][open]');
  await page.click('[data-telemetry-confirm-ok]');
  await page.waitForFunction(() => (document.querySelector('[data-telemetry-message]')?.textContent ?? '').trim() !== '');
  const message = (await page.textContent('[data-telemetry-message]'))!.trim();
  t.is(receiver.requestsOf('delete').length, 1);
  t.false(receiver.deleted.length > 0, 'the collector did not erase anything');
  t.regex(message, /collector/i, `the admin is told about the collector's copy, not just "${message}"`);
});
