// The public insights (docs/collector.md, "Public insights page"): versions, deployment modes,
// countries and feature adoption over fixed windows, for anyone to read. On top of the k-protection
// every breakdown has, each published count is rounded to PUBLIC_ROUNDING and a row whose rounded
// count is under k is left out (not merged anywhere), so one installation more or less changes a
// published number only when it carries a row across a rounding boundary — and then by a whole
// step that many installations could have caused. Computed at most once per cache period.
import type { InstallationRepository } from '../storage/installations.js';
import type { FleetStatsService, BreakdownEntry } from './stats.js';
import { DAY_MS } from './time.js';

/** Published counts are multiples of this. */
export const PUBLIC_ROUNDING = 10;
/** The only windows the public page shows (days). */
export const PUBLIC_WINDOWS = [30, 90] as const;

export interface PublicRow {
  label: string;
  installations: number;
  percent: number | null;
  other?: true;
}

export interface PublicWindow {
  window_days: number;
  /** Active installations in the window, rounded. */
  active: number;
  versions: PublicRow[];
  deployment_modes: PublicRow[];
  countries: PublicRow[];
  /** Installations with each feature on, rounded; percent of the rounded active count. */
  features: PublicRow[];
}

export interface PublicInsights {
  generated_at: string;
  rounding: number;
  k_threshold: number;
  windows: PublicWindow[];
}

export function roundCount(n: number, granularity = PUBLIC_ROUNDING): number {
  return Math.round(n / granularity) * granularity;
}

const share = (part: number, whole: number): number | null => (whole > 0 ? Math.round((part / whole) * 1000) / 10 : null);

export interface PublicInsightsServiceOptions {
  stats: FleetStatsService;
  installations: InstallationRepository;
  kThreshold: number;
  cacheMinutes: number;
  now: () => Date;
}

export class PublicInsightsService {
  #cached: { value: PublicInsights; expiresAt: number } | null = null;
  #pending: Promise<PublicInsights> | null = null;

  constructor(private readonly options: PublicInsightsServiceOptions) {}

  get cacheSeconds(): number {
    return this.options.cacheMinutes * 60;
  }

  /** The cached insights, recomputed (once, however many ask at the same time) when older than the cache period. */
  async current(): Promise<PublicInsights> {
    const now = this.options.now().getTime();
    if (this.#cached && now < this.#cached.expiresAt) return this.#cached.value;
    this.#pending ??= this.#compute()
      .then((value) => {
        this.#cached = { value, expiresAt: now + this.cacheSeconds * 1000 };
        return value;
      })
      .finally(() => {
        this.#pending = null;
      });
    return this.#pending;
  }

  #rows<K extends string>(rows: (BreakdownEntry & Record<K, string>)[], label: K, active: number): PublicRow[] {
    const k = this.options.kThreshold;
    return rows
      .map((r) => ({ label: r.other ? 'other' : r[label], installations: roundCount(r.installations), other: r.other }))
      .filter((r) => r.installations >= k && r.installations > 0)
      .map((r) => ({ label: r.label, installations: r.installations, percent: share(r.installations, active), ...(r.other ? { other: true as const } : {}) }));
  }

  async #window(days: number): Promise<PublicWindow> {
    const { stats } = this.options;
    const since = new Date(this.options.now().getTime() - days * DAY_MS);
    const [versions, modes, countries, features] = await Promise.all([
      stats.versions(days),
      stats.deploymentModes(days),
      stats.geography(days),
      this.options.installations.featureAdoption(since),
    ]);
    const active = roundCount(versions.active);
    const k = this.options.kThreshold;
    return {
      window_days: days,
      active,
      versions: this.#rows(versions.versions, 'version', active),
      deployment_modes: this.#rows(modes.modes, 'mode', active),
      countries: this.#rows(countries.countries, 'country', active),
      features: features.rows
        .filter((f) => f.installations >= k)
        .map((f) => ({ label: f.bucket, installations: roundCount(f.installations) }))
        .filter((f) => f.installations >= k && f.installations > 0)
        .sort((a, b) => b.installations - a.installations || (a.label < b.label ? -1 : 1))
        .map((f) => ({ ...f, percent: share(f.installations, active) })),
    };
  }

  async #compute(): Promise<PublicInsights> {
    const windows = await Promise.all(PUBLIC_WINDOWS.map((days) => this.#window(days)));
    return { generated_at: this.options.now().toISOString(), rounding: PUBLIC_ROUNDING, k_threshold: this.options.kThreshold, windows };
  }
}
