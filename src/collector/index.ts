// Public exports of the collector, published as `koa-consent-telemetry/collector`. Importing the
// plugin (`koa-consent-telemetry`) never loads this entry, prom-client or nodemailer.
export {
  collectorPlugin,
  resolveCollectorOptions,
  collectorMigrationSource,
  migrateCollector,
  COLLECTOR_MIGRATIONS_TABLE,
  COLLECTOR_TABLES,
  type CollectorHandle,
  type CollectorOptions,
  type ResolvedCollectorOptions,
} from './plugin.js';
export { startCollectorServer, type CollectorServer, type CollectorServerOptions } from './server.js';
export type { Logger } from '../core/logging.js';
