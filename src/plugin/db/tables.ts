// Table names in one place: every plugin table carries the telemetry_ prefix.
export const MIGRATIONS_TABLE = 'telemetry_knex_migrations';

export const TABLES = {
  settings: 'telemetry_settings',
  supportCounters: 'telemetry_support_counters',
  supportPromptState: 'telemetry_support_prompt_state',
  donationInteractions: 'telemetry_donation_interactions',
  usageEvents: 'telemetry_usage_events',
  pageviewCounts: 'telemetry_pageview_counts',
  uptimeHours: 'telemetry_uptime_hours',
  submissions: 'telemetry_submissions',
  userPrivacy: 'telemetry_user_privacy',
  outboundLedger: 'telemetry_outbound_ledger',
  consentReceipts: 'telemetry_consent_receipts',
} as const;
