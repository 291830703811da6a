import test from 'ava';
import {
  DENIED_KEYS,
  EVENT_NAME_PATTERN,
  MAX_PROPS,
  MAX_STRING_LENGTH,
  NAME_CACHE_LIMIT,
  PrivacyGuard,
  REDACTED,
  REDACTION_RULES,
  findSensitive,
  normalizeKey,
} from '../src/telemetry/privacy-guard.js';
import type { GuardResult } from '../src/telemetry/privacy-guard.js';
import type { EventProps } from '../src/types.js';

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
    t.deepEqual(guard.check('timer.started', props), { ok: true, name: 'timer.started', props: {} });
  });
}

test('a null-prototype object is accepted as plain', (t) => {
  const props = Object.create(null) as Record<string, unknown>;
  props['source'] = 'web';
  t.deepEqual(propsOf(new PrivacyGuard().check('timer.started', props)), { source: 'web' });
});

test('scalars pass through; nested and non-scalar values are dropped', (t) => {
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
  t.deepEqual(props, { source: 'web', count: 3, ratio: 0.5, negative: -1, enabled: true, off: false, empty: '' });
  t.is(guard.counters.droppedKeys, 12);
});

test("the caller's object is never mutated and a new object is returned", (t) => {
  const input = { source: 'web', email: 'bob@example.com', note: 'mail bob@example.com', nested: { a: 1 }, long: 'x'.repeat(300) };
  const snapshot = structuredClone(input);
  const props = propsOf(new PrivacyGuard().check('timer.started', input));
  t.deepEqual(input, snapshot);
  t.not(props as object, input as object);
  t.deepEqual(props, { source: 'web', note: REDACTED, long: 'x'.repeat(MAX_STRING_LENGTH) });
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
  t.deepEqual(guard.counters, { rejectedEvents: 1, droppedKeys: 0, redactedValues: 0, truncatedValues: 0 });
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
});

test('keys dropped for other reasons do not use up the 32-key budget', (t) => {
  const guard = new PrivacyGuard();
  const input: Record<string, unknown> = { email: 'x', nested: {}, 'bad key': 1 };
  for (let i = 0; i < 32; i++) input[`k${i}`] = i;
  const props = propsOf(guard.check('timer.started', input));
  t.is(Object.keys(props).length, 32);
  t.is(props['k31'], 31);
  t.is(guard.counters.droppedKeys, 3);
});

// ---------------------------------------------------------------------------------------------
// Keys

const deniedSpellings = [
  'email',
  'Email',
  'EMAIL',
  'username',
  'Username',
  'USERNAME',
  'name',
  'Name',
  'full_name',
  'fullName',
  'FullName',
  'full-name',
  'ip',
  'IP',
  'ip_address',
  'ipAddress',
  'IPAddress',
  'ip-address',
  'password',
  'Password',
  'token',
  'TOKEN',
  'secret',
  'phone',
  'Phone',
  'address',
];

for (const key of deniedSpellings) {
  test(`deny-listed key "${key}" is dropped`, (t) => {
    const guard = new PrivacyGuard();
    const props = propsOf(guard.check('timer.started', { [key]: 'anything', source: 'web' }));
    t.deepEqual(props, { source: 'web' });
    t.is(guard.counters.droppedKeys, 1);
  });
}

test('every DENIED_KEYS entry is dropped', (t) => {
  const guard = new PrivacyGuard();
  const input = Object.fromEntries(DENIED_KEYS.map((k) => [k, 1]));
  t.deepEqual(propsOf(guard.check('timer.started', input)), {});
  t.is(guard.counters.droppedKeys, DENIED_KEYS.length);
});

const allowedKeys = ['user_name', 'userName', 'email_count', 'named_view', 'ip_version', 'token_count', 'source', 'page.section', 'route-template'];

for (const key of allowedKeys) {
  test(`key "${key}" is not on the deny list and is kept`, (t) => {
    t.deepEqual(propsOf(new PrivacyGuard().check('timer.started', { [key]: 1 })), { [key]: 1 });
  });
}

test('normalizeKey splits camelCase and acronyms and maps - and space to _', (t) => {
  t.is(normalizeKey('ipAddress'), 'ip_address');
  t.is(normalizeKey('IPAddress'), 'ip_address');
  t.is(normalizeKey('fullName'), 'full_name');
  t.is(normalizeKey('Full-Name'), 'full_name');
  t.is(normalizeKey('full name'), 'full_name');
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
  });
}

