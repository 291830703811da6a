// The soft-prompt policy (docs/support.md): first as a table over the pure function (every variant, every
// suppression, both windows' expiry, one prompt per session, after_report priority), then through
// the real endpoint with the plugin's clock option moved forward (the windows persist per user
// across sessions, one prompt per session, a pending after_report beats dashboard prompts).
import test from 'ava';
import nunjucks from 'nunjucks';
import {
  decidePrompt,
  promptMessage,
  LONG_SESSION_TOLERANCE_MS,
  type PromptDecision,
  type PromptPolicyInput,
} from '../../src/plugin/support/prompt-policy.js';
import { PROMPT_KINDS, PROMPT_VARIANTS } from '../../src/plugin/support/events.js';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { testEachDatabase } from '../helpers/databases.js';
import { tempDirFor } from '../helpers/tmp.js';
import type { TelemetryOptions } from '../../src/index.js';
import { runtimeOf } from '../../src/plugin/internal.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const NOW = new Date('2026-03-15T12:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);

/** An established user (30 days), nothing pending, nothing suppressed, a fresh session, no hours today. */
const BASE: PromptPolicyInput = {
  kind: 'dashboard',
  now: NOW,
  enabled: true,
  isSupporter: false,
  shownThisSession: null,
  afterReportPending: false,
  lastDismissedAt: null,
  lastSupportClickAt: null,
  userCreatedAt: ago(30 * DAY),
  hoursToday: 0,
  sessionStartedAt: ago(10 * MIN),
  longSessionMinutes: 120,
};
const NEW_USER = { userCreatedAt: ago(2 * DAY) };

type Expected = string; // a variant to show, or `no:<reason>`

