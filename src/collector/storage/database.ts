// The collector's knex: the host's own instance when given one (never closed by the collector), or
// one opened from a knex config / on the default SQLite file (closed by stop()).
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Knex } from 'knex';
import type { Logger } from '../../core/logging.js';
import { isKnexInstance, openDatabase, type DatabaseHandle } from '../../core/db/connection.js';

export type Dialect = 'postgres' | 'sqlite';

export interface CollectorDatabase extends DatabaseHandle {
  dialect: Dialect;
  /** Creates the folder of the default SQLite file (construction does no I/O). */
  prepare(): Promise<void>;
}

export function dialectOf(client: string): Dialect {
  if (/^(pg|postgres|postgresql|pgnative)$/i.test(client)) return 'postgres';
  if (/^(sqlite3|better-sqlite3)$/i.test(client)) return 'sqlite';
  throw new TypeError(`koa-consent-telemetry collector: invalid option \`db\`: the collector runs on SQLite or PostgreSQL, not on "${client}"`);
}

export function openCollectorDatabase(option: Knex | Knex.Config | undefined, dbFile: string, logger: Logger): CollectorDatabase {
  const file = resolve(dbFile);
  // Refuse another client before knex tries to load its driver.
  if (option && !isKnexInstance(option)) dialectOf(String((option as Knex.Config).client ?? ''));
  const config: Knex | Knex.Config = option ?? { client: 'sqlite3', connection: { filename: file } };
  const handle = openDatabase(config, dirname(file), logger);
  const dialect = dialectOf(handle.client);
  return {
    ...handle,
    dialect,
    prepare: async () => {
      if (!option) await mkdir(dirname(file), { recursive: true });
    },
  };
}

/** PostgreSQL unique violation / SQLite constraint error. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errno?: number; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT' || /UNIQUE constraint failed/.test(String(e?.message));
}
