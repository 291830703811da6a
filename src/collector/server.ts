// The standalone collector: a Koa app of its own around collectorPlugin(), configured from the
// environment (`koa-consent-telemetry collector` runs it). Logs are JSON lines without any client
// address; requests are logged at debug level (LOG_LEVEL=debug).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import type { Knex } from 'knex';
import { routeTemplateOf } from '../core/route-template.js';
import type { Logger } from '../core/logging.js';
import { collectorPlugin, type CollectorHandle } from './plugin.js';
import type { CollectorOptions } from './options.js';
import { sendError } from '../core/http-errors.js';

type EnvMap = Record<string, string | undefined>;

export const DEFAULT_COLLECTOR_PORT = 8080;
export const DEFAULT_COLLECTOR_HOST = '0.0.0.0';

export interface CollectorServerOptions {
  env?: EnvMap;
  /** Overrides PORT. */
  port?: number;
  /** Overrides HOST. */
  host?: string;
  logger?: Logger;
  /** Extra collector options (tests: clock, jobs). */
  collector?: Partial<CollectorOptions>;
}

export interface CollectorServer {
  url: string;
  port: number;
  collector: CollectorHandle;
  server: http.Server;
  close(): Promise<void>;
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

/** A JSON-lines logger (pino-compatible call shapes: `(obj, msg)` or `(msg)`). */
export function jsonLogger(level: string | undefined, write: (line: string, level: Level) => void = defaultWrite): Logger {
  const min = Math.max(0, LEVELS.indexOf((level ?? 'info').toLowerCase() as Level));
  const make = (lvl: Level) => (...args: unknown[]) => {
    if (LEVELS.indexOf(lvl) < min) return;
    const [first, second] = args;
    const fields = typeof first === 'object' && first !== null ? (first as Record<string, unknown>) : {};
    const msg = typeof first === 'string' ? first : typeof second === 'string' ? second : '';
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields }), lvl);
  };
  return { debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error') };
}

function defaultWrite(line: string, level: Level): void {
  (level === 'warn' || level === 'error' ? process.stderr : process.stdout).write(`${line}\n`);
}

const truthy = (value: string | undefined) => value !== undefined && /^(1|true|yes|on)$/i.test(value.trim());

/** DATABASE_URL → knex config: postgres://… for PostgreSQL, anything else is a SQLite file. */
export function databaseFromEnv(env: EnvMap): { config: Knex.Config | undefined; file: string | undefined } {
  const url = env.DATABASE_URL?.trim();
  if (!url) return { config: undefined, file: undefined };
  if (/^postgres(ql)?:\/\//i.test(url)) {
    const max = Number(env.DATABASE_POOL_MAX ?? 10);
    const schema = env.DATABASE_SCHEMA?.trim();
    return {
      config: {
        client: 'pg',
        connection: { connectionString: url, application_name: env.DATABASE_APPLICATION_NAME || 'kct-collector' },
        pool: { min: 0, max: Number.isInteger(max) && max > 0 ? max : 10 },
        ...(schema ? { searchPath: [schema] } : {}),
      },
      file: undefined,
    };
  }
  const file = url.replace(/^sqlite:(\/\/)?/i, '').replace(/^file:(\/\/)?/i, '');
  return { config: undefined, file };
}

function intEnv(env: EnvMap, name: string): number | undefined {
  const value = env[name]?.trim();
  if (!value) return undefined;
  if (!/^\d+$/.test(value)) throw new TypeError(`koa-consent-telemetry collector: ${name} must be a whole number, got "${value}"`);
  return Number(value);
}

