// track('Timer Started') is refused; the developer hears why once per distinct name: one warning with
// the rule the name broke, never the props. A name that looks like it carries personal data (an
// e-mail, a long number…) is not repeated in the log. Bounded: after BAD_NAME_WARNING_LIMIT distinct
// names one last line says further ones are not reported.
import type { Logger } from '../types.js';
import { findSensitiveRule, MAX_EVENT_NAME_LENGTH, normalizeForMatching } from './privacy-guard.js';

export const BAD_NAME_WARNING_LIMIT = 100;

/** The name as the log may show it: quoted, or withheld when it is long or looks personal. */
export function loggableEventName(name: unknown): string {
  if (typeof name !== 'string') return `(a ${name === null ? 'null' : typeof name}, not a string)`;
  if (name.length > MAX_EVENT_NAME_LENGTH) return `(a ${name.length}-character name, not shown)`;
  if (findSensitiveRule(normalizeForMatching(name)) !== null) return '(a name that looks like personal data, not shown)';
  return JSON.stringify(name);
}

export class BadEventNameWarnings {
  readonly #warned = new Set<string>();
  #full = false;

  constructor(
    private readonly logger: Logger,
    private readonly problemOf: (name: unknown) => string | null,
  ) {}

  warn(name: unknown): void {
    if (this.#full) return;
    const key = typeof name === 'string' ? name : `\0${typeof name}`;
    if (this.#warned.has(key)) return;
    if (this.#warned.size >= BAD_NAME_WARNING_LIMIT) {
      this.#full = true;
      this.#say(`track(): ${BAD_NAME_WARNING_LIMIT} distinct invalid event names refused; further ones are refused without a warning`);
      return;
    }
    this.#warned.add(key);
    const problem = this.problemOf(name) ?? 'invalid event name';
    this.#say(`track(${loggableEventName(name)}) refused: ${problem}; the event was dropped (see docs/adding-events.md)`);
  }

  // track() runs inside the host's routes: a throwing logger must not reach them.
  #say(message: string): void {
    try {
      this.logger.warn(message);
    } catch {
      // nothing to do: the warning is best effort
    }
  }
}
