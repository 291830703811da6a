// The admin pages (issue 3 points 7 and 8): GET /telemetry/settings (Privacy & Analytics) and
// GET /telemetry/stats (local statistics viewer), admin only, escaped, Chart.js served locally.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import nunjucks from 'nunjucks';
import { GUARD_REASONS, GUARD_REASON_LABELS } from '../../src/plugin/telemetry/privacy-guard.js';
import { collected, neverCollected } from '../../src/plugin/telemetry/event-catalog.js';
import { KILL_SWITCH_EXPLANATIONS } from '../../src/plugin/installation/kill-switch.js';
import type { Logger } from '../../src/plugin/types.js';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { startSubmissionReceiver, waitUntil } from '../helpers/submission-receiver.js';
import { tempDirFor } from '../helpers/tmp.js';

const XSS = '<script>alert(1)</script>';
const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** The text nunjucks' autoescape produces. */
const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
const unescapeHtml = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

async function host(t: ExecutionContext, telemetry: Record<string, unknown> = {}): Promise<HostApp> {
  const app = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: silent, recorder: { intervalMs: 20 }, ...telemetry } });
  t.teardown(() => app.close());
  return app;
}

async function page(app: HostApp, path: string, user: 'admin' | 'alice' | null = 'admin', headers: Record<string, string> = HTML): Promise<{ status: number; type: string; html: string }> {
  const response = await app.request(path, { user: user ?? undefined, headers });
  return { status: response.status, type: String(response.headers.get('content-type')), html: await response.text() };
}

function categoryBlock(html: string, key: string): string {
  const start = html.indexOf(`data-telemetry-category="${key}"`);
  if (start < 0) throw new Error(`no toggle for ${key}`);
  return html.slice(start, html.indexOf('</button>', start));
}

// ====================================================================================== settings

test('settings page: both consent toggles with their current state, inside a page carrying the CSRF meta tag', async (t) => {
  const app = await host(t);
  let { status, type, html } = await page(app, '/telemetry/settings');
  t.is(status, 200);
  t.regex(type, /^text\/html/);
  t.regex(html, /<meta name="csrf-token" content="[A-Za-z0-9_-]{43}">/);
  t.regex(html, /<h1>Privacy &amp; Analytics<\/h1>/);
  for (const key of ['analytics', 'usageStats']) {
    const block = categoryBlock(html, key);
    t.regex(block, /data-telemetry-state>Off</);
    t.regex(block, new RegExp(`data-telemetry-toggle="${key}" data-telemetry-on="false">Turn on`));
  }

  await app.telemetry.consent.set({ analytics: true });
  ({ html } = await page(app, '/telemetry/settings'));
  t.regex(categoryBlock(html, 'analytics'), /data-telemetry-state>On</);
  t.regex(categoryBlock(html, 'analytics'), /data-telemetry-on="true">Turn off/);
  t.regex(categoryBlock(html, 'usageStats'), /data-telemetry-state>Off</);
  t.regex(categoryBlock(html, 'usageStats'), /no destination configured/, 'says when no collector is configured');
  t.false(html.includes('data-telemetry-kill-switch'), 'no kill switch banner without a kill switch');
  t.regex(html, /<script src="\/telemetry\/assets\/settings\.js\?v=[^"]+" defer><\/script>/, 'the toggles and confirmations are wired by the local settings.js');
});

test('settings page: the kill switch banner names the switch and explains it', async (t) => {
  for (const variable of ['DO_NOT_TRACK', 'TELEMETRY_DISABLED'] as const) {
    const app = await host(t, { env: { [variable]: '1' } });
    const { html } = await page(app, '/telemetry/settings');
    const start = html.indexOf('data-telemetry-kill-switch');
    t.true(start > 0, `${variable}: banner shown`);
    const banner = html.slice(start, html.indexOf('</div>', start));
    t.true(banner.includes(`(${variable})`), `${variable}: reason named`);
    t.true(banner.includes(escapeHtml(KILL_SWITCH_EXPLANATIONS[variable])), `${variable}: explanation shown`);
  }
});

