// /api/v1/usage-stats/*: admin only, CSRF on state changes, JSON errors;
// opt-in/opt-out, local, preview (= what the next submission sends), submissions, export, delete-all.
// The collector is a real local receiver (test/helpers/submission-receiver.ts).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { TABLES } from '../../src/plugin/db/tables.js';
import { CHART_DAYS } from '../../src/plugin/stats/service.js';
import { HEADERS, verifySignature } from '../../src/core/protocol.js';
import type { HostApp } from '../helpers/host-app.js';
import { startSubmissionReceiver, waitUntil } from '../helpers/submission-receiver.js';
import { startReceiverHost, untilNextWeek } from '../helpers/receiver-host.js';
import { mondayOf } from '../../src/plugin/stats/aggregation.js';
import { runtimeOf } from '../../src/plugin/internal.js';
import { withOpenApiChecks } from '../helpers/openapi.js';

const API = '/api/v1/usage-stats';
const DAY = 86_400_000;
const HOUR = 3_600_000;

/** A host submitting to a real receiver; one attempt per submission, so failures show at once. */
/** Every answer of a documented route is checked against docs/openapi.json (test/helpers/openapi.ts). */
const setup = async (t: ExecutionContext, telemetry: Record<string, unknown> = {}) => {
  const host = await startReceiverHost(t, { submission: { retryBaseMs: 20, maxAttempts: 1, timeoutMs: 2_000 }, ...telemetry });
  withOpenApiChecks(host.app);
  return host;
};

/** The page's CSRF token (the <meta> the plugin renders), with the session cookie in the host's jar. */
async function csrfToken(app: HostApp): Promise<string> {
  const html = await (await app.request('/telemetry/settings', { user: 'admin' })).text();
  const match = /<meta name="csrf-token" content="([^"]+)">/.exec(html);
  if (!match) throw new Error('no csrf-token meta on /telemetry/settings');
  return match[1]!;
}

function post(app: HostApp, path: string, token: string | null, body?: unknown, init: { contentType?: string; raw?: string; method?: string; user?: 'admin' | 'alice' } = {}) {
  const headers: Record<string, string> = {};
  if (token) headers['x-csrf-token'] = token;
  let payload: string | undefined = init.raw;
  if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined) headers['content-type'] = init.contentType ?? 'application/json';
  return app.request(`${API}${path}`, { method: init.method ?? 'POST', headers, body: payload, user: init.user ?? 'admin' });
}

async function errorOf(response: Response): Promise<{ code: string; message: string }> {
  t_assertJson(response);
  const body = (await response.json()) as { error: { code: string; message: string } };
  return body.error;
}

function t_assertJson(response: Response): void {
  if (!String(response.headers.get('content-type')).startsWith('application/json')) throw new Error(`expected a JSON error, got ${response.headers.get('content-type')}`);
}

async function storedEvents(app: HostApp): Promise<number> {
  return Number(((await runtimeOf(app.telemetry).knex(TABLES.usageEvents).count({ n: '*' }).first()) as { n: number }).n);
}

async function ledgerCount(app: HostApp): Promise<number> {
  return Number(((await runtimeOf(app.telemetry).knex(TABLES.submissions).count({ n: '*' }).first()) as { n: number }).n);
}

// ====================================================================================== access

const ROUTES: [string, string][] = [
  ['GET', '/local'],
  ['GET', '/preview'],
  ['GET', '/submissions'],
  ['GET', '/export'],
  ['GET', '/status'],
  ['POST', '/opt-in'],
  ['POST', '/opt-out'],
  ['DELETE', '/delete-all'],
];

test('anonymous → 401, non-admin → 403, as JSON errors, on every route; nothing changes', async (t) => {
  const { app } = await setup(t);
  app.telemetry.track('timer.started', {});
  for (const [method, path] of ROUTES) {
    const anonymous = await app.request(`${API}${path}`, { method });
    t.is(anonymous.status, 401, `${method} ${path} anonymous`);
    t.is((await errorOf(anonymous)).code, 'unauthorized');
    const member = await app.request(`${API}${path}`, { method, user: 'alice' });
    t.is(member.status, 403, `${method} ${path} as a non-admin`);
    const error = await errorOf(member);
    t.is(error.code, 'forbidden');
    t.is(typeof error.message, 'string');
    t.false(JSON.stringify(error).includes('    at '), 'no stack trace');
  }
  t.false(app.telemetry.consent.get().analytics);
  t.true((await (await app.request(`${API}/local`, { user: 'admin' })).json()).totals.events >= 1, 'delete-all did not run');
});

