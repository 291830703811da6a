// A per-user fixed-window counter (the support funnel, a user's own privacy choice): in memory, bounded (at most
// MAX_TRACKED_USERS windows; expired ones are forgotten first, then the oldest), so a flood of
// distinct users cannot grow it either.

const RATE_WINDOW_MS = 60_000;
const MAX_TRACKED_USERS = 10_000;

export interface RateDecision {
  allowed: boolean;
  /** Whole seconds until the user's window ends (for Retry-After), when not allowed. */
  retryAfterSeconds: number;
}

export class PerUserRateLimiter {
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = RATE_WINDOW_MS,
    private readonly maxUsers = MAX_TRACKED_USERS,
    private readonly clock: () => number = Date.now,
  ) {}

  get size(): number {
    return this.#windows.size;
  }

  take(user: string): RateDecision {
    const now = this.clock();
    let window = this.#windows.get(user);
    if (window === undefined || now - window.start >= this.windowMs) {
      if (window === undefined && this.#windows.size >= this.maxUsers) this.#makeRoom(now);
      window = { start: now, count: 0 };
      // Re-inserted, so Map order stays oldest-window-first for eviction.
      this.#windows.delete(user);
      this.#windows.set(user, window);
    }
    if (window.count >= this.limit) {
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((window.start + this.windowMs - now) / 1000)) };
    }
    window.count++;
    return { allowed: true, retryAfterSeconds: 0 };
  }

  #makeRoom(now: number): void {
    for (const [user, window] of this.#windows) if (now - window.start >= this.windowMs) this.#windows.delete(user);
    while (this.#windows.size >= this.maxUsers) {
      const oldest = this.#windows.keys().next();
      if (oldest.done) break;
      this.#windows.delete(oldest.value);
    }
  }
}
