// Bulk writes of a synthetic fleet (`collector seed-demo`): installations, their submissions and
// exactly the rollup rows ingest would have added for them (contributionOf, the function erasure
// uses to take an installation's share back out), all in one transaction.
import type { Knex } from 'knex';
import { COLLECTOR_TABLES } from './tables.js';
import { contributionOf, lastSeenChange, mergeDeltas, reportedState, storedPayload, type RollupDelta } from './rollup-deltas.js';
import { rollupUpserts } from './rollups.js';
import { toNumber } from '../analytics/time.js';
import type { SubmissionPayload } from '../../core/protocol.js';

const T = COLLECTOR_TABLES;
/** Rows per INSERT: well under SQLite's bound-variable limit for the widest table. */
const CHUNK = 500;

export interface FleetInstallation {
  installId: string;
  secret: string;
  registeredAt: Date;
  /** Oldest first; never empty. */
  submissions: { id: string; receivedAt: Date; payload: SubmissionPayload }[];
}

const eventTotal = (payload: SubmissionPayload) => Object.values(payload.event_counts).reduce((sum, n) => sum + n, 0);

export class DemoFleetRepository {
  constructor(private readonly knex: Knex) {}

  /** True when no installation, submission or rollup row is stored. */
  async isEmpty(): Promise<boolean> {
    for (const table of [T.installations, T.submissions, T.dailyRollups, T.weeklyRollups]) {
      const row = (await this.knex(table).count({ n: '*' }).first()) as { n: unknown } | undefined;
      if (toNumber(row?.n) > 0) return false;
    }
    return true;
  }

  /**
   * Replaces every installation, submission and rollup row with the given fleet, in one
   * transaction (all or nothing). Returns how many installations and submissions were written.
   */
  async replaceWith(fleet: FleetInstallation[]): Promise<{ installations: number; submissions: number }> {
    const daily: RollupDelta[] = [];
    const weekly: RollupDelta[] = [];
    const installations: Record<string, unknown>[] = [];
    const submissions: Record<string, unknown>[] = [];
    for (const install of fleet) {
      const stored = install.submissions.map((s) => ({ receivedAt: s.receivedAt, state: reportedState(s.payload), events: eventTotal(s.payload) }));
      // Counted as registered at its first accepted submission, as ingest counts it.
      const contribution = contributionOf(install.installId, install.submissions[0]!.receivedAt, stored);
      daily.push(...contribution.daily);
      weekly.push(...contribution.weekly);
      const last = install.submissions[install.submissions.length - 1]!;
      const latest = stored[stored.length - 1]!.state;
      installations.push({
        install_id: install.installId,
        secret: install.secret,
        registered_at: install.registeredAt,
        last_seen_at: last.receivedAt,
        app_version: latest.appVersion,
        platform: latest.platform,
        deployment_type: latest.deploymentType,
        country: latest.country,
        feature_flags: JSON.stringify(latest.features),
        last_error_count: latest.errorCount,
        submissions_count: install.submissions.length,
      });
      for (const s of install.submissions) {
        submissions.push({
          id: s.id,
          install_id: install.installId,
          idempotency_key: null,
          received_at: s.receivedAt,
          period_start: s.payload.period.start,
          period_end: s.payload.period.end,
          app_version: s.payload.app_version,
          platform: s.payload.platform,
          deployment_type: s.payload.deployment_type,
          country: s.payload.country,
          error_count: s.payload.error_count,
          uptime_hours: s.payload.uptime_hours,
          event_total: eventTotal(s.payload),
          payload: JSON.stringify(storedPayload(s.payload)),
        });
      }
    }
    // Each installation under the day of its latest submission, as ingest keeps it.
    const lastSeen = lastSeenChange(fleet.map((i) => ({ installId: i.installId, at: i.submissions[i.submissions.length - 1]!.receivedAt, installations: 1 })));
    await this.knex.transaction(async (trx) => {
      for (const table of [T.dailyRollups, T.weeklyRollups, T.lastSeenDays, T.submissions, T.installations]) await trx(table).delete();
      for (let i = 0; i < lastSeen.length; i += CHUNK) await trx(T.lastSeenDays).insert(lastSeen.slice(i, i + CHUNK));
      for (let i = 0; i < installations.length; i += CHUNK) await trx(T.installations).insert(installations.slice(i, i + CHUNK));
      for (let i = 0; i < submissions.length; i += CHUNK) await trx(T.submissions).insert(submissions.slice(i, i + CHUNK));
      const dailyRows = mergeDeltas(daily);
      const weeklyRows = mergeDeltas(weekly);
      for (let i = 0; i < dailyRows.length; i += CHUNK) for (const q of rollupUpserts(trx, { daily: dailyRows.slice(i, i + CHUNK), weekly: [] })) await q;
      for (let i = 0; i < weeklyRows.length; i += CHUNK) for (const q of rollupUpserts(trx, { daily: [], weekly: weeklyRows.slice(i, i + CHUNK) })) await q;
    });
    return { installations: installations.length, submissions: submissions.length };
  }
}
