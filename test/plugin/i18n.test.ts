// The message catalog (src/plugin/i18n): English and German have the same keys and placeholders,
// lookups fall back to English and never throw, the locale is chosen from ctx.state.locale, then
// Accept-Language (q-values), then English; `messages` adds or overrides texts and is validated;
// the support partials and the soft-prompt text render in the request's language.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { Context } from 'koa';
import nunjucks from 'nunjucks';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';
import type { TelemetryOptions } from '../../src/index.js';
import { en } from '../../src/plugin/i18n/en.js';
import { de } from '../../src/plugin/i18n/de.js';
import { BUILT_IN_MESSAGES, MessageCatalog, negotiateLocale, placeholdersOf, type MessageKey } from '../../src/plugin/i18n/catalog.js';
import { defaultLocale, RequestLocalizer } from '../../src/plugin/i18n/request.js';
import { resolveOptions } from '../../src/plugin/options.js';
import { promptMessage } from '../../src/plugin/support/prompt-policy.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

test('every built-in locale has exactly the English keys, with the same placeholders', (t) => {
  t.deepEqual(Object.keys(BUILT_IN_MESSAGES).sort(), ['de', 'en']);
  for (const [locale, texts] of Object.entries(BUILT_IN_MESSAGES)) {
    t.deepEqual(Object.keys(texts).sort(), Object.keys(en).sort(), locale);
    for (const key of Object.keys(en) as MessageKey[]) {
      t.deepEqual(placeholdersOf(texts[key]!), placeholdersOf(en[key]), `${locale} ${key}`);
      t.true(texts[key]!.trim().length > 0, `${locale} ${key} is empty`);
    }
  }
  // German is a translation, not a copy.
  t.not(de['support.title'], en['support.title']);
});

test('t fills placeholders, formats numbers in the locale, falls back to English and never throws', (t) => {
  const catalog = new MessageCatalog({ fr: { 'support.cta': 'Soutenir' } });
  const fr = catalog.translator('fr-CA');
  t.is(fr.locale, 'fr');
  t.is(fr.t('support.cta'), 'Soutenir');
  t.is(fr.t('support.badge'), 'Supporter', 'a key the locale lacks comes from English');
  t.is(catalog.translator('de').t('prompt.active_today', { appName: 'Zeit', hours: 1234.5 }), 'Heute 1.234,5 Stunden erfasst – ein produktiver Tag! Wenn Zeit dir hilft, unterstütze es doch.');
  t.is(catalog.translator('en').t('support.title'), 'Support {appName}', 'a missing param stays visible instead of throwing');
  t.is(catalog.translator('en').t('no.such.key' as MessageKey), 'no.such.key');
  t.is(catalog.translator('xx').locale, 'en');
  t.is(catalog.translator(null).locale, 'en');
  t.is(catalog.translator('de').number(1234.56), '1.234,6');
  t.is(catalog.translator('en').number(1234.56), '1,234.6');
  t.is(catalog.translator('de').date(new Date('2026-03-05T12:00:00Z'), { dateStyle: 'long', timeZone: 'UTC' }), '5. März 2026');
  t.is(catalog.translator('en').date(new Date('2026-03-05T12:00:00Z'), { dateStyle: 'long', timeZone: 'UTC' }), 'March 5, 2026');
});

test('Accept-Language: the highest q-value among the available locales wins; q=0 excludes', (t) => {
  const available = ['en', 'de'];
  t.is(negotiateLocale('fr;q=0.9, de;q=0.8, en;q=0.5', available), 'de');
  t.is(negotiateLocale('en;q=0.4, de-AT;q=0.7', available), 'de');
  t.is(negotiateLocale('de;q=0, en;q=0.1', available), 'en');
  t.is(negotiateLocale('DE-de', available), 'de');
  t.is(negotiateLocale('fr, *;q=0.5', available), null);
  t.is(negotiateLocale('', available), null);
  t.is(negotiateLocale(undefined, available), null);
  t.is(negotiateLocale('de;q=abc, en', available), 'en', 'a broken q-value counts as q=0');
});

