// The base layer's fixed schema, enforced at run time: anything not listed here is dropped before export.
export const BASE_SCHEMA_KEYS = [
  'install_id',
  'app_version',
  'platform',
  'os_version',
  'architecture',
  'locale',
  'timezone',
  'first_seen_at',
  'last_seen_at',
  'heartbeat_at',
  'release_channel',
  'deployment_type',
] as const;

export type BaseSchemaKey = (typeof BASE_SCHEMA_KEYS)[number];
export type BaseRecord = Partial<Record<BaseSchemaKey, string>>;

export const BASE_EVENT_PREFIX = 'base_telemetry.';

export const BASE_EVENTS = {
  firstSeen: 'base_telemetry.first_seen',
  heartbeat: 'base_telemetry.heartbeat',
  /** One opt-in install ping each time an admin turns detailed analytics on. */
  optIn: 'base_telemetry.opt_in',
} as const;

const ALLOWED = new Set<string>(BASE_SCHEMA_KEYS);

export function enforceBaseSchema(input: Record<string, unknown>): BaseRecord {
  const record: BaseRecord = {};
  for (const [key, value] of Object.entries(input)) {
    if (!ALLOWED.has(key) || value === null || value === undefined) continue;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') continue;
    record[key as BaseSchemaKey] = String(value).slice(0, 128);
  }
  return record;
}
