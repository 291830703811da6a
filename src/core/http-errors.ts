// JSON errors for the plugin's own routes: { error: { code, message } } with a 4xx status,
// never a stack trace. Anything unexpected becomes a logged 500 that names no internals.
// `code` is for machines and never changes; `message` is for people: an error may carry a message
// reference (a catalog key + params) that the error middleware renders in the request's language,
// so the code that throws never needs the request.
import type { Context, Next } from 'koa';
import type { Logger } from './logging.js';
import { describeError } from './logging.js';
import { routeTemplateOf } from './route-template.js';

/** A param rendered per language (e.g. a validator's own text), or a plain value. */
export type MessageParam = string | number | ((locale: string) => string);
/** A message for people, by catalog key; `message` on the error stays its English rendering. */
export interface MessageRef {
  key: string;
  params?: Record<string, MessageParam>;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly text?: MessageRef,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Renders a message reference for this request; returns null to keep the English message. */
export type RenderMessage = (ctx: Context, text: MessageRef) => string | null;

/** Errors thrown by body parsers and Koa itself carry a status; map the common ones to codes. */
const CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'invalid_payload',
  429: 'rate_limited',
};

export function sendError(ctx: Context, status: number, code: string, message: string, details?: unknown): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error: details === undefined ? { code, message } : { code, message, details } };
}

/**
 * The error middleware. With `render`, a message reference is rendered in the request's language:
 * an HttpError's own, `error.status.<code>` for a bare 4xx from Koa or a parser, `error.status.internal_error`
 * for a 500. A render that fails or answers null keeps the English message.
 */
export function jsonErrors(logger: Logger, render?: RenderMessage) {
  const localized = (ctx: Context, text: MessageRef | undefined, english: string): string => {
    if (!render || !text) return english;
    try {
      return render(ctx, text) ?? english;
    } catch {
      return english;
    }
  };
  return async function telemetryJsonErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (err) {
      if (err instanceof HttpError) return sendError(ctx, err.status, err.code, localized(ctx, err.text, err.message), err.details);
      const status = (err as { status?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        const code = CODES[status] ?? 'bad_request';
        // An exposed message is the thrower's own text, in its own language: kept as it is.
        if ((err as { expose?: boolean }).expose) return sendError(ctx, status, code, (err as Error).message);
        return sendError(ctx, status, code, localized(ctx, { key: `error.status.${code}` }, code.replace(/_/g, ' ')));
      }
      // The route template, never the raw path: a URL can carry an id, an e-mail or a token.
      logger.error({ err: describeError(err) }, `telemetry route ${ctx.method} ${routeTemplateOf(ctx)} failed`);
      sendError(ctx, 500, 'internal_error', localized(ctx, { key: 'error.status.internal_error' }, 'The telemetry plugin could not complete this request.'));
    }
  };
}