/** The collector's options from the environment (docs/collector.md lists every variable). */
export function collectorOptionsFromEnv(env: EnvMap, logger: Logger): CollectorOptions {
  const database = databaseFromEnv(env);
  const options: CollectorOptions = { env, logger, processMetrics: true };
  if (database.config) options.db = database.config;
  if (database.file) options.dbFile = database.file;
  const k = intEnv(env, 'COLLECTOR_K_THRESHOLD');
  if (k !== undefined) options.kThreshold = k;
  const retention = intEnv(env, 'COLLECTOR_RETENTION_DAYS');
  if (retention !== undefined) options.retentionDays = retention;
  const window = intEnv(env, 'COLLECTOR_RATE_LIMIT_WINDOW_SECONDS');
  if (window !== undefined) options.rateLimitWindowSeconds = window;
  const batchSize = intEnv(env, 'COLLECTOR_INGEST_BATCH_SIZE');
  if (batchSize !== undefined) options.ingestBatchSize = batchSize;
  const batchWait = intEnv(env, 'COLLECTOR_INGEST_BATCH_WAIT_MS');
  if (batchWait !== undefined) options.ingestBatchWaitMs = batchWait;
  const perClient = intEnv(env, 'COLLECTOR_REGISTRATIONS_PER_CLIENT_PER_HOUR');
  if (perClient !== undefined) options.registrationsPerClientPerHour = perClient;
  const perHour = intEnv(env, 'COLLECTOR_REGISTRATIONS_PER_HOUR');
  if (perHour !== undefined) options.registrationsPerHour = perHour;
  const unconfirmed = intEnv(env, 'COLLECTOR_UNCONFIRMED_REGISTRATION_DAYS');
  if (unconfirmed !== undefined) options.unconfirmedRegistrationDays = unconfirmed;
  const idle = intEnv(env, 'COLLECTOR_SESSION_IDLE_MINUTES');
  if (idle !== undefined) options.sessionIdleMinutes = idle;
  // A Docker/Kubernetes secret: the token in a file, so it is not in the environment or `docker inspect`.
  const tokenFile = env.COLLECTOR_ADMIN_TOKEN_FILE?.trim();
  if (tokenFile && !env.COLLECTOR_ADMIN_TOKEN) {
    try {
      options.adminToken = readFileSync(tokenFile, 'utf8').trim();
    } catch (err) {
      throw new Error(`koa-consent-telemetry collector: cannot read COLLECTOR_ADMIN_TOKEN_FILE ${tokenFile}: ${(err as Error).message}`);
    }
  }
  if (env.COLLECTOR_TITLE) options.title = env.COLLECTOR_TITLE;
  if (env.COLLECTOR_JOBS !== undefined && env.COLLECTOR_JOBS !== '') options.jobs = truthy(env.COLLECTOR_JOBS);
  return options;
}

export async function startCollectorServer(options: CollectorServerOptions = {}): Promise<CollectorServer> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? jsonLogger(env.LOG_LEVEL);
  const port = options.port ?? intEnv(env, 'PORT') ?? DEFAULT_COLLECTOR_PORT;
  const host = options.host ?? (env.HOST?.trim() || DEFAULT_COLLECTOR_HOST);

  const collector = collectorPlugin({ ...collectorOptionsFromEnv(env, logger), ...options.collector });
  const keys = collector.options.sessionKeys ?? [randomBytes(32).toString('hex')];
  if (!collector.options.sessionKeys) {
    logger.info('COLLECTOR_SESSION_KEYS is not set: the sign-in form\'s CSRF cookie is signed with a random key of this process (set it when several processes share a load balancer; sessions themselves live in the database)');
  }
  // proxy only makes ctx.secure honour X-Forwarded-Proto (for Secure cookies); the rate limits read
  // the client address themselves (trustProxy), and nothing stores or logs it.
  const app = new Koa({ keys, proxy: truthy(env.COLLECTOR_TRUST_PROXY) });
  app.silent = true;

  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      // The matched route template or "(unmatched)": never the raw path, which an attacker chooses.
      logger.debug(
        { method: ctx.method, path: routeTemplateOf(ctx), status: ctx.status, ms: Math.round(Number(process.hrtime.bigint() - started) / 1e4) / 100 },
        'request',
      );
    }
  });
  app.use(async (ctx, next) => {
    const base = collector.options.mountPath;
    if (ctx.method === 'GET' && (ctx.path === '/' || ctx.path === base)) {
      ctx.redirect(`${base}/dashboard`);
      return;
    }
    await next();
  });
  app.use(collector);
  app.use(async (ctx) => {
    sendError(ctx, 404, 'not_found', 'Not found.');
  });
  app.on('error', (err: Error) => logger.error({ err: `${err.name}: ${err.message}`.slice(0, 300) }, 'collector request failed'));

  try {
    await collector.ready();
  } catch (err) {
    // Close what was opened (the database pool would otherwise keep the process alive).
    await collector.stop().catch(() => undefined);
    throw err;
  }
  const server = http.createServer(app.callback());
  // Longer than common load balancer idle timeouts, so the balancer closes idle connections first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.listen(port, host);
  try {
    await once(server, 'listening');
  } catch (err) {
    await collector.stop();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${address.port}`;
  logger.info({ url, database: collector.collector.database.dialect }, 'collector listening');

  let closing: Promise<void> | null = null;
  return {
    url,
    port: address.port,
    collector,
    server,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const force = setTimeout(() => server.closeAllConnections(), 5_000);
        force.unref();
        await closed;
        clearTimeout(force);
        await collector.stop();
        logger.info('collector stopped');
      })();
      return closing;
    },
  };
}
