// Browser test (Debian's chromium driven by playwright-core) against the example host: a user who
// picks "Deutsch" in the host's settings sees the support modal, its entry points and the settings
// section in German, although the browser asks for English; "Browser default" follows the browser's
// Accept-Language. The language is stored in the host's users table (example-host migration
// 20250103000000_user_language) and handed to the plugin as ctx.state.locale.
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


const shared = {} as { host: ExampleHost; url: string; dataDir: string; browser: Browser };

test.before(async () => {
  shared.dataDir = await makeTempDir('kct-e2e-language-');
  shared.host = await createExampleHost({ dataDir: shared.dataDir, logger: { info() {}, error: console.error } });
  shared.url = (await shared.host.listen(0, '127.0.0.1')).url;
  shared.browser = await launchChromium();
});

test.after.always(async () => {
  await shared.browser?.close();
  await shared.host?.close();
  if (shared.dataDir) await rm(shared.dataDir, { recursive: true, force: true });
});

async function newContext(t: ExecutionContext, locale: string): Promise<BrowserContext> {
  const context = await shared.browser.newContext({ viewport: { width: 1280, height: 860 }, locale });
  t.teardown(() => context.close());
  context.setDefaultTimeout(10_000);
  const host = new URL(shared.url).host;
  await context.route('**/*', (route) => (new URL(route.request().url()).host === host ? route.continue() : route.abort()));
  return context;
}

async function signIn(context: BrowserContext, username: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${shared.url}/login?next=%2F`);
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', 'demo');
  await Promise.all([page.waitForURL(`${shared.url}/`), page.click('button[type="submit"]')]);
  await page.waitForLoadState('load');
  return page;
}

async function openModal(page: Page) {
  await page.locator('[data-support-source="header"]').click();
  const modal = page.locator('[data-support-modal]');
  await modal.waitFor({ state: 'visible' });
  return modal;
}

async function closeModal(page: Page) {
  await page.keyboard.press('Escape');
  await page.locator('[data-support-modal]').waitFor({ state: 'hidden' });
}

test.serial('picking Deutsch in the settings shows the support modal in German, in an English browser', async (t) => {
  const context = await newContext(t, 'en-US');
  const page = await signIn(context, 'alice');

  let modal = await openModal(page);
  t.regex((await modal.locator('.kct-support-title').textContent()) ?? '', /^Support /);
  t.is(await modal.locator('[data-support-close]').getAttribute('aria-label'), 'Close');
  await closeModal(page);

  await page.goto(`${shared.url}/settings`);
  await page.selectOption('select[name="language"]', 'de');
  await Promise.all([page.waitForURL(`${shared.url}/settings`), page.click('form[action="/settings"] button[type="submit"]')]);
  await page.waitForLoadState('load');
  const stored = (await shared.host.db('users').where({ username: 'alice' }).first('language')) as { language: string | null };
  t.is(stored.language, 'de', 'stored in the host’s users table');
  t.is(await page.locator('select[name="language"]').inputValue(), 'de');
  t.regex((await page.locator('#kct-support-settings-title').textContent()) ?? '', /Unterstützung & Community/);

  await page.goto(`${shared.url}/`);
  t.is((await page.locator('[data-support-source="header"] span').first().textContent())?.trim(), 'Unterstützen');
  modal = await openModal(page);
  t.is(await modal.getAttribute('lang'), 'de');
  t.regex((await modal.locator('.kct-support-title').textContent()) ?? '', / unterstützen$/);
  t.regex((await modal.locator('.kct-support-subtitle').textContent()) ?? '', /ist kostenlos und respektiert deine Privatsphäre/);
  t.regex((await modal.locator('.kct-support-footnote').textContent()) ?? '', /Zahlungen laufen dort/);
  t.is(await modal.locator('[data-support-close]').getAttribute('aria-label'), 'Schließen');
  t.is(await page.locator('[data-support-toasts] [data-support-toast-template]').count(), 1);
  t.is(await page.locator('[data-support-toasts]').getAttribute('data-support-text-link-copied'), 'Link in die Zwischenablage kopiert – danke fürs Teilen!');
  await page.screenshot({ path: '/tmp/support-modal-de.png' });
  await closeModal(page);

  // Back to "Browser default": the English browser decides again.
  await page.goto(`${shared.url}/settings`);
  await page.selectOption('select[name="language"]', 'auto');
  await Promise.all([page.waitForURL(`${shared.url}/settings`), page.click('form[action="/settings"] button[type="submit"]')]);
  await page.goto(`${shared.url}/`);
  modal = await openModal(page);
  t.regex((await modal.locator('.kct-support-title').textContent()) ?? '', /^Support /);
});

test.serial('"Browser default" follows a German browser’s Accept-Language', async (t) => {
  const context = await newContext(t, 'de-DE');
  const page = await signIn(context, 'admin');
  const modal = await openModal(page);
  t.is(await modal.getAttribute('lang'), 'de');
  t.regex((await modal.locator('.kct-support-title').textContent()) ?? '', / unterstützen$/);
});
