// Privacy guard (SPEC §5): every telemetry event passes through `PrivacyGuard.check()` before it
// is recorded locally or exported. It enforces the event-name grammar, keeps props flat and
// small, drops deny-listed keys and redacts values that look like personal data or secrets.
// It never throws and sits on the hot path of every `track()` call.
import type { EventProps, GuardCounters } from '../types.js';

export const EVENT_NAME_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/;
export const MAX_EVENT_NAME_LENGTH = 64;
export const MAX_PROPS = 32;
export const MAX_STRING_LENGTH = 256;
export const RESERVED_PREFIX = 'base_telemetry.';
export const DENIED_KEYS: readonly string[] = [
  'email',
  'username',
  'name',
  'full_name',
  'ip',
  'ip_address',
  'password',
  'token',
  'secret',
  'phone',
  'address',
];
export const REDACTED = '[redacted]';

/** Upper bound of the per-guard cache of already-validated event names. */
export const NAME_CACHE_LIMIT = 1000;

/**
 * How much of an over-long string (beyond MAX_STRING_LENGTH) is still scanned for sensitive
 * values, so that a secret straddling the truncation point is caught without running every
 * pattern over a multi-megabyte value.
 */
const ORIGINAL_SCAN_LIMIT = MAX_STRING_LENGTH + 16 * 1024;

export interface RedactionRule {
  /** Stable id (shown in docs, used in tests). */
  readonly id: string;
  /** Human label for the admin's "what we never collect" list. */
  readonly label: string;
  /** A string matching this pattern anywhere is a candidate for redaction. */
  readonly pattern: RegExp;
  /**
   * When present, a pattern match is only a candidate and this decides (e.g. the Luhn check
   * for card numbers). Runs on the whole value.
   */
  readonly verify?: (value: string) => boolean;
}

export type GuardResult = { ok: true; name: string; props: EventProps } | { ok: false; reason: string };

