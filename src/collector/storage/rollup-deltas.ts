// How one accepted submission changes the rollups (pure; the repository writes the result in the
// ingest transaction). Each rollup row counts, per period (UTC day or ISO week) and per breakdown
// bucket, the DISTINCT installations that reported in that period with that value, plus the
// submissions, errors and events they reported. An installation counts once per period with its
// latest state: when it submits again within the same period, its previous buckets give the
// installation back (installations −1) and the new ones take it.
import { utcDay, weekStart } from '../analytics/time.js';
import type { SubmissionPayload } from '../../core/protocol.js';

export type Dimension = 'all' | 'version' | 'deployment' | 'platform' | 'country' | 'feature' | 'registered' | 'removed';
export const BREAKDOWN_DIMENSIONS = ['version', 'deployment', 'platform', 'country', 'feature'] as const;

/** Hot rows are spread over this many shards (readers sum them). */
export const ROLLUP_SHARDS = 8;

export interface ReportedState {
  appVersion: string;
  platform: string;
  deploymentType: string;
  country: string;
  /** Names of the feature flags that were true. */
  features: string[];
  errorCount: number;
}

export interface RollupCounters {
  installations: number;
  submissions: number;
  errors: number;
  error_installations: number;
  events: number;
}

export interface RollupDelta extends RollupCounters {
  period: string;
  dimension: Dimension;
  bucket: string;
  shard: number;
}

export interface RollupChange {
  daily: RollupDelta[];
  weekly: RollupDelta[];
}

export function shardOf(installId: string): number {
  return Number.parseInt(installId.slice(0, 8), 16) % ROLLUP_SHARDS || 0;
}

function buckets(state: ReportedState): [Dimension, string][] {
  return [
    ['all', ''],
    ['version', state.appVersion],
    ['deployment', state.deploymentType],
    ['platform', state.platform],
    ['country', state.country],
    ...[...new Set(state.features)].map((feature): [Dimension, string] => ['feature', feature]),
  ];
}

const zero = (): RollupCounters => ({ installations: 0, submissions: 0, errors: 0, error_installations: 0, events: 0 });
const isZero = (c: RollupCounters) => !c.installations && !c.submissions && !c.errors && !c.error_installations && !c.events;

function deltasFor(
  period: string,
  shard: number,
  next: ReportedState,
  events: number,
  previous: ReportedState | null,
): RollupDelta[] {
  const map = new Map<string, RollupDelta>();
  const at = (dimension: Dimension, bucket: string): RollupDelta => {
    const key = `${dimension}\u0000${bucket}`;
    let row = map.get(key);
    if (!row) map.set(key, (row = { period, dimension, bucket, shard, ...zero() }));
    return row;
  };
  if (previous) {
    for (const [dimension, bucket] of buckets(previous)) {
      const row = at(dimension, bucket);
      row.installations -= 1;
      row.error_installations -= previous.errorCount > 0 ? 1 : 0;
    }
  }
  for (const [dimension, bucket] of buckets(next)) {
    const row = at(dimension, bucket);
    row.installations += 1;
    row.error_installations += next.errorCount > 0 ? 1 : 0;
    row.submissions += 1;
    row.errors += next.errorCount;
    row.events += events;
  }
  // A stable order: concurrent transactions lock rollup rows in the same order, so never deadlock.
  return [...map.values()]
    .filter((row) => !isZero(row))
    .sort((a, b) => (a.dimension === b.dimension ? (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : 0) : a.dimension < b.dimension ? -1 : 1));
}

/**
 * The rollup change of a submission accepted at `now`. `previous` is the installation's state as
 * of its last accepted submission (at `previousAt`), or null for its first one.
 */
export function rollupChange(
  installId: string,
  now: Date,
  next: ReportedState,
  events: number,
  previous: ReportedState | null,
  previousAt: Date | null,
): RollupChange {
  const shard = shardOf(installId);
  const day = utcDay(now);
  const week = weekStart(now);
  const sameDay = previous && previousAt && utcDay(previousAt) === day ? previous : null;
  const sameWeek = previous && previousAt && weekStart(previousAt) === week ? previous : null;
  return {
    daily: deltasFor(day, shard, next, events, sameDay),
    weekly: deltasFor(week, shard, next, events, sameWeek),
  };
}

/** A single-counter change (registrations, removals) for both granularities. */
export function countChange(dimension: 'registered' | 'removed', installId: string, now: Date, installations: number): RollupChange {
  const base = { dimension, bucket: '', shard: shardOf(installId), ...zero(), installations } as const;
  return { daily: [{ ...base, period: utcDay(now) }], weekly: [{ ...base, period: weekStart(now) }] };
}

/** The state a submission reports, as the rollups bucket it. */
export function reportedState(payload: SubmissionPayload): ReportedState {
  return {
    appVersion: payload.app_version,
    platform: payload.platform,
    deploymentType: payload.deployment_type,
    country: payload.country,
    features: Object.entries(payload.feature_flags)
      .filter(([, on]) => on)
      .map(([name]) => name)
      .sort(),
    errorCount: payload.error_count,
  };
}

export interface StoredSubmission {
  receivedAt: Date;
  state: ReportedState;
  events: number;
}

const byKey = (a: RollupDelta, b: RollupDelta) =>
  a.period !== b.period ? (a.period < b.period ? -1 : 1) : a.dimension !== b.dimension ? (a.dimension < b.dimension ? -1 : 1) : a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : 0;

