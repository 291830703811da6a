// The plugin's knex: the host's own instance when given one (never closed by us), otherwise one we
// open from a knex config or on the default SQLite file in dataDir (closed by stop()).
import { join } from 'node:path';
import knex, { type Knex } from 'knex';
import type { Logger } from '../logging.js';
import { OnceLogger } from '../logging.js';

export const DEFAULT_SQLITE_FILE = 'telemetry.sqlite3';
/** How long a query waits for a connection before failing (knex's default is a minute). */
const ACQUIRE_TIMEOUT_MS = 10_000;

export interface DatabaseHandle {
  knex: Knex;
  /** True when the plugin opened the connection and must close it. */
  owned: boolean;
  client: string;
}

/** A knex instance (a function with a client and a schema builder), as opposed to a knex config. */
export function isKnexInstance(value: unknown): value is Knex {
  return typeof value === 'function' && typeof (value as { client?: unknown }).client === 'object' && 'schema' in value;
}

function sqliteTuning(config: Knex.Config): Knex.Config {
  const client = String(config.client ?? '');
  if (client !== 'sqlite3' && client !== 'better-sqlite3') return config;
  return {
    useNullAsDefault: true,
    ...config,
    pool: {
      ...(config.pool ?? {}),
      // WAL lets a host read while we write a batch; busy_timeout rides out short locks; with WAL,
      // synchronous=NORMAL stays crash-safe (a power cut may lose the last commits, never corrupts)
      // and avoids an fsync per transaction.
      afterCreate: (conn: { run: (sql: string, cb: (err?: Error | null) => void) => void }, done: (err: Error | null, conn: unknown) => void) => {
        conn.run('PRAGMA journal_mode = WAL', () =>
          conn.run('PRAGMA synchronous = NORMAL', () => conn.run('PRAGMA busy_timeout = 5000', (err) => done(err ?? null, conn))),
        );
      },
    },
  };
}

/** knex prints pool and driver trouble to the console by default; ours goes to the plugin's logger, once per kind. */
function knexLog(logger: Logger): Knex.Config['log'] {
  const once = new OnceLogger(logger);
  const kind = (message: unknown) => String(message).slice(0, 60);
  return {
    warn: (message: unknown) => once.warn(`knex:${kind(message)}`, message, 'telemetry database warning'),
    error: (message: unknown) => once.warn(`knex:${kind(message)}`, message, 'telemetry database error'),
    deprecate: () => undefined,
    debug: () => undefined,
  };
}

export function openDatabase(option: Knex | Knex.Config | undefined, dataDir: string, logger: Logger): DatabaseHandle {
  if (isKnexInstance(option)) {
    return { knex: option, owned: false, client: String(option.client.config?.client ?? 'unknown') };
  }
  // The folder for the default file is created by ready(): construction does no I/O.
  const base: Knex.Config = option ?? { client: 'sqlite3', connection: { filename: join(dataDir, DEFAULT_SQLITE_FILE) } };
  const config = sqliteTuning({ acquireConnectionTimeout: ACQUIRE_TIMEOUT_MS, log: knexLog(logger), ...base });
  try {
    return { knex: knex(config), owned: true, client: String(config.client) };
  } catch (err) {
    throw clearDriverError(err, String(config.client));
  }
}

/**
 * knex loads the driver at once; sqlite3 without its native binding (its install script did not
 * run, e.g. denied by the host's npm allowScripts) says only "Could not locate the bindings file".
 */
function clearDriverError(err: unknown, client: string): unknown {
  const message = err instanceof Error ? err.message : String(err);
  if (!/^(sqlite3?|better-sqlite3)$/.test(client) || !/bindings file|Cannot find module|node_sqlite3\.node/i.test(message)) return err;
  return new Error(
    'koa-consent-telemetry: the SQLite database needs the sqlite3 package with its native binding, which is missing. ' +
      'sqlite3 builds it in its install script: allow it in your package.json ("allowScripts": { "sqlite3": true }, or `npm approve-scripts sqlite3`), ' +
      'then run `npm rebuild sqlite3` — or store everything elsewhere with the db option (docs/faq.md).',
    { cause: err },
  );
}