export interface PrivacyGuardOptions {
  /** Lets the package's own base layer use the reserved `base_telemetry.*` names. */
  allowReserved?: boolean;
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
// non-alphanumerics, passing the Luhn check. Sub-spans that start and end on a group boundary
// are tried too, so "ref 12 4111 1111 1111 1111" is caught while a bare 25-digit id is not.

function containsCardNumber(s: string): boolean {
  const n = s.length;
  for (let start = 0; start < n; start++) {
    if (!isDigit(s.charCodeAt(start)) || (start > 0 && isAlnum(s.charCodeAt(start - 1)))) continue;
    // Luhn sums computed from the left: `sumEven` doubles digits at even positions, `sumOdd`
    // at odd ones; which one applies depends on the final length (the check digit is never doubled).
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
// Phone numbers: a run of digits and phone punctuation ( space - . ( ) and a leading + ) with
// 7–15 digits that is clearly a phone: it has a leading `+`, a parenthesised area code, or at
// least three digit groups. Groups after the first need ≥ 2 digits (rules out versions such as
// 120.0.6099.109) and date shapes (2026-11-22, 22.11.2026) are excluded.

function phoneMayStartAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (!isDigit(c) && c !== CH_PLUS && c !== CH_OPEN) return false;
  if (i === 0) return true;
  const prev = s.charCodeAt(i - 1);
  if (isAlnum(prev) || prev === CH_PLUS) return false;
  // `tel:+1…` / `phone=+1…` are fine, but a digit right after : . - / _ ( ) continues some other
  // token (a time, a version, a path, a date) rather than starting a phone number.
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
        // "+44 (0) 20 …": a one-digit group in parentheses is the usual trunk prefix.
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

// ---------------------------------------------------------------------------------------------
// Redaction rules. Patterns are unanchored (a match anywhere redacts the whole value), not global
// (so `.test()` is stateless), and bounded or anchored on a literal/lookbehind so that scanning
// stays fast on adversarial input.

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

export const REDACTION_RULES: readonly RedactionRule[] = [
  {
    id: 'email',
    label: 'E-mail addresses',
    pattern: /(?<=[A-Za-z0-9._%+-])@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}/,
  },
  {
    id: 'ipv4',
    label: 'IPv4 addresses',
    pattern: new RegExp(`(?<![\\d.])(?:${OCTET}\\.){3}${OCTET}(?!\\.?\\d)`),
  },
  {
    id: 'ipv6',
    label: 'IPv6 addresses',
    pattern: new RegExp(`(?<![0-9a-z:.])(?=[0-9a-f]{0,4}:)(?:${IPV6_FORMS.join('|')})(?![0-9a-z:])`, 'i'),
  },
  {
    id: 'bearer_token',
    label: 'Bearer tokens (API credentials)',
    pattern: /\bbearer\s+[A-Za-z0-9\-._~+/]{8,}/i,
  },
  {
    id: 'jwt',
    label: 'JSON Web Tokens (JWT)',
    pattern: /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/,
  },
  {
    id: 'card_number',
    label: 'Payment card numbers',
    pattern: /\d(?:[ -]?\d){12,18}/,
    verify: containsCardNumber,
  },
  {
    id: 'phone_number',
    label: 'Phone numbers',
    pattern: /\d(?:[ ().-]{0,2}\d){6}/,
    verify: containsPhoneNumber,
  },
  {
    id: 'url',
    label: 'URLs and query strings',
    pattern: /[a-z0-9+.-]:\/\/\S|(?<![^\w./-])\?[\w.%~+[\]-]+=/i,
  },
];

/** The id of the first redaction rule the value trips, or null when it looks harmless. */
export function findSensitive(value: string): string | null {
  for (let i = 0; i < REDACTION_RULES.length; i++) {
    const rule = REDACTION_RULES[i]!;
    if (rule.pattern.test(value) && (rule.verify === undefined || rule.verify(value))) return rule.id;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Keys.

const SANE_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
const ACRONYM_BOUNDARY = /([A-Z]+)([A-Z][a-z])/g;
const CAMEL_BOUNDARY = /([a-z0-9])([A-Z])/g;
const KEY_SEPARATORS = /[-\s]/g;
const ALREADY_NORMAL = /^[a-z0-9_]+$/;
const DENIED = new Set(DENIED_KEYS);
// Normalising never shortens a key, so longer keys cannot be on the deny list.
const LONGEST_DENIED = DENIED_KEYS.reduce((max, k) => Math.max(max, k.length), 0);

/** `ipAddress` → `ip_address`, `IPAddress` → `ip_address`, `Full-Name` → `full_name`. */
export function normalizeKey(key: string): string {
  return key.replace(ACRONYM_BOUNDARY, '$1_$2').replace(CAMEL_BOUNDARY, '$1_$2').toLowerCase().replace(KEY_SEPARATORS, '_');
}

function isDeniedKey(key: string): boolean {
  if (key.length > LONGEST_DENIED) return false;
  return DENIED.has(ALREADY_NORMAL.test(key) ? key : normalizeKey(key));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function truncate(value: string): string {
  // Do not cut a surrogate pair in half: a lone surrogate is not valid UTF-8 once exported.
  const code = value.charCodeAt(MAX_STRING_LENGTH - 1);
  const end = code >= 0xd800 && code <= 0xdbff ? MAX_STRING_LENGTH - 1 : MAX_STRING_LENGTH;
  return value.slice(0, end);
}

// ---------------------------------------------------------------------------------------------

export class PrivacyGuard {
  readonly counters: GuardCounters = { rejectedEvents: 0, droppedKeys: 0, redactedValues: 0, truncatedValues: 0 };
  private readonly allowReserved: boolean;
  /** name → valid? Only names ≤ MAX_EVENT_NAME_LENGTH are cached, at most NAME_CACHE_LIMIT of them. */
  private readonly nameCache = new Map<string, boolean>();

  constructor(opts: PrivacyGuardOptions = {}) {
    this.allowReserved = opts.allowReserved === true;
  }

  /** Number of event names currently cached (never above NAME_CACHE_LIMIT). */
  get cacheSize(): number {
    return this.nameCache.size;
  }

  isValidEventName(name: unknown): boolean {
    if (typeof name !== 'string' || name.length > MAX_EVENT_NAME_LENGTH) return false;
    const cached = this.nameCache.get(name);
    if (cached !== undefined) return cached;
    const valid = this.nameProblem(name) === null;
    if (this.nameCache.size >= NAME_CACHE_LIMIT) {
      // Evict the oldest entry (Map iterates in insertion order) so a flood of distinct names
      // cannot grow memory.
      const oldest = this.nameCache.keys().next();
      if (!oldest.done) this.nameCache.delete(oldest.value);
    }
    this.nameCache.set(name, valid);
    return valid;
  }

  check(name: unknown, props?: unknown): GuardResult {
    if (!this.isValidEventName(name)) return this.reject(this.nameProblem(name) ?? 'invalid event name');
    const out: EventProps = {};
    if (props === undefined || props === null) return { ok: true, name: name as string, props: out };

    // Counted locally and committed at the end, so an event rejected halfway (a throwing getter
    // or Proxy trap) does not leave partial counts behind.
    let kept = 0;
    let dropped = 0;
    let redacted = 0;
    let truncated = 0;
    try {
      if (!isPlainObject(props)) return this.reject('event props must be a flat object');
      for (const key in props) {
        if (!Object.prototype.hasOwnProperty.call(props, key)) continue;
        if (kept >= MAX_PROPS || key === '__proto__' || !SANE_KEY.test(key) || isDeniedKey(key)) {
          dropped++;
          continue;
        }
        const value = props[key];
        if (typeof value === 'string') {
          if (value.length > MAX_STRING_LENGTH) {
            const short = truncate(value);
            if (findSensitive(short) !== null || findSensitive(value.length > ORIGINAL_SCAN_LIMIT ? value.slice(0, ORIGINAL_SCAN_LIMIT) : value) !== null) {
              out[key] = REDACTED;
              redacted++;
            } else {
              out[key] = short;
              truncated++;
            }
          } else if (findSensitive(value) !== null) {
            out[key] = REDACTED;
            redacted++;
          } else {
            out[key] = value;
          }
        } else if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean') {
          out[key] = value;
        } else {
          dropped++;
          continue;
        }
        kept++;
      }
    } catch {
      return this.reject('event props could not be read');
    }
    const c = this.counters;
    c.droppedKeys += dropped;
    c.redactedValues += redacted;
    c.truncatedValues += truncated;
    return { ok: true, name: name as string, props: out };
  }

  resetCounters(): void {
    const c = this.counters;
    c.rejectedEvents = 0;
    c.droppedKeys = 0;
    c.redactedValues = 0;
    c.truncatedValues = 0;
  }

  private reject(reason: string): GuardResult {
    this.counters.rejectedEvents++;
    return { ok: false, reason };
  }

  /** Why a name is refused (a short sentence naming the rule), or null when it is acceptable. */
  private nameProblem(name: unknown): string | null {
    if (typeof name !== 'string') return 'event name must be a string';
    if (name.length > MAX_EVENT_NAME_LENGTH) return `event name must be at most ${MAX_EVENT_NAME_LENGTH} characters`;
    if (!EVENT_NAME_PATTERN.test(name)) {
      return 'event name must be lowercase snake_case segments separated by dots (e.g. timer.started)';
    }
    if (!this.allowReserved && name.startsWith(RESERVED_PREFIX)) {
      return `event names starting with "${RESERVED_PREFIX}" are reserved for the base telemetry layer`;
    }
    return null;
  }
}
