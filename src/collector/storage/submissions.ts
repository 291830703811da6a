// Accepting a submission is one unit of work: withLockedInstallation opens a transaction, locks
// the installation's row and reads it (with its signing secret and any submission already accepted
// under the request's Idempotency-Key); the ingest service verifies and validates the request
// against that view and then commits the submission through it. The commit enforces "one accepted
// submission per installation per window" against the locked row (so it holds across processes),
// stores the submission, updates the installation's latest state and the rollups — all or nothing.
// On PostgreSQL the requests that arrive together are a batch (group commit, see IngestBatching):
// one transaction locks all their installations, decides each request in arrival order, and
// writes what was accepted as one statement.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { COLLECTOR_TABLES } from './tables.js';
import type { Dialect } from './database.js';
import { isUniqueViolation } from './database.js';
import { lockInstallation } from './installations.js';
import { countChange, lastSeenMove, mergeDeltas, reportedState, rollupChange, storedPayload, type LastSeenDelta, type ReportedState, type RollupChange, type RollupDelta } from './rollup-deltas.js';
import { unnestRows, writeCounters, type SqlPart, type TypedColumn } from './rollups.js';
import { toDate, toNumber } from '../analytics/time.js';
import { DEFAULT_INGEST_BATCH_SIZE, DEFAULT_INGEST_BATCH_WAIT_MS } from '../options.js';
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

/** An installation counts as registered from its first accepted submission (never-submitting registrations count nowhere). */
function withFirstSubmission(change: RollupChange, installId: string, now: Date, first: boolean): RollupChange {
  if (!first) return change;
  const registered = countChange('registered', installId, now, 1);
  return { daily: [...change.daily, ...registered.daily], weekly: [...change.weekly, ...registered.weekly] };
}

/**
 * Group commit (PostgreSQL): submissions that arrive within `maxWaitMs` of each other, at most
 * `maxSize`, share one transaction and one write statement, so the hot rollup rows (today × every
 * dimension × shard) are updated once per batch instead of once per submission.
 */
export interface IngestBatching {
  maxSize: number;
  maxWaitMs: number;
  /** Told the size of every batch written. */
  onBatch?: (size: number) => void;
}

export const DEFAULT_INGEST_BATCHING: IngestBatching = { maxSize: DEFAULT_INGEST_BATCH_SIZE, maxWaitMs: DEFAULT_INGEST_BATCH_WAIT_MS };

