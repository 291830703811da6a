// Installations: registration (trust on first use), the signing secret lookup, erasure, retention,
// and the counts and breakdowns of the installations' latest reported state.
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { COLLECTOR_TABLES } from './tables.js';
import type { Dialect } from './database.js';
import { isUniqueViolation } from './database.js';
import { contributionOf, countChange, lastSeenChange, storedState } from './rollup-deltas.js';
import { RollupRepository, writeCounters } from './rollups.js';
import { addDays, toDate, toNumber, utcDay } from '../analytics/time.js';

const T = COLLECTOR_TABLES;
const DAY_MS = 86_400_000;

/** An erased installation id cannot be registered again for this many days. */
export const ERASED_ID_BLOCK_DAYS = 30;

/** What is kept of an erased id: its SHA-256, enough to recognise it at registration. */
export function erasedIdHash(installId: string): string {
  return createHash('sha256').update(installId.toLowerCase()).digest('hex');
}

export interface SigningRecord {
  secret: string;
}

export interface InstallationCounts {
  total: number;
  active7d: number;
  active30d: number;
}

export type BreakdownColumn = 'app_version' | 'deployment_type' | 'platform' | 'country';

export interface BucketCount {
  bucket: string;
  installations: number;
}

/**
 * Locks an installation's row for the rest of the transaction and reads it. PostgreSQL: SELECT …
 * FOR UPDATE (another process's transaction on the same installation waits). SQLite: a no-op write
 * first, so the transaction holds the database's write lock before it reads (writers are serialized
 * across processes, and a read-then-write upgrade can never fail on a stale snapshot).
 */
export async function lockInstallation<T extends Record<string, unknown>>(
  trx: Knex.Transaction,
  dialect: Dialect,
  installId: string,
  columns: string[],
): Promise<T | undefined> {
  if (dialect === 'postgres') {
    return (await trx(T.installations).select(columns).where('install_id', installId).forUpdate().first()) as T | undefined;
  }
  await trx.raw(`update ${T.installations} set install_id = install_id where install_id = ?`, [installId]);
  return (await trx(T.installations).select(columns).where('install_id', installId).first()) as T | undefined;
}

export class InstallationRepository {
  readonly #rollups: RollupRepository;

  constructor(
    private readonly knex: Knex,
    private readonly dialect: Dialect,
  ) {
    this.#rollups = new RollupRepository(knex);
  }

  /**
   * 'created'; 'exists' when the id is already registered (also when another process won the
   * race); 'erased' when the id was erased less than ERASED_ID_BLOCK_DAYS ago.
   */
  async register(installId: string, secret: string, now: Date): Promise<'created' | 'exists' | 'erased'> {
    try {
      return await this.knex.transaction(async (trx) => {
        const erased = await trx(T.erasedInstallations)
          .select('id_hash')
          .where('id_hash', erasedIdHash(installId))
          .andWhere('erased_at', '>', new Date(now.getTime() - ERASED_ID_BLOCK_DAYS * DAY_MS))
          .first();
        if (erased) return 'erased' as const;
        const inserted = await trx(T.installations)
          .insert({ install_id: installId, secret, registered_at: now, submissions_count: 0 })
          .onConflict('install_id')
          .ignore()
          .returning('install_id');
        // Not counted as 'registered' yet: an installation counts from its first accepted submission.
        return inserted.length === 0 ? ('exists' as const) : ('created' as const);
      });
    } catch (err) {
      if (isUniqueViolation(err)) return 'exists';
      throw err;
    }
  }

  /** The secret to verify a signed request with (null for an unknown installation). */
  async signingRecord(installId: string): Promise<SigningRecord | null> {
    const row = (await this.knex(T.installations).select('secret').where('install_id', installId).first()) as { secret: string } | undefined;
    return row ? { secret: row.secret } : null;
  }

