// Reads for the error and adoption insights (docs/collector.md): grouped counts over the
// installations' latest reported state, like the other breakdowns (never a scan of raw submissions).
import type { Knex } from 'knex';
import { COLLECTOR_TABLES } from './tables.js';
import { toNumber } from '../analytics/time.js';

const T = COLLECTOR_TABLES;

export interface VersionModeCount {
  version: string;
  mode: string;
  installations: number;
  /** Installations whose latest submission reported at least one error. */
  installationsWithErrors: number;
  /** Errors those latest submissions reported. */
  errors: number;
}

export class InsightsRepository {
  constructor(private readonly knex: Knex) {}

  /** Active installations (a submission since `since`) per (latest app version, latest deployment type). */
  async errorsByVersionMode(since: Date): Promise<VersionModeCount[]> {
    const rows = (await this.knex(T.installations)
      .select({ version: 'app_version', mode: 'deployment_type' })
      .count({ n: '*' })
      .select(
        this.knex.raw('sum(case when last_error_count > 0 then 1 else 0 end) as with_errors'),
        this.knex.raw('sum(coalesce(last_error_count, 0)) as errors'),
      )
      .where('last_seen_at', '>=', since)
      .groupBy('app_version', 'deployment_type')) as { version: string | null; mode: string | null; n: unknown; with_errors: unknown; errors: unknown }[];
    return rows.map((r) => ({
      version: r.version ?? 'unknown',
      mode: r.mode ?? 'unknown',
      installations: toNumber(r.n),
      installationsWithErrors: toNumber(r.with_errors),
      errors: toNumber(r.errors),
    }));
  }
}