const CASES: [title: string, patch: Partial<PromptPolicyInput>, expected: Expected, consumesAfterReport?: boolean][] = [
  // ---- variants
  ['seven_day: dashboard, signed up 30 days ago', {}, 'seven_day'],
  ['seven_day: exactly 7 days after signup', { userCreatedAt: ago(7 * DAY) }, 'seven_day'],
  ['seven_day: not yet at 6 days 23 hours', { userCreatedAt: ago(7 * DAY - HOUR) }, 'no:not_eligible'],
  ['seven_day: unknown signup date never qualifies', { userCreatedAt: null }, 'no:not_eligible'],
  ['seven_day: an invalid signup date never qualifies', { userCreatedAt: new Date('nonsense') }, 'no:not_eligible'],
  ['active_today: 4 h tracked today', { ...NEW_USER, hoursToday: 4 }, 'active_today'],
  ['active_today: 3.9 h is not enough', { ...NEW_USER, hoursToday: 3.9 }, 'no:not_eligible'],
  ['active_today: no hours from the host', { ...NEW_USER, hoursToday: null }, 'no:not_eligible'],
  ['dashboard: seven_day comes before active_today', { hoursToday: 6 }, 'seven_day'],
  ['after_report: pending on any page', { kind: 'page', afterReportPending: true }, 'after_report', true],
  ['after_report: a page without a pending report shows nothing', { kind: 'page' }, 'no:not_eligible'],
  ['after_report beats seven_day and active_today on the dashboard', { afterReportPending: true, hoursToday: 8 }, 'after_report', true],
  ['after_report beats long_session', { kind: 'long_session', afterReportPending: true, sessionStartedAt: ago(5 * HOUR) }, 'after_report', true],
  ['long_session: at the threshold', { kind: 'long_session', ...NEW_USER, sessionStartedAt: ago(120 * MIN) }, 'long_session'],
  ['long_session: the client timer may be a little early', { kind: 'long_session', ...NEW_USER, sessionStartedAt: ago(120 * MIN - LONG_SESSION_TOLERANCE_MS) }, 'long_session'],
  ['long_session: too early', { kind: 'long_session', ...NEW_USER, sessionStartedAt: ago(118 * MIN) }, 'no:not_eligible'],
  ['long_session: honours longSessionMinutes', { kind: 'long_session', ...NEW_USER, longSessionMinutes: 30, sessionStartedAt: ago(31 * MIN) }, 'long_session'],
  ['long_session: unknown session start', { kind: 'long_session', ...NEW_USER, sessionStartedAt: null }, 'no:not_eligible'],
  ['long_session is not a dashboard prompt', { ...NEW_USER, sessionStartedAt: ago(5 * HOUR) }, 'no:not_eligible'],
  ['kind seven_day asks for that variant only', { kind: 'seven_day', hoursToday: 9 }, 'seven_day'],
  ['kind active_today does not show seven_day', { kind: 'active_today' }, 'no:not_eligible'],
  ['kind after_report without a pending report', { kind: 'after_report' }, 'no:not_eligible'],
  // ---- never
  ['support disabled', { enabled: false }, 'no:disabled'],
  ['support disabled drops a pending after_report', { enabled: false, afterReportPending: true }, 'no:disabled', true],
  ['supporters are never prompted', { isSupporter: true, afterReportPending: true, hoursToday: 8 }, 'no:supporter', true],
  ['isSupporter failed: no prompt, the pending report is kept', { isSupporter: null, afterReportPending: true }, 'no:supporter_unknown', false],
  // ---- one per session
  ['one per session: after seven_day, no active_today', { shownThisSession: 'seven_day', hoursToday: 8 }, 'no:shown_this_session'],
  ['one per session: after any variant, no after_report', { kind: 'page', shownThisSession: 'long_session', afterReportPending: true }, 'no:shown_this_session', true],
  ['one per session: long_session after after_report', { kind: 'long_session', shownThisSession: 'after_report', sessionStartedAt: ago(5 * HOUR) }, 'no:shown_this_session'],
  // ---- 30 days after a donation, license or link click
  ['click 1 day ago', { lastSupportClickAt: ago(DAY) }, 'no:recent_support_click'],
  ['click 29 days 23 hours ago', { lastSupportClickAt: ago(30 * DAY - HOUR) }, 'no:recent_support_click'],
  ['click window expired at exactly 30 days', { lastSupportClickAt: ago(30 * DAY) }, 'seven_day'],
  ['click window expired at 45 days', { lastSupportClickAt: ago(45 * DAY) }, 'seven_day'],
  ['a recent click also holds back after_report', { kind: 'page', afterReportPending: true, lastSupportClickAt: ago(2 * DAY) }, 'no:recent_support_click', true],
  ['a recent click also holds back long_session', { kind: 'long_session', sessionStartedAt: ago(3 * HOUR), lastSupportClickAt: ago(2 * DAY) }, 'no:recent_support_click'],
  // ---- 14 days after a dismissal
  ['dismissed 1 hour ago', { lastDismissedAt: ago(HOUR) }, 'no:recently_dismissed'],
  ['dismissed 13 days 23 hours ago', { lastDismissedAt: ago(14 * DAY - HOUR) }, 'no:recently_dismissed'],
  ['dismissal window expired at exactly 14 days', { lastDismissedAt: ago(14 * DAY) }, 'seven_day'],
  ['dismissal window expired at 20 days', { lastDismissedAt: ago(20 * DAY) }, 'seven_day'],
  ['a dismissal holds back after_report too', { kind: 'page', afterReportPending: true, lastDismissedAt: ago(3 * DAY) }, 'no:recently_dismissed', true],
  ['a dismissal holds back active_today', { ...NEW_USER, hoursToday: 6, lastDismissedAt: ago(3 * DAY) }, 'no:recently_dismissed'],
  ['an expired dismissal with a fresh click is still suppressed (30 days)', { lastDismissedAt: ago(20 * DAY), lastSupportClickAt: ago(20 * DAY) }, 'no:recent_support_click'],
  ['both windows expired', { lastDismissedAt: ago(40 * DAY), lastSupportClickAt: ago(40 * DAY), afterReportPending: true }, 'after_report', true],
];

function describeDecision(decision: PromptDecision): Expected {
  return decision.show ? decision.variant : `no:${decision.reason}`;
}

for (const [title, patch, expected, consumes] of CASES) {
  test(`policy: ${title} → ${expected}`, (t) => {
    const input = { ...BASE, ...patch };
    const decision = decidePrompt(input);
    t.is(describeDecision(decision), expected);
    if (consumes !== undefined) t.is(decision.consumesAfterReport, consumes);
    t.deepEqual(decidePrompt(input), decision, 'pure: the same inputs give the same answer');
  });
}

test('policy: the table covers every variant and every reason', (t) => {
  const outcomes = new Set(CASES.map(([, patch]) => describeDecision(decidePrompt({ ...BASE, ...patch }))));
  for (const variant of PROMPT_VARIANTS) t.true(outcomes.has(variant), variant);
  for (const reason of ['disabled', 'supporter', 'supporter_unknown', 'shown_this_session', 'recent_support_click', 'recently_dismissed', 'not_eligible']) {
    t.true(outcomes.has(`no:${reason}`), reason);
  }
});

