// collectorPlugin(options): the receiving service (docs/collector.md) as a Koa middleware handle. Mount it in
// your own Koa app (`app.use(collector)`), or run it standalone with `koa-consent-telemetry collector`.
// It answers only under its own paths (below mountPath): /v1/*, /stats/*, /reports/*,
// /dashboard*, /metrics, /health, /openapi.json (and /public* when publicInsights is on); everything else goes on to the host's middleware.
import type { Context, Next } from 'koa';
import { resolveCollectorOptions, type CollectorOptions, type ResolvedCollectorOptions } from './options.js';
import { Collector, type MaintenanceResult } from './collector.js';
import { collectorMigrationSource } from './storage/migrations.js';
import { COLLECTOR_MIGRATIONS_TABLE } from './storage/tables.js';
import { HttpError, jsonErrors, sendError } from '../core/http-errors.js';
import { ingestRouter } from './routes/ingest.js';
import { statsRouter } from './routes/stats.js';
import { reportsRouter } from './routes/reports.js';
import { dashboardRouter } from './routes/dashboard.js';
import { opsRouter } from './routes/ops.js';
import { insightsStatsRouter, publicInsightsRouter } from './routes/insights.js';
import type { FleetStatsService } from './analytics/stats.js';
import type { ReportService } from './reports/service.js';
import type { CollectorMetrics } from './metrics.js';

export interface CollectorHandle {
  (ctx: Context, next: Next): Promise<void>;
  /** Creates the SQLite folder, runs the collector's migrations, schedules its jobs. Idempotent. */
  ready(): Promise<void>;
  /** Cancels jobs, closes the SMTP pool and the collector's own database (never a host's knex). */
  stop(): Promise<void>;
  /** The retention purge the daily job runs, on demand. */
  maintenance(): Promise<MaintenanceResult>;
  readonly stats: FleetStatsService;
  readonly reports: ReportService;
  readonly metrics: CollectorMetrics;
  readonly options: ResolvedCollectorOptions;
  readonly migrationSource: typeof collectorMigrationSource;
  readonly migrationsTableName: string;
  /** The wired parts, for the package's own server, CLI and tests. */
  readonly collector: Collector;
}

const OWN_PREFIXES = ['/v1/', '/stats/', '/reports/', '/dashboard/'];
const OWN_PATHS = ['/metrics', '/health', '/dashboard', '/openapi.json'];
/** Claimed only when publicInsights is on: otherwise these paths stay the host's. */
const PUBLIC_PREFIXES = ['/public/'];
const PUBLIC_PATHS = ['/public'];

export function collectorPlugin(input: CollectorOptions = {}): CollectorHandle {
  const options = resolveCollectorOptions(input);
  const collector = new Collector(options);
  const prefix = options.mountPath;
  const ownsPath = (path: string): boolean => {
    if (prefix && path !== prefix && !path.startsWith(`${prefix}/`)) return false;
    const rest = path.slice(prefix.length);
    if (options.publicInsights && (PUBLIC_PATHS.includes(rest) || PUBLIC_PREFIXES.some((p) => rest.startsWith(p)))) return true;
    return OWN_PATHS.includes(rest) || OWN_PREFIXES.some((p) => rest.startsWith(p));
  };

  const routers = [
    ingestRouter(collector, prefix),
    statsRouter(collector, prefix),
    insightsStatsRouter(collector, prefix),
    reportsRouter(collector, prefix),
    dashboardRouter(collector, prefix),
    opsRouter(collector, prefix),
    ...(options.publicInsights ? [publicInsightsRouter(collector, prefix)] : []),
  ];
  // A known path with another method is a JSON 405 (never @koa/router's 501 for unknown methods).
  const methodNotAllowed = () => new HttpError(405, 'method_not_allowed', 'This endpoint does not accept that method.');
  const dispatchers = routers.flatMap((router) => [router.routes(), router.allowedMethods({ throw: true, methodNotAllowed, notImplemented: methodNotAllowed })]);
  const errors = jsonErrors(options.logger);
  const notFound = async (ctx: Context): Promise<void> => sendError(ctx, 404, 'not_found', 'No such collector endpoint.');

  const handle = async (ctx: Context): Promise<void> => {
    let index = 0;
    const step = async (): Promise<void> => {
      const dispatch = dispatchers[index++];
      if (dispatch) await dispatch(ctx as never, step);
      else await notFound(ctx);
    };
    await errors(ctx, async () => {
      // /health answers from the database alone; everything else needs the migrated schema.
      if (!ctx.path.endsWith('/health')) {
        try {
          await collector.ready();
        } catch {
          sendError(ctx, 503, 'collector_unavailable', 'The collector cannot reach its database right now.');
          ctx.set('Retry-After', '30');
          return;
        }
      }
      await step();
    });
  };

  const middleware = async function collectorMiddleware(ctx: Context, next: Next): Promise<void> {
    if (!ownsPath(ctx.path)) return next();
    await handle(ctx);
  };

  return Object.assign(middleware, {
    ready: () => collector.ready(),
    stop: () => collector.stop(),
    maintenance: () => collector.maintenance(),
    stats: collector.stats,
    reports: collector.reports,
    metrics: collector.metrics,
    options,
    migrationSource: collectorMigrationSource,
    migrationsTableName: COLLECTOR_MIGRATIONS_TABLE,
    collector,
  }) as CollectorHandle;
}

export { resolveCollectorOptions, type CollectorOptions, type ResolvedCollectorOptions } from './options.js';
export { collectorMigrationSource, migrateCollector } from './storage/migrations.js';
export { COLLECTOR_MIGRATIONS_TABLE, COLLECTOR_TABLES } from './storage/tables.js';
