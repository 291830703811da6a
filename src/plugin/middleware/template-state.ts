// ctx.state.telemetry: what the plugin's partials need inside any layout (host or plugin):
// the CSRF token (created only when a template reads it), asset URLs and the plugin's paths.
import type { Context } from 'koa';
import { csrfToken } from './csrf.js';
import type { GetUser } from './auth.js';
import type { SupportViewModel } from '../support/view-model.js';
import { ENGLISH, isMessageKey, type MessageKey, type MessageParams, type Translator } from '../i18n/catalog.js';

export interface TemplatePaths {
  api: string;
  pages: string;
  donate: string;
  assets: string;
}

/** What the user privacy partial shows: the signed-in user's own choice and the request's signal. */
export interface UserPrivacyView {
  /** The user's own choice: true unless they opted out. */
  analytics: boolean;
  /** The request carries Global Privacy Control (or DNT, when the host honours it). */
  gpc: boolean;
  /** Whether the installation's admin turned detailed analytics on at all. */
  installationAnalytics: boolean;
}

/** What every request's TemplateState shares: built once per plugin, so a request allocates two fields' worth. */
export interface TemplateContext {
  readonly paths: TemplatePaths;
  readonly assetVersion: string;
  readonly getUser: GetUser;
  readonly privacyOf?: ((ctx: Context) => UserPrivacyView | null) | null;
  readonly translatorOf?: ((ctx: Context) => Translator) | null;
  /** Builds the support partials' view model without I/O, when a template reads `telemetry.support` and none was prepared. */
  readonly supportFallback?: ((ctx: Context) => SupportViewModel) | null;
}

export class TemplateState {
  /** The support partials' view model: prepared by the support middleware on HTML page requests… */
  supportModel: SupportViewModel | null = null;

  constructor(
    private readonly ctx: Context,
    private readonly shared: TemplateContext,
  ) {}

  get paths(): TemplatePaths {
    return this.shared.paths;
  }

  /** The request's translator (the host's locale(ctx) choice), resolved when first needed. */
  get translator(): Translator {
    const translatorOf = this.shared.translatorOf;
    return translatorOf ? translatorOf(this.ctx) : ENGLISH;
  }

  /** The locale the plugin's texts are in, e.g. for <html lang>. */
  get locale(): string {
    return this.translator.locale;
  }

  /** A text from the message catalog; templates escape it like any other value. */
  t(key: MessageKey, params?: MessageParams): string {
    return this.translator.t(key, params);
  }

  /** The texts the shared page script (telemetry.js) shows, as JSON for head.njk's kct-texts meta tag. */
  get scriptTexts(): string {
    const t = this.translator.t;
    return JSON.stringify({
      cancel: t('common.cancel'),
      confirm: t('common.confirm'),
      deletedLocal: t('admin.deleted_local'),
      deletedRemote: t('admin.deleted_remote'),
      deletedRemoteFailed: t('admin.deleted_remote_failed'),
      confirmReRegister: t('admin.confirm_re_register'),
      reRegister: t('admin.re_register_short'),
      reRegisterFailed: t('admin.re_register_failed'),
      submitNowDone: t('stats.submit_now_done'),
      submitNowNothing: t('stats.submit_now_nothing'),
      submitNowLimited: t('stats.submit_now_limited'),
      submitNowFailed: t('stats.submit_now_failed'),
      weekAccepted: t('stats.week_accepted'),
      weekRetryLater: t('stats.week_retry_later'),
      weekRefused: t('stats.week_refused'),
    });
  }

  /** A ledger's outcome word (accepted, rejected, failed, pending) in the request's language; other values as they are. */
  outcome(value: string): string {
    const key = `outcome.${value}`;
    return isMessageKey(key) ? this.translator.t(key) : value;
  }

  /** A number in the request's locale. */
  number(value: number): string {
    return this.translator.number(value);
  }

  /** A date and time in the request's locale (the server's time zone). */
  dateTime(value: Date | number | string): string {
    const date = typeof value === 'string' ? new Date(value) : value;
    if (!Number.isFinite(typeof date === 'number' ? date : date.getTime())) return String(value);
    return this.translator.date(date, { dateStyle: 'medium', timeStyle: 'short' });
  }

  /** A date in the request's locale. */
  date(value: Date | number | string): string {
    const date = typeof value === 'string' ? new Date(value) : value;
    if (!Number.isFinite(typeof date === 'number' ? date : date.getTime())) return String(value);
    return this.translator.date(date);
  }

  /** The signed-in user's privacy view (null when signed out), computed only when a template reads it. */
  get privacy(): UserPrivacyView | null {
    const privacyOf = this.shared.privacyOf;
    return privacyOf ? privacyOf(this.ctx) : null;
  }

  /** Bound to the signed-in user: a token rendered before sign-in is refused after it. */
  get csrfToken(): string {
    return csrfToken(this.ctx, this.shared.getUser);
  }

  /** …otherwise built without I/O, only when a template reads `telemetry.support`. */
  get support(): SupportViewModel | null {
    const fallback = this.shared.supportFallback;
    if (this.supportModel === null && fallback) this.supportModel = fallback(this.ctx);
    return this.supportModel;
  }

  /** URL of one of the plugin's static assets, versioned so it can be cached for a year. */
  asset(name: string): string {
    return `${this.shared.paths.assets}/${name}?v=${this.shared.assetVersion}`;
  }
}
