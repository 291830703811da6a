// Browser test of the outbound ledger on the stats page (Debian's chromium driven by
// playwright-core): the newest entries are listed, "Show more" appends the next page from
// GET {api}/ledger as text (an event name with markup stays text), then disappears; a German
// reader's appended rows are German too.
import test from 'ava';
import { type Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';
import { OUTBOUND_PAGE_SIZE } from '../../src/plugin/routes/pages.js';
import { runtimeOf } from '../../src/plugin/internal.js';


test('the stats page lists outbound entries and "Show more" appends the older ones as text', async (t) => {
  t.timeout(60_000);
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: { debug() {}, info() {}, warn() {}, error() {} } } });
  t.teardown(() => host.close());
  const outbound = runtimeOf(host.telemetry).outbound;
  const total = OUTBOUND_PAGE_SIZE + 3;
  for (let i = 0; i < total; i++) {
    outbound.record({
      kind: 'otlp_logs',
      method: 'POST',
      endpoint: 'http://otlp.test/v1/logs',
      request_body: null,
      record_count: i,
      counts: i === 0 ? { '<b>oldest</b>': 1 } : { 'timer.started': i },
      bytes: 1000 + i,
      attempts: 1,
      outcome: 'accepted',
      response_code: 200,
      error: null,
      details: null,
    });
  }
  await outbound.flush();

  const browser: Browser = await launchChromium();
  t.teardown(() => browser.close());
  const context = await browser.newContext({ extraHTTPHeaders: { 'x-test-user': 'admin' } });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));

  await page.goto(`${host.url}/telemetry/stats`);
  const rows = '[data-telemetry-outbound-rows] tr';
  t.is(await page.locator(rows).count(), OUTBOUND_PAGE_SIZE);
  t.regex((await page.textContent('[data-telemetry-outbound-count]'))!, new RegExp(`${OUTBOUND_PAGE_SIZE} of ${total}`));

  await page.click('[data-telemetry-outbound-more]');
  await page.waitForFunction((n) => document.querySelectorAll('[data-telemetry-outbound-rows] tr').length === n, total);
  t.true(await page.locator('[data-telemetry-outbound-more]').isHidden(), 'nothing more to show');
  t.regex((await page.textContent('[data-telemetry-outbound-count]'))!, new RegExp(`${total} of ${total}`));
  const last = page.locator(rows).last();
  t.regex((await last.textContent())!, /<b>oldest<\/b> 1/, 'the markup is shown as text');
  t.regex((await last.textContent())!, /1,000/, 'bytes in the page\'s locale, like the rows rendered on the server');
  t.is(await page.locator('[data-telemetry-outbound-rows] b').count(), 0, 'and never parsed as HTML');

  // A German reader: the appended rows use the German words and notation the server rendered.
  const german = await (await browser.newContext({ extraHTTPHeaders: { 'x-test-user': 'admin', 'accept-language': 'de' } })).newPage();
  german.on('pageerror', (err) => pageErrors.push(err.message));
  await german.goto(`${host.url}/telemetry/stats`);
  t.regex((await german.locator(rows).first().textContent())!, /angenommen \(200\)/);
  await german.click('[data-telemetry-outbound-more]');
  await german.waitForFunction((n) => document.querySelectorAll('[data-telemetry-outbound-rows] tr').length === n, total);
  const oldest = (await german.locator(rows).last().textContent())!;
  t.regex(oldest, /1\.000angenommen \(200\)/);
  t.regex((await german.textContent('[data-telemetry-outbound-count]'))!, new RegExp(`${total} von ${total}`));
  t.deepEqual(pageErrors, []);
});
