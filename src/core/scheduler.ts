// Background jobs. node-schedule computes when a job is due (its RecurrenceRule), but its own timers
// keep the process alive, so each job is armed here on an unref'd timer instead: a host that wants to
// exit can, and stop() cancels everything.
import schedule from 'node-schedule';
import type { Logger } from './logging.js';
import { describeError } from './logging.js';

/** setTimeout's upper bound; longer waits are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** When a job is due next (null: never again). The rules below are node-schedule RecurrenceRules;
 * the published types name only this method, so a host needs no @types/node-schedule. */
export interface JobRule {
  nextInvocationDate(base: Date): Date | null;
}

interface JobEntry {
  name: string;
  rule: JobRule;
  task: () => Promise<unknown>;
  timer: NodeJS.Timeout | null;
  next: Date | null;
  running: Promise<void> | null;
  lastRunAt: Date | null;
  lastError: string | null;
}

export interface JobInfo {
  name: string;
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastError: string | null;
}

function recurrence(fields: { dayOfWeek?: number; date?: number; hour: number; minute: number }): JobRule {
  const rule = new schedule.RecurrenceRule();
  if (fields.dayOfWeek !== undefined) rule.dayOfWeek = fields.dayOfWeek;
  if (fields.date !== undefined) rule.date = fields.date;
  rule.hour = fields.hour;
  rule.minute = fields.minute;
  rule.second = 0;
  return rule;
}

/** A rule firing every day at hour:minute (server local time). */
export function dailyAt(hour: number, minute: number): JobRule {
  return recurrence({ hour, minute });
}

/** A rule firing every week on dayOfWeek (0 = Sunday) at hour:minute (server local time). */
export function weeklyAt(dayOfWeek: number, hour: number, minute: number): JobRule {
  return recurrence({ dayOfWeek, hour, minute });
}

/** A rule firing every month on dayOfMonth (1–31) at hour:minute (server local time). */
export function monthlyAt(dayOfMonth: number, hour: number, minute: number): JobRule {
  return recurrence({ date: dayOfMonth, hour, minute });
}

export class JobScheduler {
  readonly #jobs = new Map<string, JobEntry>();
  #stopped = false;

  constructor(private readonly logger: Logger) {}

  schedule(name: string, rule: JobRule, task: () => Promise<unknown>): void {
    if (this.#stopped) return;
    this.cancel(name);
    const entry: JobEntry = { name, rule, task, timer: null, next: null, running: null, lastRunAt: null, lastError: null };
    this.#jobs.set(name, entry);
    this.#arm(entry);
  }

  /** Runs a job now (outside its schedule); concurrent runs of one job are collapsed into one. */
  runNow(name: string): Promise<void> {
    const entry = this.#jobs.get(name);
    if (!entry) return Promise.resolve();
    return this.#run(entry);
  }

  cancel(name: string): void {
    const entry = this.#jobs.get(name);
    if (!entry) return;
    if (entry.timer) clearTimeout(entry.timer);
    this.#jobs.delete(name);
  }

  /** Cancels every job; resolves when runs already under way have finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const running = [...this.#jobs.values()].map((entry) => entry.running).filter(Boolean);
    for (const name of [...this.#jobs.keys()]) this.cancel(name);
    await Promise.all(running);
  }

  list(): JobInfo[] {
    return [...this.#jobs.values()].map((entry) => ({
      name: entry.name,
      nextRunAt: entry.next?.toISOString() ?? null,
      lastRunAt: entry.lastRunAt?.toISOString() ?? null,
      lastError: entry.lastError,
    }));
  }

  #arm(entry: JobEntry): void {
    if (this.#stopped || this.#jobs.get(entry.name) !== entry) return;
    entry.next = entry.rule.nextInvocationDate(new Date());
    if (!entry.next) return;
    const wait = Math.min(Math.max(entry.next.getTime() - Date.now(), 0), MAX_TIMER_MS);
    entry.timer = setTimeout(() => {
      entry.timer = null;
      if (entry.next && Date.now() < entry.next.getTime()) return this.#arm(entry);
      void this.#run(entry).finally(() => this.#arm(entry));
    }, wait);
    entry.timer.unref();
  }

  #run(entry: JobEntry): Promise<void> {
    if (entry.running) return entry.running;
    entry.running = (async () => {
      try {
        await entry.task();
        entry.lastError = null;
      } catch (err) {
        entry.lastError = describeError(err);
        this.logger.warn({ err: entry.lastError }, `telemetry job "${entry.name}" failed; it will run again at its next time`);
      } finally {
        entry.lastRunAt = new Date();
        entry.running = null;
      }
    })();
    return entry.running;
  }
}
