// Browser test (Debian's chromium driven by playwright-core) against the example host, started in
// this process on 127.0.0.1:0: the support modal opens from each of the five entry points, closes
// on Escape, ×, and an overlay click, keeps focus inside and gives it back; offline it shows its
// note and disables the tier buttons (re-enabled online), and events sent meanwhile arrive later;
// a CSV export leads to an after_report soft toast whose dismissal is recorded. Nothing is ever
// requested from anywhere but the host.
import { rm } from 'node:fs/promises';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { createExampleHost, type ExampleHost } from '../../example-host/app.js';
import { makeTempDir } from '../helpers/tmp.js';

for (const name of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_HEADERS', 'GRAFANA_OTLP_ENDPOINT', 'GRAFANA_OTLP_TOKEN', 'TELEMETRY_COLLECTOR_URL']) {
  delete process.env[name];
}

const SCREENSHOT = '/tmp/support-modal.png';

interface Shared {
  host: ExampleHost;
  url: string;
  dataDir: string;
  browser: Browser;
  /** Every request the pages tried to make anywhere but the host (each one aborted). */
  external: string[];
  pageErrors: string[];
}

const shared = {} as Shared;

test.before(async () => {
  shared.dataDir = await makeTempDir('kct-e2e-support-');
  shared.host = await createExampleHost({ dataDir: shared.dataDir, logger: { info() {}, error: console.error } });
  shared.url = (await shared.host.listen(0, '127.0.0.1')).url;
  shared.browser = await launchChromium();
  shared.external = [];
  shared.pageErrors = [];
});

test.after.always(async () => {
  await shared.browser?.close();
  await shared.host?.close();
  if (shared.dataDir) await rm(shared.dataDir, { recursive: true, force: true });
});

async function newContext(t: ExecutionContext): Promise<BrowserContext> {
  const context = await shared.browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
  t.teardown(() => context.close());
  context.setDefaultTimeout(10_000);
  const host = new URL(shared.url).host;
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.host === host || url.protocol === 'data:') return route.continue();
    shared.external.push(url.href);
    return route.abort();
  });
  return context;
}

async function signIn(context: BrowserContext, username: string, next = '/'): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => shared.pageErrors.push(`${username}: ${err.message}`));
  await page.goto(`${shared.url}/login?next=${encodeURIComponent(next)}`);
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', 'demo');
  await Promise.all([page.waitForURL(`${shared.url}${next}`), page.click('button[type="submit"]')]);
  await page.waitForLoadState('load');
  return page;
}

const modal = (page: Page) => page.locator('[data-support-modal]');
const focusInsideModal = (page: Page) => page.evaluate(() => Boolean(document.querySelector('[data-support-modal]')?.contains(document.activeElement)));

async function userId(username: string): Promise<string> {
  return String(((await shared.host.db('users').where({ username }).first('id')) as { id: number }).id);
}

/** Waits until the host's database has `n` funnel rows matching `where` (events are sent asynchronously). */
async function interactions(where: Record<string, unknown>, n: number): Promise<{ interaction_type: string; source: string | null; variant: string | null }[]> {
  const deadline = Date.now() + 8000;
  for (;;) {
    const rows = await shared.host.db('telemetry_donation_interactions').where(where).orderBy('id').select();
    if (rows.length >= n || Date.now() > deadline) return rows;
    await new Promise((done) => setTimeout(done, 100));
  }
}

