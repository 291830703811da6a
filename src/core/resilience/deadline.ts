// One way to give work a deadline. The timer is unref'd (a deadline never keeps the process
// alive) and cleared as soon as the work settles; a rejection of the work after the deadline has
// passed is absorbed, so it can never surface as an unhandled rejection.

export class DeadlineExceededError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(readonly ms: number) {
    super(`deadline of ${ms} ms exceeded`);
    this.name = 'DeadlineExceededError';
  }
}

/**
 * Settles like `work`, or at `ms` (a negative or non-finite `ms` counts as 0):
 * - without `onTimeout` it then rejects with a DeadlineExceededError;
 * - with `{ onTimeout: value }` it then resolves with `value` instead.
 * `work` itself is not cancelled: give it its own abort signal when it holds a resource.
 */
export function withDeadline<T>(work: PromiseLike<T>, ms: number): Promise<T>;
export function withDeadline<T, F>(work: PromiseLike<T>, ms: number, options: { onTimeout: F }): Promise<T | F>;
export function withDeadline<T, F>(work: PromiseLike<T>, ms: number, options?: { onTimeout: F }): Promise<T | F> {
  const limit = Number.isFinite(ms) && ms > 0 ? ms : 0;
  const running = Promise.resolve(work);
  running.catch(() => undefined); // a late rejection, after the deadline answered, is absorbed
  return new Promise<T | F>((resolve, reject) => {
    const timer = setTimeout(() => {
      if (options && 'onTimeout' in options) resolve(options.onTimeout);
      else reject(new DeadlineExceededError(limit));
    }, limit);
    timer.unref();
    running.then(
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

/** Waits `ms` on an unref'd timer (never keeps the process alive). */
export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, Number.isFinite(ms) && ms > 0 ? ms : 0).unref());
}
