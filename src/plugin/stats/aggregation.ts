// The weekly, count-only summary (docs/privacy-policy.md, section 4): counts per event type, error count, uptime hours and the
// host's feature booleans over a period of whole UTC days. No individual event, no free text.
import type { RuntimeEnvironment } from '../telemetry/environment.js';
import type { UsageStatsRepository } from './repository.js';
import { SUBMISSION_SCHEMA_VERSION, type SubmissionPayload } from '../../core/protocol.js';
import { TIMEZONE_COUNTRIES } from './timezone-countries.js';
import { classifyKey } from '../telemetry/privacy-guard.js';

const DAY_MS = 86_400_000;
export const PERIOD_DAYS = 7;
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

export async function buildWeeklySummary(repository: UsageStatsRepository, inputs: PayloadInputs, now: Date): Promise<WeeklySummary> {
  const period = periodEndingAt(now);
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
