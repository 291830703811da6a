// <donate>/*: the support endpoints pages call (docs/support.md). Signed-in users only (401), CSRF
// token required (403), small JSON bodies validated with zod (400 { error: { code, message } }).
//   POST /request-soft-prompt  {kind}                    → {show, variant?, message?}
//   POST /track-support-event  {event, variant?, source?} → 202 {ok: true}
// The funnel's free fields are allow-listed (400 unknown_source / unknown_variant, the value never
// echoed) and each signed-in user may write at most support.eventsPerMinute rows (429 + Retry-After).
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { ResolvedOptions } from '../options.js';
import type { SupportService } from '../support/service.js';
import { requireUser, currentUser } from '../middleware/auth.js';
import { requireCsrf } from '../middleware/csrf.js';
import { localizedError, validatorText } from '../i18n/errors.js';
import { hasPrivacySignal } from '../middleware/privacy-signals.js';
import { jsonBody, parseJsonBody } from '../middleware/body.js';
import { applyPromptDecision, promptSessionState, sessionBagOf, supportSession } from '../support/session.js';
import { hostSupportInputs } from '../support/host-inputs.js';
import { PROMPT_KINDS, SUPPORT_EVENTS } from '../support/events.js';
import { PerUserRateLimiter } from '../../core/rate-limit.js';
import { EXPECTED_BODIES } from '../openapi.js';
import { ENGLISH, type Translator } from '../i18n/catalog.js';

const BODY_LIMIT = '4kb';
// source and variant are checked against their allow-lists by the service (unknown_source /
// unknown_variant); here only their type and length.
const shortText = z.string();

const softPromptBody = z.object({ kind: z.enum(PROMPT_KINDS) });

const supportEventBody = z.object({
  event: z.enum(SUPPORT_EVENTS),
  variant: shortText.max(32).nullish(),
  source: shortText.max(64).nullish(),
});

function validate<T>(schema: z.ZodType<T>, body: unknown, expected: string): T {
  const parsed = schema.safeParse(body ?? {}, { reportInput: true });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : 'body';
  // A missing field (e.g. `{"type": …}` for `{"kind": …}`) is a wrong shape, not an unknown value.
  const missing = issue.path.length === 1 && (typeof body !== 'object' || body === null || (body as Record<string, unknown>)[field] === undefined);
  if (missing) throw localizedError(400, 'invalid_request', 'error.api.missing_field', { field, expected });
  const code = field === 'event' ? 'unknown_event' : 'invalid_request';
  if (issue.code === 'invalid_value' && field === 'event') throw localizedError(400, code, 'error.api.unknown_event', { values: SUPPORT_EVENTS.join(', ') });
  if (issue.code === 'invalid_value' && field === 'kind') throw localizedError(400, code, 'error.api.unknown_kind', { values: PROMPT_KINDS.join(', ') });
  throw localizedError(400, code, 'error.api.invalid_value', { field, issue: validatorText(issue), expected });
}

/** What the support routes need: the support service's prompt decision and funnel recording. */
export interface SupportPort {
  service: Pick<SupportService, 'enabled' | 'decidePrompt' | 'funnelFieldProblem' | 'recordEvent'>;
  /** The request's language for the prompt text (English when omitted). */
  translatorFor?: (ctx: Context) => Translator;
}

export function supportRouter(options: ResolvedOptions, { service, translatorFor = () => ENGLISH }: SupportPort): Router {
  const router = new Router({ prefix: options.mountPath.donate });
  const funnelLimiter = new PerUserRateLimiter(options.support.eventsPerMinute);
  router.use(requireUser(options.getUser));
  router.use(parseJsonBody(BODY_LIMIT));
  router.use(requireCsrf(options.getUser, (ctx: Context) => (jsonBody(ctx) as { _csrf?: unknown } | undefined)?._csrf));
  router.use(async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    await next();
  });

  router.post('/request-soft-prompt', async (ctx) => {
    const { kind } = validate(softPromptBody, jsonBody(ctx), EXPECTED_BODIES.softPrompt);
    const user = currentUser(ctx, options.getUser)!;
    if (!service.enabled) {
      ctx.body = { show: false };
      return;
    }
    const nowMs = options.now().getTime();
    const bag = sessionBagOf(ctx);
    const session = supportSession(bag, user, nowMs);
    let answer;
    try {
      const translator = translatorFor(ctx);
      const host = await hostSupportInputs(ctx, options.support, user, translator);
      answer = await service.decidePrompt({ user, kind, isSupporter: host.isSupporter, stats: host.stats, session: promptSessionState(session), translator });
    } catch {
      ctx.body = { show: false };
      return;
    }
    applyPromptDecision(bag, session, answer.decision, nowMs);
    ctx.body = answer.decision.show ? { show: true, variant: answer.decision.variant, message: answer.message } : { show: false };
  });

  router.post('/track-support-event', async (ctx) => {
    const user = currentUser(ctx, options.getUser)!;
    // Counted before validation, so invalid requests cannot flood either.
    const rate = funnelLimiter.take(String(user.id));
    if (!rate.allowed) {
      ctx.set('Retry-After', String(rate.retryAfterSeconds));
      throw localizedError(429, 'rate_limited', 'error.api.support_rate_limited', { seconds: rate.retryAfterSeconds });
    }
    const body = validate(supportEventBody, jsonBody(ctx), EXPECTED_BODIES.supportEvent);
    if (!service.enabled) throw localizedError(404, 'support_disabled', 'error.api.support_disabled');
    const problem = service.funnelFieldProblem(body.source ?? null, body.variant ?? null);
    if (problem) throw localizedError(400, problem.code, problem.code === 'unknown_source' ? 'error.api.unknown_source' : 'error.api.unknown_variant', { values: problem.expected.join(', ') });
    const host = await hostSupportInputs(ctx, options.support, user);
    const stored = await service.recordEvent({
      user,
      event: body.event,
      variant: body.variant ?? null,
      source: body.source ?? null,
      isSupporter: host.isSupporter,
      stats: host.stats,
      privacySignal: hasPrivacySignal(ctx, options.honorDnt),
    });
    if (!stored) throw localizedError(503, 'unavailable', 'error.api.event_not_stored');
    ctx.status = 202;
    ctx.body = { ok: true };
  });

  return router;
}