test('policy: once shown, no kind shows anything else in that session', (t) => {
  for (const shown of PROMPT_VARIANTS) {
    for (const kind of PROMPT_KINDS) {
      const decision = decidePrompt({ ...BASE, kind, shownThisSession: shown, afterReportPending: true, hoursToday: 9, sessionStartedAt: ago(9 * HOUR) });
      t.false(decision.show, `${shown} then ${kind}`);
    }
  }
});

test('policy: messages are plain text naming the app', (t) => {
  for (const variant of PROMPT_VARIANTS) {
    const message = promptMessage(variant, 'TimeTracker', 5.5);
    t.true(message.includes('TimeTracker'), variant);
    t.notRegex(message, /[<>]/);
  }
  t.regex(promptMessage('active_today', 'X', 5.5), /^5 hours tracked today/);
});

// ------------------------------------------------------------------ the same policy over HTTP

interface Clock {
  ms: number;
}

/** A browser-like session: its own cookie jar, the CSRF token from a rendered page. */
class Session {
  cookie = '';
  csrf = '';
  constructor(
    readonly host: HostApp,
    readonly user: 'alice' | 'admin' = 'alice',
  ) {}

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('x-test-user', this.user);
    if (this.cookie) headers.set('cookie', this.cookie);
    const response = await fetch(`${this.host.url}${path}`, { ...init, headers, redirect: 'manual' });
    const jar = new Map(this.cookie ? this.cookie.split('; ').map((c) => [c.split('=')[0]!, c] as const) : []);
    for (const c of response.headers.getSetCookie()) {
      const pair = c.split(';')[0]!;
      jar.set(pair.split('=')[0]!, pair);
    }
    this.cookie = [...jar.values()].join('; ');
    return response;
  }

  async page(path = '/page'): Promise<string> {
    const html = await (await this.fetch(path, { headers: { accept: 'text/html' } })).text();
    const token = /<meta name="csrf-token" content="([^"]+)">/.exec(html)?.[1];
    if (token) this.csrf = token;
    return html;
  }

  async post(path: string, body: unknown): Promise<Response> {
    if (!this.csrf) await this.page();
    return this.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': this.csrf }, body: JSON.stringify(body) });
  }

  async prompt(kind: string): Promise<{ show: boolean; variant?: string; message?: string }> {
    const response = await this.post('/donate/request-soft-prompt', { kind });
    if (response.status !== 200) throw new Error(`request-soft-prompt answered ${response.status}: ${await response.text()}`);
    return (await response.json()) as { show: boolean; variant?: string; message?: string };
  }

  async event(event: string, variant: string | null = null, source = 'toast'): Promise<number> {
    return (await this.post('/donate/track-support-event', { event, variant, source })).status;
  }
}

const PAGE = `<!doctype html><html><head>{% include "telemetry/support/head.njk" %}</head><body>
{% include "telemetry/support/header_button.njk" %}
{% include "telemetry/support/body_end.njk" %}</body></html>`;

async function supportHost(t: Parameters<Parameters<typeof testEachDatabase>[1]>[0], knex: import('knex').Knex, clock: Clock, extra: Partial<TelemetryOptions['support']> = {}, hours: { today: number } = { today: 0 }): Promise<HostApp> {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(await tempDirFor(t, 'kct-support-views-')), { autoescape: true });
  const host = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      db: knex,
      nunjucks: env,
      now: () => new Date(clock.ms),
      logger: { debug() {}, info() {}, warn() {}, error() {} },
      support: {
        urls: { tiers: [{ key: 'coffee', label: 'Coffee', url: 'https://example.org/coffee' }], license: null, share: null },
        userStats: () => ({ hoursTracked: 12, entries: 30, hoursToday: hours.today }),
        ...extra,
      },
    },
    routes: (router) => {
      router.get('/page', async (ctx) => {
        ctx.body = env.renderString(PAGE, { ...ctx.state });
        ctx.type = 'html';
      });
      router.get('/report.csv', async (ctx) => {
        const count = await ctx.telemetry.support.reportGenerated();
        ctx.body = { count };
      });
    },
  });
  t.teardown(() => host.close());
  return host;
}

