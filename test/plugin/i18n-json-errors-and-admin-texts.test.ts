// The rest of the UI in the reader's language: the `message` of the plugin's JSON error bodies (the
// `code` never changes), the settings page's lists built in code (what is collected, never collected,
// privacy-guard reasons, kill switch and collector-problem explanations), the outbound ledger's
// words and numbers, and the privacy-policy page. German for Accept-Language: de or the host's
// ctx.state.locale, English by default, a host's `messages` override first.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';
import type { TelemetryOptions } from '../../src/index.js';
import { SESSION_MISSING_MESSAGE } from '../../src/index.js';
import { MessageCatalog } from '../../src/plugin/i18n/catalog.js';
import { MOUNT_ORDER_HINT } from '../../src/plugin/middleware/auth.js';
import { collected, neverCollected } from '../../src/plugin/telemetry/event-catalog.js';
import { GUARD_REASON_LABELS } from '../../src/plugin/telemetry/privacy-guard.js';
import { runtimeOf } from '../../src/plugin/internal.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const GERMAN = new MessageCatalog().translator('de');
const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

async function host(t: ExecutionContext, extra: Partial<TelemetryOptions> & { dataDir?: string } = {}, more: { session?: boolean } = {}): Promise<HostApp> {
  const app = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: quiet, ...extra }, ...more });
  t.teardown(() => app.close());
  return app;
}

type ErrorBody = { error: { code: string; message: string } };
const json = async (response: Response) => ({ status: response.status, body: (await response.json()) as ErrorBody });

async function csrfOf(app: HostApp): Promise<string> {
  const html = await (await app.request('/telemetry/me', { user: 'alice', headers: { accept: 'text/html' } })).text();
  return /<meta name="csrf-token" content="([^"]+)">/.exec(html)![1]!;
}

test('JSON errors: Accept-Language: de gets German messages with the same codes; English stays the default', async (t) => {
  const app = await host(t);
  const de = { 'accept-language': 'de-DE,de;q=0.9' };

  const anonymous = await json(await app.request('/api/v1/usage-stats/status', { headers: de }));
  t.is(anonymous.status, 401);
  t.is(anonymous.body.error.code, 'unauthorized');
  t.regex(anonymous.body.error.message, /^Melde dich als Administrator an, um diesen Endpunkt zu nutzen\. Schon angemeldet\?/);
  const anonymousEn = await json(await app.request('/api/v1/usage-stats/status'));
  t.deepEqual(anonymousEn.body, { error: { code: 'unauthorized', message: `Sign in as an administrator to use this endpoint. ${MOUNT_ORDER_HINT}` } });

  const member = await json(await app.request('/api/v1/usage-stats/status', { user: 'alice', headers: de }));
  t.deepEqual(member, { status: 403, body: { error: { code: 'forbidden', message: 'Nur Administratoren dürfen diesen Endpunkt nutzen.' } } });

  const missing = await json(await app.request('/api/v1/usage-stats/no-such-route', { user: 'admin', headers: de }));
  t.deepEqual(missing, { status: 404, body: { error: { code: 'not_found', message: 'Diesen Telemetrie-Endpunkt gibt es nicht.' } } });
  const missingEn = await json(await app.request('/api/v1/usage-stats/no-such-route', { user: 'admin', headers: { 'accept-language': 'fr' } }));
  t.deepEqual(missingEn.body, { error: { code: 'not_found', message: 'No such telemetry endpoint.' } }, 'a language without a catalog falls back to English');

  const csrf = await json(await app.request('/api/v1/usage-stats/me/opt-out', { method: 'POST', user: 'alice', headers: { ...de, 'content-type': 'application/json' }, body: '{}' }));
  t.is(csrf.status, 403);
  t.is(csrf.body.error.code, 'csrf_failed');
  t.regex(csrf.body.error.message, /^Fehlendes oder ungültiges CSRF-Token/);
});

