// Per-client counters for the collector's open doors (registration, dashboard sign-in). The client
// address is used only here, in memory: it is hashed with a random per-process salt before it is
// a map key, and it is never stored, logged or returned. The map is capped: when full, the oldest
// window is evicted first (Map insertion order; a new window re-inserts its key).
import { createHmac, randomBytes } from 'node:crypto';
import type { Context } from 'koa';

/** Tracked clients per throttle; a full map evicts the oldest window. */
export const MAX_TRACKED_CLIENTS = 10_000;

export interface ClientThrottleOptions {
  /** Hits allowed per client per window. */
  limit: number;
  windowMs: number;
  now: () => Date;
  maxClients?: number;
}

export type ThrottleVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

interface Window {
  startedAt: number;
  hits: number;
}

/**
 * The address a request came from: the socket's peer, or with `trustProxy` the first
 * X-Forwarded-For entry (set only behind a proxy that writes that header itself).
 * Only ever handed to a ClientThrottle.
 */
export function clientAddress(ctx: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const first = ctx.get('x-forwarded-for').split(',')[0]?.trim();
    if (first) return first;
  }
  return ctx.req.socket.remoteAddress ?? 'unknown';
}

export class ClientThrottle {
  readonly #salt = randomBytes(32);
  readonly #windows = new Map<string, Window>();
  readonly #max: number;

  constructor(private readonly options: ClientThrottleOptions) {
    this.#max = options.maxClients ?? MAX_TRACKED_CLIENTS;
  }

  /** How many clients are tracked right now (bounded by maxClients). */
  get size(): number {
    return this.#windows.size;
  }

  #key(address: string): string {
    return createHmac('sha256', this.#salt).update(address).digest('base64url');
  }

  #current(key: string, now: number): Window | undefined {
    const window = this.#windows.get(key);
    if (window && now - window.startedAt >= this.options.windowMs) {
      this.#windows.delete(key);
      return undefined;
    }
    return window;
  }

  #refusal(window: Window, now: number): ThrottleVerdict {
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((window.startedAt + this.options.windowMs - now) / 1000)) };
  }

  /** Is this client over its limit? Does not count. */
  check(address: string): ThrottleVerdict {
    const now = this.options.now().getTime();
    const window = this.#current(this.#key(address), now);
    return window && window.hits >= this.options.limit ? this.#refusal(window, now) : { allowed: true };
  }

  /** Counts one hit for this client. */
  hit(address: string): void {
    const now = this.options.now().getTime();
    const key = this.#key(address);
    const window = this.#current(key, now);
    if (window) {
      window.hits += 1;
      return;
    }
    while (this.#windows.size >= this.#max) {
      const oldest = this.#windows.keys().next().value;
      if (oldest === undefined) break;
      this.#windows.delete(oldest);
    }
    this.#windows.set(key, { startedAt: now, hits: 1 });
  }

  /** Checks, and counts the hit when allowed. */
  take(address: string): ThrottleVerdict {
    const verdict = this.check(address);
    if (verdict.allowed) this.hit(address);
    return verdict;
  }
}
