// The plugin mounted before koa-session: its pages answer 200 with a CSRF token, but koa-session
// commits the session only after the middleware behind it, and the plugin's routes answer without
// calling next(): the session never persists, and every POST answers 403. Detected on the first
// request: koa-session's middleware caches its per-request session object on ctx before anything
// else runs, so when that cache is missing as the plugin starts, koa-session comes later in the
// stack. Checked once (the mounting order does not change), logged once as an error naming the fix.
import type { Context } from 'koa';
import type { Logger } from '../../core/logging.js';

export const SESSION_AFTER_PLUGIN_MESSAGE =
  'koa-consent-telemetry: koa-session is mounted after the plugin, so the sessions of the plugin\'s pages are never saved ' +
  '(every POST would answer 403 csrf_failed). Mount koa-session first: app.use(session(app)) before app.use(telemetryPlugin(...)).';

// The symbols koa-session puts on app.context (its getter) and on each ctx (the session object it
// creates as its middleware starts): koa-session 7, and koa-session 6.
const KOA_SESSION_GETTERS = new Set(['get contextSession', 'context#contextSession']);
const KOA_SESSION_INSTANCES = new Set(['contextSession instance', 'context#_contextSession']);

const hasSymbol = (target: object, descriptions: Set<string>): boolean =>
  Object.getOwnPropertySymbols(target).some((symbol) => symbol.description !== undefined && descriptions.has(symbol.description));

export class SessionOrderCheck {
  #checked = false;
  constructor(private readonly logger: Logger) {}

  /** Call at the very start of the plugin's middleware, before anything reads ctx.session. */
  observe(ctx: Context): void {
    if (this.#checked) return;
    this.#checked = true;
    // Another session middleware than koa-session: nothing known to check.
    if (!hasSymbol(ctx.app.context, KOA_SESSION_GETTERS)) return;
    if (hasSymbol(ctx, KOA_SESSION_INSTANCES)) return;
    try {
      this.logger.error(SESSION_AFTER_PLUGIN_MESSAGE);
    } catch {
      // a throwing logger must not fail the request
    }
  }
}