/** One request waiting for its batch. */
interface BatchItem {
  target: SubmissionLockTarget;
  work: (locked: LockedInstallation | null) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** An installation as the batch sees it: its locked row, then its state after each accepted submission of the batch. */
interface BatchInstallation {
  row: InstallationRow;
  lastSeen: Date | null;
  previous: ReportedState | null;
  acceptedInBatch: AcceptedSubmissionRef[];
}

/** What one accepted submission writes. */
interface StagedSubmission {
  installId: string;
  submissionId: string;
  idempotencyKey: string | null;
  now: Date;
  payload: SubmissionPayload;
  next: ReportedState;
  events: number;
  change: RollupChange;
  lastSeen: LastSeenDelta[];
  self: AcceptedSubmissionRef;
}

function mergeLastSeen(deltas: LastSeenDelta[]): LastSeenDelta[] {
  const rows = new Map<string, LastSeenDelta>();
  for (const d of deltas) {
    const key = `${d.day}\u0000${d.shard}`;
    const row = rows.get(key) ?? { day: d.day, shard: d.shard, installations: 0 };
    row.installations += d.installations;
    rows.set(key, row);
  }
  return [...rows.values()].filter((d) => d.installations !== 0).sort((a, b) => (a.day !== b.day ? (a.day < b.day ? -1 : 1) : a.shard - b.shard));
}

const SUBMISSION_COLUMNS: TypedColumn[] = [
  { name: 'id', cast: 'text' },
  { name: 'install_id', cast: 'text' },
  { name: 'idempotency_key', cast: 'text' },
  { name: 'received_at', cast: 'timestamptz' },
  { name: 'period_start', cast: 'text' },
  { name: 'period_end', cast: 'text' },
  { name: 'app_version', cast: 'text' },
  { name: 'platform', cast: 'text' },
  { name: 'deployment_type', cast: 'text' },
  { name: 'country', cast: 'text' },
  { name: 'error_count', cast: 'bigint' },
  { name: 'uptime_hours', cast: 'real' },
  { name: 'event_total', cast: 'bigint' },
  { name: 'payload', cast: 'text' },
];
const INSERT_SUBMISSIONS_HEAD = `insert into ${T.submissions} (${SUBMISSION_COLUMNS.map((c) => c.name).join(', ')}) `;
const UPDATE_COLUMNS: TypedColumn[] = [
  { name: 'install_id', cast: 'text' },
  { name: 'last_seen_at', cast: 'timestamptz' },
  { name: 'app_version', cast: 'text' },
  { name: 'platform', cast: 'text' },
  { name: 'deployment_type', cast: 'text' },
  { name: 'country', cast: 'text' },
  { name: 'feature_flags', cast: 'text' },
  { name: 'last_error_count', cast: 'int' },
  { name: 'accepted', cast: 'int' },
];
const UPDATE_INSTALLATIONS_HEAD =
  `update ${T.installations} as i set last_seen_at = v.last_seen_at, app_version = v.app_version, platform = v.platform, deployment_type = v.deployment_type, ` +
  `country = v.country, feature_flags = v.feature_flags, last_error_count = v.last_error_count, submissions_count = i.submissions_count + v.accepted from (`;
const UPDATE_INSTALLATIONS_TAIL = `) as v where i.install_id = v.install_id`;
// Installations are locked in install_id order (byte order, as JS sorts them): every batch, in any process, the same order.
const LOCK_BATCH = `select i.install_id, ${LOCK_COLUMNS.map((c) => `i.${c}`).join(', ')} from ${T.installations} i where i.install_id = any(?::text[]) order by i.install_id collate "C" for update of i`;
const REPLAYS = `select install_id, idempotency_key, id from ${T.submissions} where install_id = any(?::text[]) and idempotency_key = any(?::text[])`;

/**
 * Whether a submission is held to the rate limit: the latest limited submission of the
 * installation in the window (stored ones read under the lock, plus those accepted earlier in the
 * same batch). Only queried when something was accepted within the window (rare).
 */
async function rateLimitVerdict(
  trx: Knex.Transaction,
  installId: string,
  lastSeen: Date | null,
  acceptedInBatch: AcceptedSubmissionRef[],
  self: AcceptedSubmissionRef,
  rules: CommitRules,
): Promise<{ retryAfterSeconds: number } | null> {
  const { now, windowSeconds } = rules;
  const windowStart = new Date(now.getTime() - windowSeconds * 1000);
  if (!lastSeen || lastSeen <= windowStart || !rules.limited(self)) return null;
  const recent = (await trx(T.submissions)
    .select('idempotency_key', 'period_start', 'period_end', 'received_at')
    .where('install_id', installId)
    .andWhere('received_at', '>', windowStart)) as { idempotency_key: string | null; period_start: string; period_end: string; received_at: unknown }[];
  const limitedAt = [
    ...recent.map((r) => ({ idempotencyKey: r.idempotency_key, periodStart: String(r.period_start), periodEnd: String(r.period_end), receivedAt: toDate(r.received_at) ?? now })),
    ...acceptedInBatch.filter((r) => r.receivedAt > windowStart),
  ]
    .filter((r) => rules.limited(r))
    .reduce<number | null>((latest, r) => Math.max(latest ?? 0, r.receivedAt.getTime()), null);
  if (limitedAt === null) return null;
  const openAt = limitedAt + windowSeconds * 1000;
  if (now.getTime() >= openAt) return null;
  return { retryAfterSeconds: Math.max(1, Math.ceil((openAt - now.getTime()) / 1000)) };
}

export class SubmissionRepository {
  #queue: BatchItem[] = [];
  #timer: NodeJS.Timeout | null = null;
  #writing = false;
  readonly #batching: IngestBatching;
  /** Batches written so far (PostgreSQL), and how many requests they answered: for tests and metrics. */
  readonly batchStats = { batches: 0, items: 0, fallbacks: 0 };

  constructor(
    private readonly knex: Knex,
    private readonly dialect: Dialect,
    batching: IngestBatching = DEFAULT_INGEST_BATCHING,
  ) {
    this.#batching = batching;
  }

