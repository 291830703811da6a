// The support partials, rendered the way a host renders them: through the host's own nunjucks
// environment (autoescape on) from a host template, with ctx.state as the context. Hooks of
// docs/support.md, escaping of everything host- or user-supplied, supporter wording, hideDonateWhenSupporter,
// template overrides, no external asset, and a host page that survives failing callbacks.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import nunjucks from 'nunjucks';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';
import type { TelemetryOptions } from '../../src/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const PARTIALS = ['header_button', 'sidebar_link', 'user_menu_item', 'dashboard_card', 'settings_section', 'modal', 'toast_container'] as const;
const TIERS = [
  { key: 'coffee', label: 'Coffee', url: 'https://example.org/coffee' },
  { key: 'monthly', label: 'Monthly', url: 'https://example.org/monthly?a=1&b=2' },
];

const page = (body: string) => `<!doctype html><html><head>{% include "telemetry/support/head.njk" %}</head><body>${body}</body></html>`;

interface Rendered {
  host: HostApp;
  get(path: string, user?: 'alice' | 'admin', init?: RequestInit): Promise<{ status: number; html: string; ms: number }>;
}

async function partialsHost(t: ExecutionContext, support: Partial<TelemetryOptions['support']> = {}, extra: Partial<TelemetryOptions> = {}, overrides: Record<string, string> = {}): Promise<Rendered> {
  const views = await tempDirFor(t, 'kct-host-views-');
  await writeFile(join(views, 'all.njk'), page(PARTIALS.map((p) => `<div id="slot-${p}">{% include "telemetry/support/${p}.njk" %}</div>`).join('\n')));
  for (const p of PARTIALS) await writeFile(join(views, `${p}.njk`), page(`{% include "telemetry/support/${p}.njk" %}`));
  // Host overrides live in the host's own search path, which comes before the plugin's.
  for (const [name, text] of Object.entries(overrides)) {
    await mkdir(join(views, 'telemetry', 'support'), { recursive: true });
    await writeFile(join(views, 'telemetry', 'support', name), text);
  }
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(views), { autoescape: true });
  const host = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      logger: quiet,
      nunjucks: env,
      support: { urls: { tiers: TIERS, license: 'https://example.org/license', share: 'https://example.org/app' }, userStats: () => ({ hoursTracked: 12.25, entries: 1234, hoursToday: 1 }),
        // Generous, so a loaded machine's counter read still makes the stats line; the slow-callback test sets its own.
        hostCallbackDeadlineMs: 10_000,
        ...support },
      ...extra,
    },
    routes: (router) => {
      const render = (ctx: import('koa').Context) => {
        const name = String(ctx.query.t ?? 'all');
        ctx.type = 'html';
        ctx.body = env.render(`${name}.njk`, { ...ctx.state });
      };
      router.get('/render', render);
      router.post('/render', render);
    },
  });
  t.teardown(() => host.close());
  return {
    host,
    async get(path, user, init = {}) {
      const started = Date.now();
      const response = await host.request(path, { user, ...init, headers: { accept: 'text/html,application/xhtml+xml', ...(init.headers as Record<string, string>) } });
      return { status: response.status, html: await response.text(), ms: Date.now() - started };
    },
  };
}

function slot(html: string, name: string): string {
  const match = new RegExp(`<div id="slot-${name}">([\\s\\S]*?)</div>\\n?(?=<div id="slot-|</body>)`).exec(html);
  if (!match) throw new Error(`no slot ${name} in the rendered page`);
  return match[1]!.trim();
}

