// The collector's table names in one place: every collector table carries the collector_ prefix,
// and its migrations are recorded in their own table, apart from the plugin's and the host's.
export const COLLECTOR_MIGRATIONS_TABLE = 'collector_knex_migrations';

export const COLLECTOR_TABLES = {
  installations: 'collector_installations',
  submissions: 'collector_submissions',
  dailyRollups: 'collector_daily_rollups',
  weeklyRollups: 'collector_weekly_rollups',
  reportLog: 'collector_report_log',
  erasedInstallations: 'collector_erased_installations',
  sessions: 'collector_sessions',
  lastSeenDays: 'collector_last_seen_days',
} as const;
