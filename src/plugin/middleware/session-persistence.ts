// The plugin mounted before koa-session: its pages answer 200 with a CSRF token, but the session is
// never committed (koa-session commits after the plugin's routes, which do not call next()), so each
// POST arrives with a token and a session that holds none. That is logged once as an error naming
// the fix — unless a session already kept a token in this process: sessions persist, and a missing
// token is an expired session, not the mounting mistake.
import type { Context } from 'koa';
import type { Logger } from '../../core/logging.js';
import { sessionHoldsCsrfToken } from './csrf.js';

export const SESSION_NOT_PERSISTED_MESSAGE =
  'koa-consent-telemetry: a request sent a CSRF token, but its session holds none: the session did not persist between requests. ' +
  'Mount koa-session before the plugin: app.use(session(app)) before app.use(telemetryPlugin(...)).';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export class SessionPersistenceCheck {
  #persists = false;
  #logged = false;
  constructor(private readonly logger: Logger) {}

  /** Called for each request to the plugin's own routes, before they run. */
  observe(ctx: Context): void {
    if (this.#persists || this.#logged || SAFE_METHODS.has(ctx.method) || !ctx.get('x-csrf-token')) return;
    if (sessionHoldsCsrfToken(ctx)) {
      this.#persists = true;
      return;
    }
    this.#logged = true;
    try {
      this.logger.error(SESSION_NOT_PERSISTED_MESSAGE);
    } catch {
      // a throwing logger must not fail the request
    }
  }
}