test('state-changing routes need the CSRF token: none, a wrong one, or one from another session → 403', async (t) => {
  const { app } = await setup(t);
  const token = await csrfToken(app);
  for (const [path, method] of [['/opt-in', 'POST'], ['/opt-out', 'POST'], ['/delete-all', 'DELETE']] as const) {
    const none = await post(app, path, null, undefined, { method });
    t.is(none.status, 403, `${method} ${path} without a token`);
    t.is((await errorOf(none)).code, 'csrf_failed');
    const wrong = await post(app, path, `${token.slice(0, -2)}xx`, undefined, { method });
    t.is(wrong.status, 403, `${method} ${path} with a wrong token`);
  }
  // A token from another session (another host instance's jar) is not this session's.
  const other = await setup(t);
  const foreign = await csrfToken(other.app);
  t.is((await post(app, '/opt-in', foreign)).status, 403);
  // A JSON body with a wrong _csrf field is refused too.
  t.is((await post(app, '/opt-in', null, { _csrf: foreign })).status, 403);
  t.deepEqual([app.telemetry.consent.get().analytics, app.telemetry.consent.get().usageStats], [false, false], 'nothing changed');

  // The right token works in the header and in a _csrf body field.
  t.is((await post(app, '/opt-in', token, { categories: ['analytics'] })).status, 200);
  t.is((await post(app, '/opt-out', null, { categories: ['analytics'], _csrf: token })).status, 200);
});

test('malformed and unexpected bodies: 400 invalid JSON, 400 unknown or empty category, 400 unknown key, 415 non-JSON, 413 too large', async (t) => {
  const { app } = await setup(t);
  const token = await csrfToken(app);
  const malformed = await post(app, '/opt-in', token, undefined, { raw: '{"categories": [' });
  t.is(malformed.status, 400);
  t.is((await errorOf(malformed)).code, 'invalid_json');
  t.is((await post(app, '/opt-in', token, undefined, { raw: 'null' })).status, 400);

  const unknown = await post(app, '/opt-in', token, { categories: ['marketing'] });
  t.is(unknown.status, 400);
  const error = await errorOf(unknown);
  t.is(error.code, 'invalid_request');
  t.regex(error.message, /categories/);
  t.is((await post(app, '/opt-out', token, { categories: [] })).status, 400);
  t.is((await post(app, '/opt-in', token, { categories: 'analytics' })).status, 400);
  t.is((await post(app, '/opt-in', token, { categories: ['analytics'], extra: true })).status, 400);
  t.is((await post(app, '/opt-in', token, [])).status, 400);

  const text = await post(app, '/opt-in', token, undefined, { raw: 'categories=analytics', contentType: 'text/plain' });
  t.is(text.status, 415);
  t.is((await errorOf(text)).code, 'unsupported_media_type');
  const form = await post(app, '/opt-in', token, undefined, { raw: 'categories=analytics', contentType: 'application/x-www-form-urlencoded' });
  t.is(form.status, 415);
  const large = await post(app, '/opt-in', token, { categories: ['analytics'], _csrf: 'x'.repeat(20_000) });
  t.is(large.status, 413);

  t.deepEqual([app.telemetry.consent.get().analytics, app.telemetry.consent.get().usageStats], [false, false], 'no bad request changed consent');
});

// ====================================================================================== consent

