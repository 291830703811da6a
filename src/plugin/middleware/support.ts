// Support, seen from a request: reads what the support parts need from ctx (the signed-in user,
// the host's session, whether this is a page) and hands it to them: the session state machine
// (support/session.ts), the host's callbacks under a deadline (support/host-inputs.ts) and the
// service's view model.
//
// - supportTemplateState: gives `telemetry.support` (the partials' view model) to templates. It is
//   prepared (host callbacks + one counter read, capped in time) only for GET requests of a
//   signed-in user that accept text/html — pages; any other request gets a function that builds
//   the model without I/O if, and only if, a template reads it.
// - supportRequestApi: `ctx.telemetry.support` (reportGenerated()).
//
// Nothing here throws into a host page: a failing or slow host callback or database means "no
// stats, no prompt".
import type { Context } from 'koa';
import type { ResolvedOptions } from '../options.js';
import type { TelemetryUser } from '../types.js';
import type { SupportService } from '../support/service.js';
import { EMPTY_USER_STATS } from '../support/user-stats.js';
import { NO_PROMPT, promptHints, type SupportViewModel } from '../support/view-model.js';
import { markReportPending, peekSupportSession, sessionBagOf, supportSession } from '../support/session.js';
import { hostSupportInputs, settle, supporterNow } from '../support/host-inputs.js';
import { currentUser } from './auth.js';
import { pathPrefixTest } from './path-prefixes.js';
import type { TemplateState } from './template-state.js';
import type { Translator } from '../i18n/catalog.js';

export interface SupportDeps {
  options: ResolvedOptions;
  service: SupportService;
  /** The request's language. */
  translatorFor: (ctx: Context) => Translator;
}

/** A GET that accepts HTML (a page): asked on every host request, so it reads the raw request, cheapest test first. */
export function wantsHtml(req: Context['req']): boolean {
  if (req.method !== 'GET') return false;
  const accept = req.headers.accept;
  return accept !== undefined && accept.includes('text/html');
}

export function supportTemplateState({ options, service, translatorFor }: SupportDeps) {
  // The plugin's prefixes whose answers never show support prompts (API, donate, assets): the
  // same test the plugin uses for its own prefixes (Koa's answer, and no path is none of them).
  const underSkippedPrefix = pathPrefixTest([options.mountPath.api, options.mountPath.donate, options.mountPath.assets]);
  const longSession = options.support.longSessionMinutes;

  /** The model from what is at hand (session, a synchronous isSupporter), without I/O. */
  const fallback = (ctx: Context): SupportViewModel => {
    const user = currentUser(ctx, options.getUser);
    const translator = translatorFor(ctx);
    if (!user || !service.enabled) return service.staticViewModel({ user, isSupporter: false, stats: EMPTY_USER_STATS, prompt: NO_PROMPT, translator });
    // Only reads the session: a request that did not prepare a page does not start the session clock.
    const data = peekSupportSession(sessionBagOf(ctx), user);
    return service.staticViewModel({ user, isSupporter: supporterNow(ctx, options.support), stats: EMPTY_USER_STATS, prompt: promptHints(data, options.now().getTime(), longSession), translator });
  };

  /** Host callbacks and the counter, each capped in time; never rejects. */
  const prepare = async (ctx: Context, state: TemplateState, user: TelemetryUser): Promise<void> => {
    try {
      const nowMs = options.now().getTime();
      const data = supportSession(sessionBagOf(ctx), user, nowMs);
      const translator = translatorFor(ctx);
      const [host, reports] = await Promise.all([
        hostSupportInputs(ctx, options.support, user, translator, options.support.hostCallbackDeadlineMs),
        settle(() => service.reportsGenerated(user), null, options.support.hostCallbackDeadlineMs),
      ]);
      state.supportModel = service.staticViewModel({
        user,
        isSupporter: host.isSupporter,
        stats: host.stats,
        reportsGenerated: reports,
        prompt: promptHints(data, nowMs, longSession),
        translator,
      });
    } catch {
      state.supportModel = null; // the fallback builds one when a template asks
    }
  };

  /**
   * Prepares the support model for a page request (the caller asks wantsHtml first, without a call):
   * null when there is nothing to wait for (support off, no signed-in user, one of the plugin's own
   * prefixes), otherwise a promise that never rejects. No closure per request.
   */
  const prepareSupportState = (ctx: Context, state: TemplateState): Promise<void> | null => {
    if (!service.enabled || underSkippedPrefix(ctx)) return null;
    const user = currentUser(ctx, options.getUser);
    return user ? prepare(ctx, state, user) : null;
  };
  return { fallback, prepareSupportState };
}

export interface RequestSupport {
  /** Counts a generated report for the signed-in user and queues the after_report prompt. Never rejects. */
  reportGenerated(): Promise<number | null>;
}

export function supportRequestApi(ctx: Context, { options, service }: SupportDeps): RequestSupport {
  return {
    async reportGenerated() {
      try {
        const user = currentUser(ctx, options.getUser);
        if (!user || !service.enabled) return null;
        markReportPending(sessionBagOf(ctx), user, options.now().getTime());
        return await service.reportGenerated(user);
      } catch {
        return null;
      }
    },
  };
}