  /**
   * Erases an installation and every submission it sent, in one transaction, and takes everything
   * it added to the rollups back out, so every statistic reads as if it had never existed. Its id
   * is remembered (hashed) so it cannot be registered again for ERASED_ID_BLOCK_DAYS.
   */
  async erase(installId: string, now: Date): Promise<{ deleted: boolean; submissions: number }> {
    return this.knex.transaction(async (trx) => {
      // Lock the installation row first: this waits for an ingest transaction holding it.
      const row = await lockInstallation<{ submissions_count: unknown; last_seen_at: unknown }>(trx, this.dialect, installId, ['install_id', 'submissions_count', 'last_seen_at']);
      if (!row) return { deleted: false, submissions: 0 };
      const stored = (await trx(T.submissions)
        .select('received_at', 'event_total', 'app_version', 'platform', 'deployment_type', 'country', 'error_count', 'payload')
        .where('install_id', installId)
        .orderBy('received_at')) as ({ received_at: unknown; event_total: unknown } & Parameters<typeof storedState>[0])[];
      // It was counted as registered at its first accepted submission. When that one is still stored
      // (retention purges whole periods, rollup rows and submissions alike), its count is taken back
      // out with the rest; when it is gone, so is the rollup row that counted it.
      const firstStillStored = stored.length > 0 && stored.length === toNumber(row.submissions_count);
      const contribution = contributionOf(
        installId,
        firstStillStored ? toDate(stored[0]!.received_at)! : null,
        stored.map((s) => ({ receivedAt: toDate(s.received_at)!, state: storedState(s), events: toNumber(s.event_total) })),
      );
      await this.#rollups.subtract(trx, contribution);
      // After the rollups, as on ingest: the same lock order.
      const lastSeen = lastSeenChange([{ installId, at: toDate(row.last_seen_at), installations: -1 }]);
      if (lastSeen.length > 0) await writeCounters(trx, this.dialect, [], { daily: [], weekly: [] }, lastSeen);
      const submissions = await trx(T.submissions).where('install_id', installId).delete();
      const deleted = await trx(T.installations).where('install_id', installId).delete();
      await trx(T.erasedInstallations)
        .insert({ id_hash: erasedIdHash(installId), erased_at: now })
        .onConflict('id_hash')
        .merge({ erased_at: now });
      return { deleted: deleted > 0, submissions };
    });
  }

  /** Retention: forgets erased ids whose re-registration block has run out; returns how many. */
  async purgeErasedIds(now: Date): Promise<number> {
    return this.knex(T.erasedInstallations)
      .where('erased_at', '<=', new Date(now.getTime() - ERASED_ID_BLOCK_DAYS * DAY_MS))
      .delete();
  }

  /**
   * Retention: installations whose last sign of life (last submission, else registration) is older
   * than `cutoff` are erased with their submissions, in batches. Returns how many went.
   */
  async purgeInactive(cutoff: Date, now: Date, batchSize = 500): Promise<number> {
    let removed = 0;
    for (;;) {
      const candidates = (await this.knex(T.installations)
        .where((q) => q.where('last_seen_at', '<', cutoff).orWhere((q2) => q2.whereNull('last_seen_at').andWhere('registered_at', '<', cutoff)))
        .limit(batchSize)
        .pluck('install_id')) as string[];
      if (candidates.length === 0) return removed;
      const batch = await this.knex.transaction(async (trx) => {
        // PostgreSQL: lock the candidates in install_id order first, the order ingest batches lock
        // theirs in, so a purge and a batch sharing installations never deadlock.
        if (this.dialect === 'postgres') {
          await trx.raw(`select install_id from ${T.installations} where install_id = any(?::text[]) order by install_id collate "C" for update`, [candidates]);
        }
        // Re-checked under the write: an installation that submitted meanwhile stays.
        const del = trx(T.installations)
          .whereIn('install_id', candidates)
          .andWhere((q) => q.where('last_seen_at', '<', cutoff).orWhere((q2) => q2.whereNull('last_seen_at').andWhere('registered_at', '<', cutoff)))
          .delete()
          .toSQL();
        // DELETE … RETURNING as raw SQL: knex runs sqlite3 deletes without reading rows back.
        const result = await trx.raw(`${del.sql} returning install_id, last_seen_at`, del.bindings as readonly Knex.Value[]);
        const gone = (this.dialect === 'postgres' ? result.rows : result) as { install_id: string; last_seen_at: unknown }[];
        const ids = gone.map((r) => r.install_id);
        // Never-submitting installations were never counted, so they are not counted out either.
        const counted = gone.filter((r) => r.last_seen_at !== null && r.last_seen_at !== undefined).length;
        if (ids.length > 0) await trx(T.submissions).whereIn('install_id', ids).delete();
        const lastSeen = lastSeenChange(gone.map((r) => ({ installId: r.install_id, at: toDate(r.last_seen_at), installations: -1 })));
        if (counted > 0) await writeCounters(trx, this.dialect, [], countChange('removed', ids[0]!, now, counted), lastSeen);
        return ids.length;
      });
      removed += batch;
      if (candidates.length < batchSize) return removed;
    }
  }

