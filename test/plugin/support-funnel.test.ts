// POST /donate/track-support-event: signed-in users only (401), CSRF required (403), validated
// (400 for an unknown event); every event writes a local telemetry_donation_interactions row with
// a snapshot of the user's stats and goes through the consent gate as `support.<event>`: recorded
// locally always, exported only with analytics consent (nock proves nothing leaves otherwise).
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { Knex } from 'knex';
import { disallowNetwork, nock, restoreNetwork } from '../helpers/no-network.js';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { testEachDatabase } from '../helpers/databases.js';
import { tempDirFor } from '../helpers/tmp.js';
import { SUPPORT_EVENTS } from '../../src/plugin/support/events.js';
import type { TelemetryOptions } from '../../src/index.js';
import { runtimeOf } from '../../src/plugin/internal.js';
import { withOpenApiChecks } from '../helpers/openapi.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

test.before(disallowNetwork);
test.after.always(restoreNetwork);

let endpoints = 0;
/**
 * A fresh OTLP endpoint for one test (tests of this file run concurrently, so each gets its own
 * host name) and every body nock answered there, as text.
 */
function recordOtlp(): { endpoint: string; bodies: string[] } {
  const bodies: string[] = [];
  const endpoint = `http://otlp-${process.pid}-${++endpoints}.invalid:4318`;
  nock(endpoint)
    .persist()
    .post(/\/v1\/(logs|metrics)/)
    .reply(200, (_uri, body) => {
      bodies.push(typeof body === 'string' ? body : JSON.stringify(body));
      return {};
    });
  return { endpoint, bodies };
}

async function funnelHost(t: ExecutionContext, knex: Knex, extra: Partial<TelemetryOptions> = {}): Promise<HostApp> {
  const host = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      db: knex,
      logger: quiet,
      otlp: { endpoint: recordOtlp().endpoint },
      support: {
        urls: { tiers: [{ key: 'coffee', label: 'Coffee', url: 'https://example.org/coffee' }], license: null, share: null },
        userStats: () => ({ hoursTracked: 12.5, entries: 40, hoursToday: 2 }),
      },
      ...extra,
    },
    routes: (router) => {
      // A host page that hands the CSRF token to the browser (the head partial's meta tag does the same).
      router.get('/token', (ctx) => {
        ctx.body = { token: (ctx.state.telemetry as { csrfToken: string }).csrfToken };
      });
    },
  });
  t.teardown(() => host.close());
  // Every answer of a documented route is checked against docs/openapi.json (test/helpers/openapi.ts).
  return withOpenApiChecks(host);
}

async function token(host: HostApp, user: 'alice' | 'admin' = 'alice'): Promise<string> {
  return ((await (await host.request('/token', { user })).json()) as { token: string }).token;
}

