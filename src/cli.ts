#!/usr/bin/env node
// `koa-consent-telemetry` — inspect and change an installation's telemetry from the shell.
// It works on the host's dataDir (installation.json) and database, and never sends anything.
import { parseArgs } from 'node:util';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { telemetryPlugin } from './plugin.js';
import { CONSENT_CATEGORIES, type ConsentCategory } from './types.js';

const USAGE = `Usage: koa-consent-telemetry <command> [options]

Commands:
  status               consent, kill switch, sink and queue state of this installation (JSON)
  enable [category]    opt in to analytics, usageStats, or both when no category is given
  disable [category]   opt out of analytics, usageStats, or both when no category is given

Options:
  --data-dir DIR       the host's telemetry dataDir (default: $TELEMETRY_DATA_DIR or ./data)
  --database-url URL   the host's database: postgres://… or a SQLite file path
                       (default: <data-dir>/telemetry.sqlite3)
  -h, --help           show this help
  -v, --version        print the package version

Exit codes: 0 done, 1 the command failed, 2 wrong usage.`;

class UsageError extends Error {}

/** package.json sits one level up from src/cli.ts and two up from dist/src/cli.js. */
function packageVersion(): string {
  const candidates = [new URL('../package.json', import.meta.url), new URL('../../package.json', import.meta.url)];
  const found = candidates.find((url) => existsSync(url) && JSON.parse(readFileSync(url, 'utf8')).name === 'koa-consent-telemetry');
  return found ? (JSON.parse(readFileSync(found, 'utf8')) as { version: string }).version : '0.0.0';
}

function databaseConfig(url: string | undefined): Knex.Config | undefined {
  if (!url) return undefined;
  if (/^postgres(ql)?:\/\//.test(url)) return { client: 'pg', connection: url, pool: { min: 0, max: 2 } };
  return { client: 'sqlite3', connection: { filename: url.replace(/^sqlite:(\/\/)?/, '') }, useNullAsDefault: true };
}

function categoriesFrom(arg: string | undefined): ConsentCategory[] {
  if (arg === undefined || arg === 'all') return [...CONSENT_CATEGORIES];
  if ((CONSENT_CATEGORIES as readonly string[]).includes(arg)) return [arg as ConsentCategory];
  throw new UsageError(`unknown category "${arg}": use analytics, usageStats or all`);
}

export async function runCli(argv: string[], out: (line: string) => void = console.log): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'data-dir': { type: 'string' },
        'database-url': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    out(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(USAGE);
    return 0;
  }
  if (values.version) {
    out(packageVersion());
    return 0;
  }
  const [command, argument, ...rest] = positionals;
  if (!command || !['status', 'enable', 'disable'].includes(command) || rest.length > 0 || (command === 'status' && argument)) {
    out(`${command ? `unknown or malformed command: ${positionals.join(' ')}` : 'no command given'}\n\n${USAGE}`);
    return 2;
  }

  let telemetry;
  try {
    const categories = command === 'status' ? [] : categoriesFrom(argument);
    telemetry = telemetryPlugin({
      appName: 'koa-consent-telemetry-cli',
      appVersion: packageVersion(),
      dataDir: values['data-dir'] ?? process.env.TELEMETRY_DATA_DIR ?? './data',
      db: databaseConfig(values['database-url']),
      // The CLI only reads and writes local state: nothing is exported from it.
      otlp: { endpoint: null },
      collector: { url: null },
      jobs: false,
    });
    await telemetry.ready();
    if (command === 'status') {
      const { jobs: _jobs, ...status } = telemetry.status();
      out(JSON.stringify(status, null, 2));
    } else {
      const value = command === 'enable';
      const consent = await telemetry.consent.set(Object.fromEntries(categories.map((c) => [c, value])));
      out(JSON.stringify({ consent }, null, 2));
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      out(`${err.message}\n\n${USAGE}`);
      return 2;
    }
    out(`koa-consent-telemetry: ${command} failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await telemetry?.stop();
  }
}

function invokedDirectly(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