test('JSON errors: a validation message is German, zod\'s own detail included; the details stay for machines', async (t) => {
  const app = await host(t);
  const token = await csrfOf(app);
  const post = (headers: Record<string, string>) =>
    app.request('/api/v1/usage-stats/me/opt-out', { method: 'POST', user: 'alice', headers: { 'content-type': 'application/json', 'x-csrf-token': token, ...headers }, body: '{"analytics":true}' });
  const german = (await (await post({ 'accept-language': 'de' })).json()) as ErrorBody & { error: { details: unknown } };
  t.is(german.error.code, 'invalid_request');
  t.is(german.error.message, 'body: Unbekannter Schlüssel: "analytics"; erwartet: no body (or only { "_csrf": "<token>" })');
  const english = (await (await post({})).json()) as ErrorBody & { error: { details: unknown } };
  t.is(english.error.message, 'body: Unrecognized key: "analytics"; expected no body (or only { "_csrf": "<token>" })');
  t.deepEqual(german.error.details, english.error.details);

  const notJson = await json(await app.request('/api/v1/usage-stats/me/opt-out', { method: 'POST', user: 'alice', headers: { 'content-type': 'application/json', 'x-csrf-token': token, 'accept-language': 'de' }, body: '{nope' }));
  t.deepEqual(notJson, { status: 400, body: { error: { code: 'invalid_json', message: 'Der Inhalt ist kein gültiges JSON.' } } });
});

test('JSON errors follow the host\'s ctx.state.locale over Accept-Language, and a host messages override wins', async (t) => {
  const app = await host(t, { messages: { de: { 'error.api.admin_only': 'Nur für Chefs.' } } });
  const member = await json(await app.request('/api/v1/usage-stats/status', { user: 'alice', headers: { 'x-test-locale': 'de', 'accept-language': 'en' } }));
  t.deepEqual(member.body, { error: { code: 'forbidden', message: 'Nur für Chefs.' } });
  const english = await json(await app.request('/api/v1/usage-stats/status', { user: 'alice', headers: { 'accept-language': 'en' } }));
  t.deepEqual(english.body, { error: { code: 'forbidden', message: 'Only administrators may use this endpoint.' } });
  const support = await json(await app.request('/donate/track-support-event', { method: 'POST', user: 'alice', headers: { 'x-test-locale': 'de', 'content-type': 'application/json', 'x-csrf-token': await csrfOf(app) }, body: '{"event":"nope"}' }));
  t.is(support.status, 400);
  t.is(support.body.error.code, 'unknown_event');
  t.regex(support.body.error.message, /^Unbekanntes Ereignis: erwartet wird eines von modal_opened, /);
});

test('without koa-session the 503 body names the fix in the reader\'s language; the log stays English', async (t) => {
  const app = await host(t, {}, { session: false });
  const german = await json(await app.request('/telemetry/settings', { headers: { accept: 'application/json', 'accept-language': 'de' } }));
  t.is(german.status, 503);
  t.is(german.body.error.code, 'session_missing');
  t.regex(german.body.error.message, /koa-session ist nicht eingebunden\. Füge app\.use\(session\(app\)\) vor app\.use\(telemetryPlugin\(\.\.\.\)\) ein\./);
  const english = await json(await app.request('/telemetry/settings', { headers: { accept: 'application/json' } }));
  t.is(english.body.error.message, SESSION_MISSING_MESSAGE);
});

const settingsHtml = async (app: HostApp, headers: Record<string, string>) => (await app.request('/telemetry/settings', { user: 'admin', headers: { accept: 'text/html', ...headers } })).text();