test('settings page: "what we collect" and "what we never collect" come from the catalog the guard enforces', async (t) => {
  const app = await host(t);
  const { html } = await page(app, '/telemetry/settings');
  const neverStart = html.indexOf('data-telemetry-never-collected');
  t.true(neverStart > 0);
  const never = html.slice(neverStart, html.indexOf('</ul>', neverStart));
  for (const reason of GUARD_REASONS) t.true(never.includes(escapeHtml(GUARD_REASON_LABELS[reason])), `never-collected lists "${reason}"`);
  for (const item of neverCollected()) t.true(never.includes(escapeHtml(item)), item);
  for (const group of collected()) {
    const start = html.indexOf(`data-telemetry-collected="${group.layer}"`);
    t.true(start > 0, `collected group ${group.layer}`);
    const list = html.slice(start, html.indexOf('</ul>', start));
    for (const item of group.items) t.true(list.includes(escapeHtml(item)), item);
  }
});

test('settings page: "what we collect" covers what the weekly usage-statistics summary contains', async (t) => {
  // The weekly payload carries counts per event type, the error count, uptime hours, the
  // host's feature flags and a country derived from the time zone. The admin deciding on the
  // usageStats toggle should find each of them in the list.
  const app = await host(t);
  const { html } = await page(app, '/telemetry/settings');
  const start = html.indexOf('<h2>What we collect</h2>');
  const section = html.slice(start, html.indexOf('</section>', start)).toLowerCase();
  const missing = ['uptime', 'error', 'feature', 'country'].filter((word) => !section.includes(word));
  t.deepEqual(missing, [], `"What we collect" does not mention: ${missing.join(', ')}`);
});

test('the event catalog (behind docs/events.md and "what we collect") lists the plugin\'s own local events', async (t) => {
  const { EVENT_CATALOG } = await import('../../src/plugin/telemetry/event-catalog.js');
  const { APP_STARTED, APP_STOPPED } = await import('../../src/plugin/runtime.js');
  const names = EVENT_CATALOG.map((e) => e.name);
  // Both are recorded by the plugin itself and their counts go out in the weekly summary.
  t.deepEqual([APP_STARTED, APP_STOPPED].filter((n) => !names.includes(n)), [], `catalog: ${names.join(', ')}`);
});

function anchorsOf(html: string): { href: string; text: string }[] {
  return [...html.matchAll(/<a\b[^>]*href="([^"]+)"[^>]*>([\s\S]*?)<\/a>/g)].map((m) => ({ href: unescapeHtml(m[1]!), text: m[2]! }));
}

test('settings page: the privacy policy is a link (issue 3 point 7: "a link to the privacy policy")', async (t) => {
  const app = await host(t);
  const { html } = await page(app, '/telemetry/settings');
  const anchors = anchorsOf(html);
  const policy = anchors.find((a) => /privacy[ -]policy/i.test(a.text) || /privacy-policy/.test(a.href));
  t.truthy(policy, `links on the page: ${anchors.map((a) => `${a.text.trim()} → ${a.href}`).join('; ')}`);

  // By default it leads to the bundled template, served by the plugin (admin only, works offline).
  t.true(policy!.href.startsWith('/'), policy!.href);
  const target = await page(app, policy!.href);
  t.is(target.status, 200);
  t.regex(target.html, /privacy/i);
  t.true(target.html.length > 2_000, 'the template text is there');
  t.is((await page(app, policy!.href, null)).status, 401, 'the template page is admin only like the others');
});

test('settings page: with privacyPolicyUrl the link goes to the host\'s own policy', async (t) => {
  const app = await host(t, { privacyPolicyUrl: 'https://example.com/legal/privacy?lang=en&v=2' });
  const { html } = await page(app, '/telemetry/settings');
  const policy = anchorsOf(html).find((a) => /privacy[ -]policy/i.test(a.text));
  t.is(policy?.href, 'https://example.com/legal/privacy?lang=en&v=2');
  t.true(html.includes('href="https://example.com/legal/privacy?lang=en&amp;v=2"'), 'the URL is attribute-escaped');
});

test('privacy-policy template: mentions the collector\'s public insights page only when collector.publicInsightsUrl is set, in the request\'s language', async (t) => {
  const without = await host(t);
  const plain = await page(without, '/telemetry/privacy-policy');
  t.is(plain.status, 200);
  t.false(plain.html.includes('data-public-insights'));

  const url = 'https://telemetry.example.com/public?a=1&b=<2>';
  const app = await host(t, { collector: { publicInsightsUrl: url } });
  const english = await page(app, '/telemetry/privacy-policy');
  t.regex(english.html, /<span data-public-insights>Rounded, anonymous totals over all installations that share usage statistics .* are published at https:\/\/telemetry\.example\.com\/public\?a=1&amp;b=&lt;2&gt;; groups of only a few installations are never shown there\.<\/span>/);
  const german = await page(app, '/telemetry/privacy-policy', 'admin', { ...HTML, 'accept-language': 'de-DE,de;q=0.9' });
  t.regex(german.html, /<span data-public-insights>Gerundete, anonyme Summen .* werden unter https:\/\/telemetry\.example\.com\/public\?a=1&amp;b=&lt;2&gt; veröffentlicht/);
});