function fakeCtx(state: Record<string, unknown>, acceptLanguage = ''): Context {
  return { state, get: (name: string) => (name.toLowerCase() === 'accept-language' ? acceptLanguage : '') } as unknown as Context;
}

test('the default locale: the host\'s ctx.state.locale, else Accept-Language, else English', (t) => {
  const available = ['en', 'de'];
  t.is(defaultLocale(fakeCtx({ locale: 'de' }, 'en'), available), 'de');
  t.is(defaultLocale(fakeCtx({ locale: 'de-CH' }, 'en'), available), 'de');
  t.is(defaultLocale(fakeCtx({ locale: 'ja' }, 'de, en;q=0.5'), available), 'de', 'an unavailable state locale falls through to the header');
  t.is(defaultLocale(fakeCtx({}, 'fr-FR,de;q=0.8'), available), 'de');
  t.is(defaultLocale(fakeCtx({}, 'fr'), available), 'en');
  t.is(defaultLocale(fakeCtx({}), available), 'en');
});

test('a host locale(ctx) that throws means English, and the choice is made once per request', (t) => {
  let calls = 0;
  const localizer = new RequestLocalizer(new MessageCatalog(), () => {
    calls++;
    throw new Error('host bug');
  });
  const ctx = fakeCtx({});
  t.is(localizer.translatorFor(ctx).locale, 'en');
  t.is(localizer.translatorFor(ctx).locale, 'en');
  t.is(calls, 1);
});

const base = { appName: 'A', appVersion: '1', env: {} } satisfies TelemetryOptions;

test('messages: new locales and overrides are accepted; an unknown key or a bad locale tag is a TypeError naming it', (t) => {
  const options = resolveOptions({ ...base, messages: { fr: { 'support.cta': 'Soutenir' }, de: { 'support.cta': 'Spenden' } } });
  t.deepEqual(options.messages, { fr: { 'support.cta': 'Soutenir' }, de: { 'support.cta': 'Spenden' } });
  t.deepEqual(resolveOptions(base).messages, {});
  const unknownKey = t.throws(() => resolveOptions({ ...base, messages: { de: { 'support.titel': 'x' } as never } }), { instanceOf: TypeError });
  t.regex(unknownKey!.message, /`messages\.de\.support\.titel`: unknown message key `support\.titel`/);
  t.throws(() => resolveOptions({ ...base, messages: { 'not a locale': { 'support.cta': 'x' } } }), { instanceOf: TypeError, message: /messages/ });
  t.throws(() => resolveOptions({ ...base, messages: { de: { 'support.cta': 42 as never } } }), { instanceOf: TypeError, message: /messages\.de\.support\.cta/ });
  t.throws(() => resolveOptions({ ...base, locale: 'de' as never }), { instanceOf: TypeError, message: /`locale`/ });
});

test('the soft-prompt text follows the translator', (t) => {
  const de = new MessageCatalog().translator('de');
  t.is(promptMessage('seven_day', 'Zeit', null, de), 'Du nutzt Zeit jetzt seit einer Woche – danke! Wenn es dir hilft, unterstütze es doch.');
  t.regex(promptMessage('seven_day', 'Zeit', null), /for a week now/);
});

async function renderHost(t: ExecutionContext, extra: Partial<TelemetryOptions> = {}) {
  const views = await tempDirFor(t, 'kct-i18n-views-');
  await writeFile(
    join(views, 'all.njk'),
    '<!doctype html><html><head>{% include "telemetry/support/head.njk" %}</head><body>{% include "telemetry/support/dashboard_card.njk" %}{% include "telemetry/support/settings_section.njk" %}{% include "telemetry/support/body_end.njk" %}</body></html>',
  );
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(views), { autoescape: true });
  const host = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      logger: quiet,
      nunjucks: env,
      support: {
        urls: { tiers: [{ key: 'coffee', label: 'Coffee', url: 'https://example.org/c' }], license: 'https://example.org/l', share: 'https://example.org/s' },
        userStats: () => ({ hoursTracked: 12.25, entries: 1234 }),
        // The stats line includes the counter read; on a loaded machine it may take longer than the default 500 ms.
        hostCallbackDeadlineMs: 10_000,
      },
      ...extra,
    },
    routes: (router) => {
      router.get('/render', (ctx) => {
        ctx.type = 'html';
        ctx.body = env.render('all.njk', { ...ctx.state });
      });
    },
  });
  t.teardown(() => host.close());
  return async (headers: Record<string, string>) => {
    const response = await host.request('/render', { user: 'alice', headers: { accept: 'text/html', ...headers } });
    t.is(response.status, 200);
    return response.text();
  };
}

