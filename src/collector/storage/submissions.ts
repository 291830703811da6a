// Accepting a submission: one transaction that locks the installation, recognises a replayed
// Idempotency-Key, enforces "one accepted submission per installation per window" against the
// database (so it holds across processes), stores the submission, updates the installation's
// latest state and the rollups — all or nothing.
//
// The same statements run on both databases. On SQLite they go one by one through a knex
// transaction (in-process calls). On PostgreSQL every round trip costs a network write and read,
// so they are batched into two round trips on one pooled connection: "BEGIN; lock; replay check"
// and then "writes…; COMMIT" (or ROLLBACK). The values are inlined with knex's PostgreSQL literal
// escaping; the payload has been schema-validated before it gets here.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { COLLECTOR_TABLES } from './tables.js';
import type { Dialect } from './database.js';
import { isUniqueViolation } from './database.js';
import { lockInstallation } from './installations.js';
import { countChange, reportedState, rollupChange, type ReportedState, type RollupChange } from './rollup-deltas.js';

export { reportedState };
import { rollupUpserts } from './rollups.js';
import { toDate, toNumber } from '../analytics/time.js';
import type { SubmissionPayload } from '../../core/protocol.js';

const T = COLLECTOR_TABLES;

export type AcceptResult =
  | { outcome: 'accepted'; submissionId: string }
  | { outcome: 'replayed'; submissionId: string }
  | { outcome: 'rate_limited'; retryAfterSeconds: number }
  | { outcome: 'unknown_installation' };

/** What the caller learns about the locked installation before anything is written. */
export interface LockedView {
  secret: string;
  /** The submission already accepted under this Idempotency-Key, if any. */
  replaySubmissionId: string | null;
}

/**
 * Called with the installation row locked: verify the signature and validate the payload here
 * (throwing rolls the transaction back), then return the payload to store, or a replay.
 */
export type Authorize = (view: LockedView) => SubmissionPayload | { replay: string };

export interface AcceptInput {
  installId: string;
  idempotencyKey: string | null;
  /** The validated payload, or a callback that verifies and validates under the lock. */
  payload: SubmissionPayload | Authorize;
  now: Date;
  windowSeconds: number;
}

interface LockedInstallation extends Record<string, unknown> {
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

function previousState(row: LockedInstallation): ReportedState | null {
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

type Decision = { result: Exclude<AcceptResult, { outcome: 'accepted' }> } | { result: { outcome: 'accepted'; submissionId: string }; writes: Knex.QueryBuilder[] };

/** Minimal view of a node-postgres client, as knex's pool hands it out. */
interface PgConnection {
  query(sql: string): Promise<PgResult | PgResult[]>;
}
interface PgResult {
  rows: Record<string, unknown>[];
}
interface PoolClient {
  acquireConnection(): Promise<PgConnection>;
  releaseConnection(connection: PgConnection): Promise<void>;
}

export class SubmissionRepository {
  constructor(
    private readonly knex: Knex,
    private readonly dialect: Dialect,
  ) {}

  /** What to do once the installation row is locked: answer now, or write these statements. */
  /**
   * `inlined`: the statements will be rendered with their values inlined (knex's toQuery), which
   * writes a Date as local time without an offset — so timestamps go in as ISO strings with "Z".
   */
  #decide(k: Knex | Knex.Transaction, input: AcceptInput, row: LockedInstallation | undefined, replayId: string | null, inlined = false): Decision {
    const { installId, idempotencyKey, now, windowSeconds } = input;
    if (!row) return { result: { outcome: 'unknown_installation' } };
    let payload: SubmissionPayload;
    if (typeof input.payload === 'function') {
      const verdict = input.payload({ secret: row.secret, replaySubmissionId: replayId });
      if ('replay' in verdict) return { result: { outcome: 'replayed', submissionId: verdict.replay } };
      payload = verdict;
    } else {
      payload = input.payload;
    }
    // Checked under the lock: a concurrent request with the same key may have just won.
    if (replayId) return { result: { outcome: 'replayed', submissionId: replayId } };
    const lastSeen = toDate(row.last_seen_at);
    if (lastSeen) {
      const openAt = lastSeen.getTime() + windowSeconds * 1000;
      if (now.getTime() < openAt) return { result: { outcome: 'rate_limited', retryAfterSeconds: Math.max(1, Math.ceil((openAt - now.getTime()) / 1000)) } };
    }

    const next = reportedState(payload);
    const events = Object.values(payload.event_counts).reduce((sum, n) => sum + n, 0);
    const submissionId = randomUUID();
    const at = inlined ? now.toISOString() : now;
    const writes: Knex.QueryBuilder[] = [
      k(T.submissions).insert({
        id: submissionId,
        install_id: installId,
        idempotency_key: idempotencyKey,
        received_at: at,
        period_start: payload.period.start,
        period_end: payload.period.end,
        app_version: payload.app_version,
        platform: payload.platform,
        deployment_type: payload.deployment_type,
        country: payload.country,
        error_count: payload.error_count,
        uptime_hours: payload.uptime_hours,
        event_total: events,
        payload: JSON.stringify(payload),
      }),
      k(T.installations)
        .where('install_id', installId)
        .update({
          last_seen_at: at,
          app_version: next.appVersion,
          platform: next.platform,
          deployment_type: next.deploymentType,
          country: next.country,
          feature_flags: JSON.stringify(next.features),
          last_error_count: next.errorCount,
          submissions_count: k.raw('submissions_count + 1'),
        }),
      ...rollupUpserts(k, withFirstSubmission(rollupChange(installId, now, next, events, previousState(row), lastSeen), installId, now, lastSeen === null)),
    ];
    return { result: { outcome: 'accepted', submissionId }, writes };
  }

  #replayQuery(k: Knex | Knex.Transaction, installId: string, idempotencyKey: string) {
    return k(T.submissions).select('id').where({ install_id: installId, idempotency_key: idempotencyKey }).first();
  }

