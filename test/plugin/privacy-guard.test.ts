import test from 'ava';
// The guard's mechanics: event names, the shape of props, keys, the detectors that name a reason,
// counters. What passes and what does not (the allow-list and the PII corpus) is proven in
// test/plugin/privacy-allow-list.test.ts.
import {
  EVENT_NAME_PATTERN,
  GUARD_REASONS,
  MAX_IDENTIFIER_LENGTH,
  MAX_PROPS,
  NAME_CACHE_LIMIT,
  VERDICT_CACHE_LIMIT,
  PrivacyGuard,
  REDACTED,
  REDACTION_RULES,
  findSensitive,
  normalizeKey,
} from '../../src/plugin/telemetry/privacy-guard.js';
import type { GuardResult } from '../../src/plugin/telemetry/privacy-guard.js';
import type { EventProps } from '../../src/plugin/types.js';

function propsOf(result: GuardResult): EventProps {
  if (!result.ok) throw new Error(`expected an accepted event, got: ${result.reason}`);
  return result.props;
}

// ---------------------------------------------------------------------------------------------
// Event names

const nameCases: { name: unknown; valid: boolean; why: string }[] = [
  { name: 'timer.started', valid: true, why: 'dotted snake_case' },
  { name: 'job_completed', valid: true, why: 'single snake_case segment' },
  { name: 'support.modal_opened', valid: true, why: 'segment with underscore' },
  { name: 'a.b2.c_3', valid: true, why: 'digits after the first character' },
  { name: 'x'.repeat(64), valid: true, why: 'exactly 64 characters' },
  { name: 'Timer.started', valid: false, why: 'uppercase' },
  { name: 'timer..x', valid: false, why: 'empty segment' },
  { name: 'timer.', valid: false, why: 'trailing dot' },
  { name: '.timer', valid: false, why: 'leading dot' },
  { name: '1timer', valid: false, why: 'leading digit' },
  { name: '_timer', valid: false, why: 'leading underscore' },
  { name: 'timer-started', valid: false, why: 'dash' },
  { name: 'timer started', valid: false, why: 'space' },
  { name: '', valid: false, why: 'empty string' },
  { name: 'x'.repeat(65), valid: false, why: '65 characters' },
  { name: 'base_telemetry.heartbeat', valid: false, why: 'reserved prefix' },
  { name: 'base_telemetry.first_seen', valid: false, why: 'reserved prefix' },
  { name: 'base_telemetry_x', valid: true, why: 'only the dotted prefix is reserved' },
  { name: 42, valid: false, why: 'number' },
  { name: null, valid: false, why: 'null' },
  { name: undefined, valid: false, why: 'undefined' },
  { name: { toString: () => 'timer.started' }, valid: false, why: 'object with toString' },
];