function send(host: HostApp, body: unknown, options: { user?: 'alice' | 'admin'; csrf?: string; raw?: string; type?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': options.type ?? 'application/json', accept: 'application/json' };
  if (options.csrf !== undefined) headers['x-csrf-token'] = options.csrf;
  return host.request('/donate/track-support-event', { method: 'POST', user: options.user, headers, body: options.raw ?? JSON.stringify(body) });
}

interface Row {
  user_id: string;
  interaction_type: string;
  source: string | null;
  variant: string | null;
  snapshot: string;
  created_at: unknown;
}

testEachDatabase('every funnel event is stored locally with a snapshot of the user stats', async (t, db) => {
  const host = await funnelHost(t, db.knex);
  const csrf = await token(host);
  await host.request('/token', { user: 'alice' }); // same session
  await host.telemetry.support.reportGenerated({ id: 2 });
  for (const event of SUPPORT_EVENTS) {
    const response = await send(host, { event, variant: event === 'donation_clicked' ? 'coffee' : 'after_report', source: 'header' }, { user: 'alice', csrf });
    t.is(response.status, 202, event);
    t.deepEqual(await response.json(), { ok: true });
  }
  const rows = (await db.knex('telemetry_donation_interactions').orderBy('id').select()) as Row[];
  t.deepEqual(rows.map((r) => r.interaction_type), [...SUPPORT_EVENTS]);
  for (const row of rows) {
    t.is(row.user_id, '2');
    t.is(row.source, 'header');
    t.deepEqual(JSON.parse(row.snapshot), { hours_tracked: 12.5, entries: 40, hours_today: 2, reports_generated: 1, is_supporter: false });
  }
  t.is(rows.find((r) => r.interaction_type === 'donation_clicked')?.variant, 'coffee');

  // Optional fields may be left out.
  t.is((await send(host, { event: 'modal_opened' }, { user: 'alice', csrf })).status, 202);
  const last = (await db.knex('telemetry_donation_interactions').orderBy('id', 'desc').first()) as Row;
  t.is(last.variant, null);
  t.is(last.source, null);

  const funnel = await host.telemetry.support.funnel();
  t.is(funnel.find((f) => f.interaction_type === 'modal_opened' && f.source === 'header')?.count, 1);
  t.is(funnel.filter((f) => f.interaction_type === 'modal_opened').reduce((n, f) => n + f.count, 0), 2);
  t.is((await host.telemetry.support.interactions({ userId: 2 })).length, SUPPORT_EVENTS.length + 1);
});

testEachDatabase('401 signed out, 403 without or with a wrong CSRF token, 400 for unknown or malformed input', async (t, db) => {
  const host = await funnelHost(t, db.knex);
  const csrf = await token(host);

  const anonymous = await send(host, { event: 'modal_opened' }, { csrf });
  t.is(anonymous.status, 401);
  t.is(((await anonymous.json()) as { error: { code: string } }).error.code, 'unauthorized');
  t.is((await host.request('/donate/request-soft-prompt', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: '{"kind":"page"}' })).status, 401);

  const noToken = await send(host, { event: 'modal_opened' }, { user: 'alice' });
  t.is(noToken.status, 403);
  const body403 = (await noToken.json()) as { error: { code: string; message: string } };
  t.is(body403.error.code, 'csrf_failed');
  t.is(typeof body403.error.message, 'string');
  t.is((await send(host, { event: 'modal_opened' }, { user: 'alice', csrf: 'x'.repeat(43) })).status, 403);
  t.is((await host.request('/donate/request-soft-prompt', { method: 'POST', user: 'alice', headers: { 'content-type': 'application/json' }, body: '{"kind":"page"}' })).status, 403);
  t.is((await send(host, { event: 'modal_opened', _csrf: csrf }, { user: 'alice' })).status, 202, 'the token may also come as a _csrf body field');

  const unknown = await send(host, { event: 'donation_completed' }, { user: 'alice', csrf });
  t.is(unknown.status, 400);
  const error = ((await unknown.json()) as { error: { code: string; message: string } }).error;
  t.deepEqual(Object.keys(error).sort(), ['code', 'message']);
  t.is(error.code, 'unknown_event');
  t.regex(error.message, /modal_opened/);

  t.is((await send(host, {}, { user: 'alice', csrf })).status, 400, 'no event');
  t.is((await send(host, { event: 'modal_opened', variant: '<script>' }, { user: 'alice', csrf })).status, 400, 'variant is a short key');
  t.is((await send(host, { event: 'modal_opened', source: 'x'.repeat(65) }, { user: 'alice', csrf })).status, 400, 'source is short');
  t.is((await send(host, null, { user: 'alice', csrf, raw: '{"event":' })).status, 400, 'malformed JSON');
  t.is((await send(host, null, { user: 'alice', csrf, raw: JSON.stringify({ event: 'modal_opened', pad: 'x'.repeat(8000) }) })).status, 413, 'a small body limit');
  t.is((await host.request('/donate/request-soft-prompt', { method: 'POST', user: 'alice', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: '{"kind":"nag"}' })).status, 400);

  t.is(Number(((await db.knex('telemetry_donation_interactions').count({ n: '*' }).first()) as { n: unknown }).n), 1, 'only the valid request was stored');
});

testEachDatabase('consent gate: opted out, support.* events are recorded locally and never exported', async (t, db) => {
  const { endpoint, bodies } = recordOtlp();
  const host = await funnelHost(t, db.knex, { otlp: { endpoint } });
  t.false(host.telemetry.consent.get().analytics);
  const csrf = await token(host);
  for (const event of SUPPORT_EVENTS) t.is((await send(host, { event, source: 'sidebar' }, { user: 'alice', csrf })).status, 202);
  t.true(await host.telemetry.flush());
  const sent = bodies.join('\n');
  t.true(sent.includes('base_telemetry.first_seen'), 'the sink works (base layer)');
  t.false(sent.includes('support.'), 'no support event left the process');
  t.false(sent.includes('sidebar'));
  t.is(host.telemetry.status().queue.export_depth, 0);
  t.is(Number(((await db.knex('telemetry_donation_interactions').count({ n: '*' }).first()) as { n: unknown }).n), SUPPORT_EVENTS.length, 'the local funnel is complete');

  // The local usage statistics record the events whatever the consent.
  await runtimeOf(host.telemetry).recorder?.flush();
  if (await db.knex.schema.hasTable('telemetry_usage_events')) {
    const local = (await db.knex('telemetry_usage_events').where('event_type', 'like', 'support.%').pluck('event_type')) as string[];
    t.deepEqual([...new Set(local)].sort(), SUPPORT_EVENTS.map((e) => `support.${e}`).sort());
  }
});

