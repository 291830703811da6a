// The host's support callbacks (options.support.isSupporter / userStats), called on a host page's
// path: each is capped in time, and a failing, slow or malformed answer degrades to "unknown" /
// "no stats" instead of reaching the page.
import type { Context } from 'koa';
import { DEFAULT_HOST_CALLBACK_DEADLINE_MS, type ResolvedOptions } from '../options.js';
import type { TelemetryUser } from '../types.js';
import { withDeadline } from '../../core/resilience/deadline.js';
import { EMPTY_USER_STATS, normalizeUserStats, type SupportUserStats } from './user-stats.js';
import { ENGLISH, type Translator } from '../i18n/catalog.js';


type HostCallbacks = Pick<ResolvedOptions['support'], 'isSupporter' | 'userStats'>;

/** Runs `work`; its value, or `fallback` when it throws, rejects or takes longer than `ms`. */
export function settle<T>(work: () => T | Promise<T>, fallback: T, ms: number): Promise<T> {
  const running = Promise.resolve()
    .then(work)
    .catch(() => fallback);
  return withDeadline(running, ms, { onTimeout: fallback });
}

export interface HostSupportInputs {
  /** null when the host's isSupporter failed or did not answer in time. */
  isSupporter: boolean | null;
  stats: SupportUserStats;
}

const UNKNOWN = Symbol('unknown');

/** The host's isSupporter(ctx) and userStats(ctx, user), each capped in time; failures degrade. */
export async function hostSupportInputs(ctx: Context, host: HostCallbacks, user: TelemetryUser, translator: Translator = ENGLISH, ms = DEFAULT_HOST_CALLBACK_DEADLINE_MS): Promise<HostSupportInputs> {
  const [supporter, rawStats] = await Promise.all([
    settle<boolean | typeof UNKNOWN>(async () => (await host.isSupporter(ctx)) === true, UNKNOWN, ms),
    settle<unknown>(() => host.userStats(ctx, user), undefined, ms),
  ]);
  return { isSupporter: supporter === UNKNOWN ? null : supporter, stats: rawStats === undefined ? EMPTY_USER_STATS : safeNormalize(rawStats, translator) };
}

function safeNormalize(raw: unknown, translator: Translator): SupportUserStats {
  try {
    return normalizeUserStats(raw, translator);
  } catch {
    return EMPTY_USER_STATS;
  }
}

/** isSupporter without waiting: a synchronous answer is used, a promise counts as unknown. */
export function supporterNow(ctx: Context, host: HostCallbacks): boolean | null {
  try {
    const answer = host.isSupporter(ctx);
    if (typeof answer === 'boolean') return answer;
    if (answer && typeof (answer as Promise<boolean>).then === 'function') (answer as Promise<boolean>).catch(() => undefined);
    return null;
  } catch {
    return null;
  }
}
