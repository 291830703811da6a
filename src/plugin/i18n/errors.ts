// JSON error messages in the reader's language. Code that throws names a catalog key (and params);
// the error middleware renders it with the request's translator. The error's own `message` is the
// English text, so logs, tests and callers without a request keep reading English.
import type { Context } from 'koa';
import { z } from 'zod';
import { HttpError, type MessageParam, type MessageRef, type RenderMessage } from '../../core/http-errors.js';
import { ENGLISH, isMessageKey, type MessageKey, type MessageParams, type Translator } from './catalog.js';

export type LocalizedParams = Record<string, MessageParam>;

function resolveParams(params: LocalizedParams | undefined, locale: string): MessageParams | undefined {
  if (!params) return undefined;
  const resolved: MessageParams = {};
  for (const [name, value] of Object.entries(params)) resolved[name] = typeof value === 'function' ? value(locale) : value;
  return resolved;
}

/** A message reference rendered with a translator; null for a key the catalog does not know. */
export function renderMessageRef(text: MessageRef, translator: Translator): string | null {
  if (!isMessageKey(text.key)) return null;
  return translator.t(text.key, resolveParams(text.params, translator.locale));
}

/** An HttpError whose message is the catalog text `key` (English in `message`, translated per request). */
export function localizedError(status: number, code: string, key: MessageKey, params?: LocalizedParams, details?: unknown): HttpError {
  const text: MessageRef = params ? { key, params } : { key };
  return new HttpError(status, code, renderMessageRef(text, ENGLISH)!, details, text);
}

/** The error middleware's renderer for the plugin's routes. */
export function messageRenderer(translatorFor: (ctx: Context) => Translator): RenderMessage {
  return (ctx, text) => renderMessageRef(text, translatorFor(ctx));
}

type ZodLocale = { localeError: (issue: never) => unknown };
const zodLocales = z.locales as unknown as Record<string, (() => ZodLocale) | undefined>;
const zodLocaleCache = new Map<string, ZodLocale | null>();
function zodLocale(language: string): ZodLocale | null {
  let locale = zodLocaleCache.get(language);
  if (locale === undefined) {
    const factory = Object.prototype.hasOwnProperty.call(zodLocales, language) ? zodLocales[language] : undefined;
    locale = typeof factory === 'function' ? factory() : null;
    zodLocaleCache.set(language, locale);
  }
  return locale;
}

/**
 * A validation issue's text in the reader's language: zod's own translation of its default text
 * (the issue must come from a parse with reportInput, so "received …" is right), a schema's custom
 * message as written. The input itself is never part of the text.
 */
export function validatorText(issue: z.core.$ZodIssue): (locale: string) => string {
  return (locale: string) => {
    const language = locale.toLowerCase().split('-')[0]!;
    if (language === 'en') return issue.message;
    const english = zodLocale('en');
    const translated = zodLocale(language);
    if (!english || !translated) return issue.message;
    try {
      // Only zod's default text is translated: a schema's own message stays what its author wrote.
      const raw = issue as never;
      if (messageOf(english.localeError(raw)) !== issue.message) return issue.message;
      return messageOf(translated.localeError(raw)) ?? issue.message;
    } catch {
      return issue.message;
    }
  };
}

function messageOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { message?: unknown }).message === 'string') return (value as { message: string }).message;
  return undefined;
}
