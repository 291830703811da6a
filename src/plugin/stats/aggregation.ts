// The weekly, count-only summary (docs/privacy-policy.md, section 4): counts per event type, error count, uptime hours and the
// host's feature booleans over a period of whole UTC days. No individual event, no free text.
import type { RuntimeEnvironment } from '../telemetry/environment.js';
import type { UsageStatsRepository } from './repository.js';
import { SUBMISSION_SCHEMA_VERSION, type SubmissionPayload } from '../../core/protocol.js';
import { TIMEZONE_COUNTRIES } from './timezone-countries.js';
import { classifyKey } from '../telemetry/privacy-guard.js';

const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;
export const PERIOD_DAYS = 7;
/**
 * How far back a submission run reaches (docs/configuration.md, "Missed weeks"): the whole UTC
 * weeks (Monday to Monday) of at most the last 12 weeks. Older unsent weeks are never sent.
 */
export const MAX_HISTORY_WEEKS = 12;
const FLAG_NAME = /^[a-z][a-z0-9_]{0,63}$/;

/** IANA time zone → ISO country; `XX` when the zone names no single country (UTC, Etc/…). */
export function countryForTimezone(timezone: string): string {
  return TIMEZONE_COUNTRIES[timezone] ?? 'XX';
}

export interface Period {
  start: Date;
  end: Date;
  startDay: string;
  endDay: string;
}

/** The seven whole UTC days before `now`'s UTC day: [today - 7 d, today). */
export function periodEndingAt(now: Date): Period {
  const end = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS);
  const start = new Date(end.getTime() - PERIOD_DAYS * DAY_MS);
  return { start, end, startDay: start.toISOString().slice(0, 10), endDay: end.toISOString().slice(0, 10) };
}

/** Midnight UTC of the Monday that starts `date`'s week. */
export function mondayOf(date: Date): Date {
  const day = Math.floor(date.getTime() / DAY_MS) * DAY_MS;
  return new Date(day - ((new Date(day).getUTCDay() + 6) % 7) * DAY_MS);
}

function periodBetween(start: Date, end: Date): Period {
  return { start, end, startDay: start.toISOString().slice(0, 10), endDay: end.toISOString().slice(0, 10) };
}

/** What the ledger says about earlier runs. */
export interface SubmissionHistory {
  /** End (exclusive, YYYY-MM-DD) of the latest period the collector accepted, or null. */
  lastAcceptedEnd: string | null;
  /** Starts of the periods the collector refused for their content (400/413/422): not sent again. */
  refusedStarts: ReadonlySet<string>;
}

/**
 * The periods the next run sends, oldest first: every whole UTC week (Monday to Monday) that ended
 * before `now`'s week, from the end of the last accepted period on (the first one starts there if
 * that was mid-week, so no day is counted twice), or — when nothing was ever accepted — from the
 * week of the oldest local data, and at least the last whole week. Never more than MAX_HISTORY_WEEKS back.
 */
export function pendingPeriods(now: Date, history: SubmissionHistory, oldestData: Date | null): Period[] {
  const currentWeek = mondayOf(now).getTime();
  const horizon = currentWeek - MAX_HISTORY_WEEKS * WEEK_MS;
  let from: number;
  if (history.lastAcceptedEnd) from = Date.parse(`${history.lastAcceptedEnd}T00:00:00Z`);
  else from = Math.min(oldestData ? mondayOf(oldestData).getTime() : currentWeek, currentWeek - WEEK_MS);
  from = Math.max(from, horizon);
  const periods: Period[] = [];
  for (let week = mondayOf(new Date(from)).getTime(); week < currentWeek; week += WEEK_MS) {
    const period = periodBetween(new Date(Math.max(week, from)), new Date(week + WEEK_MS));
    if (period.start < period.end && !history.refusedStarts.has(period.startDay)) periods.push(period);
  }
  return periods;
}

/** Only well-formed boolean flags are reported; anything else the host returns is left out. */
export function sanitizeFeatureFlags(flags: unknown): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  if (typeof flags !== 'object' || flags === null) return out;
  for (const [key, value] of Object.entries(flags)) {
    // A flag's name goes into the weekly payload: it must not itself look like personal data (e.g. a long number).
    if (FLAG_NAME.test(key) && classifyKey(key) !== 'key_not_safe' && typeof value === 'boolean' && Object.keys(out).length < 50) out[key] = value;
  }
  return out;
}

export interface PayloadInputs {
  installId: string;
  appVersion: string;
  environment: RuntimeEnvironment;
  featureFlags: Record<string, boolean>;
}

export interface WeeklySummary {
  payload: SubmissionPayload;
  period: Period;
  /** Highest event id the counts include; these events are marked submitted after a 2xx. */
  maxEventId: number;
}

/** Nothing happened in the period: no event counted and no hour of uptime (the host was not running). */
export function isEmptySummary(summary: WeeklySummary): boolean {
  return Object.keys(summary.payload.event_counts).length === 0 && summary.payload.uptime_hours === 0;
}

/** The summary of `period` (a Date: the seven whole UTC days before it, see periodEndingAt). */
export async function buildWeeklySummary(repository: UsageStatsRepository, inputs: PayloadInputs, at: Period | Date): Promise<WeeklySummary> {
  const period = at instanceof Date ? periodEndingAt(at) : at;
  const { maxId, counts, errorCount } = await repository.unsubmittedSummary(period.start, period.end);
  const uptimeHours = await repository.uptimeHours(period.start, period.end);
  const appVersion = /^[\w.+-]{1,64}$/.test(inputs.appVersion) ? inputs.appVersion : 'unknown';
  const platform = /^[a-z0-9_]{1,32}$/.test(inputs.environment.platform) ? inputs.environment.platform : 'other';
  return {
    period,
    maxEventId: maxId,
    payload: {
      schema_version: SUBMISSION_SCHEMA_VERSION,
      install_id: inputs.installId,
      period: { start: period.startDay, end: period.endDay },
      app_version: appVersion,
      platform,
      deployment_type: inputs.environment.deployment_type,
      country: countryForTimezone(inputs.environment.timezone),
      event_counts: Object.fromEntries(Object.entries(counts).slice(0, 200)),
      feature_flags: inputs.featureFlags,
      error_count: errorCount,
      uptime_hours: uptimeHours,
    },
  };
}
