#!/usr/bin/env node
// `koa-consent-telemetry` — inspect and change an installation's telemetry from the shell.
// It works on the host's dataDir (installation.json) and database. Consent lives in the database, so a
// running app on the same database sees enable/disable within its consentSyncIntervalMs. It exports
// nothing; the only request it can make is `delete` asking the collector to erase this installation's data.
import { parseArgs } from 'node:util';
import { createWriteStream, realpathSync } from 'node:fs';
import { finished } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { telemetryPlugin } from './plugin/plugin.js';
import { runtimeOf } from './plugin/internal.js';
import { PACKAGE_VERSION } from './core/version.js';
import { CONSENT_CATEGORIES, type ConsentCategory } from './plugin/types.js';

const USAGE = `Usage: koa-consent-telemetry <command> [options]

Commands:
  status               consent, kill switch, sink and queue state of this installation (JSON)
  enable [category]    opt in to analytics, usageStats, or both when no category is given
  disable [category]   opt out of analytics, usageStats, or both when no category is given
  preview              the exact payload the next weekly submission would send (JSON)
  export [file]        everything stored locally (events, settings, ledger, consent receipts) as JSON,
                       to file or stdout
  delete --yes         erase the local statistics, ledger and support funnel, and ask the collector
                       ($TELEMETRY_COLLECTOR_URL) to erase this installation's data
  collector            run the collector (receiving service) standalone until SIGINT/SIGTERM,
                       configured from the environment: PORT, HOST, DATABASE_URL (SQLite file by
                       default, postgres://… for PostgreSQL), COLLECTOR_ADMIN_TOKEN, SMTP_*,
                       COLLECTOR_REPORT_RECIPIENTS … (see docs/collector.md)

Options:
  --data-dir DIR       the host's telemetry dataDir (default: $TELEMETRY_DATA_DIR or ./data)
  --database-url URL   the host's database: postgres://… or a SQLite file path
                       (default: <data-dir>/telemetry.sqlite3)
  --app-version V      the host application's version, as the payload reports it (preview)
  --yes                confirm delete
  -h, --help           show this help
  -v, --version        print the package version

Exit codes: 0 done, 1 the command failed, 2 wrong usage.`;

class UsageError extends Error {}

const COMMANDS = ['status', 'enable', 'disable', 'preview', 'export', 'delete'];

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
        'app-version': { type: 'string' },
        yes: { type: 'boolean' },
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
    out(PACKAGE_VERSION);
    return 0;
  }
  const [command, argument, ...rest] = positionals;
  if (command === 'collector' && !argument && rest.length === 0 && !values['data-dir'] && !values['database-url']) return runCollector(out);
  const takesNoArgument = command === 'status' || command === 'preview' || command === 'delete';
  if (!command || !COMMANDS.includes(command) || rest.length > 0 || (takesNoArgument && argument)) {
    out(`${command ? `unknown or malformed command: ${positionals.join(' ')}` : 'no command given'}\n\n${USAGE}`);
    return 2;
  }
  if (command === 'delete' && !values.yes) {
    out('delete erases this installation\'s telemetry data here and at the collector; run it again with --yes to confirm.');
    return 2;
  }

  let telemetry;
  try {
    const categories = command === 'enable' || command === 'disable' ? categoriesFrom(argument) : [];
    telemetry = telemetryPlugin({
      appName: 'koa-consent-telemetry-cli',
      appVersion: values['app-version'] ?? 'unknown',
      dataDir: values['data-dir'] ?? process.env.TELEMETRY_DATA_DIR ?? './data',
      db: databaseConfig(values['database-url']),
      // The CLI only reads and writes local state: nothing is exported from it.
      otlp: { endpoint: null },
      // delete may ask the collector (from the environment) to erase this installation; nothing else talks to it.
      collector: command === 'delete' ? {} : { url: null },
      // The CLI is not the host: it must not add events of its own to the host's statistics.
      localStats: false,
      jobs: false,
    });
    await telemetry.ready();
    if (command === 'status') {
      const { jobs: _jobs, ...status } = telemetry.status();
      out(JSON.stringify(status, null, 2));
    } else if (command === 'preview') {
      out(JSON.stringify(await telemetry.stats.preview(), null, 2));
    } else if (command === 'export') {
      const json = Readable.from(telemetry.stats.export());
      if (argument) {
        await finished(json.pipe(createWriteStream(argument, { mode: 0o600 })));
        out(`exported to ${argument}`);
      } else {
        let text = '';
        for await (const chunk of json) text += chunk;
        out(text.trimEnd());
      }
    } else if (command === 'delete') {
      // Through the internal entry point only to name the receipt's actor `cli` (the public deleteAll() names `api`).
      out(JSON.stringify(await runtimeOf(telemetry).stats.deleteAll('cli'), null, 2));
    } else {
      const value = command === 'enable';
      const consent = await runtimeOf(telemetry).setConsent(Object.fromEntries(categories.map((c) => [c, value])), 'cli');
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

/** `collector`: the standalone server from the environment, until SIGINT or SIGTERM; then a clean close. */
async function runCollector(out: (line: string) => void): Promise<number> {
  // Listen for the signals first: one that arrives while the server starts still closes it cleanly.
  let received: NodeJS.Signals | null = null;
  let wake: (() => void) | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    received = signal;
    wake?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let server;
    try {
      // Loaded on demand: the other commands never pay for the collector's modules.
      const { startCollectorServer } = await import('./collector/server.js');
      server = await startCollectorServer({ env: process.env });
    } catch (err) {
      out(`koa-consent-telemetry: collector failed to start: ${(err as Error).message}`);
      return 1;
    }
    if (!received) await new Promise<void>((resolve) => (wake = resolve));
    try {
      await server.close();
      return 0;
    } catch (err) {
      out(`koa-consent-telemetry: collector did not close cleanly after ${received}: ${(err as Error).message}`);
      return 1;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
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