test('every partial renders with the documented hooks for a signed-in user', async (t) => {
  const { get } = await partialsHost(t);
  const { status, html } = await get('/render', 'alice');
  t.is(status, 200);
  t.regex(html, /<meta name="csrf-token" content="[A-Za-z0-9_-]{43}">/);
  t.regex(html, /<link rel="stylesheet" href="\/telemetry\/assets\/support\.css\?v=[^"]+">/);
  t.regex(html, /<script src="\/telemetry\/assets\/support\.js\?v=[^"]+" defer><\/script>/);
  for (const [name, source] of [['header_button', 'header'], ['sidebar_link', 'sidebar'], ['user_menu_item', 'user_menu'], ['dashboard_card', 'dashboard_card'], ['settings_section', 'settings']] as const) {
    const markup = slot(html, name);
    t.regex(markup, new RegExp(`data-support-open data-support-source="${source}"`), name);
  }
  t.regex(slot(html, 'user_menu_item'), /role="menuitem"/);
  t.regex(slot(html, 'dashboard_card'), /data-support-dashboard/);
  t.regex(slot(html, 'dashboard_card'), /data-support-stats-line>12\.3 hours tracked · 1,234 entries · 0 reports generated</);
  t.regex(slot(html, 'settings_section'), /Support &amp; Community/);

  const modal = slot(html, 'modal');
  t.regex(modal, /role="dialog" aria-modal="true"/);
  t.regex(modal, /data-support-modal/);
  t.regex(modal, /data-support-overlay hidden/);
  t.regex(modal, /data-support-close aria-label="Close"/);
  t.regex(modal, /data-support-tier="coffee"/);
  t.regex(modal, /href="https:\/\/example\.org\/monthly\?a=1&amp;b=2"[^>]*data-support-tier="monthly"/);
  t.regex(modal, /data-support-license/);
  t.regex(modal, /data-support-share data-share-url="https:\/\/example\.org\/app"/);
  t.regex(modal, /data-support-offline role="status" hidden/);
  t.regex(modal, /Support TestHost/);
  t.notRegex(modal, /data-support-badge/);
  // Every outbound link: a plain <a href> in a new tab with rel=noopener.
  const anchors = [...modal.matchAll(/<a [^>]*>/g)].map((m) => m[0]);
  t.is(anchors.length, TIERS.length + 1);
  for (const a of anchors) {
    t.regex(a, /target="_blank"/);
    t.regex(a, /rel="[^"]*\bnoopener\b[^"]*"/);
    t.regex(a, /data-support-outbound/);
  }
  const toasts = slot(html, 'toast_container');
  t.regex(toasts, /data-support-toasts/);
  t.regex(toasts, /<template data-support-toast-template>[\s\S]*data-support-toast[\s\S]*data-support-dismiss/);
  t.regex(toasts, /data-support-prompt-endpoint="\/donate\/request-soft-prompt"/);
  t.regex(toasts, /data-support-track-endpoint="\/donate\/track-support-event"/);
  t.regex(toasts, /data-support-prompt-dashboard/, 'a fresh session may be prompted on a dashboard');
  t.regex(toasts, /data-support-long-session-ms="\d+"/);

  // No external asset: every src/href of a stylesheet, script, image or iframe is the plugin's own.
  for (const m of html.matchAll(/<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)="([^"]+)"/g)) t.regex(m[1]!, /^\/(?!\/)/, m[0]);
  t.notRegex(html, /url\(|@import|fonts\.googleapis|cdn/i);
});

test('each partial renders alone from a host template', async (t) => {
  const { get } = await partialsHost(t);
  for (const name of PARTIALS) {
    const { status, html } = await get(`/render?t=${name}`, 'alice');
    t.is(status, 200, name);
    t.regex(html, /data-support-/, name);
  }
});

test('autoescape: social proof, host stats and the app name cannot inject markup', async (t) => {
  const { get } = await partialsHost(
    t,
    {
      socialProofText: '<script>alert("proof")</script> & friends',
      userStats: () => ({ stats: [{ key: 'x', label: '<img src=x onerror=alert(1)>', value: '<b>9</b>' }, { label: 'Projects " onmouseover="alert(2)', value: 3 }] }),
    },
    { appName: '"><svg onload=alert(3)>' },
  );
  const { html } = await get('/render', 'alice');
  t.false(html.includes('<script>alert'));
  t.false(html.includes('<img src=x'));
  t.false(html.includes('<b>9</b>'));
  t.false(html.includes('<svg onload'));
  t.false(html.includes('" onmouseover="'));
  t.true(html.includes('&lt;script&gt;alert(&quot;proof&quot;)&lt;/script&gt; &amp; friends'));
  t.true(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
  t.true(html.includes('&lt;b&gt;9&lt;/b&gt;'));
  t.true(html.includes('data-share-title="&quot;&gt;&lt;svg onload=alert(3)&gt;"'));
});

test('supporters: thank-you wording and a badge everywhere, entry points stay visible', async (t) => {
  const { get } = await partialsHost(t, { isSupporter: async () => true });
  const { html } = await get('/render', 'alice');
  for (const name of ['header_button', 'sidebar_link', 'user_menu_item', 'dashboard_card', 'settings_section', 'modal']) {
    const markup = slot(html, name);
    t.regex(markup, /data-support-open|data-support-modal/, `${name} is visible`);
    t.regex(markup, /data-support-badge>Supporter</, `${name} has the badge`);
  }
  t.regex(slot(html, 'header_button'), /Share &amp; support/);
  t.regex(slot(html, 'modal'), /Thank you for supporting TestHost!/);
  t.notRegex(slot(html, 'toast_container'), /data-support-prompt-(page|dashboard)\b|data-support-long-session-ms/, 'supporters are never prompted');
});

test('hideDonateWhenSupporter hides every entry point and the modal for supporters only', async (t) => {
  const hidden = await partialsHost(t, { isSupporter: (ctx) => (ctx.state.user as { id: number }).id === 2, hideDonateWhenSupporter: true });
  const alice = (await hidden.get('/render', 'alice')).html;
  for (const name of ['header_button', 'sidebar_link', 'user_menu_item', 'dashboard_card', 'settings_section', 'modal']) t.is(slot(alice, name), '', name);
  const admin = (await hidden.get('/render', 'admin')).html;
  for (const name of ['header_button', 'sidebar_link', 'user_menu_item', 'dashboard_card', 'settings_section', 'modal']) t.not(slot(admin, name), '', `${name} for a non-supporter`);
});

test('signed out, or support disabled: the partials render nothing', async (t) => {
  const { get } = await partialsHost(t);
  const anonymous = (await get('/render')).html;
  for (const name of PARTIALS) t.is(slot(anonymous, name), '', name);

  const off = await partialsHost(t, { enabled: false });
  const html = (await off.get('/render', 'alice')).html;
  for (const name of PARTIALS) t.is(slot(html, name), '', name);
});

test('a host overrides a partial by putting the same name earlier in its search path', async (t) => {
  const { get } = await partialsHost(t, {}, {}, {
    'header_button.njk': '<a class="host-own" data-support-open data-support-source="header">{{ telemetry.support.ctaLabel }} us</a>',
  });
  const { html } = await get('/render', 'alice');
  t.is(slot(html, 'header_button'), '<a class="host-own" data-support-open data-support-source="header">Support us</a>');
  t.regex(slot(html, 'modal'), /data-support-modal/, 'the others still come from the plugin');
});

test('pages rendered outside a GET (e.g. a form re-render) still get the partials, without I/O', async (t) => {
  const { host } = await partialsHost(t);
  const token = /content="([^"]+)"/.exec((await (await host.request('/render', { user: 'alice', headers: { accept: 'text/html' } })).text()))![1]!;
  const response = await host.request('/render', { method: 'POST', user: 'alice', headers: { accept: 'text/html', 'x-csrf-token': token } });
  t.is(response.status, 200);
  const html = await response.text();
  t.regex(slot(html, 'modal'), /data-support-modal/);
  t.notRegex(slot(html, 'modal'), /data-support-stats/, 'no host stats without preparing the page');
});