test('opt-in / opt-out with and without categories; the choice is mirrored and reported', async (t) => {
  const { app } = await setup(t, { collector: { url: null } });
  const token = await csrfToken(app);
  const consent = async (response: Response) => {
    t.is(response.status, 200);
    const body = (await response.json()) as { consent: { analytics: boolean; usageStats: boolean; version: number; updated_at: string } };
    return [body.consent.analytics, body.consent.usageStats];
  };
  t.deepEqual(await consent(await post(app, '/opt-in', token)), [true, true], 'no body = every category');
  t.deepEqual(await consent(await post(app, '/opt-out', token, { categories: ['analytics'] })), [false, true]);
  t.deepEqual(await consent(await post(app, '/opt-out', token, {})), [false, false], 'an empty object = every category');
  t.deepEqual(await consent(await post(app, '/opt-in', token, { categories: ['usageStats'] })), [false, true]);
  t.deepEqual(await consent(await post(app, '/opt-in', token, { categories: ['analytics', 'usageStats'] })), [true, true]);
  t.deepEqual(await consent(await post(app, '/opt-out', token, { categories: ['usageStats', 'analytics'] })), [false, false]);
  t.deepEqual(await consent(await post(app, '/opt-in', token, { categories: ['analytics'] })), [true, false]);

  const local = await (await app.request(`${API}/local`, { user: 'admin' })).json();
  t.deepEqual([local.consent.analytics, local.consent.usageStats], [true, false]);
  const status = await (await app.request(`${API}/status`, { user: 'admin' })).json();
  t.deepEqual([status.consent.analytics, status.consent.usageStats], [true, false]);
  const settings = Object.fromEntries(((await runtimeOf(app.telemetry).knex(TABLES.settings).select('key', 'value')) as { key: string; value: string }[]).map((r) => [r.key, r.value]));
  t.is(settings['consent.analytics'], 'true');
  t.is(settings['consent.usage_stats'], 'false');
});

// ====================================================================================== reading

test('/local: installation, consent, kill switch, totals, this week, 30 days per day, by type, recorder, submission', async (t) => {
  const { app } = await setup(t);
  app.telemetry.track('timer.started', { source: 'web' });
  app.telemetry.track('timer.started', { source: 'api' });
  app.telemetry.track('report.exported', {});
  await (await app.request('/projects/7', { user: 'alice' })).arrayBuffer();
  const response = await app.request(`${API}/local`, { user: 'admin' });
  t.is(response.status, 200);
  t.is(response.headers.get('cache-control'), 'no-store');
  const local = await response.json();
  t.deepEqual(Object.keys(local).sort(), ['by_day', 'by_type', 'consent', 'installation', 'kill_switch', 'last_submission', 'recorder', 'submission', 'this_week', 'totals']);
  t.is(local.installation.install_id, app.telemetry.status().install_id);
  t.is(local.installation.app_version, '9.9.9');
  t.regex(local.installation.country, /^[A-Z]{2}$/);
  t.false(local.installation.collector_registered);
  t.deepEqual(local.kill_switch, { active: false, reason: null });
  // app.started, 2 × timer.started, report.exported, project.viewed
  t.is(local.totals.events, 5);
  t.is(local.totals.unsubmitted, 5);
  t.is(local.this_week.total, 5);
  const today = new Date().toISOString().slice(0, 10);
  t.is(local.this_week.to, today, 'this week runs up to and including today');
  t.deepEqual(local.this_week.pageviews_by_route, [{ route: '/projects/:id', count: 1 }]);
  t.deepEqual(local.by_type[0], { event_type: 'timer.started', count: 2 });
  t.is(local.by_day.length, CHART_DAYS);
  t.is(local.by_day.at(-1).day, today);
  t.is(local.by_day.at(-1).count, 5);
  t.true(local.by_day.slice(0, -1).every((d: { count: number }) => d.count === 0));
  for (let i = 1; i < local.by_day.length; i++) t.is(Date.parse(local.by_day[i].day) - Date.parse(local.by_day[i - 1].day), DAY, 'no gaps');
  t.deepEqual(local.recorder, { buffered: 0, dropped: 0, last_error: null });
  t.deepEqual(local.submission, { blocked_reason: 'usage statistics sharing is off', retry_scheduled: false });
  t.is(local.last_submission, null);
});

/**
 * Uptime hours are noted on the real clock: a test that compares two payloads taken seconds apart
 * must not straddle the top of an hour (the second would count one more hour, rightly).
 */
async function awayFromTheHour(marginMs = 20_000): Promise<void> {
  const untilNextHour = HOUR - (Date.now() % HOUR);
  if (untilNextHour < marginMs) await new Promise((done) => setTimeout(done, untilNextHour + 50));
}