test('a 64-character key with dots and dashes is kept', (t) => {
  const key = `a.b-c_${'d'.repeat(58)}`;
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
  url: ['https://example.com/reset?token=x', 'see http://intranet/page', '/path?x=1', 'report.html?user=42', 'ftp://files.example.com'],
};

for (const [rule, examples] of Object.entries(sensitive)) {
  for (const value of examples) {
    test(`${rule}: ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)} is redacted`, (t) => {
      t.is(findSensitive(value), rule);
      const guard = new PrivacyGuard();
      t.deepEqual(propsOf(guard.check('timer.started', { v: value })), { v: REDACTED });
      t.is(guard.counters.redactedValues, 1);
    });
  }
}

const harmless = [
  '42',
  '7',
  '2026-11-22',
  '22.11.2026',
  '2026-11-22T10:30:00Z',
  '2026-11-22 10:30:00',
  '2019-2024',
  '1.4.0',
  '10.15.7',
  '1.4.0-beta.12345',
  '120.0.6099.109',
  '1.2.3.4.5',
  '550e8400-e29b-41d4-a716-446655440000',
  '1234567890123456',
  '12345678901234567890123',
  '1700000000',
  'order 1234567 shipped',
  '3.14159',
  '12:30:45',
  'std::vector',
  '@koa/router@15.7.0',
  'pkg@1.2.3',
  'the bearer of bad news',
  '/projects/:id',
  'Are you sure? yes',
  'web',
  'en-US',
  'Europe/Berlin',
  'dark',
];

for (const value of harmless) {
  test(`near miss ${JSON.stringify(value)} is not redacted`, (t) => {
    t.is(findSensitive(value), null);
    const guard = new PrivacyGuard();
    t.deepEqual(propsOf(guard.check('timer.started', { v: value })), { v: value });
    t.is(guard.counters.redactedValues, 0);
  });
}

test('REDACTION_RULES has the documented ids, in order, each with a label', (t) => {
  t.deepEqual(
    REDACTION_RULES.map((r) => r.id),
    ['email', 'ipv4', 'ipv6', 'bearer_token', 'jwt', 'card_number', 'phone_number', 'url'],
  );
  for (const rule of REDACTION_RULES) {
    t.true(rule.label.length > 3);
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
// Truncation

test(`strings longer than ${MAX_STRING_LENGTH} characters are truncated`, (t) => {
  const guard = new PrivacyGuard();
  const props = propsOf(guard.check('timer.started', { exact: 'a'.repeat(256), long: 'b'.repeat(257), huge: 'c'.repeat(100_000) }));
  t.is(props['exact'], 'a'.repeat(256));
  t.is(props['long'], 'b'.repeat(256));
  t.is(props['huge'], 'c'.repeat(256));
  t.is(guard.counters.truncatedValues, 2);
});

test('truncation does not split a surrogate pair', (t) => {
  const value = `${'a'.repeat(255)}😀tail`;
  const props = propsOf(new PrivacyGuard().check('timer.started', { v: value }));
  t.is(props['v'], 'a'.repeat(255));
});

test('a secret straddling the truncation point is still redacted', (t) => {
  const guard = new PrivacyGuard();
  const value = `${'x '.repeat(120)}contact: bob@example.com`;
  t.true(value.indexOf('@') < MAX_STRING_LENGTH && value.length > MAX_STRING_LENGTH);
  t.is(findSensitive(value.slice(0, MAX_STRING_LENGTH)), null);
  t.deepEqual(propsOf(guard.check('timer.started', { v: value })), { v: REDACTED });
  t.deepEqual(guard.counters, { rejectedEvents: 0, droppedKeys: 0, redactedValues: 1, truncatedValues: 0 });
});

test('a secret inside the kept part of a long string is redacted', (t) => {
  const value = `mail bob@example.com ${'z'.repeat(400)}`;
  t.deepEqual(propsOf(new PrivacyGuard().check('timer.started', { v: value })), { v: REDACTED });
});

// ---------------------------------------------------------------------------------------------
// Counters

test('counters add up across events and resetCounters() zeroes them in place', (t) => {
  const guard = new PrivacyGuard();
  const counters = guard.counters;
  guard.check('Bad.Name', {});
  guard.check('timer.started', 'not an object');
  guard.check('timer.started', { email: 'x', nested: {}, note: 'bob@example.com', long: 'y'.repeat(300), ok: 1 });
  guard.check('page.viewed', { ip: '10.0.0.1', where: '10.0.0.1', n: Number.NaN });
  t.deepEqual(guard.counters, { rejectedEvents: 2, droppedKeys: 4, redactedValues: 2, truncatedValues: 1 });
  guard.resetCounters();
  t.is(guard.counters, counters);
  t.deepEqual(counters, { rejectedEvents: 0, droppedKeys: 0, redactedValues: 0, truncatedValues: 0 });
});

test('separate guards keep separate counters', (t) => {
  const a = new PrivacyGuard();
  const b = new PrivacyGuard();
  a.check('timer.started', { email: 'x' });
  t.is(a.counters.droppedKeys, 1);
  t.is(b.counters.droppedKeys, 0);
});
