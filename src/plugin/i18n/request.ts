// The translator for one request: the host's locale(ctx) choice matched against the catalog,
// computed once per request and never throwing into a host page.
import type { Context } from 'koa';
import { DEFAULT_LOCALE, matchLocale, negotiateLocale, type MessageCatalog, type Translator } from './catalog.js';

export type LocaleOf = (ctx: Context, available: readonly string[]) => string | null | undefined;

/** The default locale(ctx): the host's ctx.state.locale, else Accept-Language, else English. */
export function defaultLocale(ctx: Context, available: readonly string[]): string {
  const chosen = ctx.state?.locale;
  if (typeof chosen === 'string') {
    const match = matchLocale(chosen, available);
    if (match) return match;
  }
  return negotiateLocale(ctx.get('accept-language'), available) ?? DEFAULT_LOCALE;
}

export class RequestLocalizer {
  readonly #cache = new WeakMap<Context, Translator>();
  constructor(
    readonly catalog: MessageCatalog,
    private readonly localeOf: LocaleOf,
  ) {}

  translatorFor(ctx: Context): Translator {
    let translator = this.#cache.get(ctx);
    if (!translator) {
      let tag: string | null | undefined;
      try {
        tag = this.localeOf(ctx, this.catalog.locales);
      } catch {
        tag = null; // a failing host callback means English, never a broken page
      }
      translator = this.catalog.translator(tag);
      this.#cache.set(ctx, translator);
    }
    return translator;
  }
}
