import './koa-augment.js';
// Public exports only.
export { telemetryPlugin, SESSION_MISSING_MESSAGE, TEMPLATES_PATH, type TelemetryHandle } from './plugin.js';
export { PRIVACY_NOTICE_VERSION, DEFAULT_MOUNT_PATHS, type TelemetryOptions, type ResolvedOptions } from './options.js';
export { migrationSource } from './db/migration-source.js';
export { MIGRATIONS_TABLE } from './db/tables.js';
export { BASE_SCHEMA_KEYS, BASE_EVENTS } from './telemetry/base-schema.js';
export type { StatusReport } from './runtime.js';
export type { ConsentChange, ConsentListener, ConsentPatch } from './installation/consent.js';
export type { ConsentActor, ConsentReceipt, ReceiptScope, ReceiptAction } from './installation/consent-receipts.js';
export { GUARD_REASONS, REDACTED, type EventDeclarations, type PropertyDeclaration, type GuardReason } from './telemetry/privacy-guard.js';
export { collectorPlugin, resolveCollectorOptions, collectorMigrationSource, migrateCollector, COLLECTOR_MIGRATIONS_TABLE, COLLECTOR_TABLES, type CollectorHandle, type CollectorOptions, type ResolvedCollectorOptions } from './collector/plugin.js';
export { SUPPORT_EVENTS, PROMPT_VARIANTS, PROMPT_KINDS, type SupportEvent, type PromptVariant, type PromptKind } from './support/events.js';
export type { SupportApi } from './support/service.js';
export type { FunnelCount, InteractionRow } from './support/repository.js';
export type { SupportViewModel } from './support/view-model.js';
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
} from './types.js';
