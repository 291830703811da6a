// {api}/me: a signed-in end user's own say over detailed analytics, whatever the admin chose for
// the installation. Any signed-in user (401 otherwise); changes need the page's CSRF token.
//   GET  /me          → { analytics, gpc, installation_analytics }
//   POST /me/opt-out  → the same shape, after storing the choice
//   POST /me/opt-in   → the same shape
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { ResolvedOptions } from '../options.js';
import type { UserPrivacyView } from '../middleware/template-state.js';
import { currentUser, requireUser } from '../middleware/auth.js';
import { requireCsrf } from '../middleware/csrf.js';
import { jsonBody, parseJsonBody, validateInput } from '../middleware/body.js';
import { PerUserRateLimiter } from '../../core/rate-limit.js';
import { localizedError } from '../i18n/errors.js';
import { EXPECTED_BODIES } from '../openapi.js';

/** What the routes need: the user's stored choice, the request's view of it, and storage readiness. */
export interface UserPrivacyPort {
  ready(): Promise<void>;
  setUserOptOut(userId: string | number, optedOut: boolean): Promise<boolean>;
  privacyView(ctx: Context): UserPrivacyView | null;
}

/** Changes of their own choice one user may make per minute (each writes a consent receipt). */
export const MAX_PRIVACY_CHANGES_PER_MINUTE = 10;

const choiceBody = z.object({ _csrf: z.string().optional() }).strict().optional();

function answer(view: UserPrivacyView) {
  return { analytics: view.analytics, gpc: view.gpc, installation_analytics: view.installationAnalytics };
}

export function userPrivacyRouter(options: ResolvedOptions, port: UserPrivacyPort): Router {
  const router = new Router({ prefix: `${options.mountPath.api}/me` });
  router.use(requireUser(options.getUser));
  router.use(async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    try {
      await port.ready();
    } catch {
      throw localizedError(503, 'storage_unavailable', 'error.api.storage_unavailable_retry');
    }
    await next();
  });

  router.get('/', (ctx) => {
    ctx.body = answer(port.privacyView(ctx)!);
  });

  // Every change writes a consent receipt: a user flipping the switch in a loop must not grow the table without bound.
  const changeLimiter = new PerUserRateLimiter(MAX_PRIVACY_CHANGES_PER_MINUTE);
  const choose = (optedOut: boolean) => async (ctx: Context) => {
    const rate = changeLimiter.take(String(currentUser(ctx, options.getUser)!.id));
    if (!rate.allowed) {
      ctx.set('Retry-After', String(rate.retryAfterSeconds));
      throw localizedError(429, 'rate_limited', 'error.api.choice_rate_limited', { seconds: rate.retryAfterSeconds });
    }
    validateInput(choiceBody, jsonBody(ctx), 'body', EXPECTED_BODIES.empty);
    await port.setUserOptOut(currentUser(ctx, options.getUser)!.id, optedOut);
    ctx.body = answer(port.privacyView(ctx)!);
  };
  const change = [parseJsonBody('1kb'), requireCsrf(options.getUser, (ctx) => (jsonBody(ctx) as { _csrf?: unknown } | undefined)?._csrf)] as const;
  router.post('/opt-out', ...change, choose(true));
  router.post('/opt-in', ...change, choose(false));
  return router;
}
