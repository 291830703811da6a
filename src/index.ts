import './plugin/koa-augment.js';
// Public exports of the plugin only. The collector is its own entry point: koa-consent-telemetry/collector.
export { telemetryPlugin, SESSION_MISSING_MESSAGE, TEMPLATES_PATH, type TelemetryHandle, type TelemetryStats } from './plugin/plugin.js';
export { PRIVACY_NOTICE_VERSION, DEFAULT_MOUNT_PATHS, type TelemetryOptions, type ResolvedOptions } from './plugin/options.js';
export { migrationSource } from './plugin/db/migration-source.js';
export { MIGRATIONS_TABLE } from './plugin/db/tables.js';
export { BASE_SCHEMA_KEYS, BASE_EVENTS } from './plugin/telemetry/base-schema.js';
export type { StatusReport } from './plugin/status.js';
export type { LocalStatistics, StatsDeletion, InstallationView, LedgerEntry } from './plugin/stats/views.js';
export type { ConsentChange, ConsentListener, ConsentPatch } from './plugin/installation/consent.js';
export type { ConsentActor, ConsentReceipt, ReceiptScope, ReceiptAction } from './plugin/installation/consent-receipts.js';
export { GUARD_REASONS, REDACTED, type EventDeclarations, type PropertyDeclaration, type GuardReason } from './plugin/telemetry/privacy-guard.js';
export { SUPPORT_EVENTS, PROMPT_VARIANTS, PROMPT_KINDS, type SupportEvent, type PromptVariant, type PromptKind } from './plugin/support/events.js';
export type { SupportApi } from './plugin/support/service.js';
export type { FunnelCount, InteractionRow } from './plugin/support/repository.js';
export type { SupportViewModel } from './plugin/support/view-model.js';
export type {
  ConsentCategory,
  ConsentState,
  EventProps,
  EventValue,
  KillSwitchState,
  Logger,
  RequestTelemetry,
  SinkStats,
  TelemetryUser,
  TrackOptions,
} from './plugin/types.js';
