// Accepting a submission is one unit of work: withLockedInstallation opens a transaction, locks
// the installation's row and reads it (with its signing secret and any submission already accepted
// under the request's Idempotency-Key); the ingest service verifies and validates the request
// against that view and then commits the submission through it. The commit enforces "one accepted
// submission per installation per window" against the locked row (so it holds across processes),
// stores the submission, updates the installation's latest state and the rollups — all or nothing.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { COLLECTOR_TABLES } from './tables.js';
import type { Dialect } from './database.js';
import { isUniqueViolation } from './database.js';
import { lockInstallation } from './installations.js';
import { countChange, lastSeenMove, reportedState, rollupChange, storedPayload, type ReportedState, type RollupChange } from './rollup-deltas.js';
import { writeCounters, type SqlPart } from './rollups.js';
import { toDate, toNumber } from '../analytics/time.js';
import type { SubmissionPayload } from '../../core/protocol.js';

const T = COLLECTOR_TABLES;

export type CommitResult = { outcome: 'accepted'; submissionId: string } | { outcome: 'rate_limited'; retryAfterSeconds: number };

/** An installation's row, locked until the unit of work ends, and the one write a submission may make. */
export interface LockedInstallation {
  readonly installId: string;
  /** The installation's signing secret. */
  readonly secret: string;
  /** The submission already accepted under the request's Idempotency-Key (read under the lock), or null. */
  readonly replayOf: string | null;
  /**
   * Stores a verified, validated submission — unless it is held to the rate limit and the
   * installation's last accepted submission that also was is less than `windowSeconds` old (then
   * nothing is written). At most once per unit of work.
   */
  commit(payload: SubmissionPayload, at: CommitRules): Promise<CommitResult>;
}

/** A stored submission as the rate limit sees it. */
export interface AcceptedSubmissionRef {
  idempotencyKey: string | null;
  periodStart: string;
  periodEnd: string;
  receivedAt: Date;
}

export interface CommitRules {
  now: Date;
  windowSeconds: number;
  /** Whether a submission counts against the window (ingest/backfill.ts: back-filled weeks do not). */
  limited: (submission: AcceptedSubmissionRef) => boolean;
}

export interface SubmissionLockTarget {
  installId: string;
  /** The request's Idempotency-Key; null: no replay lookup and none stored. */
  idempotencyKey: string | null;
}

interface InstallationRow extends Record<string, unknown> {
  secret: string;
  last_seen_at: unknown;
  app_version: string | null;
  platform: string | null;
  deployment_type: string | null;
  country: string | null;
  feature_flags: string | null;
  last_error_count: number | null;
}

const LOCK_COLUMNS = ['secret', 'last_seen_at', 'app_version', 'platform', 'deployment_type', 'country', 'feature_flags', 'last_error_count'];

function previousState(row: InstallationRow): ReportedState | null {
  if (!row.app_version || !row.platform || !row.deployment_type || !row.country) return null;
  let features: string[] = [];
  try {
    const parsed = JSON.parse(row.feature_flags ?? '[]') as unknown;
    if (Array.isArray(parsed)) features = parsed.filter((f): f is string => typeof f === 'string');
  } catch {
    features = [];
  }
  return {
    appVersion: row.app_version,
    platform: row.platform,
    deploymentType: row.deployment_type,
    country: row.country,
    features,
    errorCount: toNumber(row.last_error_count),
  };
}

/**
 * An installation counts as registered from its first accepted submission (never-submitting
 * registrations count nowhere). The 'registered' rows go last, after the sorted rows: the same
 * order in every transaction, so no deadlock.
 */
function withFirstSubmission(change: RollupChange, installId: string, now: Date, first: boolean): RollupChange {
  if (!first) return change;
  const registered = countChange('registered', installId, now, 1);
  return { daily: [...change.daily, ...registered.daily], weekly: [...change.weekly, ...registered.weekly] };
}

export class SubmissionRepository {
  constructor(
    private readonly knex: Knex,
    private readonly dialect: Dialect,
  ) {}

  /**
   * Runs `work` in a transaction holding the installation's row lock (null: no such installation).
   * Whatever `work` throws rolls everything back and is rethrown. Two requests with the same
   * Idempotency-Key that still both got past the replay lookup meet at the unique index: the loser
   * runs `work` once more and then sees the winner's submission as `replayOf`.
   */
  async withLockedInstallation<T>(target: SubmissionLockTarget, work: (locked: LockedInstallation | null) => Promise<T>): Promise<T> {
    try {
      return await this.#unitOfWork(target, work);
    } catch (err) {
      if (target.idempotencyKey === null || !isUniqueViolation(err)) throw err;
      return this.#unitOfWork(target, work);
    }
  }

