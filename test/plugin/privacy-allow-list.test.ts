// The privacy guard is an allow-list (docs/adding-events.md). An adversarial corpus of personal
// data and secrets (test/helpers/pii-corpus.ts), passed the way real host code passes it — under
// its natural key, under innocuous and camelCase keys, nested in objects and arrays, as a property
// KEY, through identify(), in a request path and as the support funnel's source and variant —
// appears in none of: the OTLP bodies a real receiver got, the database (the SQLite file's bytes,
// or every stored row on PostgreSQL), the JSON export, /preview, the submission and its ledger,
// and every logged argument, with TELEMETRY_DEBUG on and off. Ordinary product properties and a
// declared enum arrive intact.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  GUARD_REASONS,
  PrivacyGuard,
  REDACTED,
  classifyKey,
  keyParts,
  MAX_PROPS,
  safeRouteTemplate,
  type GuardReason,
} from '../../src/plugin/telemetry/privacy-guard.js';
import { resolveOptions } from '../../src/plugin/options.js';
import { TABLES } from '../../src/plugin/db/tables.js';
import type { Logger } from '../../src/plugin/types.js';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { startSubmissionReceiver, waitUntil } from '../helpers/submission-receiver.js';
import { testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { tempDirFor } from '../helpers/tmp.js';
import { CAMEL_KEYS, INNOCUOUS_KEYS, ORDINARY_PROPS, PII_CORPUS, PII_KEYS, needlesOf, type PiiSample } from '../helpers/pii-corpus.js';
import { mondayOf } from '../../src/plugin/stats/aggregation.js';

const DAY = 86_400_000;
const DECLARED = { 'plan.changed': { plan: ['Team Pro', 'Team Basic'], seats: 'number' as const } };

/** Every form a needle could take in JSON, HTML or a percent-encoded URL. */
function forms(needle: string): string[] {
  return [...new Set([needle, JSON.stringify(needle).slice(1, -1), encodeURIComponent(needle), needle.replace(/&/g, '&amp;').replace(/'/g, '&#39;')])];
}

const ALL_NEEDLES = [...new Set([...PII_CORPUS.flatMap(needlesOf), ...PII_KEYS].flatMap(forms))];

function leaks(text: string): string[] {
  return ALL_NEEDLES.filter((needle) => text.includes(needle));
}

function leaksInBytes(bytes: Buffer): string[] {
  return ALL_NEEDLES.filter((needle) => bytes.includes(Buffer.from(needle, 'utf8')));
}

/** Where each sample goes in one event. Identifier-shaped samples only where their shape is not all there is to go on. */
function placements(sample: PiiSample): Record<string, unknown>[] {
  const v = sample.value;
  const out: Record<string, unknown>[] = [
    { [sample.key]: v },
    { meta: { value: v }, list: [v], deep: { a: { b: [v] } } },
  ];
  if (!sample.identifierShaped) {
    out.push(Object.fromEntries(INNOCUOUS_KEYS.map((k) => [k, v])));
    out.push(Object.fromEntries(CAMEL_KEYS.map((k) => [k, v])));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The guard on its own

test(`the corpus has at least 60 samples across every class`, (t) => {
  t.true(PII_CORPUS.length >= 60, String(PII_CORPUS.length));
  t.deepEqual([...new Set(PII_CORPUS.map((s) => s.class))].sort(), ['address', 'card', 'email', 'iban', 'id', 'ip', 'name', 'phone', 'secret', 'url']);
});

for (const sample of PII_CORPUS) {
  test(`guard: ${sample.class} ${JSON.stringify(sample.key)} = ${JSON.stringify(String(sample.value).slice(0, 24))} never passes where it is placed`, (t) => {
    const guard = new PrivacyGuard();
    for (const props of placements(sample)) {
      const result = guard.check('pii.sample', props);
      if (!result.ok) throw new Error(result.reason);
      t.deepEqual(leaks(JSON.stringify(result.props)), [], JSON.stringify(Object.keys(props)));
      // The key is kept with the marker (nested values included): nothing is flattened.
      for (const key of Object.keys(props)) t.is(result.props[key], REDACTED, key);
      t.true(result.findings.length >= Object.keys(props).length);
    }
  });
}

test('identifier-shaped secrets and names pass under an innocuous key (the documented limit), never under their own key', (t) => {
  const guard = new PrivacyGuard();
  for (const sample of PII_CORPUS.filter((s) => s.identifierShaped)) {
    const own = guard.check('pii.sample', { [sample.key]: sample.value });
    t.deepEqual(own.ok && own.props, { [sample.key]: REDACTED }, sample.key);
    const innocuous = guard.check('pii.sample', { label: sample.value });
    t.deepEqual(innocuous.ok && innocuous.props, { label: sample.value }, `${sample.key} under label`);
  }
});

test('a key that is itself personal data is dropped, never kept with its value', (t) => {
  const guard = new PrivacyGuard();
  for (const key of PII_KEYS) {
    const result = guard.check('pii.key', { [key]: 'web', count: 1 });
    t.deepEqual(result.ok && result.props, { count: 1 }, key);
    t.deepEqual(result.ok && result.findings, [{ key: '(key #1)', reason: 'key_not_safe' }], key);
  }
  t.is(guard.counters.droppedKeys, PII_KEYS.length);
  t.is(guard.counters.byReason.key_not_safe, PII_KEYS.length);
});

test('ordinary product properties pass untouched', (t) => {
  const guard = new PrivacyGuard();
  const props = { ...ORDINARY_PROPS, app_version: '1.4.0', team_plan: 'team_plan', ratio: 0.25, negative: -7, off: false, empty: '', version_tag: 'v2', status: 'ok:cached' };
  const result = guard.check('report.exported', props);
  t.deepEqual(result.ok && result.props, props);
  t.deepEqual(result.ok && result.findings, []);
  t.deepEqual(guard.counters.byReason, Object.fromEntries(GUARD_REASONS.map((r) => [r, 0])));
});

const valueCases: { value: unknown; reason: GuardReason | null; why: string }[] = [
  { value: 999_999_999, reason: null, why: 'the largest integer that passes' },
  { value: 1_000_000_000, reason: 'number_too_large', why: 'an integer of 1e9 (a phone number fits)' },
  { value: -4_155_552_671, reason: 'number_too_large', why: 'a negative phone number' },
  { value: 4111111111111111.5, reason: null, why: 'a non-integer cannot be dialled' },
  { value: Number.NaN, reason: 'not_finite', why: 'NaN' },
  { value: Number.POSITIVE_INFINITY, reason: 'not_finite', why: 'Infinity' },
  { value: 'x'.repeat(65), reason: 'too_long', why: '65 characters' },
  { value: 'x'.repeat(64), reason: null, why: '64 characters' },
  { value: 'Team Pro', reason: 'not_identifier', why: 'uppercase and a space (undeclared)' },
  { value: 'en-US', reason: 'not_identifier', why: 'uppercase' },
  { value: 'build_12345', reason: null, why: 'a run of 5 digits' },
  { value: 'build_123456', reason: 'long_digit_run', why: 'a run of 6 digits' },
  { value: 'ｗｅｂ', reason: 'not_identifier', why: 'full-width letters (never stored in another form)' },
  { value: 'report.csv', reason: null, why: 'a file extension is not a top-level domain' },
  { value: 'example.com', reason: 'url', why: 'a domain name' },
  { value: '2026-11-29', reason: null, why: 'a date' },
  { value: 'a1b2c3d4e5f6a7b8', reason: 'token_shape', why: '16 hex characters' },
  { value: { a: 1 }, reason: 'not_scalar', why: 'an object' },
  { value: [1], reason: 'not_scalar', why: 'an array' },
  { value: 10n, reason: 'not_scalar', why: 'a bigint' },
  { value: new Date(0), reason: 'not_scalar', why: 'a Date' },
];

for (const { value, reason, why } of valueCases) {
  test(`value: ${why} → ${reason ?? 'passes'}`, (t) => {
    const guard = new PrivacyGuard();
    const result = guard.check('x.y', { v: value });
    if (!result.ok) throw new Error(result.reason);
    if (reason === null) t.deepEqual(result.props, { v: value });
    else {
      t.deepEqual(result.props, { v: REDACTED });
      t.deepEqual(result.findings, [{ key: 'v', reason }]);
      t.is(guard.counters.byReason[reason], 1);
      t.is(guard.counters.redactedValues, 1);
    }
  });
}

const keyCases: { key: string; verdict: ReturnType<typeof classifyKey> }[] = [
  { key: 'user_count', verdict: 'safe' },
  { key: 'userCount', verdict: 'safe' },
  { key: 'owner_role', verdict: 'safe' },
  { key: 'token_total', verdict: 'safe' },
  { key: 'shortcut_key', verdict: 'safe' },
  { key: 'key', verdict: 'safe' },
  { key: 'sort_key', verdict: 'safe' },
  { key: 'first_seen_days', verdict: 'safe' },
  { key: 'last_page', verdict: 'safe' },
  { key: 'api_key', verdict: 'pii_key' },
  { key: 'apiKey', verdict: 'pii_key' },
  { key: 'privateKey', verdict: 'pii_key' },
  { key: 'userName', verdict: 'pii_key' },
  { key: 'first_name', verdict: 'pii_key' },
  { key: 'FirstName', verdict: 'pii_key' },
  { key: 'e-mail', verdict: 'pii_key' },
  { key: 'contactEmail', verdict: 'pii_key' },
  { key: 'hostname', verdict: 'pii_key' },
  { key: 'IPAddress', verdict: 'pii_key' },
  { key: 'user_password', verdict: 'pii_key' },
  { key: 'user_ip', verdict: 'pii_key' },
  { key: 'billing.address', verdict: 'pii_key' },
  { key: 'owner', verdict: 'person_key' },
  { key: 'customer', verdict: 'person_key' },
  { key: 'assignee', verdict: 'person_key' },
  { key: 'user_id', verdict: 'person_key' },
  { key: 'access_token', verdict: 'person_key' },
  { key: 'is_owner', verdict: 'person_key' },
  { key: 'email_count', verdict: 'counted_pii_key' },
  { key: 'ip_version', verdict: 'counted_pii_key' },
  { key: '10.0.0.1', verdict: 'key_not_safe' },
  { key: 'alice@example.com', verdict: 'key_not_safe' },
  { key: 'order_4155552671', verdict: 'key_not_safe' },
  { key: 'naïve', verdict: 'key_not_safe' },
  { key: '__proto__', verdict: 'key_not_safe' },
];

for (const { key, verdict } of keyCases) {
  test(`key ${JSON.stringify(key)} (${keyParts(key).join('|')}) is ${verdict}`, (t) => {
    t.is(classifyKey(key), verdict);
  });
}

test('a person key keeps a boolean (is_owner: true) but redacts anything else; a PII key redacts even a boolean; a count of PII keeps numbers only', (t) => {
  const guard = new PrivacyGuard();
  const result = guard.check('x.y', { is_owner: true, owner: 42, has_email: true, email_count: 3, email_type: 'work', ip_version: 4_155_552_671 });
  t.deepEqual(result.ok && result.props, { is_owner: true, owner: REDACTED, has_email: REDACTED, email_count: 3, email_type: REDACTED, ip_version: REDACTED });
});

test('values are normalised before matching: percent-encoding, double encoding and full-width forms', (t) => {
  const guard = new PrivacyGuard();
  const result = guard.check('x.y', { a: 'alice%40example.com', b: 'bob%2540example.com', c: 'carol＠example.com', d: '１０．０．０．１' });
  t.deepEqual(result.ok && result.findings.map((f) => f.reason), ['email', 'email', 'email', 'ip_address']);
});

test('declared properties pass when they match and are redacted as undeclared_value when they do not', (t) => {
  const guard = new PrivacyGuard({
    events: {
      'plan.changed': { plan: ['Team Pro'], seats: 'number', trial: 'boolean', route: { pattern: '(/[a-z:]+)+' }, code: { pattern: /[A-Z]{3}/ } },
    },
  });
  const ok = guard.check('plan.changed', { plan: 'Team Pro', seats: 4_155_552_671, trial: true, route: '/projects/:id', code: 'EUR', source: 'web' });
  t.deepEqual(ok.ok && ok.props, { plan: 'Team Pro', seats: 4_155_552_671, trial: true, route: '/projects/:id', code: 'EUR', source: 'web' });
  const bad = guard.check('plan.changed', { plan: 'Alice Smith', seats: '3', trial: 'yes', route: '/users/alice@example.com', code: 'EURO' });
  t.deepEqual(bad.ok && bad.props, { plan: REDACTED, seats: REDACTED, trial: REDACTED, route: REDACTED, code: REDACTED });
  t.deepEqual(bad.ok && bad.findings.map((f) => f.reason), ['undeclared_value', 'undeclared_value', 'undeclared_value', 'undeclared_value', 'undeclared_value']);
  // A pattern declares a shape, never personal data: an e-mail that fits the pattern is still redacted.
  const sneaky = new PrivacyGuard({ events: { 'a.b': { v: { pattern: /.*/ } } } }).check('a.b', { v: 'alice@example.com' });
  t.deepEqual(sneaky.ok && sneaky.findings, [{ key: 'v', reason: 'email' }]);
  // Declarations belong to their event: the same property of another event uses the default rules.
  const other = guard.check('plan.viewed', { plan: 'Team Pro' });
  t.deepEqual(other.ok && other.props, { plan: REDACTED });
});

const badDeclarations: { events: unknown; field: string; why: string }[] = [
  { events: { 'Plan.Changed': { plan: 'number' } }, field: 'events.Plan.Changed', why: 'an invalid event name' },
  { events: { 'plan.changed': { plan: 'string' } }, field: 'events.plan.changed.plan', why: 'an unknown type' },
  { events: { 'plan.changed': { plan: [] } }, field: 'events.plan.changed.plan', why: 'an empty enum' },
  { events: { 'plan.changed': { plan: { pattern: '([' } } }, field: 'events.plan.changed.plan.pattern', why: 'a broken pattern' },
  { events: { 'plan.changed': { 'alice@example.com': 'boolean' } }, field: 'events.plan.changed.alice@example.com', why: 'a key that is PII' },
  { events: { 'plan.changed': 'number' }, field: 'events.plan.changed', why: 'not an object' },
];

for (const { events, field, why } of badDeclarations) {
  test(`option ${field} (${why}) is refused at construction with a TypeError naming it`, (t) => {
    const error = t.throws(() => resolveOptions({ appName: 'A', appVersion: '1', env: {}, events } as never), { instanceOf: TypeError });
    t.true(error!.message.includes(`\`${field}\``), error!.message);
  });
}

test(`beyond ${MAX_PROPS} properties the rest are dropped as too_many_props`, (t) => {
  const guard = new PrivacyGuard();
  const props = Object.fromEntries(Array.from({ length: MAX_PROPS + 3 }, (_, i) => [`p${i}`, i]));
  const result = guard.check('x.y', props);
  t.is(result.ok && Object.keys(result.props).length, MAX_PROPS);
  t.is(guard.counters.byReason.too_many_props, 3);
  t.is(guard.counters.droppedKeys, 3);
});

test('TELEMETRY_DEBUG reports key and reason at warn level, never the value, once per (event, key, reason)', (t) => {
  const lines: unknown[][] = [];
  const logger: Logger = { debug() {}, info() {}, warn: (...args: unknown[]) => void lines.push(args), error() {} };
  const guard = new PrivacyGuard({ debugLogger: logger });
  for (let i = 0; i < 50; i++) guard.check('signup.done', { email: 'alice@example.com', note: 'Alice Smith', '10.0.0.1': 1, source: 'web' });
  t.is(lines.length, 3);
  const text = JSON.stringify(lines);
  t.true(text.includes('email') && text.includes('pii_key') && text.includes('not_identifier') && text.includes('key_not_safe'));
  t.deepEqual(leaks(text), []);
  t.false(text.includes('10.0.0.1'));
  t.is(new PrivacyGuard().check('signup.done', { email: 'x' }).ok, true, 'without a debug logger nothing is reported');
});

// ---------------------------------------------------------------------------------------------
// End to end: every place data is stored, sent, exported or logged.

interface CapturedLogger extends Logger {
  /** The debugOutput option: what TELEMETRY_DEBUG prints is checked with the logs. */
  print(text: string): void;
  text(): string;
  warnings(): unknown[][];
}

function capturingLogger(): CapturedLogger {
  const all: unknown[][] = [];
  const warns: unknown[][] = [];
  const record = (level: string) => (...args: unknown[]) => {
    all.push([level, ...args]);
    if (level === 'warn') warns.push(args);
  };
  return {
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
    print: (text: string) => void all.push(['debugOutput', text]),
    text: () => all.map((args) => JSON.stringify(args, (_k, v) => (typeof v === 'bigint' ? String(v) : v instanceof Error ? `${v.name}: ${v.message}` : v))).join('\n'),
    warnings: () => warns,
  };
}

async function storedText(db: TestDatabase): Promise<string> {
  const tables = [
    TABLES.usageEvents,
    TABLES.pageviewCounts,
    TABLES.donationInteractions,
    TABLES.submissions,
    TABLES.supportPromptState,
    TABLES.supportCounters,
    TABLES.outboundLedger,
    TABLES.consentReceipts,
    TABLES.settings,
  ];
  const dumps = await Promise.all(tables.map(async (table) => JSON.stringify(await db.knex(table).select('*'))));
  return dumps.join('\n');
}

async function sqliteBytes(db: TestDatabase): Promise<Buffer> {
  const parts = [await readFile(db.location)];
  for (const suffix of ['-wal', '-journal']) if (existsSync(db.location + suffix)) parts.push(await readFile(db.location + suffix));
  return Buffer.concat(parts);
}

async function csrfToken(host: HostApp): Promise<string> {
  return ((await (await host.request('/token', { user: 'alice' })).json()) as { token: string }).token;
}

function funnel(host: HostApp, csrf: string, body: Record<string, unknown>): Promise<Response> {
  return host.request('/donate/track-support-event', {
    method: 'POST',
    user: 'alice',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrf },
    body: JSON.stringify(body),
  });
}

async function corpusRun(t: ExecutionContext, db: TestDatabase, debug: boolean): Promise<void> {
  const clock = { offset: 0 };
  const otlp = await startOtlpReceiver();
  t.teardown(() => otlp.close());
  const collector = await startSubmissionReceiver({ nowMs: () => Date.now() + clock.offset });
  t.teardown(() => collector.close());
  const logger = capturingLogger();
  const host = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      db: db.knex,
      logger,
      debugOutput: logger.print,
      debug,
      events: DECLARED,
      otlp: { endpoint: otlp.url },
      collector: { url: collector.url },
      export: { intervalMs: 50, metricIntervalMs: 100 },
      recorder: { intervalMs: 20 },
      submission: { retryBaseMs: 20, maxAttempts: 1, timeoutMs: 2_000 },
      // The rate limit has its own test (support-funnel); here every sample goes through.
      support: { sources: ['footer'], eventsPerMinute: 1_000, userStats: () => ({ hoursTracked: 12.5, entries: 40 }) },
      now: () => new Date(Date.now() + clock.offset),
    },
    routes: (router) => {
      router.get('/token', (ctx) => {
        ctx.body = { token: (ctx.state.telemetry as { csrfToken: string }).csrfToken };
      });
      router.post('/careless', (ctx) => {
        // A careless host: the request's own data straight into telemetry.
        const value = decodeURIComponent(ctx.get('x-sample'));
        ctx.telemetry.track('careless.request', { [ctx.get('x-key')]: value, meta: { value } });
        ctx.telemetry.identify({ email: value });
        ctx.body = { ok: true };
      });
    },
  });
  t.teardown(() => host.close());
  await host.telemetry.consent.set({ analytics: true });
  const user = { id: 2, createdAt: null };

  // The corpus, every placement, through track() and identify().
  for (const sample of PII_CORPUS) {
    for (const props of placements(sample)) {
      host.telemetry.track('pii.sample', props, { user });
      host.telemetry.identify(user, props);
    }
  }
  host.telemetry.track('pii.keys', Object.fromEntries(PII_KEYS.map((k) => [k, 1])), { user });
  // Ordinary properties and a declared enum.
  host.telemetry.track('report.exported', { ...ORDINARY_PROPS }, { user });
  host.telemetry.track('plan.changed', { plan: 'Team Pro', seats: 12 }, { user });

  // Through requests: in the path and query (page views keep the route template) and in a header the host passes on.
  for (const sample of PII_CORPUS.slice(0, 20)) {
    await (await host.request(`/projects/${encodeURIComponent(String(sample.value))}?q=${encodeURIComponent(String(sample.value))}`, { user: 'alice' })).arrayBuffer();
    await (await host.request(`/nowhere/${encodeURIComponent(String(sample.value))}`, { user: 'alice' })).arrayBuffer();
    await (await host.request('/careless', { method: 'POST', user: 'alice', headers: { 'x-sample': encodeURIComponent(String(sample.value)), 'x-key': sample.key } })).arrayBuffer();
  }

  // The support funnel: every sample as source and as variant is refused; the allowed ones are stored.
  const csrf = await csrfToken(host);
  let refused = 0;
  for (const sample of PII_CORPUS) {
    const asSource = await funnel(host, csrf, { event: 'modal_opened', source: String(sample.value) });
    const asVariant = await funnel(host, csrf, { event: 'prompt_shown', variant: String(sample.value), source: 'header' });
    t.true(asSource.status === 400 && asVariant.status === 400, `${sample.key}: ${asSource.status} ${asVariant.status}`);
    refused += 2;
  }
  t.is(refused, PII_CORPUS.length * 2);
  t.is((await funnel(host, csrf, { event: 'modal_opened', source: 'header' })).status, 202);
  t.is((await funnel(host, csrf, { event: 'link_clicked', source: 'footer' })).status, 202);

  // Everything written and sent.
  t.true(await host.telemetry.flush());
  // With TELEMETRY_DEBUG the sink prints what it would send (to debugOutput, checked with the logs below) and sends nothing.
  if (!debug) await waitUntil(() => otlp.logs.some((l) => l.eventName === 'plan.changed' || l.body === 'plan.changed'), 5_000, 'the OTLP export');
  await waitUntil(async () => Number(((await db.knex(TABLES.usageEvents).where({ event_type: 'plan.changed' }).count({ n: '*' }).first()) as { n: unknown }).n) === 1, 5_000, 'the local rows');

  // The other side: ordinary properties and the declared enum arrive intact — in OTLP …
  if (!debug) {
    const exported = (name: string) => otlp.logs.find((l) => (l.eventName ?? l.body) === name)!.attributes;
    t.like(exported('report.exported'), { ...ORDINARY_PROPS });
    t.like(exported('plan.changed'), { plan: 'Team Pro', seats: 12 });
  } else {
    t.is(otlp.requests.length, 0);
    t.true(logger.text().includes('Team Pro'), 'the debug exporter printed the events');
  }
  // … and in the database.
  const meta = async (name: string) => {
    const row = (await db.knex(TABLES.usageEvents).where({ event_type: name }).first('metadata')) as { metadata: unknown };
    return typeof row.metadata === 'string' ? JSON.parse(row.metadata) : row.metadata;
  };
  t.deepEqual(await meta('report.exported'), { ...ORDINARY_PROPS });
  t.deepEqual(await meta('plan.changed'), { plan: 'Team Pro', seats: 12 });
  const funnelRows = (await db.knex(TABLES.donationInteractions).select('source', 'variant')) as { source: string | null }[];
  t.deepEqual(funnelRows.map((r) => r.source).sort(), ['footer', 'header']);

  // 1. OTLP bodies, raw.
  t.deepEqual(leaks(JSON.stringify(otlp.requests.map((r) => r.body))), [], 'OTLP bodies');
  // 2. The database.
  t.deepEqual(leaks(await storedText(db)), [], 'stored rows');
  if (db.kind === 'sqlite') {
    await db.knex.raw('PRAGMA wal_checkpoint(FULL)').catch(() => undefined);
    t.deepEqual(leaksInBytes(await sqliteBytes(db)), [], 'SQLite file bytes');
  }
  // 3. The export, with the events in it.
  const exportText = await (await host.request('/api/v1/usage-stats/export', { user: 'admin' })).text();
  t.true(exportText.includes('report.exported') && exportText.includes('Team Pro'));
  t.deepEqual(leaks(exportText), [], 'JSON export');
  // 4. The preview and the submission's ledger, with the events inside the reported week.
  clock.offset = mondayOf(new Date()).getTime() + 7 * DAY + 3_600_000 - Date.now(); // next Monday: this week is whole
  const previewText = await (await host.request('/api/v1/usage-stats/preview', { user: 'admin' })).text();
  t.true(previewText.includes('pii.sample'), 'the corpus events are counted');
  t.deepEqual(leaks(previewText), [], '/preview');
  await host.telemetry.consent.set({ usageStats: true });
  if (!debug) {
    await collector.waitFor(() => collector.accepted.length === 1, 5_000, 'the weekly submission');
    t.deepEqual(leaks(collector.requests.map((r) => r.rawBody).join('\n')), [], 'what the collector received');
    await waitUntil(async () => (await (await host.request('/api/v1/usage-stats/submissions', { user: 'admin' })).json()).total >= 1, 3_000, 'the ledger');
    t.deepEqual(leaks(await (await host.request('/api/v1/usage-stats/submissions', { user: 'admin' })).text()), [], 'ledger');
    await host.telemetry.flush();
    const outbound = await (await host.request('/api/v1/usage-stats/ledger?limit=200', { user: 'admin' })).text();
    t.true(outbound.includes('otlp_logs'), 'the outbound ledger lists the OTLP batches');
    t.deepEqual(leaks(outbound), [], 'outbound ledger');
    t.deepEqual(leaks(await (await host.request('/api/v1/usage-stats/receipts?scope=installation', { user: 'admin' })).text()), [], 'consent receipts');
  } else {
    // TELEMETRY_DEBUG prints the submission instead of sending it; the log check below covers it.
    await waitUntil(() => logger.text().includes('would send'), 5_000, 'the printed submission');
    t.is(collector.accepted.length, 0);
  }
  // 5. The admin's views.
  const status = (await (await host.request('/api/v1/usage-stats/status', { user: 'admin' })).json()) as { privacy_guard: { redacted_values: number; dropped_keys: number; by_reason: Record<string, number> } };
  for (const reason of ['pii_key', 'not_scalar', 'email', 'ip_address', 'token_shape', 'key_not_safe', 'number_too_large', 'not_identifier'] as const) {
    t.true(status.privacy_guard.by_reason[reason]! > 0, reason);
  }
  t.true(status.privacy_guard.redacted_values > 100);
  const settings = await (await host.request('/telemetry/settings', { user: 'admin' })).text();
  t.true(settings.includes('data-guard-reason="pii_key"') && settings.includes('data-guard-reason="key_not_safe"'));
  t.deepEqual(leaks(settings), [], 'settings page');
  // 6. Every logged argument.
  await host.telemetry.flush();
  t.deepEqual(leaks(logger.text()), [], 'logs');
  const debugLines = logger.warnings().filter((args) => typeof args[1] === 'string' && args[1].startsWith('TELEMETRY_DEBUG'));
  if (debug) {
    t.true(debugLines.length > 10, 'the debug output names what was removed');
    t.true(JSON.stringify(debugLines).includes('"reason":"pii_key"'));
  } else {
    t.is(debugLines.length, 0);
  }
}

testEachDatabase('the PII corpus never reaches OTLP, the database, the export, /preview, the ledger or the logs (TELEMETRY_DEBUG off)', (t, db) => corpusRun(t, db, false));
testEachDatabase('the PII corpus never reaches OTLP, the database, the export, /preview, the ledger or the logs (TELEMETRY_DEBUG on)', (t, db) => corpusRun(t, db, true));

test('a route template written with an e-mail, a query or a long number is counted as (unmatched)', (t) => {
  t.is(safeRouteTemplate('/projects/:id', '(unmatched)'), '/projects/:id');
  for (const template of ['/users/alice@example.com', '/search?q=x', '/orders/4155552671', `/${'a'.repeat(201)}`]) t.is(safeRouteTemplate(template, '(unmatched)'), '(unmatched)', template);
});

test('declarations survive option parsing: the example host\'s RegExp pattern declares its route templates', async (t) => {
  const { EXAMPLE_HOST_EVENTS } = await import('../../example-host/events.js');
  const options = resolveOptions({ appName: 'A', appVersion: '1', env: {}, events: EXAMPLE_HOST_EVENTS });
  const guard = new PrivacyGuard({ events: options.events });
  const result = guard.check('app.error', { status_code: 500, route: '/projects/:id' });
  t.deepEqual(result.ok && result.props, { status_code: 500, route: '/projects/:id' });
  const raw = guard.check('app.error', { status_code: 404, route: '/users/alice@example.com' });
  t.deepEqual(raw.ok && raw.props, { status_code: 404, route: REDACTED });
});
