// Browser test: a regular user signs in to the example host, finds the privacy toggle on their own
// settings page (the plugin's partial inside the host's page) and on the plugin's {pages}/me,
// turns detailed analytics off and back on, and the stored choice follows each click.
// Debian's chromium driven by playwright-core; every request outside 127.0.0.1 is blocked.
import test from 'ava';
import { type Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { createExampleHost } from '../../example-host/app.js';
import { tempDirFor } from '../helpers/tmp.js';


test('a signed-in user turns detailed analytics off and on for themselves from their settings page', async (t) => {
  t.timeout(90_000);
  const dataDir = await tempDirFor(t, 'kct-e2e-me-');
  const host = await createExampleHost({ dataDir, logger: { info() {}, error() {} }, telemetry: { env: {}, jobs: false } });
  const server = await host.listen(0, '127.0.0.1');
  t.teardown(async () => {
    await server.close();
    await host.close();
  });

  const browser: Browser = await launchChromium();
  t.teardown(() => browser.close());
  const context = await browser.newContext();
  await context.route('**/*', (route) => (new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort()));
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));

  await page.goto(`${server.url}/login`);
  await page.fill('input[name="username"]', 'alice');
  await page.fill('input[name="password"]', 'demo');
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);

  // The partial inside the host's own settings page.
  await page.goto(`${server.url}/settings`);
  const state = page.locator('[data-telemetry-user-privacy] [data-telemetry-user-state]');
  t.is((await state.textContent())?.trim(), 'Allowed');
  const userId = await page.evaluate(async (api) => {
    const me = await fetch(`${api}/me`, { credentials: 'same-origin' });
    return me.status;
  }, '/api/v1/usage-stats');
  t.is(userId, 200);

  await Promise.all([page.waitForNavigation(), page.click('[data-telemetry-user-toggle]')]);
  t.is((await page.locator('[data-telemetry-user-privacy] [data-telemetry-user-state]').textContent())?.trim(), 'Off for me');
  const alice = (await host.db('users').where('username', 'alice').first('id')) as { id: number };
  t.true(await host.telemetry.users.isOptedOut(alice.id), 'the click stored the choice');

  // The plugin's own page shows the same choice, and turns it back on.
  await page.goto(`${server.url}/telemetry/me`);
  t.is((await page.locator('[data-telemetry-user-state]').textContent())?.trim(), 'Off for me');
  t.true(await page.locator('[data-telemetry-stays-local]').isVisible());
  await Promise.all([page.waitForNavigation(), page.click('[data-telemetry-user-toggle]')]);
  t.is((await page.locator('[data-telemetry-user-state]').textContent())?.trim(), 'Allowed');
  t.false(await host.telemetry.users.isOptedOut(alice.id));
  t.deepEqual(pageErrors, []);
});