// TEST_USERS.alice signed up on 2026-11-01.
const SIGNUP = Date.parse('2026-11-01T00:00:00Z');

testEachDatabase('http: one soft prompt per session; a new session may get one again', async (t, db) => {
  const clock = { ms: SIGNUP + 10 * DAY };
  const host = await supportHost(t, db.knex, clock);
  const first = new Session(host);
  const shown = await first.prompt('dashboard');
  t.is(shown.variant, 'seven_day');
  t.true(shown.show);
  t.regex(shown.message ?? '', /TestHost/);
  t.deepEqual(await first.prompt('dashboard'), { show: false });
  t.deepEqual(await first.prompt('seven_day'), { show: false });
  clock.ms += 3 * HOUR;
  t.deepEqual(await first.prompt('long_session'), { show: false }, 'long_session too: one per session');

  const second = new Session(host);
  t.is((await second.prompt('dashboard')).variant, 'seven_day', 'another session, another chance (nothing dismissed or clicked)');
});

testEachDatabase('http: a pending after_report beats the dashboard prompts and is consumed', async (t, db) => {
  const clock = { ms: SIGNUP + 10 * DAY };
  const host = await supportHost(t, db.knex, clock, {}, { today: 6 });
  const session = new Session(host);
  await session.page();
  const report = await session.fetch('/report.csv');
  t.deepEqual(await report.json(), { count: 1 });
  const html = await session.page();
  t.regex(html, /data-support-prompt-page/, 'the next page render asks for the pending prompt');
  const answer = await session.prompt('dashboard');
  t.is(answer.variant, 'after_report');
  t.regex(answer.message ?? '', /report is ready/);
  t.notRegex(await session.page(), /data-support-prompt-(page|dashboard)|data-support-long-session-ms/, 'after a prompt, pages stop asking');
});

testEachDatabase('http: long_session follows the session clock and longSessionMinutes', async (t, db) => {
  const clock = { ms: SIGNUP + DAY }; // a new user: no seven_day
  const host = await supportHost(t, db.knex, clock, { longSessionMinutes: 30 });
  const session = new Session(host);
  const html = await session.page();
  t.regex(html, /data-support-long-session-ms="1800000"/, 'the page schedules the client timer');
  t.deepEqual(await session.prompt('long_session'), { show: false });
  clock.ms += 20 * MIN;
  t.regex(await session.page(), /data-support-long-session-ms="600000"/, 'the timer continues across pages');
  clock.ms += 10 * MIN;
  t.is((await session.prompt('long_session')).variant, 'long_session');
});

testEachDatabase('http: after a check that showed nothing, pages stay quiet for a while (a pending report still asks)', async (t, db) => {
  const clock = { ms: SIGNUP + 10 * DAY };
  const host = await supportHost(t, db.knex, clock, { longSessionMinutes: 30 });
  const first = new Session(host);
  t.is((await first.prompt('dashboard')).variant, 'seven_day');
  await first.event('prompt_dismissed', 'seven_day');

  const session = new Session(host);
  t.regex(await session.page(), /data-support-prompt-dashboard/);
  t.deepEqual(await session.prompt('dashboard'), { show: false }, 'dismissed: nothing');
  const quiet = await session.page();
  t.notRegex(quiet, /data-support-prompt-(dashboard|page)\b/, 'no more dashboard checks for now');
  t.regex(quiet, /data-support-long-session-ms="1800000"/, 'the long-session timer waits for the quiet period too');
  await session.fetch('/report.csv');
  t.regex(await session.page(), /data-support-prompt-page/, 'a pending report still asks');
  clock.ms += 31 * MIN;
  t.regex(await session.page(), /data-support-prompt-dashboard/, 'after the quiet period the dashboard asks again');
});

testEachDatabase('http: a dismissal pauses prompts for 14 days across sessions (clock moved forward)', async (t, db) => {
  const clock = { ms: SIGNUP + 10 * DAY };
  const host = await supportHost(t, db.knex, clock);
  const first = new Session(host);
  t.is((await first.prompt('dashboard')).variant, 'seven_day');
  t.is(await first.event('prompt_dismissed', 'seven_day'), 202);

  clock.ms += 13 * DAY + 23 * HOUR;
  const later = new Session(host);
  t.deepEqual(await later.prompt('dashboard'), { show: false }, 'still within 14 days in a brand-new session');
  await later.fetch('/report.csv');
  t.deepEqual(await later.prompt('page'), { show: false }, 'after_report is held back too');

  clock.ms += HOUR;
  const after = new Session(host);
  t.is((await after.prompt('dashboard')).variant, 'seven_day', 'exactly 14 days later prompts may return');

  const bob = new Session(host, 'admin');
  t.is((await bob.prompt('dashboard')).variant, 'seven_day', 'the pause is per user');
});

