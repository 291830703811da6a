// Which submissions count against the hourly per-installation limit (docs/collector.md, "Rate
// limit and back-filled weeks"). A client that missed weeks (host down, collector unreachable)
// sends them in one run, oldest first, each once: those back-filled weeks are not held to the
// hourly limit, or a catch-up of n weeks would take n hours. Only the *current* period is.
// Anti-flood stays: a back-fill must name a period that ended at least a week ago and at most
// BACKFILL_HORIZON_DAYS ago, be one whole UTC week starting on a Monday (what the plugin sends), and
// carry the protocol's own Idempotency-Key for that period, so each week is stored at most once per
// installation (a resend is a replay) — a client can add at most one back-fill per week of the
// horizon, whatever it sends. Anything else is a current submission.
import { idempotencyKey } from '../../core/protocol.js';

const DAY_MS = 86_400_000;
/** How far back a back-filled period may end (the plugin sends at most 12 weeks of history). */
export const BACKFILL_HORIZON_DAYS = 16 * 7;
/** A period that ended less than this before the current UTC day is the current one. */
export const CURRENT_PERIOD_DAYS = 7;

export interface SubmissionIdentity {
  installId: string;
  idempotencyKey: string | null;
  periodStart: string;
  periodEnd: string;
}

/** Whether a submission received at `receivedAt` back-fills a past period (exempt from the hourly limit). */
export function isBackfill(submission: SubmissionIdentity, receivedAt: Date): boolean {
  const today = Math.floor(receivedAt.getTime() / DAY_MS) * DAY_MS;
  const end = Date.parse(`${submission.periodEnd}T00:00:00Z`);
  const start = Date.parse(`${submission.periodStart}T00:00:00Z`);
  if (!Number.isFinite(end) || !Number.isFinite(start)) return false;
  // One whole week from a Monday (getUTCDay() === 1): arbitrary starts would make arbitrary keys.
  if (end - start !== 7 * DAY_MS || new Date(start).getUTCDay() !== 1) return false;
  if (end > today - CURRENT_PERIOD_DAYS * DAY_MS || end < today - BACKFILL_HORIZON_DAYS * DAY_MS) return false;
  return submission.idempotencyKey !== null && submission.idempotencyKey === idempotencyKey(submission.installId, submission.periodStart);
}