  /**
   * Runs `work` in a transaction holding the installation's row lock (null: no such installation).
   * Whatever `work` throws rolls everything back and is rethrown. Two requests with the same
   * Idempotency-Key that still both got past the replay lookup meet at the unique index: the loser
   * runs `work` once more and then sees the winner's submission as `replayOf`.
   */
  async withLockedInstallation<T>(target: SubmissionLockTarget, work: (locked: LockedInstallation | null) => Promise<T>): Promise<T> {
    if (this.dialect === 'postgres' && this.#batching.maxSize > 1) {
      return new Promise<T>((resolve, reject) => {
        this.#queue.push({ target, work, resolve: resolve as (value: unknown) => void, reject });
        // While a batch is being written, arrivals wait for it to finish and then go together.
        if (this.#writing) return;
        if (this.#queue.length >= this.#batching.maxSize) this.#flush();
        else this.#timer ??= setTimeout(() => this.#flush(), this.#batching.maxWaitMs);
      });
    }
    return this.#single(target, work);
  }

  async #single<T>(target: SubmissionLockTarget, work: (locked: LockedInstallation | null) => Promise<T>): Promise<T> {
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

  /**
   * One batch in flight per process: the batches of one process would only queue behind each
   * other on the same hot rollup rows, so the requests arriving meanwhile are better written as
   * the next batch, right after (group commit: the busier, the larger the batches).
   */
  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const items = this.#queue.splice(0, this.#batching.maxSize);
    if (items.length === 0) return;
    this.#writing = true;
    void this.#runBatch(items).finally(() => {
      this.#writing = false;
      if (this.#queue.length > 0) this.#flush();
    });
  }

  /**
   * One transaction for the whole batch. A request's own failure (bad signature, invalid payload)
   * is its answer alone: nothing of it was staged. When the batch's transaction itself fails
   * (a deadlock, a unique race, a row the database refuses), nothing of it is stored and every
   * request runs again on its own, so one culprit never turns innocent requests into 5xx.
   */
  async #runBatch(items: BatchItem[]): Promise<void> {
    let answers: { ok: boolean; value: unknown }[];
    try {
      answers = await this.knex.transaction((trx) => this.#batchUnit(trx, items));
      this.batchStats.batches += 1;
      this.batchStats.items += items.length;
      this.#batching.onBatch?.(items.length);
    } catch {
      this.batchStats.fallbacks += 1;
      for (const item of items) this.#single(item.target, item.work).then(item.resolve, item.reject);
      return;
    }
    answers.forEach((answer, i) => (answer.ok ? items[i]!.resolve(answer.value) : items[i]!.reject(answer.value)));
  }

  async #batchUnit(trx: Knex.Transaction, items: BatchItem[]): Promise<{ ok: boolean; value: unknown }[]> {
    const ids = [...new Set(items.map((item) => item.target.installId))].sort();
    const locked = (await trx.raw(LOCK_BATCH, [ids])).rows as (InstallationRow & { install_id: string })[];
    const installations = new Map<string, BatchInstallation>();
    for (const row of locked) {
      installations.set(row.install_id, { row, lastSeen: toDate(row.last_seen_at), previous: previousState(row), acceptedInBatch: [] });
    }
    // Read after the locks (a fresh snapshot): a submission another process committed before we got them is seen.
    const keys = [...new Set(items.map((item) => item.target.idempotencyKey).filter((k): k is string => k !== null))];
    const replays = new Map<string, string>();
    if (keys.length > 0 && installations.size > 0) {
      const rows = (await trx.raw(REPLAYS, [[...installations.keys()], keys])).rows as { install_id: string; idempotency_key: string; id: string }[];
      for (const r of rows) replays.set(`${r.install_id}\u0000${r.idempotency_key}`, r.id);
    }
    const staged: StagedSubmission[] = [];
    const answers: { ok: boolean; value: unknown }[] = [];
    // In arrival order: a later request of the same installation sees what an earlier one did.
    for (const item of items) {
      const { installId, idempotencyKey } = item.target;
      const installation = installations.get(installId);
      const replayKey = idempotencyKey === null ? null : `${installId}\u0000${idempotencyKey}`;
      let mine: StagedSubmission | null = null;
      const view: LockedInstallation | null = installation
        ? {
            installId,
            secret: installation.row.secret,
            replayOf: replayKey === null ? null : (replays.get(replayKey) ?? null),
            commit: async (payload, rules) => {
              if (mine !== null) throw new Error('a locked installation takes one submission');
              const self: AcceptedSubmissionRef = { idempotencyKey, periodStart: payload.period.start, periodEnd: payload.period.end, receivedAt: rules.now };
              const limited = await rateLimitVerdict(trx, installId, installation.lastSeen, installation.acceptedInBatch, self, rules);
              if (limited) return { outcome: 'rate_limited', retryAfterSeconds: limited.retryAfterSeconds };
              const next = reportedState(payload);
              const events = Object.values(payload.event_counts).reduce((sum, n) => sum + n, 0);
              const { lastSeen, previous } = installation;
              mine = {
                installId,
                submissionId: randomUUID(),
                idempotencyKey,
                now: rules.now,
                payload,
                next,
                events,
                change: withFirstSubmission(rollupChange(installId, rules.now, next, events, previous, lastSeen), installId, rules.now, lastSeen === null),
                lastSeen: lastSeenMove(installId, lastSeen, rules.now),
                self,
              };
              return { outcome: 'accepted', submissionId: mine.submissionId };
            },
          }
        : null;
      try {
        answers.push({ ok: true, value: await item.work(view) });
      } catch (error) {
        answers.push({ ok: false, value: error });
        continue;
      }
      const accepted = mine as StagedSubmission | null;
      if (accepted && installation) {
        staged.push(accepted);
        installation.lastSeen = accepted.now;
        installation.previous = accepted.next;
        installation.acceptedInBatch.push(accepted.self);
        if (replayKey !== null) replays.set(replayKey, accepted.submissionId);
      }
    }
    if (staged.length > 0) await this.#writeBatch(trx, staged);
    return answers;
  }