test('settings page: an Export link and a Delete button (with its confirmation wired in settings.js)', async (t) => {
  const app = await host(t);
  const { html } = await page(app, '/telemetry/settings');
  t.regex(html, /href="\/api\/v1\/usage-stats\/export" data-telemetry-export/);
  t.regex(html, /data-telemetry-delete/);
  const script = await (await app.request('/telemetry/assets/settings.js')).text();
  t.regex(script, /kct\.confirm\(/, 'opt-out and delete ask first');
  t.regex(script, /'DELETE', api \+ '\/delete-all'/);
});

// ====================================================================================== access

test('pages are admin only: 401 / 403, as an HTML error page for a browser and JSON for an API client', async (t) => {
  const app = await host(t);
  for (const path of ['/telemetry/settings', '/telemetry/stats']) {
    const anonymous = await page(app, path, null);
    t.is(anonymous.status, 401, `${path} anonymous`);
    t.regex(anonymous.type, /^text\/html/);
    t.regex(anonymous.html, /data-telemetry-error/);
    t.regex(anonymous.html, /401/);
    t.false(anonymous.html.includes('data-telemetry-settings') || anonymous.html.includes('data-telemetry-stats'), 'no page content');
    const member = await page(app, path, 'alice');
    t.is(member.status, 403, `${path} as a non-admin`);
    t.regex(member.type, /^text\/html/);
    t.regex(member.html, /Only administrators/);
    t.false(member.html.includes('install_id') || member.html.includes('Installation id'));

    const api = await app.request(path, { headers: { accept: 'application/json' } });
    t.is(api.status, 401);
    t.deepEqual(Object.keys((await api.json()).error).sort(), ['code', 'message']);
  }
});

// ====================================================================================== stats viewer

test('stats page: installation, this week, both chart canvases with their data, the ledger with payloads, Export and Delete', async (t) => {
  const receiver = await startSubmissionReceiver();
  t.teardown(() => receiver.close());
  const app = await host(t, { collector: { url: receiver.url }, submission: { retryBaseMs: 20, maxAttempts: 1, timeoutMs: 2_000 } });
  app.telemetry.track('timer.started', { source: 'web' });
  app.telemetry.track('timer.started', { source: 'web' });
  app.telemetry.track('report.exported', { format: 'csv' });
  await app.telemetry.consent.set({ usageStats: true });
  await waitUntil(async () => (await (await app.request('/api/v1/usage-stats/submissions', { user: 'admin' })).json()).total === 1, 3_000, 'a ledger entry');

  const { status, html } = await page(app, '/telemetry/stats');
  t.is(status, 200);
  const installId = app.telemetry.status().install_id!;
  t.true(html.includes(installId));
  t.regex(html, /data-telemetry-week-total>4</, 'app.started + 3 tracked');
  t.regex(html, /data-telemetry-total>4</);
  t.regex(html, /<canvas data-telemetry-chart="by-day"/);
  t.regex(html, /<canvas data-telemetry-chart="by-type"/);
  const data = JSON.parse(unescapeHtml(/data-telemetry-chart-data="([^"]*)"/.exec(html)![1]!));
  t.is(data.byDay.length, 30);
  t.is(data.byDay.at(-1).count, 4);
  t.deepEqual(data.byType[0], { event_type: 'timer.started', count: 2 });
  t.regex(html, /<table class="kct-table" data-telemetry-by-type>[\s\S]*<code>timer.started<\/code><\/td><td>2</);

  const ledgerStart = html.indexOf('data-telemetry-ledger');
  const ledger = html.slice(ledgerStart, html.indexOf('</table>', ledgerStart));
  t.regex(ledger, /accepted \(202\)/);
  t.regex(ledger, /<details><summary>View<\/summary><pre class="kct-pre">/);
  const shown = JSON.parse(unescapeHtml(/<pre class="kct-pre">([\s\S]*?)<\/pre>/.exec(ledger)![1]!));
  t.deepEqual(shown, receiver.accepted[0]!.payload, 'each payload is viewable exactly as sent');

  t.regex(html, /href="\/api\/v1\/usage-stats\/export" data-telemetry-export download/);
  t.regex(html, /<button type="button" class="kct-btn kct-btn-danger" data-telemetry-delete>/);
});

test('stats page: Chart.js comes from the plugin\'s own assets route (no CDN, no external script)', async (t) => {
  const app = await host(t);
  const { html } = await page(app, '/telemetry/stats');
  const scripts = [...html.matchAll(/<script[^>]*src="([^"]+)"/g)].map((m) => m[1]!);
  t.true(scripts.some((src) => /^\/telemetry\/assets\/chart\.umd\.min\.js\?v=/.test(src)), scripts.join(', '));
  t.true(scripts.every((src) => src.startsWith('/')), 'every script is same-origin');
  t.false(/(src|href)="(https?:)?\/\//.test(html), 'no external resource at all');
  const chart = await app.request('/telemetry/assets/chart.umd.min.js');
  t.is(chart.status, 200);
  t.regex(String(chart.headers.get('content-type')), /javascript/);
  t.regex(String(chart.headers.get('cache-control')), /max-age=31536000/);
  const body = await chart.text();
  t.true(body.length > 100_000 && body.includes('Chart'), 'the real Chart.js UMD build');
  t.is((await app.request('/telemetry/assets/stats.js')).status, 200);
  t.is((await app.request('/telemetry/assets/..%2Fpackage.json')).status, 404, 'only the listed assets are served');
});

test('XSS probe: an event name cannot carry markup (refused) and nothing is stored for it', async (t) => {
  const app = await host(t);
  t.false(app.telemetry.track(XSS, {}));
  t.false(app.telemetry.track('timer.<b>started</b>', {}));
  const { html } = await page(app, '/telemetry/stats');
  t.false(html.includes(XSS));
  t.false(html.includes('<b>started'));
  const local = await (await app.request('/api/v1/usage-stats/local', { user: 'admin' })).json();
  t.deepEqual(local.by_type.map((r: { event_type: string }) => r.event_type), ['app.started']);
});

test('XSS probe: a property value and a host-provided appName come out escaped (plugin layout)', async (t) => {
  const app = await host(t, { appName: XSS });
  app.telemetry.track('note.added', { title: XSS, other: '"><img src=x onerror=alert(2)>' });
  await new Promise((done) => setImmediate(done));
  for (const path of ['/telemetry/settings', '/telemetry/stats']) {
    const { status, html } = await page(app, path);
    t.is(status, 200);
    t.false(html.includes(XSS), `${path}: raw <script> probe absent`);
    t.false(html.includes('<img src=x'), `${path}: raw attribute-breaking probe absent`);
    t.false(html.includes('"><img'), `${path}: the attribute cannot be broken out of`);
  }
  t.true((await page(app, '/telemetry/settings')).html.includes(escapeHtml(XSS)), 'the appName is shown, escaped');
  // The value is stored as data (the export is JSON, served as an attachment, never as HTML).
  const exported = await app.request('/api/v1/usage-stats/export', { user: 'admin' });
  t.regex(String(exported.headers.get('content-type')), /^application\/json/);
  t.regex(String(exported.headers.get('content-disposition')), /^attachment/);
});

test('XSS probe: inside a host layout (host nunjucks env) the host-provided appName is escaped; a host env without autoescape is not used', async (t) => {
  const views = await tempDirFor(t, 'kct-views-');
  await mkdir(views, { recursive: true });
  await writeFile(
    join(views, 'layout.njk'),
    '<!doctype html><html><head><title>{{ pageTitle }} · {{ appName }}</title>{% include "telemetry/head.njk" %}</head><body><header data-host-header>{{ appName }}</header>{% block content %}{% endblock %}</body></html>',
  );
  for (const autoescape of [true, false]) {
    const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(views), { autoescape });
    const app = await host(t, { appName: XSS, nunjucks: env, pages: { layout: 'layout.njk', context: () => ({ appName: XSS }) } });
    app.telemetry.track('note.added', { title: XSS });
    for (const path of ['/telemetry/settings', '/telemetry/stats']) {
      const { status, html } = await page(app, path);
      t.is(status, 200, `${path} (autoescape ${autoescape})`);
      t.false(html.includes(XSS), `${path} (host env autoescape ${autoescape}): no raw probe`);
      if (autoescape) t.true(html.includes(`data-host-header>${escapeHtml(XSS)}<`), `${path}: rendered inside the host layout, escaped`);
      else t.false(html.includes('data-host-header'), `${path}: with autoescape off the plugin falls back to its own layout`);
    }
  }
});