test('/preview is exactly the payload the next submission sends (compared with what the receiver got)', async (t) => {
  await awayFromTheHour();
  const { app, receiver, clock } = await setup(t);
  app.telemetry.track('timer.started', { source: 'web' });
  app.telemetry.track('timer.stopped', { duration_minutes: 5 });
  app.telemetry.track('import.error', { code: 3 });
  clock.offset = untilNextWeek(); // next Monday: this week is whole and reported
  const previewResponse = await app.request(`${API}/preview`, { user: 'admin' });
  t.is(previewResponse.status, 200);
  const previewBody = JSON.parse(await previewResponse.text());
  t.is(previewBody.blocked_reason, 'usage statistics sharing is off');
  t.is(previewBody.payloads.length, 1, 'one week is due');
  const preview = previewBody.payloads[0];
  t.is(preview.event_counts['timer.started'], 1);
  t.is(preview.error_count, 1);

  const token = await csrfToken(app);
  t.is((await post(app, '/opt-in', token, { categories: ['usageStats'] })).status, 200);
  await receiver.waitFor(() => receiver.accepted.length === 1, 5_000, 'the submission after opt-in');
  t.deepEqual(receiver.accepted[0]!.payload, preview);
  t.is(receiver.accepted[0]!.rawBody, JSON.stringify(preview), 'byte for byte');
  await waitUntil(async () => (await ledgerCount(app)) === 1, 3_000, 'ledger');
  const ledger = await (await app.request(`${API}/submissions`, { user: 'admin' })).json();
  t.deepEqual(ledger.entries[0].payload, preview, 'and the ledger shows the same');
  const after = await (await app.request(`${API}/preview`, { user: 'admin' })).json();
  t.deepEqual(after, { payloads: [], blocked_reason: null }, 'a submitted week is not previewed again');
});

test('/submissions: newest first, limit/offset pagination, validated query', async (t) => {
  const { app, receiver } = await setup(t);
  receiver.script('submit', [500, 500, 503, 500, 500]);
  await app.telemetry.consent.set({ usageStats: true });
  await waitUntil(async () => (await ledgerCount(app)) === 1, 3_000, 'first attempt');
  for (let i = 0; i < 4; i++) await runtimeOf(app.telemetry).submission.submitNow();
  t.is(await ledgerCount(app), 5);

  const page = async (query: string) => app.request(`${API}/submissions${query}`, { user: 'admin' });
  const all = await (await page('')).json();
  t.is(all.limit, 50);
  t.is(all.offset, 0);
  t.is(all.total, 5);
  t.is(all.entries.length, 5);
  const ids = all.entries.map((e: { id: number }) => e.id);
  t.deepEqual(ids, [...ids].sort((a: number, b: number) => b - a), 'newest first');
  t.is(all.entries[2].response_code, 503);
  t.deepEqual(Object.keys(all.entries[0]).sort(), ['attempts', 'error', 'id', 'idempotency_key', 'payload', 'period_end', 'period_start', 'response_body', 'response_code', 'sent_at', 'status']);

  const first = await (await page('?limit=2')).json();
  const second = await (await page('?limit=2&offset=2')).json();
  const third = await (await page('?limit=2&offset=4')).json();
  t.deepEqual([...first.entries, ...second.entries, ...third.entries].map((e: { id: number }) => e.id), ids);
  t.is(third.entries.length, 1);
  t.deepEqual((await (await page('?offset=99')).json()).entries, []);

  for (const bad of ['?limit=0', '?limit=201', '?limit=abc', '?offset=-1', '?limit=1.5']) {
    const response = await page(bad);
    t.is(response.status, 400, bad);
    t.is((await errorOf(response)).code, 'invalid_request');
  }
});