test('the support partials render in German for Accept-Language: de, with German numbers', async (t) => {
  const get = await renderHost(t);
  const html = await get({ 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' });
  t.regex(html, /<div lang="de" class="kct-support-dialog/);
  t.regex(html, /<h2 id="kct-support-title" class="kct-support-title">TestHost unterstützen<\/h2>/);
  t.regex(html, /Gefällt dir TestHost\?/);
  t.regex(html, /Unterstützung &amp; Community/);
  t.regex(html, /data-support-stats-line>12,3 Erfasste Stunden · 1\.234 Einträge · 0 Erstellte Berichte</);
  t.regex(html, />Nicht jetzt<\/button>/);
  t.regex(html, /aria-label="Schließen"/);
  t.regex(html, /data-support-text-link-copied="Link in die Zwischenablage kopiert – danke fürs Teilen!"/);
  t.regex(html, /data-share-text="TestHost – eine datenschutzfreundliche App/);
  t.notRegex(html, /Not now|Support &amp; Community|Enjoying/);

  const english = await get({ 'accept-language': 'fr, en;q=0.3' });
  t.regex(english, /class="kct-support-title">Support TestHost<\/h2>/);
  t.regex(english, /data-support-stats-line>12\.3 hours tracked · 1,234 entries · 0 reports generated</);
  t.regex(english, />Not now<\/button>/);
});

test('a host locale(ctx) and messages overrides decide the texts; overrides are escaped', async (t) => {
  const get = await renderHost(t, {
    locale: (ctx) => ctx.get('x-lang') || null,
    messages: { de: { 'support.not_now': 'Später <b>bitte</b>' }, fr: { 'support.title': 'Soutenir {appName}' } },
  });
  const german = await get({ 'x-lang': 'de', 'accept-language': 'en' });
  t.regex(german, />Später &lt;b&gt;bitte&lt;\/b&gt;<\/button>/);
  t.regex(german, /TestHost unterstützen/);
  const french = await get({ 'x-lang': 'fr' });
  t.regex(french, /class="kct-support-title">Soutenir TestHost<\/h2>/);
  t.regex(french, />Not now<\/button>/, 'keys the new locale lacks come from English');
  t.regex(await get({ 'accept-language': 'de' }), />Not now<\/button>/, 'the host function decides, not the header');
});

test('the user privacy page speaks German for Accept-Language: de, with dates in German notation', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: quiet, now: () => new Date('2026-03-05T12:00:00Z') } });
  t.teardown(() => host.close());
  const headers = { accept: 'text/html', 'accept-language': 'de' };
  let html = await (await host.request('/telemetry/me', { user: 'alice', headers })).text();
  t.regex(html, /<html lang="de">/);
  t.regex(html, /<title>Deine Privatsphäre<\/title>/);
  t.regex(html, /<h1>Deine Privatsphäre<\/h1>/);
  t.regex(html, /TestHost verwendet koa-consent-telemetry/);
  t.regex(html, /data-telemetry-user-state>Erlaubt</);
  t.regex(html, />Für mich ausschalten<\/button>/);
  t.regex(html, /data-text-save-failed="Die Änderung konnte nicht gespeichert werden\."/);
  t.regex(html, /Du hast sie noch nicht geändert\./);
  t.notRegex(html, /Your privacy|Turn off for me/);

  const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(html)![1]!;
  const optOut = await host.request('/api/v1/usage-stats/me/opt-out', { method: 'POST', user: 'alice', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: '{}' });
  t.is(optOut.status, 200);
  html = await (await host.request('/telemetry/me', { user: 'alice', headers })).text();
  t.regex(html, /data-telemetry-user-state>Für mich aus</);
  t.regex(html, /<td>erlaubt → aus<\/td>\s*<td>dich<\/td>/);
  t.regex(html, /<time datetime="[^"]+">05\.03\.2026, \d\d:\d\d<\/time>/);

  const english = await (await host.request('/telemetry/me', { user: 'alice', headers: { accept: 'text/html' } })).text();
  t.regex(english, /<h1>Your privacy<\/h1>/);
  t.regex(english, /<td>allowed → off<\/td>\s*<td>you<\/td>/);
});