  /** The batch's accepted submissions as ONE statement: submissions, installations, summed rollups and last-seen days. */
  async #writeBatch(trx: Knex.Transaction, staged: StagedSubmission[]): Promise<void> {
    const insertRows = staged.map((s): Knex.Value[] => {
      const p = s.payload;
      return [s.submissionId, s.installId, s.idempotencyKey, s.now, p.period.start, p.period.end, p.app_version, p.platform, p.deployment_type, p.country, p.error_count, p.uptime_hours, s.events, JSON.stringify(storedPayload(p))];
    });
    const rows = unnestRows(SUBMISSION_COLUMNS, insertRows);
    const insert: SqlPart = { sql: `${INSERT_SUBMISSIONS_HEAD}${rows.sql}`, bindings: rows.bindings };
    // Per installation: its latest state, and how many of its submissions were accepted.
    const latest = new Map<string, { s: StagedSubmission; accepted: number }>();
    for (const s of staged) latest.set(s.installId, { s, accepted: (latest.get(s.installId)?.accepted ?? 0) + 1 });
    const updateRows = [...latest.values()].map(({ s, accepted }): Knex.Value[] => [
      s.installId, s.now, s.next.appVersion, s.next.platform, s.next.deploymentType, s.next.country, JSON.stringify(s.next.features), s.next.errorCount, accepted,
    ]);
    const values = unnestRows(UPDATE_COLUMNS, updateRows);
    const update: SqlPart = { sql: `${UPDATE_INSTALLATIONS_HEAD}${values.sql}${UPDATE_INSTALLATIONS_TAIL}`, bindings: values.bindings };
    const change: RollupChange = { daily: mergeDeltas(staged.flatMap((s) => s.change.daily)), weekly: mergeDeltas(staged.flatMap((s) => s.change.weekly)) };
    await writeCounters(trx, this.dialect, [insert, update], change, mergeLastSeen(staged.flatMap((s) => s.lastSeen)));
  }

  async #commit(trx: Knex.Transaction, target: SubmissionLockTarget, row: InstallationRow, payload: SubmissionPayload, rules: CommitRules): Promise<CommitResult> {
    const { installId, idempotencyKey } = target;
    const { now } = rules;
    const lastSeen = toDate(row.last_seen_at);
    const self: AcceptedSubmissionRef = { idempotencyKey, periodStart: payload.period.start, periodEnd: payload.period.end, receivedAt: now };
    const limited = await rateLimitVerdict(trx, installId, lastSeen, [], self, rules);
    if (limited) return { outcome: 'rate_limited', retryAfterSeconds: limited.retryAfterSeconds };
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
    const unsorted = withFirstSubmission(rollupChange(installId, now, next, events, previousState(row), lastSeen), installId, now, lastSeen === null);
    // Sorted as a batch sorts its rows (and erasure its own): one lock order for every writer.
    const change: RollupChange = { daily: mergeDeltas(unsorted.daily), weekly: mergeDeltas(unsorted.weekly) };
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