  /**
   * The installation's row, locked, with the submission already accepted under the key (read under
   * the lock: a concurrent request with the same key may have just committed). PostgreSQL: one query.
   */
  async #lockWithReplay(trx: Knex.Transaction, target: SubmissionLockTarget): Promise<(InstallationRow & { replay_of: string | null }) | undefined> {
    if (this.dialect === 'postgres') {
      const replay = target.idempotencyKey === null ? 'null' : `(select s.id from ${T.submissions} s where s.install_id = i.install_id and s.idempotency_key = ?)`;
      const result = await trx.raw(
        `select ${LOCK_COLUMNS.map((c) => `i.${c}`).join(', ')}, ${replay} as replay_of from ${T.installations} i where i.install_id = ? for update of i`,
        target.idempotencyKey === null ? [target.installId] : [target.idempotencyKey, target.installId],
      );
      return (result.rows as (InstallationRow & { replay_of: string | null })[])[0];
    }
    const row = await lockInstallation<InstallationRow>(trx, this.dialect, target.installId, LOCK_COLUMNS);
    if (!row) return undefined;
    const replay = target.idempotencyKey === null
      ? undefined
      : ((await trx(T.submissions).select('id').where({ install_id: target.installId, idempotency_key: target.idempotencyKey }).first()) as { id: string } | undefined);
    return { ...row, replay_of: replay?.id ?? null };
  }

  #unitOfWork<T>(target: SubmissionLockTarget, work: (locked: LockedInstallation | null) => Promise<T>): Promise<T> {
    return this.knex.transaction(async (trx) => {
      const row = await this.#lockWithReplay(trx, target);
      if (!row) return work(null);
      let committed = false;
      return work({
        installId: target.installId,
        secret: row.secret,
        replayOf: row.replay_of ?? null,
        commit: async (payload, at) => {
          if (committed) throw new Error('a locked installation takes one submission');
          committed = true;
          return this.#commit(trx, target, row, payload, at);
        },
      });
    });
  }

  async #commit(trx: Knex.Transaction, target: SubmissionLockTarget, row: InstallationRow, payload: SubmissionPayload, rules: CommitRules): Promise<CommitResult> {
    const { installId, idempotencyKey } = target;
    const { now, windowSeconds } = rules;
    const lastSeen = toDate(row.last_seen_at);
    const windowStart = new Date(now.getTime() - windowSeconds * 1000);
    const self: AcceptedSubmissionRef = { idempotencyKey, periodStart: payload.period.start, periodEnd: payload.period.end, receivedAt: now };
    // Only when something was accepted within the window (rare): which of those count against it.
    if (lastSeen && lastSeen > windowStart && rules.limited(self)) {
      const recent = (await trx(T.submissions)
        .select('idempotency_key', 'period_start', 'period_end', 'received_at')
        .where('install_id', installId)
        .andWhere('received_at', '>', windowStart)) as { idempotency_key: string | null; period_start: string; period_end: string; received_at: unknown }[];
      const limitedAt = recent
        .map((r) => ({ idempotencyKey: r.idempotency_key, periodStart: String(r.period_start), periodEnd: String(r.period_end), receivedAt: toDate(r.received_at) ?? now }))
        .filter((r) => rules.limited(r))
        .reduce<number | null>((latest, r) => Math.max(latest ?? 0, r.receivedAt.getTime()), null);
      if (limitedAt !== null) {
        const openAt = limitedAt + windowSeconds * 1000;
        if (now.getTime() < openAt) return { outcome: 'rate_limited', retryAfterSeconds: Math.max(1, Math.ceil((openAt - now.getTime()) / 1000)) };
      }
    }
    const next = reportedState(payload);
    const events = Object.values(payload.event_counts).reduce((sum, n) => sum + n, 0);
    const submissionId = randomUUID();
    const insert = trx(T.submissions)
      .insert({
        id: submissionId,
        install_id: installId,
        idempotency_key: idempotencyKey,
        received_at: now,
        period_start: payload.period.start,
        period_end: payload.period.end,
        app_version: payload.app_version,
        platform: payload.platform,
        deployment_type: payload.deployment_type,
        country: payload.country,
        error_count: payload.error_count,
        uptime_hours: payload.uptime_hours,
        event_total: events,
        // Only what no column holds (see storedPayload).
        payload: JSON.stringify(storedPayload(payload)),
      })
      .toSQL();
    const update = trx(T.installations)
      .where('install_id', installId)
      .update({
        last_seen_at: now,
        app_version: next.appVersion,
        platform: next.platform,
        deployment_type: next.deploymentType,
        country: next.country,
        feature_flags: JSON.stringify(next.features),
        last_error_count: next.errorCount,
        submissions_count: trx.raw('submissions_count + 1'),
      })
      .toSQL();
    const before: SqlPart[] = [insert, update].map((q) => ({ sql: q.sql, bindings: q.bindings }));
    const change = withFirstSubmission(rollupChange(installId, now, next, events, previousState(row), lastSeen), installId, now, lastSeen === null);
    // One statement on PostgreSQL (submission, installation, rollups, last-seen day): the hot rollup
    // rows stay locked only from this statement to the commit.
    await writeCounters(trx, this.dialect, before, change, lastSeenMove(installId, lastSeen, now));
    return { outcome: 'accepted', submissionId };
  }

  /** Retention: submissions received before `cutoff` are deleted in batches; returns how many. */
  async purgeBefore(cutoff: Date, batchSize = 5000): Promise<number> {
    let removed = 0;
    for (;;) {
      const ids = (await this.knex(T.submissions).where('received_at', '<', cutoff).limit(batchSize).pluck('id')) as string[];
      if (ids.length === 0) return removed;
      removed += await this.knex(T.submissions).whereIn('id', ids).delete();
      if (ids.length < batchSize) return removed;
    }
  }
}