test('settings page: what is collected and never collected, in German for Accept-Language: de and for ctx.state.locale', async (t) => {
  const app = await host(t);
  for (const headers of [{ 'accept-language': 'de' }, { 'x-test-locale': 'de', 'accept-language': 'en' }] as Record<string, string>[]) {
    const html = await settingsHtml(app, headers);
    for (const group of collected(GERMAN)) {
      t.true(html.includes(`>${escapeHtml(group.title)}</h3>`), group.title);
      const start = html.indexOf(`data-telemetry-collected="${group.layer}"`);
      const list = html.slice(start, html.indexOf('</ul>', start));
      for (const item of group.items) t.true(list.includes(`<li>${escapeHtml(item)}</li>`), item);
    }
    const start = html.indexOf('data-telemetry-never-collected');
    const never = html.slice(start, html.indexOf('</ul>', start));
    for (const item of neverCollected(GERMAN)) t.true(never.includes(`<li>${escapeHtml(item)}</li>`), item);
    t.true(never.includes('IP-Adressen der Clients'));
    t.true(never.includes('Zahlungskartennummern (card_number)'));
    for (const english of [...collected().flatMap((g) => [g.title, ...g.items.filter((i) => !/^[a-z_.]+: (docker|desktop)/.test(i))]), ...neverCollected()]) {
      t.false(html.includes(escapeHtml(english)), `no English "${english}"`);
    }
  }
  const english = await settingsHtml(app, {});
  for (const item of neverCollected()) t.true(english.includes(escapeHtml(item)), item);
});

test('settings page: privacy-guard reasons and the kill switch are explained in German, counts in German notation', async (t) => {
  const off = await host(t, { env: { DO_NOT_TRACK: '1' } });
  const offHtml = await settingsHtml(off, { 'accept-language': 'de' });
  const banner = offHtml.slice(offHtml.indexOf('data-telemetry-kill-switch'), offHtml.indexOf('</div>', offHtml.indexOf('data-telemetry-kill-switch')));
  t.true(banner.includes('Die Umgebungsvariable DO_NOT_TRACK ist gesetzt, daher wird nichts gesendet'), banner);

  const app = await host(t, { localStats: true });
  // Tracked events are guarded when the queue drains: flush in batches so none is dropped.
  for (let i = 0; i < 1234; i++) {
    app.telemetry.track('timer.started', { email: 'someone@example.org' });
    if (i % 100 === 99) await app.telemetry.flush();
  }
  await app.telemetry.flush();
  t.is(app.telemetry.status().privacy_guard.by_reason.pii_key, 1234);
  const html = await settingsHtml(app, { 'accept-language': 'de' });
  const table = html.slice(html.indexOf('data-telemetry-privacy-guard'), html.indexOf('</section>', html.indexOf('data-telemetry-privacy-guard')));
  t.regex(table, /<tr data-guard-reason="pii_key"><td><code>pii_key<\/code><\/td><td>1\.234<\/td><td>Werte unter einem Eigenschaftsnamen, der personenbezogene Daten/);
  t.false(table.includes(escapeHtml(GUARD_REASON_LABELS.pii_key)));
  const english = await settingsHtml(app, {});
  t.regex(english, /<td>1,234<\/td><td>Values under a property name that means personal data/);
});

