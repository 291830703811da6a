// An adversarial corpus of personal data and secrets, written the way real host code passes them.
// test/plugin/privacy-allow-list.test.ts places every sample under its natural key, under innocuous and
// camelCase keys, nested in objects and arrays, as a property KEY and as the support funnel's
// `source`, then proves that no needle appears in anything stored, sent, exported or logged.

export type PiiClass = 'secret' | 'name' | 'email' | 'phone' | 'card' | 'iban' | 'url' | 'ip' | 'address' | 'id';

export interface PiiSample {
  class: PiiClass;
  /** The key real code would use for it. */
  key: string;
  value: string | number;
  /** Strings that must never appear in any output (default: the value itself). */
  needles?: string[];
  /**
   * A lowercase identifier-shaped value (`hunter2`, `alice`): indistinguishable from `web` or
   * `build2` by its shape, so it is caught by its KEY (a PII word), as a nested value and as a
   * funnel source, but passes under an innocuous key — the documented limit of an allow-list
   * without declarations (docs/adding-events.md).
   */
  identifierShaped?: true;
}

export const PII_CORPUS: readonly PiiSample[] = [
  // Tokens and secrets.
  { class: 'secret', key: 'access_token', value: 'ghp_16C7e42F292c6912E7710c838347Ae178B4a' },
  { class: 'secret', key: 'token', value: 'gho_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z' },
  { class: 'secret', key: 'api_key', value: 'sk_live_51HxYzAbCdEfGhIjKlMnOpQr' },
  { class: 'secret', key: 'apiKey', value: 'sk_test_4eC39HqLyjWDarjtT1zdp7dc' },
  { class: 'secret', key: 'aws_access_key_id', value: 'AKIAIOSFODNN7EXAMPLE' },
  { class: 'secret', key: 'slack_token', value: 'xoxb-2048-4096-kNxQwErTyUiOp' },
  { class: 'secret', key: 'slackHook', value: 'xoxp-1234-5678-abcdefgh' },
  { class: 'secret', key: 'authorization', value: 'Bearer abc123def456ghi789' },
  { class: 'secret', key: 'jwt', value: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c' },
  { class: 'secret', key: 'user_password', value: 'hunter2', identifierShaped: true },
  { class: 'secret', key: 'password', value: 'correcthorsebatterystaple', identifierShaped: true },
  { class: 'secret', key: 'session_id', value: 'a3f9c2e1b7d84f6a9c0e2b4d6f8a1c3e' },
  { class: 'secret', key: 'gitlab', value: 'glpat-xxxxxxxxxxxxxxxxxxxx' },
  { class: 'secret', key: 'npm', value: 'npm_1234567890abcdefghijklmnopqrstuvwxyz' },
  { class: 'secret', key: 'commit', value: '9fceb02d0ae598e95dc970b74767f19372d61af8' },
  { class: 'secret', key: 'request_uuid', value: '550e8400-e29b-41d4-a716-446655440000' },
  // Names.
  { class: 'name', key: 'userName', value: 'alice' , needles: ['alice'], identifierShaped: true },
  { class: 'name', key: 'first_name', value: 'Alice' },
  { class: 'name', key: 'owner', value: 'Alice Smith' },
  { class: 'name', key: 'customer', value: 'José Ñúñez' },
  { class: 'name', key: 'assignee', value: 'Bob Johnson' },
  { class: 'name', key: 'label', value: 'Marie Curie' },
  { class: 'name', key: 'note', value: 'Jürgen Groß' },
  { class: 'name', key: 'title', value: 'Zoë' },
  { class: 'name', key: 'author', value: 'bobby', identifierShaped: true },
  { class: 'name', key: 'displayName', value: 'Dr. Grace Hopper' },
  { class: 'name', key: 'lastName', value: 'Okonkwo' },
  { class: 'name', key: 'fullName', value: '山田太郎' },
  // E-mail addresses.
  { class: 'email', key: 'email', value: 'alice@example.com' },
  { class: 'email', key: 'value', value: 'alice%40example.com' },
  { class: 'email', key: 'contact', value: 'carol＠example.com' },
  { class: 'email', key: 'ref', value: 'dave@bücher.de' },
  { class: 'email', key: 'recipient', value: 'root@localhost' },
  { class: 'email', key: 'mailTo', value: 'first.last+tag@mail.example.co.uk' },
  { class: 'email', key: 'from', value: 'EVE@EXAMPLE.ORG' },
  { class: 'email', key: 'who', value: 'frank%2540example.com' },
  // Phone numbers and card numbers, as numbers and as strings.
  { class: 'card', key: 'card', value: 4111111111111111 },
  { class: 'card', key: 'amount_ref', value: '4111111111111111' },
  { class: 'card', key: 'pan', value: '5555 5555 5555 4444' },
  { class: 'card', key: 'payment', value: '3782-822463-10005' },
  { class: 'phone', key: 'phone', value: 4155552671 },
  { class: 'phone', key: 'digits', value: '4155552671' },
  { class: 'phone', key: 'mobile', value: '+1 415 555 2671' },
  { class: 'phone', key: 'callback', value: '415-555-2671' },
  { class: 'phone', key: 'fax', value: '(415) 555-2671' },
  { class: 'phone', key: 'intl', value: '+44 20 7946 0958' },
  { class: 'phone', key: 'dial', value: '415.555.2672' },
  { class: 'id', key: 'ssn', value: '078-05-1120' },
  { class: 'id', key: 'account_number', value: 12345678901 },
  // IBAN.
  { class: 'iban', key: 'iban', value: 'DE89370400440532013000' },
  { class: 'iban', key: 'bank', value: 'GB82 WEST 1234 5698 7654 32' },
  { class: 'iban', key: 'payout', value: 'de89370400440532013000' },
  // URLs.
  { class: 'url', key: 'link', value: 'example.com/users/alice/reset/abc', needles: ['example.com/users/alice'] },
  { class: 'url', key: 'referrer', value: 'https://example.com/reset?token=s3cr3tvalue', needles: ['s3cr3tvalue', 'example.com/reset'] },
  { class: 'url', key: 'page', value: 'http://intranet.local/hr/alice', needles: ['intranet.local'] },
  { class: 'url', key: 'path', value: '/users/alice/settings?tab=billing', needles: ['/users/alice'] },
  { class: 'url', key: 'site', value: 'acme-widgets.com', needles: ['acme-widgets.com'] },
  { class: 'url', key: 'host', value: 'www.acme-corp.example', needles: ['acme-corp'] },
  // IP addresses.
  { class: 'ip', key: 'ip', value: '10.0.0.1' },
  { class: 'ip', key: 'client', value: '192.168.1.20' },
  { class: 'ip', key: 'peer', value: '203.0.113.77' },
  { class: 'ip', key: 'origin', value: '2001:db8::1' },
  { class: 'ip', key: 'remote', value: 'fe80::1ff:fe23:4567:890a' },
  { class: 'ip', key: 'mapped', value: '::ffff:198.51.100.9', needles: ['198.51.100.9'] },
  // Street addresses.
  { class: 'address', key: 'address', value: '1600 Amphitheatre Parkway, Mountain View' },
  { class: 'address', key: 'location', value: '221B Baker Street' },
  { class: 'address', key: 'shipTo', value: 'Hauptstraße 5, 10115 Berlin' },
  { class: 'address', key: 'street', value: 'elm_street_12', identifierShaped: true },
];

/** Every needle of every sample (numbers as their decimal form). */
export function needlesOf(sample: PiiSample): string[] {
  return sample.needles ?? [String(sample.value)];
}

/** Keys an innocent-looking call might use, and camelCase ones. */
export const INNOCUOUS_KEYS = ['label', 'value', 'note'] as const;
export const CAMEL_KEYS = ['refCode', 'displayValue'] as const;

/**
 * PII used as a property KEY (the key itself is personal data): each must be dropped, with the
 * value `1` never attached to it.
 */
export const PII_KEYS: readonly string[] = ['10.0.0.9', 'alice@example.com', '4155552673', 'José', 'fe80::9', 'ｅｍａｉｌ_ｖａｌｕｅ', 'acme-widgets.com'];

/** Ordinary product properties that must arrive intact. */
export const ORDINARY_PROPS = { source: 'web', format: 'csv', count: 3, enabled: true, duration_minutes: 12 } as const;