test.serial('the modal opens from each of the five entry points; Escape, × and the overlay close it; focus stays inside and returns', async (t) => {
  const context = await newContext(t);
  const page = await signIn(context, 'admin');
  const admin = await userId('admin');

  // admin signed up 10 days ago: the dashboard's seven_day soft prompt arrives once; dismiss it.
  const toast = page.locator('[data-support-toast]');
  await toast.waitFor({ state: 'visible' });
  t.is(await toast.getAttribute('data-variant'), 'seven_day');
  await toast.locator('[data-support-dismiss]').click();
  await toast.waitFor({ state: 'detached' });

  const checks: [source: string, open: () => Promise<void>, close: 'escape' | 'overlay' | 'x', path: string][] = [
    ['header', () => page.click('.header-actions [data-support-open][data-support-source="header"]'), 'escape', '/'],
    ['sidebar', () => page.click('.sidebar [data-support-open][data-support-source="sidebar"]'), 'overlay', '/'],
    [
      'user_menu',
      async () => {
        await page.click('details.user-menu > summary');
        await page.click('details.user-menu [data-support-open][data-support-source="user_menu"]');
      },
      'x',
      '/',
    ],
    ['dashboard_card', () => page.click('[data-support-dashboard] [data-support-open][data-support-source="dashboard_card"]'), 'escape', '/'],
    ['settings', () => page.click('[data-support-settings] [data-support-open][data-support-source="settings"]'), 'escape', '/settings'],
  ];

  for (const [source, open, close, path] of checks) {
    if (new URL(page.url()).pathname !== path) await page.goto(`${shared.url}${path}`);
    await open();
    await modal(page).waitFor({ state: 'visible' });
    t.true(await focusInsideModal(page), `${source}: focus moves into the dialog`);
    t.is(await modal(page).getAttribute('role'), 'dialog');
    t.is(await modal(page).getAttribute('aria-modal'), 'true');

    if (source === 'dashboard_card') {
      // Tab and Shift+Tab cycle inside the dialog.
      for (let i = 0; i < 12; i++) {
        await page.keyboard.press('Tab');
        t.true(await focusInsideModal(page), `Tab ${i + 1} stays inside`);
      }
      for (let i = 0; i < 4; i++) {
        await page.keyboard.press('Shift+Tab');
        t.true(await focusInsideModal(page), `Shift+Tab ${i + 1} stays inside`);
      }
    }

    if (close === 'escape') await page.keyboard.press('Escape');
    else if (close === 'overlay') await page.mouse.click(8, 400);
    else await page.click('[data-support-modal] [data-support-close]');
    await modal(page).waitFor({ state: 'hidden' });

    const returned = await page.evaluate(() => {
      const active = document.activeElement as HTMLElement | null;
      return active ? active.getAttribute('data-support-source') ?? active.tagName.toLowerCase() : null;
    });
    t.is(returned, source === 'user_menu' ? 'summary' : source, `${source}: focus goes back to the opener`);
  }

  const opened = await interactions({ user_id: admin, interaction_type: 'modal_opened' }, 5);
  t.deepEqual(opened.map((r) => r.source), ['header', 'sidebar', 'user_menu', 'dashboard_card', 'settings']);
  const dismissed = await interactions({ user_id: admin, interaction_type: 'prompt_dismissed' }, 1);
  t.is(dismissed[0]?.variant, 'seven_day');
});

test.serial('offline: the modal still opens, shows its note and disables the tier buttons until the browser is back online', async (t) => {
  const context = await newContext(t);
  const page = await signIn(context, 'admin', '/settings');
  const admin = await userId('admin');
  const before = (await interactions({ user_id: admin, interaction_type: 'modal_opened' }, 0)).length;
  const tiers = page.locator('[data-support-modal] [data-support-tier]');
  const note = page.locator('[data-support-modal] [data-support-offline]');

  await page.click('[data-support-settings] [data-support-open]');
  await modal(page).waitFor({ state: 'visible' });
  t.is(await tiers.count(), 3);
  t.false(await note.isVisible());
  for (const tier of await tiers.all()) {
    t.is(await tier.getAttribute('aria-disabled'), null);
    t.is(await tier.getAttribute('target'), '_blank');
    t.regex((await tier.getAttribute('rel')) ?? '', /\bnoopener\b/);
  }
  await page.screenshot({ path: SCREENSHOT });
  await page.keyboard.press('Escape');
  await interactions({ user_id: admin, interaction_type: 'modal_opened' }, before + 1);

  await context.setOffline(true);
  await page.click('[data-support-settings] [data-support-open]'); // opening works with no network at all
  await modal(page).waitFor({ state: 'visible' });
  await note.waitFor({ state: 'visible' });
  t.regex((await note.textContent()) ?? '', /offline/i);
  for (const tier of await tiers.all()) {
    t.is(await tier.getAttribute('aria-disabled'), 'true');
    t.is(await tier.getAttribute('tabindex'), '-1');
  }
  t.is(await page.locator('[data-support-modal] [data-support-license]').getAttribute('aria-disabled'), 'true');
  // A click on a disabled tier goes nowhere (no new tab).
  let popups = 0;
  context.on('page', () => popups++);
  await tiers.first().click({ force: true });
  await page.waitForTimeout(300);
  t.is(popups, 0);
  t.true(await modal(page).isVisible());
  // Offline, the dialog still keeps focus inside (the disabled tiers are skipped).
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press('Tab');
    t.true(await focusInsideModal(page));
  }

  await context.setOffline(false);
  await note.waitFor({ state: 'hidden' });
  for (const tier of await tiers.all()) t.is(await tier.getAttribute('aria-disabled'), null);
  t.is(await page.locator('[data-support-modal] [data-support-license]').getAttribute('aria-disabled'), null);
  // The modal_opened sent while offline was kept and delivered once back online.
  const after = await interactions({ user_id: admin, interaction_type: 'modal_opened' }, before + 2);
  t.is(after.length, before + 2);
  await page.keyboard.press('Escape');
  await modal(page).waitFor({ state: 'hidden' });
});