test('/export is a JSON attachment with installation, consent, settings, every event and the ledger — and no secret', async (t) => {
  const { app, receiver, clock } = await setup(t);
  app.telemetry.track('timer.started', { source: 'web' });
  app.telemetry.track('report.exported', { format: 'csv' });
  clock.offset = untilNextWeek();
  await app.telemetry.consent.set({ usageStats: true });
  await waitUntil(async () => (await ledgerCount(app)) === 1, 3_000, 'a ledger entry');

  const response = await app.request(`${API}/export`, { user: 'admin' });
  t.is(response.status, 200);
  const today = new Date(Date.now() + clock.offset).toISOString().slice(0, 10);
  t.is(response.headers.get('content-disposition'), `attachment; filename="telemetry-export-${today}.json"`);
  t.regex(String(response.headers.get('content-type')), /^application\/json/);
  t.is(response.headers.get('cache-control'), 'no-store');
  const text = await response.text();
  const exported = JSON.parse(text);
  t.deepEqual(Object.keys(exported).sort(), ['consent', 'consent_receipts', 'events', 'exported_at', 'installation', 'ledger', 'outbound_ledger', 'settings']);
  t.is(exported.installation.install_id, app.telemetry.status().install_id);
  t.true(exported.consent.usageStats);
  t.is(exported.settings['consent.usage_stats'], 'true');
  t.deepEqual(
    exported.events.filter((e: { event_type: string }) => e.event_type !== 'app.started').map((e: { event_type: string; metadata: unknown }) => [e.event_type, e.metadata]),
    [
      ['timer.started', { source: 'web' }],
      ['report.exported', { format: 'csv' }],
    ],
  );
  t.true(exported.events.every((e: { submitted_at: string | null }) => e.submitted_at !== null), 'the export shows what was submitted');
  t.is(exported.ledger.length, 1);
  t.is(exported.ledger[0].status, 'accepted');
  t.deepEqual(exported.ledger[0].payload, receiver.accepted[0]!.payload);
  const secret = receiver.installations.get(app.telemetry.status().install_id!)!;
  t.truthy(secret);
  t.false(text.includes(secret), 'the collector secret is not in the export');
  t.false(text.includes(JSON.parse(await readFile(join(runtimeOf(app.telemetry).options.dataDir, 'installation.json'), 'utf8')).salt), 'nor the pseudonym salt');
});

test('/export with nothing recorded is still valid JSON', async (t) => {
  const { app } = await setup(t, { localStats: false });
  const exported = await (await app.request(`${API}/export`, { user: 'admin' })).json();
  t.deepEqual(exported.events, []);
  t.deepEqual(exported.ledger, []);
});

test('/delete-all empties the local record and erases the installation at the collector (signed DELETE)', async (t) => {
  const { app, receiver, dataDir } = await setup(t);
  app.telemetry.track('timer.started', {});
  await (await app.request('/projects/1', { user: 'alice' })).arrayBuffer();
  await app.telemetry.consent.set({ usageStats: true });
  await waitUntil(async () => (await ledgerCount(app)) === 1, 3_000, 'registered and submitted');
  await waitUntil(async () => (await storedEvents(app)) >= 3, 3_000, 'events written');
  const installId = app.telemetry.status().install_id!;
  t.true(receiver.installations.has(installId));

  const token = await csrfToken(app);
  const response = await post(app, '/delete-all', token, undefined, { method: 'DELETE' });
  t.is(response.status, 200);
  const body = await response.json();
  t.true(body.local.events >= 2);
  t.true(body.local.pageviews >= 1);
  t.is(body.local.submissions, 1);
  t.deepEqual(body.remote, { requested: true, deleted: true, status: 204 });

  const [deletion] = receiver.requestsOf('delete');
  t.is(deletion!.path, `/v1/installations/${installId}`);
  t.is(deletion!.rawBody, '');
  t.true(deletion!.signatureValid);
  t.is(deletion!.headers[HEADERS.installId], installId);
  t.deepEqual(receiver.deleted, [installId]);
  t.false(receiver.installations.has(installId));

  const local = await (await app.request(`${API}/local`, { user: 'admin' })).json();
  t.is(local.totals.events, 0);
  t.is(local.this_week.total, 0);
  t.deepEqual(local.this_week.pageviews_by_route, []);
  t.deepEqual(local.by_type, []);
  t.is(local.last_submission, null);
  t.is((await (await app.request(`${API}/submissions`, { user: 'admin' })).json()).total, 0);
  const exported = await (await app.request(`${API}/export`, { user: 'admin' })).json();
  t.deepEqual([exported.events, exported.ledger], [[], []]);
  t.is(JSON.parse(await readFile(join(dataDir, 'installation.json'), 'utf8')).collector, null, 'the registration is forgotten');
  t.true(app.telemetry.consent.get().usageStats, 'consent is a setting, not usage data');
});