testEachDatabase('http: a donation, license or link click pauses prompts for 30 days', async (t, db) => {
  for (const [index, event] of (['donation_clicked', 'license_clicked', 'link_clicked'] as const).entries()) {
    const clock = { ms: SIGNUP + 10 * DAY };
    const schemaKnex = db.knex;
    // One host per event on the same database: clear what the previous round wrote.
    if (index > 0) await schemaKnex('telemetry_donation_interactions').delete();
    const host = await supportHost(t, schemaKnex, clock);
    const session = new Session(host);
    t.is(await session.event(event, event === 'donation_clicked' ? 'coffee' : null, 'header'), 202);
    t.deepEqual(await session.prompt('dashboard'), { show: false }, `${event}: right after`);
    clock.ms += 29 * DAY + 23 * HOUR;
    t.deepEqual(await new Session(host).prompt('dashboard'), { show: false }, `${event}: 29 days 23 hours later`);
    clock.ms += HOUR;
    t.is((await new Session(host).prompt('dashboard')).variant, 'seven_day', `${event}: 30 days later`);
    t.true(await host.telemetry.support.hasRecentDonationClick({ id: 2 }, 31));
    t.false(await host.telemetry.support.hasRecentDonationClick({ id: 2 }, 30));
    await host.close();
  }
});

testEachDatabase('http: never for supporters or when support is disabled', async (t, db) => {
  const clock = { ms: SIGNUP + 10 * DAY };
  const supporterHost = await supportHost(t, db.knex, clock, { isSupporter: async () => true });
  const supporter = new Session(supporterHost);
  await supporter.fetch('/report.csv');
  for (const kind of PROMPT_KINDS) t.deepEqual(await supporter.prompt(kind), { show: false }, kind);
  t.notRegex(await supporter.page(), /data-support-prompt-(page|dashboard)\b|data-support-long-session-ms/);
  await supporterHost.close();

  const offHost = await supportHost(t, db.knex, clock, { enabled: false });
  const off = new Session(offHost);
  t.is((await off.fetch('/report.csv').then((r) => r.json())).count, null);
  for (const kind of PROMPT_KINDS) t.deepEqual(await off.prompt(kind), { show: false }, kind);
  t.notRegex(await off.page(), /data-support/);
});

testEachDatabase('http: a failing host callback or database means no prompt, never an error', async (t, db) => {
  const clock = { ms: SIGNUP + 10 * DAY };
  const throwing = await supportHost(t, db.knex, clock, {
    isSupporter: () => {
      throw new Error('host bug');
    },
  });
  const s1 = new Session(throwing);
  t.deepEqual(await s1.prompt('dashboard'), { show: false }, 'isSupporter throwing: no prompt');
  await throwing.close();

  const slow = await supportHost(t, db.knex, clock, { isSupporter: () => new Promise<boolean>(() => undefined) });
  const s2 = new Session(slow);
  const started = Date.now();
  t.deepEqual(await s2.prompt('dashboard'), { show: false }, 'isSupporter never answering: no prompt');
  t.true(Date.now() - started < 3000, 'capped in time');
  await slow.close();

  const statsThrow = await supportHost(t, db.knex, clock, {
    userStats: () => {
      throw new Error('stats bug');
    },
  });
  const s3 = new Session(statsThrow);
  t.is((await s3.prompt('dashboard')).variant, 'seven_day', 'userStats failing only loses the stats');
  await statsThrow.close();

  // The database goes away: the plugin's own connection is closed under it.
  const broken = await supportHost(t, db.knex, clock);
  const s4 = new Session(broken);
  await s4.page();
  await runtimeOf(broken.telemetry).knex.destroy();
  t.deepEqual(await s4.prompt('dashboard'), { show: false });
  const page = await s4.fetch('/page', { headers: { accept: 'text/html' } });
  t.is(page.status, 200, 'the host page still renders');
  t.regex(await page.text(), /data-support-modal/);
  t.is((await s4.fetch('/report.csv').then((r) => r.json())).count, null, 'reportGenerated resolves null');
});