  /**
   * Installations that never had a submission accepted and registered before `cutoff` (they were
   * never counted anywhere, so no rollup changes). Re-checked by the delete itself: one that
   * submitted meanwhile stays.
   */
  async purgeNeverSubmitted(cutoff: Date): Promise<number> {
    return this.knex(T.installations).whereNull('last_seen_at').andWhere('registered_at', '<', cutoff).delete();
  }

  /** Registrations (still stored) after `since`, and the oldest of them: the collector-wide registration budget. */
  async registrationsSince(since: Date): Promise<{ count: number; oldest: Date | null }> {
    const row = (await this.knex(T.installations).count({ n: '*' }).min({ oldest: 'registered_at' }).where('registered_at', '>', since).first()) as
      | { n: unknown; oldest: unknown }
      | undefined;
    return { count: toNumber(row?.n), oldest: toDate(row?.oldest) };
  }

  /**
   * Installations that had at least one submission accepted (never-submitting ones count nowhere),
   * and those whose latest one fell in the 7 / 30 UTC days ending today. Read from the last-seen
   * day counters maintained on ingest (a few rows per day), never by counting installations.
   */
  async counts(now: Date): Promise<InstallationCounts> {
    const today = utcDay(now);
    const row = (await this.knex(T.lastSeenDays)
      .select(
        this.knex.raw('coalesce(sum(installations), 0) as total'),
        this.knex.raw('coalesce(sum(case when day >= ? then installations else 0 end), 0) as active7', [addDays(today, -6)]),
        this.knex.raw('coalesce(sum(case when day >= ? then installations else 0 end), 0) as active30', [addDays(today, -29)]),
      )
      .first()) as Record<string, unknown>;
    return { total: toNumber(row.total), active7d: toNumber(row.active7), active30d: toNumber(row.active30) };
  }

  /** Active installations (a submission since `since`) per value of their latest reported `column`. */
  async breakdown(column: BreakdownColumn, since: Date): Promise<{ active: number; rows: BucketCount[] }> {
    const rows = (await this.knex(T.installations)
      .select({ bucket: column })
      .count({ n: '*' })
      .where('last_seen_at', '>=', since)
      .groupBy(column)) as { bucket: string | null; n: unknown }[];
    const counted = rows.map((r) => ({ bucket: r.bucket ?? 'unknown', installations: toNumber(r.n) }));
    return { active: counted.reduce((sum, r) => sum + r.installations, 0), rows: counted };
  }

  /** Active installations per feature flag that was true in their latest submission. */
  async featureAdoption(since: Date): Promise<{ active: number; rows: BucketCount[] }> {
    const activeRow = (await this.knex(T.installations).count({ n: '*' }).where('last_seen_at', '>=', since).first()) as { n: unknown } | undefined;
    const explode =
      this.dialect === 'postgres'
        ? `select f.value as bucket, count(*) as n from ${T.installations} i, jsonb_array_elements_text(i.feature_flags::jsonb) as f(value) where i.last_seen_at >= ? and i.feature_flags is not null group by f.value`
        : `select f.value as bucket, count(*) as n from ${T.installations} i, json_each(i.feature_flags) as f where i.last_seen_at >= ? and i.feature_flags is not null group by f.value`;
    const result = await this.knex.raw(explode, [since]);
    const rows = (this.dialect === 'postgres' ? result.rows : result) as { bucket: string; n: unknown }[];
    return { active: toNumber(activeRow?.n), rows: rows.map((r) => ({ bucket: String(r.bucket), installations: toNumber(r.n) })) };
  }
}