  async accept(input: AcceptInput): Promise<AcceptResult> {
    try {
      return this.dialect === 'postgres' ? await this.#acceptBatched(input) : await this.#acceptStepwise(input);
    } catch (err) {
      // The unique (install_id, idempotency_key) index is the last line: a replay, never a 5xx.
      if (input.idempotencyKey && isUniqueViolation(err)) {
        const replay = (await this.#replayQuery(this.knex, input.installId, input.idempotencyKey)) as { id: string } | undefined;
        if (replay) return { outcome: 'replayed', submissionId: replay.id };
      }
      throw err;
    }
  }

  async #acceptStepwise(input: AcceptInput): Promise<AcceptResult> {
    return this.knex.transaction(async (trx) => {
      const row = await lockInstallation<LockedInstallation>(trx, this.dialect, input.installId, LOCK_COLUMNS);
      const replay = row && input.idempotencyKey ? ((await this.#replayQuery(trx, input.installId, input.idempotencyKey)) as { id: string } | undefined) : undefined;
      const decision = this.#decide(trx, input, row, replay?.id ?? null);
      if ('writes' in decision) for (const statement of decision.writes) await statement;
      return decision.result;
    });
  }

  async #acceptBatched(input: AcceptInput): Promise<AcceptResult> {
    const pool = this.knex.client as unknown as PoolClient;
    const connection = await pool.acquireConnection();
    let open = false;
    try {
      const lock = this.knex(T.installations).select(LOCK_COLUMNS).where('install_id', input.installId).forUpdate().first();
      const statements = ['BEGIN', lock.toQuery()];
      if (input.idempotencyKey) statements.push(this.#replayQuery(this.knex, input.installId, input.idempotencyKey).toQuery());
      open = true;
      const results = (await connection.query(statements.join(';\n'))) as PgResult[];
      const row = results[1]!.rows[0] as LockedInstallation | undefined;
      const replayId = (results[2]?.rows[0]?.id as string | undefined) ?? null;
      let decision: Decision;
      try {
        decision = this.#decide(this.knex, input, row, replayId, true);
      } catch (err) {
        // Refused by the caller (signature, payload): nothing was written.
        await connection.query('ROLLBACK');
        open = false;
        throw err;
      }
      if (!('writes' in decision)) {
        await connection.query('ROLLBACK');
        open = false;
        return decision.result;
      }
      await connection.query([...decision.writes.map((w) => w.toQuery()), 'COMMIT'].join(';\n'));
      open = false;
      return decision.result;
    } catch (err) {
      if (open) await connection.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      await pool.releaseConnection(connection);
    }
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
