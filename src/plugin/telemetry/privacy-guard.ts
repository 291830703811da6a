// The privacy guard: an ALLOW-LIST. Every event's properties pass through `PrivacyGuard.check()`
// before they are stored locally, exported or counted; what is kept is what is known to be safe
// (see docs/adding-events.md for the rules and the reasons):
//
// - a property the host declared in the `events` option passes when its value matches the
//   declaration (an enum, 'number', 'boolean' or a whole-value pattern);
// - an undeclared property passes when its value is a boolean, a finite number that cannot carry
//   a phone or card number (any non-integer, or an integer with |n| < 1e9), or an identifier-like
//   string (≤ 64 characters of [a-z0-9._:-], no run of 6+ digits, no phone/IP/e-mail/URL/token
//   shape) — and its key is not a PII word (email, name, password, token, phone, address…);
// - everything else keeps its key with the value "[redacted]" and is counted by reason; a key
//   that itself looks like personal data (an e-mail, an IP, long digits, non-ASCII) is dropped.
//
// isValidEventName() is the only part on the request path (a cached check); check() runs in
// drain(). Neither throws.
import type { EventProps, GuardCounters, Logger } from '../types.js';
import { ENGLISH, type Translator } from '../i18n/catalog.js';

export const EVENT_NAME_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/;
export const MAX_EVENT_NAME_LENGTH = 64;
export const MAX_PROPS = 32;
/** The longest undeclared string value that can pass (identifiers are short). */
export const MAX_IDENTIFIER_LENGTH = 64;
/** The longest value a declared pattern is tested against. */
export const MAX_DECLARED_STRING_LENGTH = 256;
/** Integers at or above this magnitude can carry a phone or card number and are redacted unless declared. */
export const MAX_SAFE_UNDECLARED_INTEGER = 1e9;
/** A run of this many consecutive digits in a string (or in a key) is redacted. */
export const LONG_DIGIT_RUN = 6;
export const RESERVED_PREFIX = 'base_telemetry.';
export const REDACTED = '[redacted]';

/** Upper bound of the per-guard cache of already-validated event names. */
export const NAME_CACHE_LIMIT = 1000;
/** Upper bound of each per-guard cache of keys and string values already found safe. */
export const VERDICT_CACHE_LIMIT = 1000;
/** How much of a long string is scanned to name the reason (it is redacted either way). */
const SCAN_LIMIT = 1024;

/** Why a property was dropped or redacted. Counted per reason, shown on /status and the settings page. */
export const GUARD_REASONS = [
  // The key: dropped.
  'key_not_safe',
  'too_many_props',
  // The value: the key is kept with REDACTED.
  'pii_key',
  'undeclared_value',
  'not_scalar',
  'not_finite',
  'number_too_large',
  'email',
  'ip_address',
  'url',
  'token_shape',
  'card_number',
  'phone_number',
  'long_digit_run',
  'too_long',
  'not_identifier',
] as const;
export type GuardReason = (typeof GUARD_REASONS)[number];

/** Reasons that drop the key altogether (the others keep it with REDACTED). */
export const DROPPING_REASONS: ReadonlySet<GuardReason> = new Set<GuardReason>(['key_not_safe', 'too_many_props']);

/** A reason's label for the admin, in the translator's language (English by default). */
export function guardReasonLabel(reason: GuardReason, tr: Translator = ENGLISH): string {
  return tr.t(`guard.${reason}`, { max: MAX_PROPS, limit: MAX_SAFE_UNDECLARED_INTEGER.toExponential(), digits: LONG_DIGIT_RUN, length: MAX_IDENTIFIER_LENGTH });
}

export const GUARD_REASON_LABELS: Readonly<Record<GuardReason, string>> = Object.freeze(
  Object.fromEntries(GUARD_REASONS.map((reason) => [reason, guardReasonLabel(reason)])) as Record<GuardReason, string>,
);

/** A host's declaration of one property: allowed strings, a type, or a whole-value pattern. */
export type PropertyDeclaration = readonly string[] | 'number' | 'boolean' | { pattern: RegExp | string };
/** event name → property → declaration (the `events` option). */
export type EventDeclarations = Record<string, Record<string, PropertyDeclaration>>;

export interface GuardFinding {
  /** The property's key, or `(key #n)` when the key itself was not safe to repeat. */
  key: string;
  reason: GuardReason;
}

export type GuardResult =
  | { ok: true; name: string; props: EventProps; findings: GuardFinding[] }
  | { ok: false; reason: string };