function contributionsPer(periodOf: (d: Date) => string, shard: number, submissions: StoredSubmission[]): RollupDelta[] {
  const rows = new Map<string, RollupDelta>();
  const at = (period: string, dimension: Dimension, bucket: string): RollupDelta => {
    const key = `${period}\u0000${dimension}\u0000${bucket}`;
    let row = rows.get(key);
    if (!row) rows.set(key, (row = { period, dimension, bucket, shard, ...zero() }));
    return row;
  };
  const latest = new Map<string, StoredSubmission>();
  for (const submission of submissions) {
    const period = periodOf(submission.receivedAt);
    for (const [dimension, bucket] of buckets(submission.state)) {
      const row = at(period, dimension, bucket);
      row.submissions += 1;
      row.errors += submission.state.errorCount;
      row.events += submission.events;
    }
    const seen = latest.get(period);
    if (!seen || seen.receivedAt.getTime() <= submission.receivedAt.getTime()) latest.set(period, submission);
  }
  // Within a period an installation counts once, in the buckets of its latest submission there.
  for (const [period, submission] of latest) {
    for (const [dimension, bucket] of buckets(submission.state)) {
      const row = at(period, dimension, bucket);
      row.installations += 1;
      row.error_installations += submission.state.errorCount > 0 ? 1 : 0;
    }
  }
  return [...rows.values()].sort(byKey);
}

/**
 * Everything an installation added to the rollups: its registration (counted at its first accepted
 * submission; null when that period is no longer stored), and per day and ISO week the
 * submissions it sent then (rebuilt from its stored submissions, as rollupChange added them up).
 * Erasure subtracts exactly this, so the rollups read as if the installation had never existed.
 */
export function contributionOf(installId: string, registeredAt: Date | null, submissions: StoredSubmission[]): RollupChange {
  const shard = shardOf(installId);
  const registered = registeredAt === null ? { daily: [], weekly: [] } : countChange('registered', installId, registeredAt, 1);
  return {
    daily: [...contributionsPer(utcDay, shard, submissions), ...registered.daily].sort(byKey),
    weekly: [...contributionsPer(weekStart, shard, submissions), ...registered.weekly].sort(byKey),
  };
}

/** A change of the installations counted under the UTC day of their latest accepted submission. */
export interface LastSeenDelta {
  day: string;
  shard: number;
  installations: number;
}

/** In (day, shard) order: every writer locks these rows in the same order, so none deadlocks. */
function sortedLastSeen(deltas: Map<string, LastSeenDelta>): LastSeenDelta[] {
  return [...deltas.values()]
    .filter((d) => d.installations !== 0)
    .sort((a, b) => (a.day !== b.day ? (a.day < b.day ? -1 : 1) : a.shard - b.shard));
}

/** Adds `installations` to each (day of `at`, shard of the id); null timestamps never counted. */
export function lastSeenChange(entries: { installId: string; at: Date | null; installations: number }[]): LastSeenDelta[] {
  const deltas = new Map<string, LastSeenDelta>();
  for (const entry of entries) {
    if (entry.at === null) continue;
    const day = utcDay(entry.at);
    const shard = shardOf(entry.installId);
    const key = `${day}\u0000${shard}`;
    const delta = deltas.get(key) ?? { day, shard, installations: 0 };
    delta.installations += entry.installations;
    deltas.set(key, delta);
  }
  return sortedLastSeen(deltas);
}

/** An accepted submission moves its installation from the day it was last seen (if any) to `now`'s day. */
export function lastSeenMove(installId: string, previousAt: Date | null, now: Date): LastSeenDelta[] {
  return lastSeenChange([
    { installId, at: previousAt, installations: -1 },
    { installId, at: now, installations: 1 },
  ]);
}

/**
 * The part of a submission stored as JSON: the fields that have no column of their own. The rest
 * (install id, period, version, platform, deployment, country, errors, uptime) lives in columns;
 * repeating it cost about 300 bytes per row. Rows stored before 0.2 hold the whole payload: a
 * superset, read the same way.
 */
export interface StoredPayload {
  schema_version: number;
  event_counts: Record<string, number>;
  feature_flags: Record<string, boolean>;
}

export function storedPayload(payload: SubmissionPayload): StoredPayload {
  return { schema_version: payload.schema_version, event_counts: payload.event_counts, feature_flags: payload.feature_flags };
}

/** The state a stored submission reported: its columns, plus the feature flags from its JSON. */
export function storedState(row: { app_version: string; platform: string; deployment_type: string; country: string; error_count: unknown; payload: string }): ReportedState {
  const stored = JSON.parse(row.payload) as Partial<StoredPayload>;
  return reportedState({
    app_version: row.app_version,
    platform: row.platform,
    deployment_type: row.deployment_type,
    country: row.country,
    error_count: Number(row.error_count),
    feature_flags: stored.feature_flags ?? {},
  } as SubmissionPayload);
}

const deltaKey = (d: RollupDelta) => `${d.period}\u0000${d.dimension}\u0000${d.bucket}\u0000${d.shard}`;

/** Sums the deltas of several submissions per row, drops rows that sum to zero, sorts them like every other writer. */
export function mergeDeltas(deltas: RollupDelta[]): RollupDelta[] {
  const rows = new Map<string, RollupDelta>();
  for (const d of deltas) {
    const key = deltaKey(d);
    const row = rows.get(key);
    if (!row) {
      rows.set(key, { ...d });
      continue;
    }
    row.installations += d.installations;
    row.submissions += d.submissions;
    row.errors += d.errors;
    row.error_installations += d.error_installations;
    row.events += d.events;
  }
  return [...rows.values()]
    .filter((r) => r.installations || r.submissions || r.errors || r.error_installations || r.events)
    .sort((a, b) =>
      a.period !== b.period ? (a.period < b.period ? -1 : 1) : a.dimension !== b.dimension ? (a.dimension < b.dimension ? -1 : 1) : a.bucket !== b.bucket ? (a.bucket < b.bucket ? -1 : 1) : a.shard - b.shard,
    );
}
