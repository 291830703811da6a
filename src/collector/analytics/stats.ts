// The admin analytics (/stats/*, docs/collector.md), computed from the rollups and the installations table
// (one row per installation with its latest state) — never by scanning raw submissions.
// Every breakdown goes through protectSmallCounts (kThreshold).
import type { InstallationRepository, BreakdownColumn, BucketCount } from '../storage/installations.js';
import type { RollupRepository, RollupRow, Granularity } from '../storage/rollups.js';
import type { Dimension } from '../storage/rollup-deltas.js';
import { BREAKDOWN_WINDOWS, isBreakdownWindow, protectSmallCounts, type Bucket, type ProtectedBucket } from './k-threshold.js';
import { evaluateAnomalies, type Anomaly } from './anomalies.js';
import { addDays, daysBetween, percent, utcDay, weekStart, DAY_MS } from './time.js';

export interface Overview {
  generated_at: string;
  total: number;
  active_7d: number;
  active_30d: number;
  growth_7d_percent: number | null;
  new_7d: number;
  submissions_today: number;
  submissions_7d: number;
}

export interface TrendPoint {
  date: string;
  total: number;
  active: number;
}

export interface InstallationsStats {
  total: number;
  active_7d: number;
  active_30d: number;
  growth_7d_percent: number | null;
  interval: 'day' | 'week';
  trend: TrendPoint[];
}

export interface BreakdownEntry {
  installations: number;
  percent: number | null;
  other?: true;
  merged?: number;
}

export type BreakdownRows<K extends string> = (BreakdownEntry & Record<K, string>)[];

export type Breakdown<K extends string, P extends string> = {
  window_days: number;
  active: number;
  k_threshold: number;
} & Record<P, BreakdownRows<K>>;

export interface FleetStatsServiceOptions {
  installations: InstallationRepository;
  rollups: RollupRepository;
  kThreshold: number;
  now: () => Date;
}

const sumBy = (rows: RollupRow[], period: string, field: keyof RollupRow = 'installations'): number =>
  rows.filter((r) => r.period === period).reduce((sum, r) => sum + (r[field] as number), 0);

/**
 * The collector's statistics across every installation it receives from (dashboard, API, exports,
 * reports), k-thresholded. Not the plugin's StatsService, which serves one host's local statistics.
 */
export class FleetStatsService {
  constructor(private readonly options: FleetStatsServiceOptions) {}

  get kThreshold(): number {
    return this.options.kThreshold;
  }

  async overview(): Promise<Overview> {
    const now = this.options.now();
    const today = utcDay(now);
    const [counts, growth, daily] = await Promise.all([
      this.options.installations.counts(now),
      this.#growth(today),
      this.options.rollups.series('day', 'all', addDays(today, -6), today),
    ]);
    return {
      generated_at: now.toISOString(),
      total: counts.total,
      active_7d: counts.active7d,
      active_30d: counts.active30d,
      growth_7d_percent: growthPercent(counts.total, growth.registered, growth.removed),
      new_7d: growth.registered,
      submissions_today: sumBy(daily, today, 'submissions'),
      submissions_7d: daily.reduce((sum, r) => sum + r.submissions, 0),
    };
  }