for (const { name, valid, why } of nameCases) {
  const shown = typeof name === 'string' ? JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}…(${name.length})` : name) : String(name);
  test(`event name ${shown} (${why}) is ${valid ? 'accepted' : 'refused'}`, (t) => {
    const guard = new PrivacyGuard();
    t.is(guard.isValidEventName(name), valid);
    // Twice: the second answer comes from the cache and must agree.
    t.is(guard.isValidEventName(name), valid);
    const result = guard.check(name, { a: 1 });
    t.is(result.ok, valid);
    t.is(guard.counters.rejectedEvents, valid ? 0 : 1);
    if (!result.ok) t.true(result.reason.length > 0);
  });
}

test('EVENT_NAME_PATTERN is the one from the spec', (t) => {
  t.is(EVENT_NAME_PATTERN.source, '^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)*$');
});

test('allowReserved lets the base layer use base_telemetry.*', (t) => {
  const guard = new PrivacyGuard({ allowReserved: true });
  t.true(guard.isValidEventName('base_telemetry.heartbeat'));
  t.deepEqual(guard.check('base_telemetry.heartbeat', { app_version: '1.4.0' }), {
    ok: true,
    name: 'base_telemetry.heartbeat',
    props: { app_version: '1.4.0' },
    findings: [],
  });
  t.false(guard.isValidEventName('Base_telemetry.heartbeat'));
});

test('rejection reasons name the rule that was broken', (t) => {
  const guard = new PrivacyGuard();
  const reason = (name: unknown, props?: unknown) => {
    const r = guard.check(name, props);
    return r.ok ? '' : r.reason;
  };
  t.regex(reason(7), /string/);
  t.regex(reason('x'.repeat(65)), /64/);
  t.regex(reason('Timer.started'), /lowercase/);
  t.regex(reason('base_telemetry.heartbeat'), /reserved/);
  t.regex(reason('timer.started', ['a']), /flat object/);
  t.is(guard.counters.rejectedEvents, 5);
});

test('name cache is bounded: 5000 distinct valid names keep it at the cap', (t) => {
  const guard = new PrivacyGuard();
  for (let i = 0; i < 5000; i++) t.true(guard.isValidEventName(`flood.name_${i}`));
  t.is(guard.cacheSize, NAME_CACHE_LIMIT);
  t.true(NAME_CACHE_LIMIT <= 1000);
  // Evicted and recent names still validate correctly.
  t.true(guard.isValidEventName('flood.name_0'));
  t.true(guard.isValidEventName('flood.name_4999'));
  t.is(guard.cacheSize, NAME_CACHE_LIMIT);
});

test('over-long names are never cached', (t) => {
  const guard = new PrivacyGuard();
  for (let i = 0; i < 10; i++) guard.isValidEventName(`${'a'.repeat(100)}${i}`);
  t.is(guard.cacheSize, 0);
});

// ---------------------------------------------------------------------------------------------
// Props shape

const badProps: { props: unknown; why: string }[] = [
  { props: ['a', 'b'], why: 'an array' },
  { props: 'source=web', why: 'a string' },
  { props: 42, why: 'a number' },
  { props: new Map([['a', 1]]), why: 'a Map' },
  { props: new (class Props { a = 1; })(), why: 'a class instance' },
  { props: new Date(), why: 'a Date' },
  { props: () => ({}), why: 'a function' },
];

for (const { props, why } of badProps) {
  test(`props that are ${why} reject the event`, (t) => {
    const guard = new PrivacyGuard();
    const result = guard.check('timer.started', props);
    t.false(result.ok);
    if (!result.ok) t.regex(result.reason, /flat object/);
    t.is(guard.counters.rejectedEvents, 1);
  });
}

for (const props of [undefined, null]) {
  test(`props ${String(props)} become {}`, (t) => {
    const guard = new PrivacyGuard();
    t.deepEqual(guard.check('timer.started', props), { ok: true, name: 'timer.started', props: {}, findings: [] });
  });
}

test('a null-prototype object is accepted as plain', (t) => {
  const props = Object.create(null) as Record<string, unknown>;
  props['source'] = 'web';
  t.deepEqual(propsOf(new PrivacyGuard().check('timer.started', props)), { source: 'web' });
});

test('scalars pass through; nested and non-scalar values keep their key with the marker; null and undefined are skipped', (t) => {
  const guard = new PrivacyGuard();
  const props = propsOf(
    guard.check('timer.started', {
      source: 'web',
      count: 3,
      ratio: 0.5,
      negative: -1,
      enabled: true,
      off: false,
      empty: '',
      nested: { a: 1 },
      list: [1, 2],
      nothing: null,
      missing: undefined,
      fn: () => 1,
      sym: Symbol('x'),
      big: 10n,
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      ninf: Number.NEGATIVE_INFINITY,
      date: new Date(0),
      boxed: new String('x'),
    }),
  );
  const R = REDACTED;
  t.deepEqual(props, { source: 'web', count: 3, ratio: 0.5, negative: -1, enabled: true, off: false, empty: '', nested: R, list: R, fn: R, sym: R, big: R, nan: R, inf: R, ninf: R, date: R, boxed: R });
  t.is(guard.counters.redactedValues, 10);
  t.is(guard.counters.byReason.not_scalar, 7);
  t.is(guard.counters.byReason.not_finite, 3);
  t.is(guard.counters.droppedKeys, 0);
});

test("the caller's object is never mutated and a new object is returned", (t) => {
  const input = { source: 'web', email: 'bob@example.com', note: 'mail bob@example.com', nested: { a: 1 }, long: 'x'.repeat(300) };
  const snapshot = structuredClone(input);
  const props = propsOf(new PrivacyGuard().check('timer.started', input));
  t.deepEqual(input, snapshot);
  t.not(props as object, input as object);
  t.deepEqual(props, { source: 'web', email: REDACTED, note: REDACTED, nested: REDACTED, long: REDACTED });
});

test('a throwing getter rejects the event instead of throwing, and leaves counters clean', (t) => {
  const guard = new PrivacyGuard();
  const props = {
    email: 'x',
    get boom(): string {
      throw new Error('nope');
    },
  };
  const result = guard.check('timer.started', props);
  t.false(result.ok);
  t.like(guard.counters, { rejectedEvents: 1, droppedKeys: 0, redactedValues: 0 });
  t.true(Object.values(guard.counters.byReason).every((n) => n === 0));
});

test('a hostile Proxy does not make check() throw', (t) => {
  const hostile = new Proxy(
    {},
    {
      getPrototypeOf() {
        throw new Error('trap');
      },
    },
  );
  const result = new PrivacyGuard().check('timer.started', hostile);
  t.false(result.ok);
});

test(`at most ${MAX_PROPS} keys are kept; the rest are dropped and counted`, (t) => {
  const guard = new PrivacyGuard();
  const input: Record<string, unknown> = {};
  for (let i = 0; i < 40; i++) input[`k${i}`] = i;
  const props = propsOf(guard.check('timer.started', input));
  t.is(Object.keys(props).length, MAX_PROPS);
  t.is(props['k0'], 0);
  t.is(props['k31'], 31);
  t.false('k32' in props);
  t.is(guard.counters.droppedKeys, 8);
  t.is(guard.counters.byReason.too_many_props, 8);
});

test('keys dropped for other reasons do not use up the 32-key budget', (t) => {
  const guard = new PrivacyGuard();
  const input: Record<string, unknown> = { 'bad key': 1, '10.0.0.1': 1, nothing: null };
  for (let i = 0; i < 32; i++) input[`k${i}`] = i;
  const props = propsOf(guard.check('timer.started', input));
  t.is(Object.keys(props).length, 32);
  t.is(props['k31'], 31);
  t.is(guard.counters.droppedKeys, 2);
});

// ---------------------------------------------------------------------------------------------
// Keys

const piiSpellings = [
  'email', 'Email', 'EMAIL', 'e_mail', 'username', 'Username', 'USERNAME', 'user_name', 'userName', 'name', 'Name', 'full_name', 'fullName', 'FullName',
  'full-name', 'ip', 'IP', 'ip_address', 'ipAddress', 'IPAddress', 'ip-address', 'password', 'Password', 'secret', 'phone', 'Phone', 'address',
  'billingAddress', 'api_key', 'apiKey', 'session.cookie', 'card_number', 'iban',
];

for (const key of piiSpellings) {
  test(`PII key "${key}" keeps its key with the marker, whatever the value`, (t) => {
    const guard = new PrivacyGuard();
    const props = propsOf(guard.check('timer.started', { [key]: 'anything', source: 'web' }));
    t.deepEqual(props, { [key]: REDACTED, source: 'web' });
    t.is(guard.counters.byReason.pii_key, 1);
  });
}

const allowedKeys = ['email_count', 'named_view', 'ip_version', 'token_count', 'user_count', 'source', 'page.section', 'route-template', 'shortcut_key'];

for (const key of allowedKeys) {
  test(`key "${key}" is not a PII key and its value is kept`, (t) => {
    t.deepEqual(propsOf(new PrivacyGuard().check('timer.started', { [key]: 1 })), { [key]: 1 });
  });
}

test('normalizeKey splits camelCase and acronyms and maps - and space to _', (t) => {
  t.is(normalizeKey('ipAddress'), 'ip_address');
  t.is(normalizeKey('IPAddress'), 'ip_address');
  t.is(normalizeKey('fullName'), 'full_name');
  t.is(normalizeKey('Full-Name'), 'full_name');
  t.is(normalizeKey('full name'), 'full_name');
  t.is(normalizeKey('api.key-v2'), 'api_key_v_2');
  t.is(normalizeKey('userName'), 'user_name');
  t.is(normalizeKey('already_snake'), 'already_snake');
});

const insaneKeys = ['', 'has space', 'semi;colon', 'a/b', 'emoji😀', 'quote"', 'k'.repeat(65), '__proto__'];

for (const key of insaneKeys) {
  test(`key ${JSON.stringify(key.length > 20 ? `${key.slice(0, 5)}…(${key.length})` : key)} is not a sane identifier and is dropped`, (t) => {
    const guard = new PrivacyGuard();
    // JSON.parse so that "__proto__" becomes an own property, as it would from a request body.
    const input = JSON.parse(JSON.stringify({ [key]: 'v', ok: 1 })) as Record<string, unknown>;
    const props = propsOf(guard.check('timer.started', input));
    t.deepEqual(props, { ok: 1 });
    t.is(Object.getPrototypeOf(props), Object.prototype);
    t.is(guard.counters.droppedKeys, 1);
    t.is(guard.counters.byReason.key_not_safe, 1);
  });
}

test('a 64-character key with dots and dashes is kept', (t) => {
  const key = `a.b-c_${'f'.repeat(58)}`;
  t.is(key.length, 64);
  t.deepEqual(propsOf(new PrivacyGuard().check('timer.started', { [key]: 1 })), { [key]: 1 });
});

// ---------------------------------------------------------------------------------------------
// Redaction

const sensitive: Record<string, string[]> = {
  email: ['bob@example.com', 'contact me at first.last+tag@mail.example.co.uk please', 'ALICE@EXAMPLE.ORG'],
  ipv4: ['192.168.1.20', 'client 10.0.0.1 connected', '8.8.8.8'],
  ipv6: ['2001:db8::1', 'from fe80::1%eth0', '2001:0db8:85a3:0000:0000:8a2e:0370:7334', '::ffff:c000:280'],
  bearer_token: ['Bearer abc123def456ghi789', 'Authorization: bearer sk_live_51HxYzAbCdEf', 'BEARER 0123456789abcdef'],
  jwt: [
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
    'token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
  ],
  card_number: ['4111 1111 1111 1111', '4111-1111-1111-1111', '5555555555554444', 'card 3782 822463 10005 exp 12/29', '4242424242424242'],
  phone_number: ['+1 415-555-0100', '(415) 555-0100', '+44 20 7946 0958', '+44 (0) 20 7946 0958', '415-555-0100', '415.555.0100', '+14155550100', 'call 1-800-555-0199 now'],
  url: ['https://example.com/reset?token=x', 'see http://intranet/page', '/path?x=1', 'report.html?user=42', 'ftp://files.example.com', 'example.com/users/alice', 'www.example.org', 'acme-widgets.com'],
  known_token: ['ghp_16C7e42F292c6912E7710c838347Ae178B4a', 'sk_live_51HxYzAbCdEf', 'xoxb-2048-4096-kNxQ', 'AKIAIOSFODNN7EXAMPLE', 'glpat-xxxxxxxxxxxxxxxxxxxx'],
  hex_or_base64_blob: ['550e8400-e29b-41d4-a716-446655440000', '9fceb02d0ae598e95dc970b74767f19372d61af8', 'k8s7d9f8g7h6j5k4l3m2n1'],
  long_digit_run: ['1700000000', 'order 1234567 shipped', 'build_123456'],
};

for (const [rule, examples] of Object.entries(sensitive)) {
  for (const value of examples) {
    test(`${rule}: ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)} is redacted`, (t) => {
      t.is(findSensitive(value), rule);
      const guard = new PrivacyGuard();
      t.deepEqual(propsOf(guard.check('timer.started', { v: value })), { v: REDACTED });
      t.is(guard.counters.redactedValues, 1);
      t.is(guard.counters.byReason[REDACTION_RULES.find((r) => r.id === rule)!.reason], 1);
    });
  }
}

/** Near misses no detector flags (whether they then pass is the allow-list's business: see below). */
const harmless = [
  '42', '7', '2026-11-22', '22.11.2026', '2026-11-22T10:30:00Z', '2026-11-22 10:30:00', '2019-2024', '1.4.0', '10.15.7', '1.4.0-beta.12345',
  '120.0.6099.109', '1.2.3.4.5', '3.14159', '12:30:45', 'std::vector', 'the bearer of bad news', '/projects/:id', 'Are you sure? yes',
  'web', 'en-US', 'Europe/Berlin', 'dark', 'report.csv', 'build_12345', 'a1b2c3',
];

for (const value of harmless) {
  test(`near miss ${JSON.stringify(value)} trips no detector`, (t) => {
    t.is(findSensitive(value), null);
  });
}

const passing = ['42', '2026-11-22', '22.11.2026', '2019-2024', '1.4.0', '1.4.0-beta.12345', '120.0.6099.109', '3.14159', '12:30:45', 'std::vector', 'web', 'dark', 'report.csv', 'team_plan'];
for (const value of passing) {
  test(`identifier ${JSON.stringify(value)} passes undeclared`, (t) => {
    const guard = new PrivacyGuard();
    t.deepEqual(propsOf(guard.check('timer.started', { v: value })), { v: value });
    t.is(guard.counters.redactedValues, 0);
  });
}

test('REDACTION_RULES has the documented ids, in order, each with a label', (t) => {
  t.deepEqual(
    REDACTION_RULES.map((r) => r.id),
    ['email', 'ipv4', 'ipv6', 'bearer_token', 'jwt', 'known_token', 'hex_or_base64_blob', 'card_number', 'phone_number', 'url', 'long_digit_run'],
  );
  for (const rule of REDACTION_RULES) {
    t.true(rule.label.length > 3);
    t.true((GUARD_REASONS as readonly string[]).includes(rule.reason), rule.id);
    t.false(rule.pattern.global || rule.pattern.sticky, `${rule.id} must be stateless`);
  }
});

test('redaction patterns stay fast on adversarial 16 KiB strings', (t) => {
  const inputs = ['a'.repeat(16_384), '1'.repeat(16_384), '1 '.repeat(8192), '1.'.repeat(8192), 'a@'.repeat(8192), 'ab:'.repeat(5500), `a@${'a.'.repeat(8000)}`];
  const started = performance.now();
  for (const value of inputs) findSensitive(value);
  t.true(performance.now() - started < 500);
});

// ---------------------------------------------------------------------------------------------
// Long strings

test(`strings longer than ${MAX_IDENTIFIER_LENGTH} characters are redacted as too_long (never truncated and kept)`, (t) => {
  const guard = new PrivacyGuard();
  const props = propsOf(guard.check('timer.started', { exact: 'a'.repeat(MAX_IDENTIFIER_LENGTH), long: 'b'.repeat(MAX_IDENTIFIER_LENGTH + 1), huge: 'c'.repeat(100_000) }));
  t.deepEqual(props, { exact: 'a'.repeat(MAX_IDENTIFIER_LENGTH), long: REDACTED, huge: REDACTED });
  t.is(guard.counters.byReason.too_long, 2);
});

test('a secret in a long string is named by its own reason', (t) => {
  const guard = new PrivacyGuard();
  const value = `${'x '.repeat(120)}contact: bob@example.com`;
  t.deepEqual(propsOf(guard.check('timer.started', { v: value })), { v: REDACTED });
  t.is(guard.counters.byReason.email, 1);
});

// ---------------------------------------------------------------------------------------------
// Counters

test('counters add up across events and resetCounters() zeroes them in place', (t) => {
  const guard = new PrivacyGuard();
  const counters = guard.counters;
  guard.check('Bad.Name', {});
  guard.check('timer.started', 'not an object');
  guard.check('timer.started', { email: 'x', nested: {}, note: 'bob@example.com', long: 'y'.repeat(300), ok: 1, 'bad key': 1 });
  guard.check('page.viewed', { ip: '10.0.0.1', where: '10.0.0.1', n: Number.NaN, '10.0.0.2': 1 });
  t.like(guard.counters, { rejectedEvents: 2, droppedKeys: 2, redactedValues: 7 });
  t.like(guard.counters.byReason, { pii_key: 2, not_scalar: 1, email: 1, too_long: 1, ip_address: 1, not_finite: 1, key_not_safe: 2 });
  guard.resetCounters();
  t.is(guard.counters, counters);
  t.like(counters, { rejectedEvents: 0, droppedKeys: 0, redactedValues: 0 });
  t.true(Object.values(counters.byReason).every((n) => n === 0));
});

test('separate guards keep separate counters', (t) => {
  const a = new PrivacyGuard();
  const b = new PrivacyGuard();
  a.check('timer.started', { email: 'x' });
  t.is(a.counters.redactedValues, 1);
  t.is(b.counters.redactedValues, 0);
});

test('the key and value caches are bounded and hold only what was found safe', (t) => {
  const guard = new PrivacyGuard();
  const caches = guard as unknown as { keyVerdicts: Map<string, unknown>; safeStrings: Set<string> };
  for (let i = 0; i < 5000; i++) guard.check('timer.started', { [`k${i}`]: `v${i}`, email: 'alice@example.com', label: 'Alice Smith', [`4155552${String(i).padStart(4, '0')}`]: 1 });
  t.true(caches.keyVerdicts.size <= VERDICT_CACHE_LIMIT);
  t.true(caches.safeStrings.size <= VERDICT_CACHE_LIMIT);
  t.false(caches.safeStrings.has('alice@example.com'));
  t.false(caches.safeStrings.has('Alice Smith'));
  t.false([...caches.keyVerdicts.keys()].some((key) => key.startsWith('4155552')));
  // A cached answer is the same answer.
  const again = guard.check('timer.started', { k4999: 'v4999', label: 'Alice Smith' });
  t.deepEqual(again.ok && again.props, { k4999: 'v4999', label: REDACTED });
});
