// One retry back-off policy: exponential, with symmetric jitter, capped. Both the OTLP log
// export and the weekly submission retry with it, each with its own numbers.

export interface BackoffPolicy {
  /** The delay before the first retry (attempt 1), before jitter. */
  readonly baseMs: number;
  /** Each further attempt waits this many times longer (>= 1). */
  readonly factor: number;
  /** Spread, as a fraction of the delay: 0.2 → anywhere in ±20 % (0 <= jitter < 1). */
  readonly jitter: number;
  /** No delay is ever longer than this, jitter included. */
  readonly maxMs: number;
}

export interface Backoff extends BackoffPolicy {
  /**
   * The delay before retry number `attempt` (1 = the first retry): baseMs × factor^(attempt−1),
   * spread by ±jitter, then capped at maxMs. Always a whole number of ms in [0, maxMs]; an attempt
   * below 1 (or not a number) counts as 1. `random` is injectable for tests.
   */
  delay(attempt: number, random?: () => number): number;
}

/** Checks the policy once (a bad one is a programming error: RangeError) and returns it with `delay`. */
export function backoff(policy: BackoffPolicy): Backoff {
  const { baseMs, factor, jitter, maxMs } = policy;
  if (!(Number.isFinite(baseMs) && baseMs > 0)) throw new RangeError(`backoff baseMs must be a positive number, got ${baseMs}`);
  if (!(Number.isFinite(factor) && factor >= 1)) throw new RangeError(`backoff factor must be at least 1, got ${factor}`);
  if (!(Number.isFinite(jitter) && jitter >= 0 && jitter < 1)) throw new RangeError(`backoff jitter must be in [0, 1), got ${jitter}`);
  if (!(Number.isFinite(maxMs) && maxMs >= baseMs)) throw new RangeError(`backoff maxMs must be at least baseMs, got ${maxMs}`);
  return Object.freeze({
    baseMs,
    factor,
    jitter,
    maxMs,
    delay(attempt: number, random: () => number = Math.random): number {
      const n = Number.isFinite(attempt) && attempt >= 1 ? Math.floor(attempt) : 1;
      // factor^(n-1) overflows to Infinity for huge n: the cap below takes care of it.
      const raw = Math.min(baseMs * factor ** (n - 1), maxMs);
      const r = random();
      const spread = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0.5;
      const jittered = raw * (1 - jitter + 2 * jitter * spread);
      return Math.max(0, Math.min(Math.round(jittered), maxMs));
    },
  });
}