test('settings and stats pages: the collector-problem explanation is German; /status keeps the stored English one', async (t) => {
  const dataDir = await tempDirFor(t);
  const collector = { url: 'http://127.0.0.1:9' };
  const first = await startHostApp({ telemetry: { dataDir, logger: quiet, collector } });
  const url = runtimeOf(first.telemetry).options.collector.url;
  await first.close();
  const file = join(dataDir, 'installation.json');
  const stored = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  stored.collector_problem = { code: 'unknown_installation', explanation: 'The collector does not know this installation (stored text).', since: '2026-03-05T12:00:00.000Z', url };
  await writeFile(file, JSON.stringify(stored));
  const app = await host(t, { dataDir, collector });
  const html = await settingsHtml(app, { 'accept-language': 'de' });
  t.regex(html, /Der Collector kennt diese Installation nicht \(mehr\)/);
  t.regex(html, /\(unknown_installation, seit /);
  t.false(html.includes('stored text'));
  const stats = await (await app.request('/telemetry/stats', { user: 'admin', headers: { accept: 'text/html', 'accept-language': 'de' } })).text();
  t.regex(stats, /data-telemetry-collector-problem[^>]*>\s*<strong>[^<]*<\/strong>\s*Der Collector kennt diese Installation nicht \(mehr\)/);
  t.is(app.telemetry.status().collector.problem?.explanation, 'The collector does not know this installation (stored text).');
});

test('stats page: the outbound ledger\'s outcome words, attempts and numbers follow the locale', async (t) => {
  const app = await host(t, { localStats: true });
  const outbound = runtimeOf(app.telemetry).outbound;
  outbound.record({ kind: 'otlp_logs', method: 'POST', endpoint: 'http://otlp.test/v1/logs', request_body: null, record_count: 3, counts: { 'timer.started': 2 }, bytes: 12345, attempts: 2, outcome: 'failed', response_code: 503, error: null, details: null });
  outbound.record({ kind: 'registration', method: 'POST', endpoint: 'http://collector.test/v1/register', request_body: null, record_count: null, counts: null, bytes: null, attempts: 1, outcome: 'accepted', response_code: 201, error: null, details: { secret_received: true } });
  await outbound.flush();
  const page = async (headers: Record<string, string>) => {
    const html = await (await app.request('/telemetry/stats', { user: 'admin', headers: { accept: 'text/html', ...headers } })).text();
    return html.slice(html.indexOf('data-telemetry-outbound-rows'));
  };
  const german = await page({ 'accept-language': 'de' });
  t.regex(german, /<td>12\.345<\/td>\s*<td data-outcome="failed">fehlgeschlagen \(503\) · 2 Versuche/);
  t.regex(german, /<td data-outcome="accepted">angenommen \(201\)<div class="kct-muted">Geheimnis erhalten/);
  const english = await page({});
  t.regex(english, /<td>12,345<\/td>\s*<td data-outcome="failed">failed \(503\) · 2 attempts/);
  t.regex(english, /accepted \(201\)<div class="kct-muted">secret received/);
});

test('the privacy-policy page: German around the English template text, English by default', async (t) => {
  const app = await host(t);
  const get = async (headers: Record<string, string>) => (await app.request('/telemetry/privacy-policy', { user: 'admin', headers: { accept: 'text/html', ...headers } })).text();
  const german = await get({ 'accept-language': 'de' });
  t.regex(german, /<title>Datenschutzerklärung \(Vorlage\)<\/title>/);
  t.regex(german, /<h1>Datenschutzerklärung – Vorlage<\/h1>/);
  t.regex(german, /Ersetze die Teile in \[eckigen Klammern\]/);
  t.regex(german, /data-telemetry-policy-language>Der Vorlagentext unten ist auf Englisch/);
  t.regex(german, /# Privacy policy for telemetry — a template/, 'the template text itself is shown as shipped');
  t.regex(await get({ 'x-test-locale': 'de' }), /<h1>Datenschutzerklärung – Vorlage<\/h1>/);
  const english = await get({});
  t.regex(english, /<title>Privacy policy \(template\)<\/title>/);
  t.regex(english, /<h1>Privacy policy — template<\/h1>/);
  t.false(english.includes('data-telemetry-policy-language'));
  const overridden = await host(t, { messages: { de: { 'policy.heading': 'Unsere Vorlage' } } });
  t.regex(await (await overridden.request('/telemetry/privacy-policy', { user: 'admin', headers: { accept: 'text/html', 'accept-language': 'de' } })).text(), /<h1>Unsere Vorlage<\/h1>/);
});

test('every new catalog key exists in German with the same placeholders (and German is not a copy)', (t) => {
  const english = new MessageCatalog().translator('en');
  for (const key of ['error.api.sign_in', 'collected.base_title', 'guard.too_many_props', 'kill_switch.DO_NOT_TRACK', 'outcome.failed', 'policy.intro'] as const) {
    t.not(GERMAN.t(key), english.t(key), key);
  }
});