test('/delete-all without a registration deletes locally and asks nobody', async (t) => {
  const { app, receiver } = await setup(t);
  app.telemetry.track('timer.started', {});
  await waitUntil(async () => (await storedEvents(app)) >= 2, 3_000, 'events written');
  const token = await csrfToken(app);
  const body = await (await post(app, '/delete-all', token, undefined, { method: 'DELETE' })).json();
  t.deepEqual(body.remote, { requested: false, deleted: false });
  t.true(body.local.events >= 1);
  t.is(receiver.requests.length, 0);
});

test('a signature check on the receiver side fails for a tampered DELETE (sanity check of the helper)', async (t) => {
  const receiver = await startSubmissionReceiver();
  t.teardown(() => receiver.close());
  receiver.installations.set('1b4e28ba-2fa1-41d2-883f-0016d3cca427', 'ab'.repeat(32));
  const response = await fetch(`${receiver.url}/v1/installations/1b4e28ba-2fa1-41d2-883f-0016d3cca427`, {
    method: 'DELETE',
    headers: { [HEADERS.installId]: '1b4e28ba-2fa1-41d2-883f-0016d3cca427', [HEADERS.timestamp]: String(Math.floor(Date.now() / 1000)), [HEADERS.signature]: 'sha256=00' },
  });
  t.is(response.status, 401);
  t.false(verifySignature('ab'.repeat(32), { method: 'DELETE', path: '/v1/installations/x' }, '1', '', 'v2=00'));
});

// ====================================================================================== documented answers

test('/ledger, /receipts, /collector/re-register and /openapi.json answer as docs/openapi.json says, in success and error', async (t) => {
  const { app } = await setup(t);
  const token = await csrfToken(app);
  // setup() checks each answer against the document; here every route gets a success and an error.
  t.is((await app.request(`${API}/ledger?kind=erasure`, { user: 'admin' })).status, 200);
  t.is((await app.request(`${API}/ledger?kind=postcard`, { user: 'admin' })).status, 400);
  t.is((await app.request(`${API}/receipts?scope=user`, { user: 'admin' })).status, 200);
  t.is((await app.request(`${API}/receipts?limit=0`, { user: 'admin' })).status, 400);
  t.is((await post(app, '/collector/re-register', token, { analytics: true })).status, 400);
  const registered = await post(app, '/collector/re-register', token);
  t.is(registered.status, 200);
  t.true(((await registered.json()) as { registered: boolean }).registered);
  const noCollector = (await setup(t, { collector: { url: null } })).app;
  t.is((await post(noCollector, '/collector/re-register', await csrfToken(noCollector))).status, 409);
  const served = await app.request(`${API}/openapi.json`, { user: 'admin' });
  t.is(served.status, 200);
  t.is(((await served.json()) as { openapi: string }).openapi, '3.1.0');
  t.is((await app.request(`${API}/openapi.json`, { user: 'alice' })).status, 403);
  t.is((await app.request(`${API}/openapi.json`)).status, 401);
});

test('a body of the wrong shape is told the expected fields', async (t) => {
  const { app } = await setup(t);
  const token = await csrfToken(app);
  for (const path of ['/opt-in', '/opt-out']) {
    const wrong = await post(app, path, token, { analytics: true });
    t.is(wrong.status, 400);
    t.regex((await errorOf(wrong)).message, /expected \{ "categories": \["analytics" \| "usageStats"\] \} or no body/, path);
  }
  const reRegister = await post(app, '/collector/re-register', token, { force: true });
  t.regex((await errorOf(reRegister)).message, /expected no body/);
  const deleteAll = await post(app, '/delete-all', token, { everything: true }, { method: 'DELETE' });
  t.is(deleteAll.status, 400);
  t.regex((await errorOf(deleteAll)).message, /expected no body/);
  t.true((await (await app.request(`${API}/local`, { user: 'admin' })).json()).installation.install_id.length > 0, 'nothing was deleted');
});
