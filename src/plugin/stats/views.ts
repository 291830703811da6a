// What the admin's statistics views answer (telemetry.stats.*, GET {api}/local, DELETE {api}/delete-all),
// declared once as plain types so the public handle does not expose the services behind them.
import type { ConsentState, DeploymentType } from '../types.js';

/** One weekly submission attempt, as the local ledger keeps it. */
export interface LedgerEntry {
  id: number;
  period_start: string;
  period_end: string;
  idempotency_key: string;
  payload: unknown;
  status: string;
  attempts: number;
  response_code: number | null;
  response_body: string | null;
  error: string | null;
  sent_at: string;
}

export interface InstallationView {
  install_id: string;
  first_seen_at: string;
  last_seen_at: string | null;
  app_version: string;
  platform: string;
  deployment_type: DeploymentType;
  timezone: string;
  country: string;
  collector_registered: boolean;
  collector_problem: { code: string; explanation: string; since: string } | null;
}

/** telemetry.stats.local(): what is stored here, this week's counts and the submission state. */
export interface LocalStatistics {
  installation: InstallationView;
  consent: ConsentState;
  kill_switch: { active: boolean; reason: string | null };
  totals: { events: number; unsubmitted: number; first_at: string | null; last_at: string | null };
  this_week: {
    from: string;
    /** Inclusive: the last day counted. */
    to: string;
    total: number;
    by_type: { event_type: string; count: number }[];
    pageviews_by_route: { route: string; count: number }[];
  };
  by_type: { event_type: string; count: number }[];
  /** The last 30 days, one entry per day (zero where nothing happened). */
  by_day: { day: string; count: number }[];
  recorder: { buffered: number; dropped: number; last_error: string | null } | { disabled: true };
  submission: { blocked_reason: string | null; retry_scheduled: boolean };
  last_submission: LedgerEntry | null;
}

/** telemetry.stats.deleteAll(): what was erased here and at the collector, and whether a new identity started. */
export interface StatsDeletion {
  local: { events: number; pageviews: number; submissions: number; outbound_ledger: number };
  remote: { requested: boolean; deleted: boolean; status?: number; error?: string };
  new_identity: { started: true; install_id: string } | { started: false; reason: string };
}
