// Logging for both products: the pino-compatible Logger type, its option schema, the quiet default
// and a guard so a failing background path logs once, not once per attempt.
import { z } from 'zod';

/** pino-compatible logger: `logger.warn({ err }, 'message')` or `logger.warn('message')`. */
export type LogFn = (...args: unknown[]) => void;
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const noop = (): void => {};

/** Quiet by default: a host hears from the package only when something needs attention. */
export const quietConsoleLogger: Logger = {
  debug: noop,
  info: noop,
  warn: (...args: unknown[]) => console.warn('[koa-consent-telemetry]', ...args),
  error: (...args: unknown[]) => console.error('[koa-consent-telemetry]', ...args),
};

const MAX_REMEMBERED_KEYS = 256;

/**
 * Logs each distinct failure key once until `reset(key)` (called when the path recovers),
 * so an outage produces one warning and one recovery note instead of a log storm.
 */
export class OnceLogger {
  readonly #seen = new Set<string>();
  constructor(private readonly logger: Logger) {}

  warn(key: string, err: unknown, message: string): void {
    if (this.#seen.has(key)) return;
    if (this.#seen.size >= MAX_REMEMBERED_KEYS) this.#seen.clear();
    this.#seen.add(key);
    this.logger.warn({ err: describeError(err) }, message);
  }

  reset(key: string, message?: string): void {
    if (this.#seen.delete(key) && message) this.logger.info(message);
  }
}

/**
 * A short error description safe to log or show to an admin (no stack, no header values). A knex
 * error's message starts with the failed SQL with its bound values inlined (`insert into … values
 * (…) - SQLITE_CONSTRAINT: …`); only the driver's part after the SQL is kept.
 */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    let message = err.message;
    const sqlEnd = message.lastIndexOf(' - ');
    if (sqlEnd > 0 && /^\s*(insert|select|update|delete|with|create|alter|drop)\b/i.test(message)) message = message.slice(sqlEnd + 3);
    return `${err.name}: ${message}`.slice(0, 300);
  }
  return String(err).slice(0, 300);
}

/** The `logger` option of the plugin and of the collector: pino-compatible, quiet console by default. */
export const loggerSchema = z
  .custom<Logger>(
    (value) =>
      typeof value === 'object' && value !== null && ['debug', 'info', 'warn', 'error'].every((k) => typeof (value as Record<string, unknown>)[k] === 'function'),
    { message: 'expected a logger with debug/info/warn/error methods (pino-compatible)' },
  )
  .default(() => quietConsoleLogger);
