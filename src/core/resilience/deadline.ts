// One way to give work a deadline. The timer is unref'd (a deadline never keeps the process
// alive) and cleared as soon as the work settles; a rejection of the work after the deadline has
// passed is absorbed, so it can never surface as an unhandled rejection.

/** setTimeout's upper bound: a longer delay would fire after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class DeadlineExceededError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(readonly ms: number) {
    super(`deadline of ${ms} ms exceeded`);
    this.name = 'DeadlineExceededError';
  }
}

/**
 * Settles like `work`, or at `ms` (a negative or non-finite `ms` counts as 0; one beyond
 * setTimeout's limit, about 24.8 days, waits that long instead of firing at once):
 * - without `onTimeout` it then rejects with a DeadlineExceededError;
 * - with `{ onTimeout: value }` it then resolves with `value` instead.
 * `work` itself is not cancelled: give it its own abort signal when it holds a resource.
 */
export function withDeadline<T>(work: PromiseLike<T>, ms: number): Promise<T>;
export function withDeadline<T, F>(work: PromiseLike<T>, ms: number, options: { onTimeout: F }): Promise<T | F>;
export function withDeadline<T, F>(work: PromiseLike<T>, ms: number, options?: { onTimeout: F }): Promise<T | F> {
  const limit = Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_TIMER_MS) : 0;
  return new Promise<T | F>((resolve, reject) => {
    const timer = setTimeout(() => {
      if (options && 'onTimeout' in options) resolve(options.onTimeout);
      else reject(new DeadlineExceededError(limit));
    }, limit);
    timer.unref();
    // Both outcomes are always handled: a rejection after the deadline answered is absorbed here.
    Promise.resolve(work).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
