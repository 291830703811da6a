// One message catalog for every user-facing string the plugin renders (docs/configuration.md,
// "Language"). The built-in locales are plain objects with the same keys; a host adds locales or
// overrides single texts with the `messages` option. Lookups never throw: a key missing in the
// chosen locale falls back to English, an unknown key renders as itself.
import { en, type MessageKey } from './en.js';
import { de } from './de.js';

export type { MessageKey } from './en.js';
export const DEFAULT_LOCALE = 'en';
export const BUILT_IN_MESSAGES: Readonly<Record<string, Readonly<Partial<Record<MessageKey, string>>>>> = Object.freeze({ en, de });
export const MESSAGE_KEYS: readonly MessageKey[] = Object.freeze(Object.keys(en) as MessageKey[]);
const KNOWN_KEYS = new Set<string>(MESSAGE_KEYS);

export const isMessageKey = (key: string): key is MessageKey => KNOWN_KEYS.has(key);

/** Host additions: locale → key → text. Keys are checked by the options schema. */
export type MessageOverrides = Record<string, Partial<Record<MessageKey, string>>>;
export type MessageParams = Record<string, string | number>;

export interface Translator {
  /** The locale the texts come from (one of the catalog's locales). */
  readonly locale: string;
  t(key: MessageKey, params?: MessageParams): string;
  /** A number in the locale's notation (at most one decimal unless options say otherwise). */
  number(value: number, options?: Intl.NumberFormatOptions): string;
  /** A date in the locale's notation (a medium date by default). */
  date(value: Date | number, options?: Intl.DateTimeFormatOptions): string;
}

const PLACEHOLDER = /\{([A-Za-z0-9_]+)\}/g;

/** The {placeholders} of a text, sorted, for comparing translations with the English original. */
export function placeholdersOf(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]!))].sort();
}

/** `de-AT` → `de-AT` if available, else `de`; null when neither is. Case-insensitive. */
export function matchLocale(tag: string, available: readonly string[]): string | null {
  const wanted = tag.trim().toLowerCase().replace(/_/g, '-');
  if (!wanted) return null;
  const exact = available.find((locale) => locale.toLowerCase() === wanted);
  if (exact) return exact;
  const language = wanted.split('-')[0]!;
  return available.find((locale) => locale.toLowerCase() === language) ?? available.find((locale) => locale.toLowerCase().split('-')[0] === language) ?? null;
}

/** The best available locale for an Accept-Language header (q-values honoured; q=0 means "not this"). */
export function negotiateLocale(header: string | undefined, available: readonly string[]): string | null {
  if (!header) return null;
  const ranges = header
    .split(',')
    .map((part, index) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      const weight = q === undefined ? 1 : Number(q.slice(2));
      return { tag: tag.trim(), weight: Number.isFinite(weight) ? weight : 0, index };
    })
    .filter((range) => range.tag && range.tag !== '*' && range.weight > 0)
    .sort((a, b) => b.weight - a.weight || a.index - b.index);
  for (const range of ranges) {
    const match = matchLocale(range.tag, available);
    if (match) return match;
  }
  return null;
}

export class MessageCatalog {
  readonly locales: readonly string[];
  readonly #messages: Record<string, Partial<Record<MessageKey, string>>>;
  readonly #translators = new Map<string, Translator>();

  constructor(overrides: MessageOverrides = {}) {
    const merged: Record<string, Partial<Record<MessageKey, string>>> = {};
    for (const [locale, texts] of Object.entries(BUILT_IN_MESSAGES)) merged[locale] = { ...texts };
    for (const [locale, texts] of Object.entries(overrides)) merged[locale] = { ...(merged[locale] ?? {}), ...texts };
    this.#messages = merged;
    this.locales = Object.freeze(Object.keys(merged));
  }

  /** The translator for a locale tag; an unavailable tag gets its language, else English. */
  translator(tag: string | null | undefined): Translator {
    const locale = (typeof tag === 'string' && matchLocale(tag, this.locales)) || DEFAULT_LOCALE;
    let translator = this.#translators.get(locale);
    if (!translator) {
      translator = this.#create(locale);
      this.#translators.set(locale, translator);
    }
    return translator;
  }

  #create(locale: string): Translator {
    const texts = this.#messages[locale] ?? {};
    const english = this.#messages[DEFAULT_LOCALE]!;
    const numbers = safeNumberFormat(locale, { maximumFractionDigits: 1 });
    const formatParam = (value: string | number): string => (typeof value === 'number' ? numbers.format(value) : value);
    return Object.freeze({
      locale,
      t(key: MessageKey, params?: MessageParams): string {
        const text = texts[key] ?? english[key] ?? String(key);
        if (!params) return text;
        return text.replace(PLACEHOLDER, (whole, name: string) => (Object.prototype.hasOwnProperty.call(params, name) ? formatParam(params[name]!) : whole));
      },
      number(value: number, options?: Intl.NumberFormatOptions): string {
        return options ? safeNumberFormat(locale, options).format(value) : numbers.format(value);
      },
      date(value: Date | number, options: Intl.DateTimeFormatOptions = { dateStyle: 'medium' }): string {
        try {
          return new Intl.DateTimeFormat(locale, options).format(value);
        } catch {
          return new Intl.DateTimeFormat(DEFAULT_LOCALE, options).format(value);
        }
      },
    });
  }
}

// A host may add a locale tag Intl does not know; its numbers then use English notation.
function safeNumberFormat(locale: string, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  try {
    return new Intl.NumberFormat(locale, options);
  } catch {
    return new Intl.NumberFormat(DEFAULT_LOCALE, options);
  }
}

/** The plain English translator, for code paths that have no request (tests, defaults). */
export const ENGLISH: Translator = new MessageCatalog().translator(DEFAULT_LOCALE);