test.serial('a CSV export leads to an after_report soft toast on the next page; its dismissal is recorded', async (t) => {
  const context = await newContext(t);
  const page = await signIn(context, 'alice', '/reports');
  const alice = await userId('alice');
  t.is(await page.locator('[data-support-toast]').count(), 0, 'no prompt before a report');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-export-csv]')]);
  t.regex(download.suggestedFilename(), /^timetracker-.*\.csv$/);

  await page.goto(`${shared.url}/`);
  const toast = page.locator('[data-support-toast]');
  await toast.waitFor({ state: 'visible' });
  t.is(await toast.getAttribute('data-variant'), 'after_report', 'a pending after_report beats the dashboard prompt');
  t.regex((await toast.textContent()) ?? '', /report is ready/);
  t.is(await page.locator('[data-support-modal] [data-support-stat="reports_generated"] dd').textContent(), '1');
  t.is((await interactions({ user_id: alice, interaction_type: 'prompt_shown' }, 1))[0]?.variant, 'after_report');

  await toast.locator('[data-support-dismiss]').click();
  await toast.waitFor({ state: 'detached' });
  const dismissed = await interactions({ user_id: alice, interaction_type: 'prompt_dismissed' }, 1);
  t.is(dismissed.length, 1);
  t.is(dismissed[0]?.variant, 'after_report');
  t.is(dismissed[0]?.source, 'toast');
  const state = (await shared.host.db('telemetry_support_prompt_state').where({ user_id: alice }).first()) as { last_dismissed_variant: string } | undefined;
  t.is(state?.last_dismissed_variant, 'after_report', 'the 14-day pause is stored for the user');

  // One per session (and paused): another export and another page bring no second toast.
  await Promise.all([page.waitForEvent('download'), page.goto(`${shared.url}/reports`).then(() => page.click('[data-export-csv]'))]);
  await page.goto(`${shared.url}/`);
  await page.waitForLoadState('networkidle');
  t.is(await page.locator('[data-support-toast]').count(), 0);
});

test.serial('share: navigator.share, then the clipboard, then a notice saying it failed', async (t) => {
  const context = await newContext(t);
  // A string, not a function: the test runner's transpiler would add helpers the page does not have.
  await context.addInitScript(`
    window.__share = { mode: 'share-ok', calls: [] };
    Object.defineProperty(navigator, 'share', { configurable: true, value: function () {
      window.__share.calls.push('share');
      return window.__share.mode === 'share-ok' ? Promise.resolve() : Promise.reject(new DOMException('not here', 'NotAllowedError'));
    } });
    Object.defineProperty(navigator, 'clipboard', { configurable: true, value: { writeText: function (text) {
      window.__share.calls.push('copy ' + text);
      return window.__share.mode === 'copy-ok' ? Promise.resolve() : Promise.reject(new Error('denied'));
    } } });
  `);
  const page = await signIn(context, 'admin', '/settings');
  const admin = await userId('admin');
  const before = (await interactions({ user_id: admin, interaction_type: 'share_clicked' }, 0)).length;
  const notices = page.locator('[data-support-notice]');
  const calls = () => page.evaluate('window.__share.calls.splice(0)') as Promise<string[]>;
  const setMode = (mode: string) => page.evaluate(`window.__share.mode = ${JSON.stringify(mode)}`);

  await page.click('[data-support-settings] [data-support-open]');
  await page.click('[data-support-modal] [data-support-share]');
  await page.waitForTimeout(200);
  t.deepEqual(await calls(), ['share']);
  t.is(await notices.count(), 0, 'the native share sheet needs no notice');

  await setMode('copy-ok');
  await page.click('[data-support-modal] [data-support-share]');
  await notices.first().waitFor({ state: 'visible' });
  t.deepEqual(await calls(), ['share', 'copy https://example.org/timetracker']);
  t.regex((await notices.first().textContent()) ?? '', /copied/i);
  await notices.first().locator('[data-support-notice-close]').click();

  await setMode('fail');
  await page.click('[data-support-modal] [data-support-share]');
  await notices.first().waitFor({ state: 'visible' });
  t.regex((await notices.first().textContent()) ?? '', /did not work[\s\S]*https:\/\/example\.org\/timetracker/);
  t.true(await modal(page).isVisible(), 'the notice shows above the open modal');

  const shares = await interactions({ user_id: admin, interaction_type: 'share_clicked' }, before + 3);
  t.is(shares.length, before + 3);
  t.is(shares.at(-1)?.source, 'settings', 'attributed to the entry point the modal was opened from');
});

test.serial('nothing was requested from outside the host, and no page threw', (t) => {
  t.deepEqual(shared.external, []);
  t.deepEqual(shared.pageErrors, []);
});