  async #growth(today: string): Promise<{ registered: number; removed: number }> {
    const from = addDays(today, -6);
    const [registered, removed] = await Promise.all([
      this.options.rollups.series('day', 'registered', from, today),
      this.options.rollups.series('day', 'removed', from, today),
    ]);
    const total = (rows: RollupRow[]) => rows.reduce((sum, r) => sum + r.installations, 0);
    return { registered: total(registered), removed: total(removed) };
  }

  /**
   * Totals plus a trend. Daily: `total` = registered installations at the end of that day, `active`
   * = installations that submitted in the 7 days ending that day (summed daily distinct counts,
   * exact for installations submitting weekly). Weekly: `active` = distinct installations that
   * submitted in that ISO week (exact), `date` = the week's Monday.
   */
  async installations(query: { days: number; interval: 'day' | 'week' }): Promise<InstallationsStats> {
    const now = this.options.now();
    const today = utcDay(now);
    const overview = await this.overview();
    const from = query.interval === 'day' ? addDays(today, -(query.days - 1)) : addDays(weekStart(now), -7 * (Math.ceil(query.days / 7) - 1));
    const [registered, removed] = await Promise.all([
      this.options.rollups.series('day', 'registered', from, today),
      this.options.rollups.series('day', 'removed', from, today),
    ]);
    const netByDay = new Map<string, number>();
    for (const r of registered) netByDay.set(r.period, (netByDay.get(r.period) ?? 0) + r.installations);
    for (const r of removed) netByDay.set(r.period, (netByDay.get(r.period) ?? 0) - r.installations);
    // total at the end of day d = total now − net change after d.
    const totalAtEndOf = new Map<string, number>();
    let running = overview.total;
    for (const day of daysBetween(from, today).reverse()) {
      totalAtEndOf.set(day, running);
      running -= netByDay.get(day) ?? 0;
    }

    let trend: TrendPoint[];
    if (query.interval === 'day') {
      const active = await this.options.rollups.series('day', 'all', addDays(from, -6), today);
      const perDay = new Map(active.map((r) => [r.period, r.installations]));
      trend = daysBetween(from, today).map((date) => {
        let sum = 0;
        for (let i = 0; i < 7; i++) sum += perDay.get(addDays(date, -i)) ?? 0;
        return { date, total: totalAtEndOf.get(date) ?? overview.total, active: sum };
      });
    } else {
      const active = await this.options.rollups.series('week', 'all', from, today);
      const perWeek = new Map(active.map((r) => [r.period, r.installations]));
      trend = [];
      for (let week = from; week <= today; week = addDays(week, 7)) {
        const end = addDays(week, 6) < today ? addDays(week, 6) : today;
        trend.push({ date: week, total: totalAtEndOf.get(end) ?? overview.total, active: perWeek.get(week) ?? 0 });
      }
    }
    return {
      total: overview.total,
      active_7d: overview.active_7d,
      active_30d: overview.active_30d,
      growth_7d_percent: overview.growth_7d_percent,
      interval: query.interval,
      trend,
    };
  }

  async #breakdown<K extends string, P extends string>(label: K, plural: P, column: BreakdownColumn | 'feature', windowDays: number): Promise<Breakdown<K, P>> {
    if (!isBreakdownWindow(windowDays)) throw new RangeError(`breakdown windows are ${BREAKDOWN_WINDOWS.join(', ')} days, not ${windowDays}`);
    const since = new Date(this.options.now().getTime() - windowDays * DAY_MS);
    const result =
      column === 'feature' ? await this.options.installations.featureAdoption(since) : await this.options.installations.breakdown(column, since);
    return {
      window_days: windowDays,
      active: result.active,
      k_threshold: this.options.kThreshold,
      [plural]: this.#protect(label, result.rows, result.active),
    } as Breakdown<K, P>;
  }

  #protect<K extends string>(label: K, rows: BucketCount[], base: number): (BreakdownEntry & Record<K, string>)[] {
    const buckets: Bucket[] = rows.map((r) => ({ key: r.bucket, installations: r.installations }));
    return protectSmallCounts(buckets, this.options.kThreshold).map((b) => entry(label, b, base));
  }

  deploymentModes(windowDays: number) {
    return this.#breakdown('mode', 'modes', 'deployment_type', windowDays);
  }

  versions(windowDays: number) {
    return this.#breakdown('version', 'versions', 'app_version', windowDays);
  }

  geography(windowDays: number) {
    return this.#breakdown('country', 'countries', 'country', windowDays);
  }

  platforms(windowDays: number) {
    return this.#breakdown('platform', 'platforms', 'platform', windowDays);
  }

  /** Feature adoption: share of active installations whose latest submission had the flag on. */
  features(windowDays: number) {
    return this.#breakdown('feature', 'features', 'feature', windowDays);
  }

  #weeks(count: number): { from: string; to: string; weeks: string[] } {
    const current = weekStart(this.options.now());
    const from = addDays(current, -7 * (count - 1));
    const weeks: string[] = [];
    for (let w = from; w <= current; w = addDays(w, 7)) weeks.push(w);
    return { from, to: current, weeks };
  }

  async #weekly(dimension: Dimension, count: number) {
    const { from, to, weeks } = this.#weeks(count);
    const [rows, all] = await Promise.all([this.options.rollups.series('week', dimension, from, to), this.options.rollups.series('week', 'all', from, to)]);
    return { weeks, rows, all, current: to };
  }

  /** Per ISO week, active installations per app version (k-protected per week). */
  versionMigration(weeks: number) {
    return this.#weeklyBreakdown('version', weeks, 'versions');
  }

  /** Per ISO week, share of active installations with each feature flag on (k-protected per week). */
  featureTrends(weeks: number) {
    return this.#weeklyBreakdown('feature', weeks, 'features');
  }

  /** One series per ISO week of a dimension's buckets, k-protected against that week's active installations. */
  async #weeklyBreakdown<L extends 'version' | 'feature', P extends string>(dimension: L, weeks: number, plural: P) {
    const data = await this.#weekly(dimension, weeks);
    return {
      weeks,
      k_threshold: this.options.kThreshold,
      series: data.weeks.map((week) => {
        const active = sumBy(data.all, week);
        const rows = data.rows.filter((r) => r.period === week).map((r) => ({ bucket: r.bucket, installations: r.installations }));
        const breakdown = { [plural]: this.#protect(dimension, rows, active) } as Record<P, (BreakdownEntry & Record<L, string>)[]>;
        return { week_start: week, partial: week === data.current, active, ...breakdown };
      }),
    };
  }

  /** Reported errors per ISO week, and per app version for the last complete week (k-protected). */
  async errors(weeks: number) {
    const data = await this.#weekly('version', weeks);
    const lastComplete = addDays(data.current, -7);
    const series = data.weeks.map((week) => {
      const active = sumBy(data.all, week);
      const errorInstallations = sumBy(data.all, week, 'error_installations');
      return {
        week_start: week,
        partial: week === data.current,
        active,
        errors: sumBy(data.all, week, 'errors'),
        installations_with_errors: errorInstallations,
        error_rate_percent: percent(errorInstallations, active),
      };
    });
    const byVersionRows: Bucket[] = data.rows
      .filter((r) => r.period === lastComplete)
      .map((r) => ({ key: r.bucket, installations: r.installations, errors: r.errors, installations_with_errors: r.error_installations }));
    return {
      weeks,
      k_threshold: this.options.kThreshold,
      series,
      by_version: {
        week_start: lastComplete,
        rows: protectSmallCounts(byVersionRows, this.options.kThreshold).map((b) => ({
          version: b.key,
          installations: b.installations,
          errors: b.errors as number,
          installations_with_errors: b.installations_with_errors as number,
          error_rate_percent: percent(b.installations_with_errors as number, b.installations),
          ...(b.other ? { other: true as const, merged: b.merged } : {}),
        })),
      },
    };
  }

  async anomalies(): Promise<{ generated_at: string; anomalies: Anomaly[] }> {
    const now = this.options.now();
    const lastWeek = addDays(weekStart(now), -7);
    const previousWeek = addDays(lastWeek, -7);
    const yesterday = addDays(utcDay(now), -1);
    const windowStart = addDays(yesterday, -30);
    const [weekly, daily] = await Promise.all([
      this.options.rollups.series('week', 'all', previousWeek, lastWeek),
      this.options.rollups.series('day', 'all', windowStart, yesterday),
    ]);
    const perDay = new Map(daily.map((r) => [r.period, r.submissions]));
    const previousDays = daysBetween(windowStart, addDays(yesterday, -1)).map((d) => perDay.get(d) ?? 0);
    const anomalies = evaluateAnomalies({
      lastWeek: {
        start: lastWeek,
        end: addDays(lastWeek, 6),
        activeInstalls: sumBy(weekly, lastWeek),
        errors: sumBy(weekly, lastWeek, 'errors'),
        errorInstallations: sumBy(weekly, lastWeek, 'error_installations'),
      },
      previousWeek: { start: previousWeek, end: addDays(previousWeek, 6), activeInstalls: sumBy(weekly, previousWeek), errors: sumBy(weekly, previousWeek, 'errors') },
      day: { date: yesterday, submissions: perDay.get(yesterday) ?? 0 },
      previousDays: { start: windowStart, end: addDays(yesterday, -1), submissions: previousDays },
    });
    return { generated_at: now.toISOString(), anomalies };
  }

  /** Everything the dashboard shows, k-protected, without any installation id. */
  async export(options: { windowDays: number; weeks: number; days: number }) {
    const [overview, installations, deployment, versions, geography, platforms, features, migration, featureTrends, errors, anomalies] = await Promise.all([
      this.overview(),
      this.installations({ days: options.days, interval: 'day' }),
      this.deploymentModes(options.windowDays),
      this.versions(options.windowDays),
      this.geography(options.windowDays),
      this.platforms(options.windowDays),
      this.features(options.windowDays),
      this.versionMigration(options.weeks),
      this.featureTrends(options.weeks),
      this.errors(options.weeks),
      this.anomalies(),
    ]);
    return {
      format: 'koa-consent-telemetry-collector-export',
      format_version: 1,
      generated_at: overview.generated_at,
      k_threshold: this.options.kThreshold,
      overview,
      installations,
      deployment_modes: deployment,
      versions,
      geography,
      platforms,
      features,
      version_migration: migration,
      feature_trends: featureTrends,
      errors,
      anomalies: anomalies.anomalies,
    };
  }

  /** The rollups of one granularity and dimension, for tests and maintenance tools. */
  rollupSeries(granularity: Granularity, dimension: Dimension, from: string, to: string): Promise<RollupRow[]> {
    return this.options.rollups.series(granularity, dimension, from, to);
  }
}

function entry<K extends string>(label: K, bucket: ProtectedBucket, base: number): BreakdownEntry & Record<K, string> {
  const result: Record<string, unknown> = { [label]: bucket.key, installations: bucket.installations, percent: percent(bucket.installations, base) };
  if (bucket.other) {
    result.other = true;
    result.merged = bucket.merged;
  }
  return result as BreakdownEntry & Record<K, string>;
}

function growthPercent(total: number, registered: number, removed: number): number | null {
  const before = total - registered + removed;
  if (before <= 0) return null;
  return Math.round(((total - before) / before) * 1000) / 10;
}