test('a failing or slow host callback never breaks the page: it renders without stats or prompts', async (t) => {
  const statsThrow = await partialsHost(t, {
    userStats: () => {
      throw new Error('host bug');
    },
  });
  let result = await statsThrow.get('/render', 'alice');
  t.is(result.status, 200);
  t.regex(slot(result.html, 'modal'), /data-support-stat="reports_generated"/, 'only the plugin counter');
  t.notRegex(slot(result.html, 'modal'), /hours_tracked/);

  const supporterThrows = await partialsHost(t, {
    isSupporter: () => {
      throw new Error('host bug');
    },
  });
  result = await supporterThrows.get('/render', 'alice');
  t.is(result.status, 200);
  t.regex(slot(result.html, 'header_button'), /data-support-open/);
  t.notRegex(slot(result.html, 'toast_container'), /data-support-prompt-(page|dashboard)\b|data-support-long-session-ms/, 'no prompt when the host cannot say');

  // Callbacks that never settle: the page still answers (it would hang without the deadline).
  const slow = await partialsHost(t, { isSupporter: () => new Promise<boolean>(() => undefined), userStats: () => new Promise(() => undefined), hostCallbackDeadlineMs: 200 });
  result = await slow.get('/render', 'alice');
  t.is(result.status, 200);
  t.regex(slot(result.html, 'modal'), /data-support-modal/);

  const asyncReject = await partialsHost(t, { userStats: async () => Promise.reject(new Error('db down')) });
  result = await asyncReject.get('/render', 'alice');
  t.is(result.status, 200);
});

test('the plugin serves support.css and support.js itself; neither references anything outside', async (t) => {
  const { host } = await partialsHost(t);
  for (const [file, type] of [['support.css', /text\/css/], ['support.js', /javascript/]] as const) {
    const response = await host.request(`/telemetry/assets/${file}`);
    t.is(response.status, 200, file);
    t.regex(response.headers.get('content-type') ?? '', type);
    const text = await response.text();
    t.notRegex(text, /https?:\/\/|url\(\s*['"]?\/\/|@import/i, `${file} fetches nothing from elsewhere`);
  }
  const js = await (await host.request('/telemetry/assets/support.js')).text();
  t.regex(js, /X-CSRF-Token/);
  for (const hook of ['data-support-open', 'data-support-modal', 'data-support-tier', 'data-support-license', 'data-support-share', 'data-support-offline', 'data-support-toast', 'data-support-dismiss']) {
    t.true(js.includes(hook), hook);
  }
});

test("the host's support callbacks run for pages only: never for the plugin's API, donate or asset paths, nor a non-HTML request", async (t) => {
  let calls = 0;
  const rendered = await partialsHost(t, {
    userStats: () => {
      calls++;
      return { hoursTracked: 1, entries: 1, hoursToday: 1 };
    },
  });
  await rendered.get('/render', 'alice');
  t.is(calls, 1, "a host page asks the host's callback");
  for (const path of ['/api/v1/usage-stats/status', '/api/v1/usage-stats', '/donate/track-support-event', '/telemetry/assets/support.css']) {
    await rendered.get(path, 'alice');
    t.is(calls, 1, path);
  }
  await rendered.get('/render', 'alice', { headers: { accept: 'application/json' } });
  t.is(calls, 1, 'a JSON request');
  await rendered.get('/api/v1/usage-statsx', 'alice');
  t.is(calls, 2, 'a look-alike host path is a host page');
});
