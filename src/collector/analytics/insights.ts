// Insights the roadmap asks for (docs/collector.md): error rate per version × deployment mode,
// feature adoption as enabled/disabled bars with the least-used features, top versions and
// countries — all k-protected like every other breakdown (k-threshold.ts).
import type { InsightsRepository } from '../storage/insights.js';
import type { InstallationRepository } from '../storage/installations.js';
import type { FleetStatsService, BreakdownEntry } from './stats.js';
import { BREAKDOWN_WINDOWS, isBreakdownWindow, OTHER, protectSmallCounts, type Bucket } from './k-threshold.js';
import { DAY_MS, percent } from './time.js';

export const TOP_VERSIONS = 5;
export const TOP_COUNTRIES = 10;
export const LEAST_USED_FEATURES = 5;

export interface VersionModeErrorRow {
  version: string;
  mode: string;
  installations: number;
  installations_with_errors: number;
  errors: number;
  error_rate_percent: number | null;
  other?: true;
  merged?: number;
}

export interface ErrorsByVersionMode {
  window_days: number;
  active: number;
  k_threshold: number;
  installations_with_errors: number;
  error_rate_percent: number | null;
  rows: VersionModeErrorRow[];
}

export interface FeatureAdoptionRow {
  feature: string;
  enabled: number;
  disabled: number;
  enabled_percent: number | null;
}

export interface FeatureAdoption {
  window_days: number;
  active: number;
  k_threshold: number;
  /** Features enabled by at least k installations, most used first. */
  features: FeatureAdoptionRow[];
  /** The least-used of those, least used first. */
  least_used: FeatureAdoptionRow[];
  /** How many features fewer than k installations have on (not shown one by one). */
  rare_features: number;
  top_versions: (BreakdownEntry & { version: string })[];
  top_countries: (BreakdownEntry & { country: string })[];
}

export interface InsightsServiceOptions {
  insights: InsightsRepository;
  installations: InstallationRepository;
  stats: FleetStatsService;
  kThreshold: number;
  now: () => Date;
}

function checkWindow(windowDays: number): void {
  if (!isBreakdownWindow(windowDays)) throw new RangeError(`breakdown windows are ${BREAKDOWN_WINDOWS.join(', ')} days, not ${windowDays}`);
}

/**
 * The first `n` rows of a k-protected breakdown (sorted, "other" last); the rest join "other".
 * Every row kept or merged already counts at least k, so the grown "other" does too.
 */
export function topRows<K extends string>(rows: (BreakdownEntry & Record<K, string>)[], n: number, label: K, base: number): (BreakdownEntry & Record<K, string>)[] {
  const named = rows.filter((r) => !r.other);
  if (named.length <= n) return rows;
  const rest = [...named.slice(n), ...rows.filter((r) => r.other)];
  const installations = rest.reduce((sum, r) => sum + r.installations, 0);
  const merged = rest.reduce((sum, r) => sum + (r.other ? (r.merged ?? 0) : 1), 0);
  const other = { [label]: OTHER, installations, percent: percent(installations, base), other: true, merged } as BreakdownEntry & Record<K, string>;
  return [...named.slice(0, n), other];
}

export class InsightsService {
  constructor(private readonly options: InsightsServiceOptions) {}

  /**
   * Per (app version, deployment mode) of the active installations' latest submission: how many
   * reported errors. Pairs under k installations are merged into one "other" row (dropped when
   * that row itself is under k).
   */
  async errorsByVersionMode(windowDays: number): Promise<ErrorsByVersionMode> {
    checkWindow(windowDays);
    const since = new Date(this.options.now().getTime() - windowDays * DAY_MS);
    const counts = await this.options.insights.errorsByVersionMode(since);
    const buckets: Bucket[] = counts.map((c) => ({
      key: `${c.version}\u0000${c.mode}`,
      installations: c.installations,
      installations_with_errors: c.installationsWithErrors,
      errors: c.errors,
    }));
    const active = counts.reduce((sum, c) => sum + c.installations, 0);
    const withErrors = counts.reduce((sum, c) => sum + c.installationsWithErrors, 0);
    const rows = protectSmallCounts(buckets, this.options.kThreshold).map((b): VersionModeErrorRow => {
      const [version, mode] = b.other ? [OTHER, OTHER] : b.key.split('\u0000');
      const installationsWithErrors = b.installations_with_errors as number;
      return {
        version: version!,
        mode: mode!,
        installations: b.installations,
        installations_with_errors: installationsWithErrors,
        errors: b.errors as number,
        error_rate_percent: percent(installationsWithErrors, b.installations),
        ...(b.other ? { other: true as const, merged: b.merged } : {}),
      };
    });
    return {
      window_days: windowDays,
      active,
      k_threshold: this.options.kThreshold,
      installations_with_errors: withErrors,
      error_rate_percent: percent(withErrors, active),
      rows,
    };
  }

  /**
   * Feature adoption as the roadmap draws it: per feature, active installations with it on
   * (enabled) and the rest (disabled); the least-used features; the top versions and countries.
   */
  async featureAdoption(windowDays: number): Promise<FeatureAdoption> {
    checkWindow(windowDays);
    const { stats, kThreshold } = this.options;
    const since = new Date(this.options.now().getTime() - windowDays * DAY_MS);
    const [features, versions, countries] = await Promise.all([this.options.installations.featureAdoption(since), stats.versions(windowDays), stats.geography(windowDays)]);
    const { active } = features;
    // A feature under k is not shown (an "other" row summing different features means nothing
    // here); only how many there are.
    const rows = features.rows
      .filter((f) => f.installations >= kThreshold)
      .sort((a, b) => b.installations - a.installations || (a.bucket < b.bucket ? -1 : 1))
      .map((f) => ({ feature: f.bucket, enabled: f.installations, disabled: Math.max(0, active - f.installations), enabled_percent: percent(f.installations, active) }));
    const rare = features.rows.filter((f) => f.installations > 0 && f.installations < kThreshold).length;
    return {
      window_days: windowDays,
      active,
      k_threshold: kThreshold,
      features: rows,
      least_used: [...rows].sort((a, b) => a.enabled - b.enabled || (a.feature < b.feature ? -1 : 1)).slice(0, LEAST_USED_FEATURES),
      rare_features: rare,
      top_versions: topRows(versions.versions, TOP_VERSIONS, 'version', versions.active),
      top_countries: topRows(countries.countries, TOP_COUNTRIES, 'country', countries.active),
    };
  }
}
