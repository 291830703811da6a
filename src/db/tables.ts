// Table names in one place: every plugin table carries the telemetry_ prefix (SPEC §6).
export const MIGRATIONS_TABLE = 'telemetry_knex_migrations';

export const TABLES = {
  settings: 'telemetry_settings',
} as const;