testEachDatabase('consent gate: opted in, support.* events are exported with variant and source, never the raw user id', async (t, db) => {
  const { endpoint, bodies } = recordOtlp();
  const host = await funnelHost(t, db.knex, { otlp: { endpoint } });
  await host.telemetry.consent.set({ analytics: true });
  const csrf = await token(host);
  t.is((await send(host, { event: 'donation_clicked', variant: 'coffee', source: 'dashboard_card' }, { user: 'alice', csrf })).status, 202);
  t.is((await send(host, { event: 'prompt_dismissed', variant: 'after_report', source: 'toast' }, { user: 'alice', csrf })).status, 202);
  t.true(await host.telemetry.flush());
  const sent = bodies.join('\n');
  t.true(sent.includes('support.donation_clicked'));
  t.true(sent.includes('support.prompt_dismissed'));
  t.true(sent.includes('dashboard_card') && sent.includes('coffee'));
  t.true(sent.includes('user.pseudonym'));
  t.false(/"user_id"|"user\.id"/.test(sent), 'the raw user id never leaves');
  t.is(Number(((await db.knex('telemetry_donation_interactions').count({ n: '*' }).first()) as { n: unknown }).n), 2);

  // Opting out again stops it at once.
  bodies.length = 0;
  await host.telemetry.consent.set({ analytics: false });
  t.is((await send(host, { event: 'modal_opened', source: 'header' }, { user: 'alice', csrf })).status, 202);
  t.true(await host.telemetry.flush());
  t.false(bodies.join('\n').includes('support.modal_opened'));
});

testEachDatabase('a dismissal is persisted per user; hasRecentDonationClick counts clicks of every naming', async (t, db) => {
  const clock = { ms: Date.parse('2026-12-01T12:00:00Z') };
  const host = await funnelHost(t, db.knex, { now: () => new Date(clock.ms) });
  const csrf = await token(host);
  t.is((await send(host, { event: 'prompt_dismissed', variant: 'seven_day', source: 'toast' }, { user: 'alice', csrf })).status, 202);
  const state = (await db.knex('telemetry_support_prompt_state').where({ user_id: '2' }).first()) as { last_dismissed_variant: string; last_dismissed_at: unknown };
  t.is(state.last_dismissed_variant, 'seven_day');
  t.is(new Date(state.last_dismissed_at as string | number | Date).getTime(), clock.ms);

  const alice = { id: 2 };
  t.false(await host.telemetry.support.hasRecentDonationClick(alice), 'a dismissal or modal_opened is not a click');
  await send(host, { event: 'modal_opened' }, { user: 'alice', csrf });
  t.false(await host.telemetry.support.hasRecentDonationClick(alice));
  for (const type of ['support_donation_clicked', 'support_license_clicked', 'link_clicked', 'donation_clicked', 'license_clicked']) {
    await db.knex('telemetry_donation_interactions').delete();
    await db.knex('telemetry_donation_interactions').insert({ user_id: '2', interaction_type: type, source: null, variant: null, snapshot: '{}', created_at: new Date(clock.ms - 10 * 86_400_000) });
    t.true(await host.telemetry.support.hasRecentDonationClick(alice), type);
    t.false(await host.telemetry.support.hasRecentDonationClick(alice, 10), `${type}: outside a 10-day window`);
    t.false(await host.telemetry.support.hasRecentDonationClick({ id: 1 }), `${type}: another user`);
  }
});

testEachDatabase('support disabled: the funnel endpoint answers 404, the prompt endpoint { show: false }', async (t, db) => {
  const host = await funnelHost(t, db.knex, { support: { enabled: false } });
  const csrf = await token(host);
  const response = await send(host, { event: 'modal_opened' }, { user: 'alice', csrf });
  t.is(response.status, 404);
  t.is(((await response.json()) as { error: { code: string } }).error.code, 'support_disabled');
  const prompt = await host.request('/donate/request-soft-prompt', { method: 'POST', user: 'alice', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: '{"kind":"dashboard"}' });
  t.deepEqual(await prompt.json(), { show: false });
});

testEachDatabase('a signed-in user cannot flood the support funnel', async (t, db) => {
  const host = await funnelHost(t, db.knex, {
    support: { eventsPerMinute: 5, urls: { tiers: [], license: null, share: null } },
  });
  const csrf = await token(host);
  for (let i = 0; i < 5; i++) t.is((await send(host, { event: 'modal_opened', source: 'header' }, { user: 'alice', csrf })).status, 202, `event ${i + 1}`);
  // The sixth within the minute, valid or not, is refused with a JSON error and Retry-After.
  for (const body of [{ event: 'modal_opened', source: 'header' }, { event: 'nonsense' }]) {
    const response = await send(host, body, { user: 'alice', csrf });
    t.is(response.status, 429);
    const retryAfter = Number(response.headers.get('retry-after'));
    t.true(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, String(retryAfter));
    t.deepEqual(((await response.json()) as { error: { code: string } }).error.code, 'rate_limited');
  }
  const rows = await db.knex('telemetry_donation_interactions').count({ n: '*' }).first();
  t.is(Number((rows as { n: unknown }).n), 5, 'nothing beyond the limit is stored');
  // Another user has a budget of their own.
  const adminCsrf = await token(host, 'admin');
  t.is((await send(host, { event: 'modal_opened', source: 'header' }, { user: 'admin', csrf: adminCsrf })).status, 202);
});

