// What the host itself was running with at its last start, kept in telemetry_settings (host.* rows)
// so the CLI, which is not the host, can report the host's app version, sink and collector instead
// of its own configuration (docs/cli.md). URLs are kept as their origin only: no path, query or
// credentials.
import type { RuntimeEnvironment } from '../telemetry/environment.js';

export const HOST_PREFIX = 'host.';

export interface HostRecord {
  /** When the host last started (ISO 8601). */
  recorded_at: string;
  app_name: string;
  app_version: string;
  package_version: string;
  platform: string;
  deployment_type: RuntimeEnvironment['deployment_type'];
  timezone: string;
  /** The feature flags the host reported at that start (sanitized, as the payload carries them). */
  feature_flags: Record<string, boolean>;
  /** Whether the OTLP sink could export (an endpoint, or debug), under no kill switch. */
  sink_configured: boolean;
  otlp_endpoint: string | null;
  collector_url: string | null;
  local_stats: boolean;
}

/** scheme://host:port of a URL, or null (nothing else of it is kept). */
export function originOf(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? null : origin;
  } catch {
    return null;
  }
}

/** The rows written at start: every value a string, as telemetry_settings stores them. */
export function hostRecordEntries(record: HostRecord): Record<string, string> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [`${HOST_PREFIX}${key}`, typeof value === 'string' ? value : JSON.stringify(value)]));
}

/** The record read back from the host.* rows; null when no host has started on this database yet. */
export function parseHostRecord(rows: Record<string, string>): HostRecord | null {
  const get = (key: keyof HostRecord): string | undefined => rows[`${HOST_PREFIX}${key}`];
  const json = <T>(key: keyof HostRecord, fallback: T): T => {
    try {
      const raw = get(key);
      return raw === undefined ? fallback : (JSON.parse(raw) as T);
    } catch {
      return fallback;
    }
  };
  const nullable = (key: keyof HostRecord): string | null => {
    const raw = get(key);
    return raw === undefined || raw === 'null' ? null : raw;
  };
  const recordedAt = get('recorded_at');
  if (!recordedAt) return null;
  return {
    recorded_at: recordedAt,
    app_name: get('app_name') ?? 'unknown',
    app_version: get('app_version') ?? 'unknown',
    package_version: get('package_version') ?? 'unknown',
    platform: get('platform') ?? 'other',
    deployment_type: (get('deployment_type') ?? 'unknown') as HostRecord['deployment_type'],
    timezone: get('timezone') ?? 'UTC',
    feature_flags: json('feature_flags', {}),
    sink_configured: get('sink_configured') === 'true',
    otlp_endpoint: nullable('otlp_endpoint'),
    collector_url: nullable('collector_url'),
    local_stats: get('local_stats') === 'true',
  };
}
