// JSON errors for the plugin's own routes: { error: { code, message } } with a 4xx status,
// never a stack trace. Anything unexpected becomes a logged 500 that names no internals.
import type { Context, Next } from 'koa';
import type { Logger } from './logging.js';
import { describeError } from './logging.js';
import { routeTemplateOf } from './route-template.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

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

export function jsonErrors(logger: Logger) {
  return async function telemetryJsonErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (err) {
      if (err instanceof HttpError) return sendError(ctx, err.status, err.code, err.message, err.details);
      const status = (err as { status?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        const exposed = (err as { expose?: boolean }).expose ? (err as Error).message : CODES[status]?.replace(/_/g, ' ');
        return sendError(ctx, status, CODES[status] ?? 'bad_request', exposed ?? 'bad request');
      }
      // The route template, never the raw path: a URL can carry an id, an e-mail or a token.
      logger.error({ err: describeError(err) }, `telemetry route ${ctx.method} ${routeTemplateOf(ctx)} failed`);
      sendError(ctx, 500, 'internal_error', 'The telemetry plugin could not complete this request.');
    }
  };
}