test('the admin settings page speaks German for Accept-Language: de; its script gets the German texts', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: quiet } });
  t.teardown(() => host.close());
  const html = await (await host.request('/telemetry/settings', { user: 'admin', headers: { accept: 'text/html', 'accept-language': 'de-DE' } })).text();
  t.regex(html, /<title>Datenschutz &amp; Analyse<\/title>/);
  t.regex(html, /<h1>Datenschutz &amp; Analyse<\/h1>/);
  t.regex(html, /<h2>Deine Entscheidungen<\/h2>/);
  t.regex(html, /data-telemetry-state>Aus</);
  t.regex(html, /data-telemetry-toggle="analytics" data-telemetry-on="false">Einschalten</);
  t.regex(html, /<h2>Was wir nie erfassen<\/h2>/);
  t.regex(html, />Alles löschen<\/button>/);
  t.regex(html, /data-text-confirm-delete="Alle lokalen Nutzungsstatistiken/);
  t.notRegex(html, /Your choices|Turn on|Delete everything/);
});

test('the admin statistics page speaks German for Accept-Language: de, with German numbers', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: quiet, localStats: true } });
  t.teardown(() => host.close());
  const html = await (await host.request('/telemetry/stats', { user: 'admin', headers: { accept: 'text/html', 'accept-language': 'de' } })).text();
  t.regex(html, /<title>Nutzungsstatistik<\/title>/);
  t.regex(html, /<h1>Nutzungsstatistik<\/h1>/);
  t.regex(html, /<h2>Diese Woche \(/);
  t.regex(html, /Ereignisse nach Typ/);
  t.regex(html, /<thead><tr><th>Ereignis<\/th><th>Anzahl<\/th><\/tr><\/thead>/);
  t.regex(html, /Einträge werden 30 Tage aufbewahrt, höchstens 5\.000 davon\./);
  t.regex(html, /data-text-shown-of-total="\{shown\} von \{total\}"/);
  t.notRegex(html, /Usage statistics|Events by type|Show more/);
});

test('head.njk hands the shared page script its German texts (confirm dialog, deletion messages)', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: quiet } });
  t.teardown(() => host.close());
  const html = await (await host.request('/telemetry/settings', { user: 'admin', headers: { accept: 'text/html', 'accept-language': 'de' } })).text();
  const content = /<meta name="kct-texts" content="([^"]*)">/.exec(html)![1]!;
  const texts = JSON.parse(content.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&')) as Record<string, string>;
  t.is(texts.cancel, 'Abbrechen');
  t.is(texts.deletedLocal, 'Alles hier Gespeicherte wurde gelöscht.');
  t.regex(texts.reRegisterFailed!, /\{reason\}$/);
});

test('the HTML error page speaks German; the JSON error keeps its code and speaks German too', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: quiet } });
  t.teardown(() => host.close());
  const headers = { accept: 'text/html', 'accept-language': 'de' };
  const member = await host.request('/telemetry/settings', { user: 'alice', headers });
  t.is(member.status, 403);
  const html = await member.text();
  t.regex(html, /<h1>403 · Nicht verfügbar<\/h1>/);
  t.regex(html, /data-telemetry-error-code="forbidden">Nur Administratoren dürfen diese Seite sehen\.</);
  const anonymous = await (await host.request('/telemetry/me', { headers })).text();
  t.regex(anonymous, /data-telemetry-error-code="unauthorized">Melde dich an, um diese Seite zu sehen\.</);
  const api = await host.request('/telemetry/settings', { user: 'alice', headers: { accept: 'application/json', 'accept-language': 'de' } });
  t.is(api.status, 403);
  t.deepEqual(await api.json(), { error: { code: 'forbidden', message: 'Nur Administratoren dürfen diesen Endpunkt nutzen.' } });
});