testEachDatabase('an IP address sent as funnel source is never stored', async (t, db) => {
  const host = await funnelHost(t, db.knex, {
    support: { sources: ['footer'], urls: { tiers: [{ key: 'coffee', label: 'Coffee', url: 'https://example.org/coffee' }], license: null, share: null } },
  });
  const csrf = await token(host);
  for (const source of ['10.0.0.1', '2001:db8::1', 'alice@example.com', 'alice', 'Header', '4155552671']) {
    const response = await send(host, { event: 'modal_opened', source }, { user: 'alice', csrf });
    t.is(response.status, 400, source);
    const body = (await response.json()) as { error: { code: string; message: string } };
    t.is(body.error.code, 'unknown_source');
    t.false(body.error.message.includes(source), 'the refused value is not echoed');
  }
  for (const variant of ['10.0.0.1', 'team', 'alice']) {
    const response = await send(host, { event: 'donation_clicked', variant, source: 'header' }, { user: 'alice', csrf });
    t.is(response.status, 400, variant);
    t.is(((await response.json()) as { error: { code: string } }).error.code, 'unknown_variant');
  }
  // The documented entry points, the host's declared one, the prompt variants and tier keys pass.
  t.is((await send(host, { event: 'link_clicked', source: 'footer' }, { user: 'alice', csrf })).status, 202);
  t.is((await send(host, { event: 'donation_clicked', variant: 'coffee', source: 'toast' }, { user: 'alice', csrf })).status, 202);
  t.is((await send(host, { event: 'prompt_shown', variant: 'seven_day', source: 'dashboard_card' }, { user: 'alice', csrf })).status, 202);
  const rows = (await db.knex('telemetry_donation_interactions').select('source', 'variant').orderBy('id')) as { source: string | null; variant: string | null }[];
  t.deepEqual(rows, [
    { source: 'footer', variant: null },
    { source: 'toast', variant: 'coffee' },
    { source: 'dashboard_card', variant: 'seven_day' },
  ]);
});

test('the service stores no source or variant off its allow-lists, whoever calls it', async (t) => {
  const { SupportService } = await import('../../src/plugin/support/service.js');
  const { PrivacyGuard } = await import('../../src/plugin/telemetry/privacy-guard.js');
  const inserted: unknown[] = [];
  const tracked: unknown[] = [];
  const service = new SupportService({
    repository: { insertInteraction: async (row: unknown) => void inserted.push(row), reportsGenerated: async () => 0 } as never,
    settings: { enabled: true, urls: { tiers: [], license: null, share: null }, longSessionMinutes: 120, socialProofText: null, hideDonateWhenSupporter: false },
    guard: new PrivacyGuard(),
    appName: 'A',
    donatePath: '/donate',
    track: (name, props) => tracked.push({ name, props }) > 0,
    isReady: () => true,
    now: () => new Date(),
    logger: quiet,
  });
  const user = { id: 2 };
  const stats = { items: [], hoursToday: null, snapshot: { hours_tracked: 4, phone: 4155552671 } };
  t.true(await service.recordEvent({ user, event: 'modal_opened', source: '10.0.0.1', variant: 'alice@example.com', isSupporter: false, stats }));
  t.deepEqual(tracked, [{ name: 'support.modal_opened', props: {} }]);
  const row = inserted[0] as { source: unknown; variant: unknown; snapshot: Record<string, unknown> };
  t.is(row.source, null);
  t.is(row.variant, null);
  t.is(row.snapshot.hours_tracked, 4);
  t.is(row.snapshot.phone, '[redacted]');
});

testEachDatabase('a support body of the wrong shape is told the expected fields', async (t, db) => {
  const host = await funnelHost(t, db.knex);
  const csrf = await token(host);
  const noEvent = await send(host, { kind: 'modal_opened' }, { user: 'alice', csrf });
  t.is(noEvent.status, 400);
  t.regex(((await noEvent.json()) as { error: { message: string } }).error.message, /expected \{ "event": "modal_opened" \| .*"variant"\?: string, "source"\?: string \}/);
  const prompt = await host.request('/donate/request-soft-prompt', { method: 'POST', user: 'alice', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: '{"type":"page"}' });
  t.is(prompt.status, 400);
  t.regex(((await prompt.json()) as { error: { message: string } }).error.message, /expected \{ "kind": .*"page" \}/);
});
