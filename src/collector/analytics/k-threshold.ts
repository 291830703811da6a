// Small-count protection (docs/collector.md): a breakdown row with fewer than kThreshold installations is
// merged into one "other" row, in the API, the dashboard, e-mails and exports alike, so that a
// rare version or country cannot single out an installation.
export const OTHER = 'other';

/**
 * The only breakdown windows (days) the API, dashboard, exports and e-mails use: with a free
 * choice, two near-identical windows could be differenced to reveal a single installation.
 */
export const BREAKDOWN_WINDOWS = [7, 30, 90, 365] as const;
export type BreakdownWindow = (typeof BREAKDOWN_WINDOWS)[number];
export const DEFAULT_BREAKDOWN_WINDOW: BreakdownWindow = 30;

export function isBreakdownWindow(days: number): days is BreakdownWindow {
  return (BREAKDOWN_WINDOWS as readonly number[]).includes(days);
}

export interface Bucket {
  key: string;
  installations: number;
  /** Further counters (errors, …) are summed into "other" too. */
  [counter: string]: number | string | boolean | null;
}

export interface ProtectedBucket extends Bucket {
  /** True on the merged row. */
  other: boolean;
  /** How many rows were merged into it (0 elsewhere). */
  merged: number;
}

/**
 * Sorted by installations (desc, then key), "other" last. A row literally named "other" joins the
 * merged row, so there is never more than one. Rows with zero installations are dropped, and so
 * is an "other" row that itself counts fewer than k installations (it would single them out).
 */
export function protectSmallCounts(rows: readonly Bucket[], k: number): ProtectedBucket[] {
  const kept: ProtectedBucket[] = [];
  let other: ProtectedBucket | null = null;
  for (const row of rows) {
    if (row.installations <= 0) continue;
    if (row.installations >= k && row.key !== OTHER) {
      kept.push({ ...row, other: false, merged: 0 });
      continue;
    }
    if (!other) {
      other = { key: OTHER, installations: 0, other: true, merged: 0 };
    }
    for (const [name, value] of Object.entries(row)) {
      if (name === 'key' || typeof value !== 'number') continue;
      other[name] = ((other[name] as number | undefined) ?? 0) + value;
    }
    other.merged += 1;
  }
  kept.sort((a, b) => b.installations - a.installations || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (other && other.installations >= k) kept.push(other);
  return kept;
}
