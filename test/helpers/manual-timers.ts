// Timers a test fires by hand, for product code that takes a `startTimer` option
// ((run, delayMs) => cancel): the test reads the delays the code asked for and decides when each
// one has "elapsed", so a retry schedule is checked step by step without sleeping.
export interface PendingTimer {
  delayMs: number;
  run: () => void;
}

export class ManualTimers {
  /** Timers started and not yet fired or cancelled, oldest first. */
  readonly pending: PendingTimer[] = [];
  /** Every delay ever asked for, in order. */
  readonly requested: number[] = [];

  readonly start = (run: () => void, delayMs: number): (() => void) => {
    const timer: PendingTimer = { delayMs, run };
    this.pending.push(timer);
    this.requested.push(delayMs);
    return () => {
      const i = this.pending.indexOf(timer);
      if (i >= 0) this.pending.splice(i, 1);
    };
  };

  /** Fires the oldest pending timer (as if its delay had passed); throws when none is pending. */
  fireNext(): number {
    const timer = this.pending.shift();
    if (!timer) throw new Error('no timer is pending');
    timer.run();
    return timer.delayMs;
  }
}