export interface PrivacyGuardOptions {
  /** Lets the package's own base layer use the reserved `base_telemetry.*` names. */
  allowReserved?: boolean;
  /** The host's declared events (validated by the options schema; see compileDeclarations). */
  events?: EventDeclarations;
  /** When set (TELEMETRY_DEBUG), each dropped/redacted property is reported here at warn level. */
  debugLogger?: Logger | null;
}

// ---------------------------------------------------------------------------------------------
// Character helpers (char codes, so the scanners below allocate nothing).

const CH_SPACE = 32;
const CH_PLUS = 43;
const CH_DASH = 45;
const CH_DOT = 46;
const CH_OPEN = 40;
const CH_CLOSE = 41;
const CH_SLASH = 47;
const CH_COLON = 58;
const CH_UNDERSCORE = 95;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

// ---------------------------------------------------------------------------------------------
// Payment card numbers: 13–19 digits, optionally grouped by single spaces or dashes, bounded by
// non-alphanumerics, passing the Luhn check.

function containsCardNumber(s: string): boolean {
  const n = s.length;
  for (let start = 0; start < n; start++) {
    if (!isDigit(s.charCodeAt(start)) || (start > 0 && isAlnum(s.charCodeAt(start - 1)))) continue;
    let digits = 0;
    let sumEven = 0;
    let sumOdd = 0;
    for (let j = start; j < n; j++) {
      const c = s.charCodeAt(j);
      if (isDigit(c)) {
        const d = c - 48;
        const doubled = d < 5 ? d * 2 : d * 2 - 9;
        if (digits % 2 === 0) {
          sumEven += doubled;
          sumOdd += d;
        } else {
          sumEven += d;
          sumOdd += doubled;
        }
        if (++digits > 19) break;
        const next = j + 1 < n ? s.charCodeAt(j + 1) : -1;
        if (digits >= 13 && !isAlnum(next) && (digits % 2 === 0 ? sumEven : sumOdd) % 10 === 0) return true;
      } else if ((c === CH_SPACE || c === CH_DASH) && j + 1 < n && isDigit(s.charCodeAt(j + 1))) {
        continue;
      } else {
        break;
      }
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Phone numbers: 7–15 digits with phone punctuation that is clearly a phone (a leading +, a
// parenthesised area code, or at least three digit groups), not a date shape.

function phoneMayStartAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (!isDigit(c) && c !== CH_PLUS && c !== CH_OPEN) return false;
  if (i === 0) return true;
  const prev = s.charCodeAt(i - 1);
  if (isAlnum(prev) || prev === CH_PLUS) return false;
  if (c === CH_PLUS) return true;
  return !(
    prev === CH_COLON || prev === CH_DOT || prev === CH_DASH || prev === CH_SLASH || prev === CH_UNDERSCORE || prev === CH_OPEN || prev === CH_CLOSE
  );
}

function phoneAt(s: string, start: number): boolean {
  const n = s.length;
  let j = start;
  const plus = s.charCodeAt(j) === CH_PLUS;
  if (plus) {
    j++;
    if (j >= n || !isDigit(s.charCodeAt(j))) return false;
  }
  let digits = 0;
  let groups = 0;
  let groupLen = 0;
  let seps = 0;
  let inParen = false;
  let paren = false;
  let shortGroup = false;
  let spacedEarly = false;
  let g0 = 0;
  let g1 = 0;
  let g2 = 0;
  for (; j <= n; j++) {
    const c = j < n ? s.charCodeAt(j) : -1;
    if (isDigit(c)) {
      if (++digits > 15) return false;
      groupLen++;
      seps = 0;
      continue;
    }
    if (groupLen > 0) {
      groups++;
      if (groups === 1) g0 = groupLen;
      else {
        if (groupLen < 2 && !(inParen && c === CH_CLOSE)) shortGroup = true;
        if (groups === 2) g1 = groupLen;
        else if (groups === 3) g2 = groupLen;
      }
      groupLen = 0;
      if (digits >= 7 && !shortGroup && (plus || paren || groups >= 3)) {
        const dateShaped = !plus && !paren && !spacedEarly && ((g0 === 4 && g1 === 2 && g2 === 2) || (g0 === 2 && g1 === 2 && g2 === 4));
        if (!dateShaped) return true;
      }
    }
    if (++seps > 2) return false;
    if (c === CH_SPACE || c === CH_DASH || c === CH_DOT) {
      if (c === CH_SPACE && groups < 3) spacedEarly = true;
    } else if (c === CH_OPEN && !inParen) {
      inParen = true;
    } else if (c === CH_CLOSE && inParen) {
      inParen = false;
      paren = true;
    } else {
      return false;
    }
  }
  return false;
}

function containsPhoneNumber(s: string): boolean {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    if (phoneMayStartAt(s, i) && phoneAt(s, i)) return true;
  }
  return false;
}

function hasDigitRun(s: string, run: number): boolean {
  let count = 0;
  for (let i = 0; i < s.length; i++) {
    if (isDigit(s.charCodeAt(i))) {
      if (++count >= run) return true;
    } else count = 0;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Detectors: they NAME the reason a value is refused. The allow-list decides on its own (a value
// must be identifier-shaped to pass); the detectors catch what fits that shape but is still
// personal data or a secret (an IPv4 `10.0.0.1`, a hex token, `example.com`, `415-555-2671`),
// and give a clearer reason for the rest. Patterns are unanchored, not global (`.test()` is
// stateless) and bounded, so scanning stays fast on adversarial input.

export interface RedactionRule {
  readonly id: string;
  readonly reason: GuardReason;
  /** Human label for the admin's "what we never collect" list. */
  readonly label: string;
  readonly pattern: RegExp;
  /** When present, a pattern match is only a candidate and this decides (e.g. the Luhn check). */
  readonly verify?: (value: string) => boolean;
}

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const HEX = '[0-9a-f]{1,4}';
const IPV6_FORMS = [
  `(?:${HEX}:){7}${HEX}`,
  `(?:${HEX}:){1,7}:`,
  `(?:${HEX}:){1,6}:${HEX}`,
  `(?:${HEX}:){1,5}(?::${HEX}){1,2}`,
  `(?:${HEX}:){1,4}(?::${HEX}){1,3}`,
  `(?:${HEX}:){1,3}(?::${HEX}){1,4}`,
  `(?:${HEX}:){1,2}(?::${HEX}){1,5}`,
  `${HEX}:(?::${HEX}){1,6}`,
  `:(?::${HEX}){1,7}`,
];
/** Top-level domains common enough that `something.<tld>` is read as a host name, not an identifier. */
const TLDS = 'com|net|org|io|co|dev|app|ai|xyz|cloud|edu|gov|de|uk|fr|nl|eu|us|ca|au|ch|es|se|dk|fi|pl|ru|cn|jp|br|localhost|internal|example';

export const REDACTION_RULES: readonly RedactionRule[] = [
  { id: 'email', reason: 'email', label: 'E-mail addresses', pattern: /[^\s@]@[^\s@]/ },
  {
    id: 'ipv4',
    reason: 'ip_address',
    label: 'IPv4 addresses',
    pattern: new RegExp(`(?<![\\d.])(?:${OCTET}\\.){3}${OCTET}(?!\\.?\\d)`),
  },
  {
    id: 'ipv6',
    reason: 'ip_address',
    label: 'IPv6 addresses',
    pattern: new RegExp(`(?<![0-9a-z:.])(?=[0-9a-f]{0,4}:)(?:${IPV6_FORMS.join('|')})(?![0-9a-z:])`, 'i'),
  },
  { id: 'bearer_token', reason: 'token_shape', label: 'Bearer tokens (API credentials)', pattern: /\bbearer\s+[A-Za-z0-9\-._~+/]{8,}/i },
  { id: 'jwt', reason: 'token_shape', label: 'JSON Web Tokens (JWT)', pattern: /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/ },
  {
    id: 'known_token',
    reason: 'token_shape',
    label: 'API keys and tokens of known shapes (ghp_…, sk_live_…, xoxb-…, AKIA…, glpat-…, npm_…)',
    pattern: /(?:^|[^A-Za-z0-9])(?:gh[pousr]_|github_pat_|[sprk]k_(?:live|test)_|xox[abposr]-|glpat-|npm_|sha256:)[A-Za-z0-9]|(?:AKIA|ASIA)[A-Z0-9]{12}|AIza[0-9A-Za-z_-]{20}/,
  },
  {
    id: 'hex_or_base64_blob',
    reason: 'token_shape',
    label: 'Long hex or base64 strings (hashes, session ids, keys) and UUIDs',
    // 16+ hex characters mixing letters and digits; 20+ alphanumerics mixing letters and digits; a UUID.
    pattern: /(?=[0-9a-f]{0,15}[a-f])(?=[0-9a-f]{0,15}\d)[0-9a-f]{16}|(?=[a-z0-9]{0,19}[a-z])(?=(?:[a-z]{0,19}\d){3})[a-z0-9]{20}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i,
  },
  { id: 'card_number', reason: 'card_number', label: 'Payment card numbers', pattern: /\d(?:[ -]?\d){12,18}/, verify: containsCardNumber },
  { id: 'phone_number', reason: 'phone_number', label: 'Phone numbers', pattern: /\d(?:[ ().-]{0,2}\d){6}/, verify: containsPhoneNumber },
  {
    id: 'url',
    reason: 'url',
    label: 'URLs, domain names and query strings',
    pattern: new RegExp(`[a-z0-9+.-]:\\/\\/\\S|(?<![^\\w./-])\\?[\\w.%~+[\\]-]+=|^www\\.|(?:^|[^a-z0-9_-])[a-z0-9-]{1,63}\\.(?:${TLDS})(?:$|[/:?#])`, 'i'),
  },
  { id: 'long_digit_run', reason: 'long_digit_run', label: `Runs of ${LONG_DIGIT_RUN} or more digits`, pattern: new RegExp(`\\d{${LONG_DIGIT_RUN}}`) },
];

/** The first detector the value trips, or null. */
export function findSensitiveRule(value: string): RedactionRule | null {
  for (let i = 0; i < REDACTION_RULES.length; i++) {
    const rule = REDACTION_RULES[i]!;
    if (rule.pattern.test(value) && (rule.verify === undefined || rule.verify(value))) return rule;
  }
  return null;
}

/** The id of the first detector the value trips, or null. */
export function findSensitive(value: string): string | null {
  return findSensitiveRule(value)?.id ?? null;
}

const PERCENT_ESCAPE = /%([0-9a-f]{2})/gi;

/**
 * The form values are matched in: percent-escapes decoded (byte-wise, never throws), then Unicode
 * NFKC (full-width `＠` → `@`, `ｅｘａｍｐｌｅ` → `example`).
 */
export function normalizeForMatching(value: string): string {
  let out = value.length > SCAN_LIMIT ? value.slice(0, SCAN_LIMIT) : value;
  // Twice, so a double-encoded `%2540` is seen as `@` too.
  for (let i = 0; i < 2 && out.includes('%'); i++) out = out.replace(PERCENT_ESCAPE, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return out.normalize('NFKC');
}

const IDENTIFIER = new RegExp(`^[a-z0-9._:-]{0,${MAX_IDENTIFIER_LENGTH}}$`);

/** Why an undeclared string cannot pass, or null when it is a safe identifier. */
export function stringProblem(value: string): GuardReason | null {
  const normalized = normalizeForMatching(value);
  const rule = findSensitiveRule(normalized);
  if (rule !== null) return rule.reason;
  if (value.length > MAX_IDENTIFIER_LENGTH) return 'too_long';
  if (!IDENTIFIER.test(value)) return 'not_identifier';
  return null;
}

/** Why an undeclared number cannot pass, or null. */
export function numberProblem(value: number): GuardReason | null {
  if (!Number.isFinite(value)) return 'not_finite';
  if (Number.isInteger(value) && Math.abs(value) >= MAX_SAFE_UNDECLARED_INTEGER) return 'number_too_large';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Keys. A key is split into parts (camelCase, acronyms, `_`, `-`, `.`) and the PARTS are matched.

/** Parts that always mean personal data or a secret, whatever else the key says. */
export const PII_KEY_WORDS: readonly string[] = [
  'email', 'mail', 'name', 'firstname', 'lastname', 'fullname', 'username', 'surname', 'nickname', 'displayname', 'login',
  'password', 'passwd', 'pass', 'pwd', 'passphrase', 'secret', 'credential', 'cookie', 'bearer', 'jwt', 'otp', 'pin', 'apikey',
  'phone', 'mobile', 'tel', 'telephone', 'fax', 'msisdn',
  'address', 'addr', 'street', 'zip', 'zipcode', 'postcode', 'postal',
  'ip', 'ipv4', 'ipv6', 'ipaddr', 'ipaddress',
  'iban', 'bic', 'card', 'ccn', 'cvv', 'cvc', 'ssn', 'passport',
  'dob', 'birthday', 'birthdate', 'birth', 'latitude', 'longitude', 'lat', 'lng', 'gps', 'geo',
  'signature',
];
/**
 * Parts that name a person, account or credential: personal unless the key also says it is a
 * count or a category (`user_count`, `owner_role`, `token_total`), or the value is a boolean
 * (`is_owner: true`). `owner: "Alice"`, `user_id`, `customer` and `access_token` are redacted.
 */
export const PERSON_KEY_WORDS: readonly string[] = [
  'user', 'owner', 'customer', 'assignee', 'author', 'member', 'contact', 'person', 'people', 'recipient', 'sender', 'creator',
  'reporter', 'client', 'account', 'employee', 'patient', 'student', 'buyer', 'seller', 'token', 'session', 'auth', 'sid', 'uid',
];
/** Parts that make a person word a count or a category. */
export const KEY_QUALIFIERS: readonly string[] = [
  'count', 'total', 'num', 'type', 'kind', 'role', 'plan', 'tier', 'status', 'state', 'segment', 'level', 'size', 'limit', 'quota',
  'max', 'min', 'avg', 'mean', 'median', 'ratio', 'rate', 'percent', 'pct', 'enabled', 'disabled', 'mode', 'method', 'provider',
  'source', 'bucket', 'age', 'days', 'hours', 'minutes', 'seconds', 'ms', 'duration', 'timeout', 'ttl', 'expired', 'valid', 'invalid',
  'failed', 'error', 'errors', 'version', 'locale', 'language', 'timezone',
];
/** `key` alone (`shortcut_key`, `sort_key`) is not a secret; after one of these it is (`api_key`, `privateKey`). */
const SECRET_KEY_PREFIXES = new Set(['api', 'access', 'secret', 'private', 'signing', 'encryption', 'ssh', 'auth', 'client', 'license', 'master', 'session']);
/** Parts that end in one of these are read as the word itself (`useremail`, `hostname`, `authtoken`). */
const PII_SUFFIXES = ['email', 'name', 'password', 'passwd', 'token', 'secret', 'phone', 'address', 'apikey'];

const PII_WORDS = new Set(PII_KEY_WORDS);
const PERSON_WORDS = new Set(PERSON_KEY_WORDS);
const QUALIFIERS = new Set(KEY_QUALIFIERS);

const KEY_SHAPE = /^[A-Za-z0-9_.-]{1,64}$/;
const ACRONYM_BOUNDARY = /([A-Z]+)([A-Z][a-z])/g;
const CAMEL_BOUNDARY = /([a-z])([A-Z0-9])|([0-9])([A-Za-z])/g;

/** `userName` → [user, name], `IPAddress` → [ip, address], `api-key.v2` → [api, key, v, 2]. */
export function keyParts(key: string): string[] {
  return key
    .normalize('NFKC')
    .replace(ACRONYM_BOUNDARY, '$1_$2')
    .replace(CAMEL_BOUNDARY, (_, a?: string, b?: string, c?: string, d?: string) => (a !== undefined ? `${a}_${b}` : `${c}_${d}`))
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((part) => part.length > 0);
}

/** `ipAddress` → `ip_address`, `IPAddress` → `ip_address`, `Full-Name` → `full_name`. */
export function normalizeKey(key: string): string {
  return keyParts(key).join('_');
}

function singular(part: string): string {
  return part.length > 3 && part.endsWith('s') && !part.endsWith('ss') ? part.slice(0, -1) : part;
}

export type KeyVerdict = 'safe' | 'pii_key' | 'counted_pii_key' | 'person_key' | 'key_not_safe';

/**
 * What a key says: safe; personal (`pii_key`: every value redacted); a count or category of
 * something personal (`counted_pii_key`, e.g. `email_count`, `ip_version`: numbers and booleans
 * pass, strings never); a person or credential (`person_key`: only a boolean passes); or not safe
 * to keep at all (`key_not_safe`: dropped).
 */
export function classifyKey(key: string): KeyVerdict {
  if (!KEY_SHAPE.test(key) || key === '__proto__') return 'key_not_safe';
  if (hasDigitRun(key, LONG_DIGIT_RUN) || findSensitiveRule(key.toLowerCase()) !== null) return 'key_not_safe';
  const parts = keyParts(key);
  let pii = false;
  let person = false;
  let qualified = false;
  for (let i = 0; i < parts.length; i++) {
    const raw = parts[i]!;
    const part = singular(raw);
    if (PII_WORDS.has(raw) || PII_WORDS.has(part)) pii = true;
    else if (part === 'key' && i > 0 && SECRET_KEY_PREFIXES.has(singular(parts[i - 1]!))) pii = true;
    else if (PII_SUFFIXES.some((suffix) => raw.length > suffix.length && (raw.endsWith(suffix) || part.endsWith(suffix)))) pii = true;
    else if (PERSON_WORDS.has(raw) || PERSON_WORDS.has(part)) person = true;
    else if (QUALIFIERS.has(raw) || QUALIFIERS.has(part)) qualified = true;
  }
  if (pii) return qualified ? 'counted_pii_key' : 'pii_key';
  if (person && !qualified) return 'person_key';
  return 'safe';
}

// ---------------------------------------------------------------------------------------------
// Declarations.

type CompiledDeclaration = { kind: 'enum'; values: ReadonlySet<string> } | { kind: 'number' } | { kind: 'boolean' } | { kind: 'pattern'; pattern: RegExp };

/** A declared pattern matches the WHOLE value: `/[a-z]+/` is tested as `^(?:[a-z]+)$`. */
export function wholeValuePattern(pattern: RegExp | string): RegExp {
  const source = typeof pattern === 'string' ? pattern : pattern.source;
  const flags = typeof pattern === 'string' ? '' : pattern.flags.replace(/[gy]/g, '');
  return new RegExp(`^(?:${source})$`, flags);
}

/**
 * Validates a host's `events` option; throws a TypeError naming the bad field
 * (`events.<event>.<property>`). Returns the compiled form the guard uses.
 */
export function compileDeclarations(events: unknown, field = 'events'): Map<string, Map<string, CompiledDeclaration>> {
  const fail = (path: string, message: string): never => {
    throw new TypeError(`koa-consent-telemetry: invalid option \`${path}\`: ${message}`);
  };
  const out = new Map<string, Map<string, CompiledDeclaration>>();
  if (events === undefined || events === null) return out;
  if (typeof events !== 'object' || Array.isArray(events)) fail(field, 'expected an object of event name → { property: declaration }');
  for (const [event, props] of Object.entries(events as Record<string, unknown>)) {
    const path = `${field}.${event}`;
    if (event.length > MAX_EVENT_NAME_LENGTH || !EVENT_NAME_PATTERN.test(event) || event.startsWith(RESERVED_PREFIX)) {
      fail(path, 'expected an event name of lowercase snake_case segments separated by dots (e.g. plan.changed)');
    }
    if (typeof props !== 'object' || props === null || Array.isArray(props)) fail(path, 'expected an object of property → declaration');
    const compiled = new Map<string, CompiledDeclaration>();
    for (const [key, declaration] of Object.entries(props as Record<string, unknown>)) {
      const at = `${path}.${key}`;
      if (!KEY_SHAPE.test(key) || classifyKey(key) === 'key_not_safe') fail(at, 'expected a property name of at most 64 characters [A-Za-z0-9_.-] that is not itself personal data');
      if (declaration === 'number' || declaration === 'boolean') {
        compiled.set(key, { kind: declaration });
      } else if (Array.isArray(declaration)) {
        if (declaration.length === 0 || declaration.length > 1000 || !declaration.every((v) => typeof v === 'string' && v.length > 0 && v.length <= MAX_DECLARED_STRING_LENGTH)) {
          fail(at, `expected a non-empty list of strings (each 1–${MAX_DECLARED_STRING_LENGTH} characters)`);
        }
        compiled.set(key, { kind: 'enum', values: new Set(declaration as string[]) });
      } else if (typeof declaration === 'object' && declaration !== null && 'pattern' in declaration) {
        const pattern = (declaration as { pattern: unknown }).pattern;
        if (!(pattern instanceof RegExp) && typeof pattern !== 'string') fail(`${at}.pattern`, 'expected a RegExp or a string pattern');
        try {
          compiled.set(key, { kind: 'pattern', pattern: wholeValuePattern(pattern as RegExp | string) });
        } catch (err) {
          fail(`${at}.pattern`, `not a valid regular expression (${(err as Error).message})`);
        }
      } else {
        fail(at, "expected a list of allowed strings, 'number', 'boolean' or { pattern }");
      }
    }
    out.set(event, compiled);
  }
  return out;
}

/** Detectors a declared PATTERN still enforces: a pattern declares a shape, never personal data. */
function declaredStringProblem(value: string): GuardReason | null {
  if (value.length > MAX_DECLARED_STRING_LENGTH) return 'too_long';
  const rule = findSensitiveRule(normalizeForMatching(value));
  // A declared pattern may allow a path-like route template or a domain-looking key; never an
  // e-mail, IP address, token, card or phone number or long digit run.
  if (rule !== null && rule.reason !== 'url') return rule.reason;
  return null;
}

function matchesDeclaration(declaration: CompiledDeclaration, value: unknown): GuardReason | null {
  switch (declaration.kind) {
    case 'boolean':
      return typeof value === 'boolean' ? null : 'undeclared_value';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? null : 'undeclared_value';
    case 'enum':
      return typeof value === 'string' && declaration.values.has(value) ? null : 'undeclared_value';
    case 'pattern':
      if (typeof value !== 'string' || value.length > MAX_DECLARED_STRING_LENGTH || !declaration.pattern.test(value)) return 'undeclared_value';
      return declaredStringProblem(value);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function emptyReasonCounts(): Record<GuardReason, number> {
  return Object.fromEntries(GUARD_REASONS.map((r) => [r, 0])) as Record<GuardReason, number>;
}

function remember(set: Set<string>, value: string): void {
  if (set.size >= VERDICT_CACHE_LIMIT) set.delete(set.values().next().value!);
  set.add(value);
}

/** TELEMETRY_DEBUG output: once per (event, key, reason) per window, at most this many remembered. */
export const DEBUG_REPORT_WINDOW_MS = 60_000;
export const DEBUG_REPORT_KEYS = 500;

// ---------------------------------------------------------------------------------------------

export class PrivacyGuard {
  readonly counters: GuardCounters = { rejectedEvents: 0, droppedKeys: 0, redactedValues: 0, byReason: emptyReasonCounts() };
  private readonly allowReserved: boolean;
  private readonly declarations: Map<string, Map<string, CompiledDeclaration>>;
  private readonly debugLogger: Logger | null;
  /** name → valid? Only names ≤ MAX_EVENT_NAME_LENGTH are cached, at most NAME_CACHE_LIMIT of them. */
  private readonly nameCache = new Map<string, boolean>();
  /** `event\0key\0reason` → when it was last reported (TELEMETRY_DEBUG). */
  private readonly reported = new Map<string, number>();
  /**
   * Keys and string values seen before, so the usual repeated ones (`source`, `web`) cost a lookup.
   * Only what may be kept is cached (never a key or value that was refused): the caches hold
   * nothing personal, and each is bounded by VERDICT_CACHE_LIMIT.
   */
  private readonly keyVerdicts = new Map<string, Exclude<KeyVerdict, 'key_not_safe'>>();
  private readonly safeStrings = new Set<string>();

  constructor(opts: PrivacyGuardOptions = {}) {
    this.allowReserved = opts.allowReserved === true;
    this.declarations = compileDeclarations(opts.events);
    this.debugLogger = opts.debugLogger ?? null;
  }

  /** Number of event names currently cached (never above NAME_CACHE_LIMIT). */
  get cacheSize(): number {
    return this.nameCache.size;
  }

  /** The events the host declared, with their property names (for the events catalog). */
  get declaredEvents(): string[] {
    return [...this.declarations.keys()];
  }

  isValidEventName(name: unknown): boolean {
    if (typeof name !== 'string' || name.length > MAX_EVENT_NAME_LENGTH) return false;
    const cached = this.nameCache.get(name);
    if (cached !== undefined) return cached;
    const valid = this.nameProblem(name) === null;
    if (this.nameCache.size >= NAME_CACHE_LIMIT) {
      const oldest = this.nameCache.keys().next();
      if (!oldest.done) this.nameCache.delete(oldest.value);
    }
    this.nameCache.set(name, valid);
    return valid;
  }

  check(name: unknown, props?: unknown): GuardResult {
    if (!this.isValidEventName(name)) return this.reject(this.nameProblem(name) ?? 'invalid event name');
    const eventName = name as string;
    if (props === undefined || props === null) return { ok: true, name: eventName, props: {}, findings: [] };
    const declared = this.declarations.get(eventName);
    const out: EventProps = {};
    const findings: GuardFinding[] = [];
    // Counted at the end, so an event rejected halfway (a throwing getter or Proxy trap) leaves no partial counts.
    let kept = 0;
    let position = 0;
    try {
      if (!isPlainObject(props)) return this.reject('event props must be a flat object');
      for (const key in props) {
        if (!Object.prototype.hasOwnProperty.call(props, key)) continue;
        position++;
        const value = props[key];
        if (value === undefined || value === null) continue; // carries nothing; skipped silently
        if (kept >= MAX_PROPS) {
          findings.push({ key: classifyKey(key) === 'key_not_safe' ? `(key #${position})` : key, reason: 'too_many_props' });
          continue;
        }
        const declaration = declared?.get(key);
        let reason: GuardReason | null;
        if (declaration !== undefined) {
          reason = matchesDeclaration(declaration, value);
        } else {
          const verdict = this.classify(key);
          if (verdict === 'key_not_safe') {
            findings.push({ key: `(key #${position})`, reason: 'key_not_safe' });
            continue;
          }
          reason = this.undeclaredProblem(verdict, value);
        }
        kept++;
        if (reason === null) {
          out[key] = value as string | number | boolean;
        } else {
          out[key] = REDACTED;
          findings.push({ key, reason });
        }
      }
    } catch {
      return this.reject('event props could not be read');
    }
    this.count(findings);
    if (findings.length > 0 && this.debugLogger !== null) this.report(eventName, findings);
    return { ok: true, name: eventName, props: out, findings };
  }

  /**
   * One value outside an event (a support-funnel field, a route template): the value when it is an
   * identifier that may be stored, null otherwise (counted under `reason`).
   */
  checkValue(key: string, value: unknown): string | number | boolean | null {
    if (value === undefined || value === null) return null;
    const verdict = this.classify(key);
    const reason = verdict === 'key_not_safe' ? 'key_not_safe' : this.undeclaredProblem(verdict, value);
    if (reason === null) return value as string | number | boolean;
    this.count([{ key, reason }]);
    return null;
  }

  /** A flat object of numbers and identifiers (e.g. a stats snapshot), guarded like the props of `label`, never rejected. */
  checkRecord(label: string, record: Record<string, unknown>): EventProps {
    const result = this.check(label, record);
    return result.ok ? result.props : {};
  }

  resetCounters(): void {
    const c = this.counters;
    c.rejectedEvents = 0;
    c.droppedKeys = 0;
    c.redactedValues = 0;
    for (const reason of GUARD_REASONS) c.byReason[reason] = 0;
  }

  private undeclaredProblem(verdict: Exclude<KeyVerdict, 'key_not_safe'>, value: unknown): GuardReason | null {
    if (typeof value === 'boolean') return verdict === 'pii_key' ? 'pii_key' : null;
    if (verdict === 'counted_pii_key' && typeof value === 'number') return numberProblem(value);
    if (verdict !== 'safe') return 'pii_key';
    if (typeof value === 'number') return numberProblem(value);
    if (typeof value === 'string') {
      if (this.safeStrings.has(value)) return null;
      const problem = stringProblem(value);
      if (problem === null) remember(this.safeStrings, value);
      return problem;
    }
    return 'not_scalar';
  }

  private classify(key: string): KeyVerdict {
    const cached = this.keyVerdicts.get(key);
    if (cached !== undefined) return cached;
    const verdict = classifyKey(key);
    if (verdict !== 'key_not_safe') {
      if (this.keyVerdicts.size >= VERDICT_CACHE_LIMIT) this.keyVerdicts.delete(this.keyVerdicts.keys().next().value!);
      this.keyVerdicts.set(key, verdict);
    }
    return verdict;
  }

  private count(findings: readonly GuardFinding[]): void {
    const c = this.counters;
    for (const finding of findings) {
      c.byReason[finding.reason]++;
      if (DROPPING_REASONS.has(finding.reason)) c.droppedKeys++;
      else c.redactedValues++;
    }
  }

  /** TELEMETRY_DEBUG: key name and reason (never the value), rate-limited per (event, key, reason). */
  private report(event: string, findings: readonly GuardFinding[]): void {
    const now = Date.now();
    for (const { key, reason } of findings) {
      const id = `${event}\0${key}\0${reason}`;
      const last = this.reported.get(id);
      if (last !== undefined && now - last < DEBUG_REPORT_WINDOW_MS) continue;
      if (last === undefined && this.reported.size >= DEBUG_REPORT_KEYS) {
        // Forget reports older than the window; when all are recent, stay quiet rather than grow.
        for (const [seen, at] of this.reported) if (now - at >= DEBUG_REPORT_WINDOW_MS) this.reported.delete(seen);
        if (this.reported.size >= DEBUG_REPORT_KEYS) continue;
      }
      this.reported.set(id, now);
      const action = DROPPING_REASONS.has(reason) ? 'dropped' : 'redacted';
      this.debugLogger!.warn(
        { event, key, reason, action },
        `TELEMETRY_DEBUG: ${event}: property ${key} ${action} (${reason}); declare it in the \`events\` option or change the call (see docs/adding-events.md)`,
      );
    }
  }

  private reject(reason: string): GuardResult {
    this.counters.rejectedEvents++;
    return { ok: false, reason };
  }

  /** Why a name is refused (a short sentence naming the rule), or null when it is acceptable. */
  nameProblem(name: unknown): string | null {
    if (typeof name !== 'string') return 'event name must be a string';
    if (name.length > MAX_EVENT_NAME_LENGTH) return `event name must be at most ${MAX_EVENT_NAME_LENGTH} characters`;
    if (!EVENT_NAME_PATTERN.test(name)) {
      return 'event name must be lowercase snake_case segments separated by dots (e.g. timer.started)';
    }
    if (!this.allowReserved && name.startsWith(RESERVED_PREFIX)) {
      return `event names starting with "${RESERVED_PREFIX}" are reserved for the base telemetry layer`;
    }
    // An event name is an identifier too: no digit run that could carry a phone or account number.
    if (hasDigitRun(name, LONG_DIGIT_RUN)) return `event name must not contain a run of ${LONG_DIGIT_RUN} or more digits`;
    return null;
  }
}

export { safeRouteTemplate } from '../../core/route-template.js';
