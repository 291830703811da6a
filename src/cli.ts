#!/usr/bin/env node
// `koa-consent-telemetry` — inspect and change an installation's telemetry from the shell.
// It works on the host's dataDir (installation.json) and database. Consent lives in the database, so a
// running app on the same database sees enable/disable within its consentSyncIntervalMs. It exports
// nothing; the only request it can make is `delete` asking the collector to erase this installation's data.
import { parseArgs } from 'node:util';
import { createWriteStream, realpathSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { telemetryPlugin } from './plugin/plugin.js';
import { runtimeOf } from './plugin/internal.js';
import { PACKAGE_VERSION } from './core/version.js';
import { CONSENT_CATEGORIES, type ConsentCategory } from './plugin/types.js';
import type { PayloadInputs } from './plugin/stats/aggregation.js';
import { openDatabase } from './core/db/connection.js';
import { quietConsoleLogger } from './core/logging.js';
import { migrateLatest, migrateRollbackAll, migratorConfig } from './plugin/db/migration-source.js';
import { DEFAULT_DEMO_INSTALLATIONS, DEFAULT_DEMO_SEED, DEFAULT_DEMO_WEEKS } from './collector/demo/fleet.js';

const USAGE = `Usage: koa-consent-telemetry <command> [options]

Commands:
  status               consent, kill switch and what the host recorded at its last start (JSON)
  enable [category]    opt in to analytics, usageStats, or both when no category is given
  disable [category]   opt out of analytics, usageStats, or both when no category is given
  preview              the exact payloads the next submission run would send (JSON array)
  export [file]        everything stored locally (events, settings, ledger, consent receipts) as JSON,
                       to file or stdout
  delete --yes         erase the local statistics, ledger and support funnel, and ask the collector
                       ($TELEMETRY_COLLECTOR_URL) to erase this installation's data
  migrate up|down|status
                       the plugin's tables in the host's database (for a deploy step)
  collector            run the collector (receiving service) standalone until SIGINT/SIGTERM
  collector migrate up|down|status
                       the collector's tables in $DATABASE_URL
  collector seed-demo [--force]
                       fill an empty collector database with a synthetic demo fleet

Options:
  --data-dir DIR       the host's telemetry dataDir (default: $TELEMETRY_DATA_DIR or ./data)
  --database-url URL   the host's database: postgres://… or a SQLite file path
                       (default: <data-dir>/telemetry.sqlite3)
  --app-version V      override the app version the host recorded (preview)
  --yes                confirm delete
  -h, --help           show this help; <command> --help shows the command's own
  -v, --version        print the package version

Exit codes: 0 done, 1 the command failed, 2 wrong usage. See docs/cli.md.`;

const DB_OPTIONS = `Options:
  --data-dir DIR       the host's telemetry dataDir (default: $TELEMETRY_DATA_DIR or ./data)
  --database-url URL   the host's database: postgres://… or a SQLite file path
                       (default: <data-dir>/telemetry.sqlite3)`;

/** Each command's own --help. */
const COMMAND_HELP: Record<string, string> = {
  status: `Usage: koa-consent-telemetry status [options]

Prints, as JSON: the install id, the consent stored in the database, the kill switch of this shell's
environment, and \`host\`: what the host app recorded in telemetry_settings at its last start (app
name and version, package version, whether its OTLP sink was configured, the OTLP endpoint's and the
collector's origin, feature flags, local statistics on or off). \`host\` is null until a host has
started on this database.

${DB_OPTIONS}`,
  enable: `Usage: koa-consent-telemetry enable [analytics|usageStats|all] [options]

Opts in (default: both categories). A running host on the same database sees the change within its
consentSyncIntervalMs. The consent receipt names the actor \`cli\`.

${DB_OPTIONS}`,
  disable: `Usage: koa-consent-telemetry disable [analytics|usageStats|all] [options]

Opts out (default: both categories). A running host on the same database sees the change within its
consentSyncIntervalMs. The consent receipt names the actor \`cli\`.

${DB_OPTIONS}`,
  preview: `Usage: koa-consent-telemetry preview [options]

Prints the exact payloads the next submission run would send (a JSON array: one per unsubmitted whole
UTC week, oldest first, at most the last 12), built from the stored counts and what the host
recorded at its last start (app version, platform, deployment type, feature flags).

${DB_OPTIONS}
  --app-version V      use V instead of the app version the host recorded`,
  export: `Usage: koa-consent-telemetry export [file] [options]

Writes everything stored locally (installation, consent, settings, events, ledgers, consent receipts)
as one JSON document to file (mode 0600) or stdout. Nothing is sent anywhere.

${DB_OPTIONS}`,
  delete: `Usage: koa-consent-telemetry delete --yes [options]

Erases the local statistics, ledgers and support funnel, starts a new install id, and asks the
collector ($TELEMETRY_COLLECTOR_URL) to erase this installation's data when it is registered there.

${DB_OPTIONS}
  --yes                confirm`,
  migrate: `Usage: koa-consent-telemetry migrate up|down|status [options]

  up       applies the plugin's pending migrations (what ready() does at start)
  down     rolls back every plugin migration: drops the plugin's tables and their data
  status   lists applied and pending migrations (JSON)

The plugin keeps its own migrations table (telemetry_knex_migrations), apart from the host's.

${DB_OPTIONS}`,
  collector: `Usage: koa-consent-telemetry collector
       koa-consent-telemetry collector migrate up|down|status

collector          runs the collector standalone until SIGINT/SIGTERM, configured from the
                   environment: PORT, HOST, DATABASE_URL (SQLite file by default, postgres://… for
                   PostgreSQL), COLLECTOR_ADMIN_TOKEN, SMTP_*, COLLECTOR_REPORT_RECIPIENTS …
                   (see docs/collector.md)
collector migrate  up: applies the collector's pending migrations; down: rolls back every one
                   (drops the collector's tables and their data); status: lists them (JSON).
                   The database is $DATABASE_URL, as for the server.
collector seed-demo
                   fills an empty collector database with a synthetic demo fleet (see
                   \`koa-consent-telemetry collector seed-demo --help\`).`,
  'collector seed-demo': `Usage: koa-consent-telemetry collector seed-demo [--force] [options]

Fills the collector's database ($DATABASE_URL, as for the server; SQLite file by default) with a
synthetic, deterministic demo fleet: installations joining over the weeks and submitting weekly,
versions rolling out with a lag, docker and native deployments, countries, feature flags and some
errors (release 2.0.0 misbehaves on native installs). Every dashboard chart, anomaly and insight
then has data before real installations report. The rollups are exactly those ingest would keep.

Refused (exit 1) when the database already holds installations, submissions or rollups.

Options:
  --force              replace every stored installation, submission and rollup with the demo
                       fleet (sessions, report log and erased ids stay)
  --installations N    how many installations (default ${DEFAULT_DEMO_INSTALLATIONS})
  --weeks N            weeks of history, ending with the current week (default ${DEFAULT_DEMO_WEEKS})
  --seed N             the random seed: the same seed, size and day give the same fleet (default ${DEFAULT_DEMO_SEED})`,
};

const SEED_DEMO_FLAGS = ['force', 'installations', 'weeks', 'seed'] as const;

class UsageError extends Error {}

const COMMANDS = ['status', 'enable', 'disable', 'preview', 'export', 'delete', 'migrate'];
const MIGRATE_ACTIONS = ['up', 'down', 'status'];

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
        force: { type: 'boolean' },
        installations: { type: 'string' },
        weeks: { type: 'string' },
        seed: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    out(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, argument, ...rest] = positionals;
  if (values.help) {
    out(COMMAND_HELP[`${command} ${argument}`] ?? (command && COMMAND_HELP[command] ? COMMAND_HELP[command] : USAGE));
    return 0;
  }
  if (values.version) {
    out(PACKAGE_VERSION);
    return 0;
  }
  if (command === 'collector' && argument === 'migrate' && rest.length === 1 && MIGRATE_ACTIONS.includes(rest[0]!)) return migrateCollectorTables(rest[0] as MigrateAction, out);
  const seedDemo = command === 'collector' && argument === 'seed-demo';
  if (seedDemo && rest.length === 0 && !values['data-dir'] && !values['database-url']) return seedDemoFleet(values, out);
  if (!seedDemo && SEED_DEMO_FLAGS.some((flag) => values[flag] !== undefined)) {
    out(`--${SEED_DEMO_FLAGS.find((flag) => values[flag] !== undefined)} belongs to \`collector seed-demo\`\n\n${USAGE}`);
    return 2;
  }
  if (command === 'collector' && !argument && rest.length === 0 && !values['data-dir'] && !values['database-url']) return runCollector(out);
  const takesNoArgument = command === 'status' || command === 'preview' || command === 'delete';
  const badMigrate = command === 'migrate' && !MIGRATE_ACTIONS.includes(argument ?? '');
  if (!command || !COMMANDS.includes(command) || rest.length > 0 || (takesNoArgument && argument) || badMigrate) {
    const help = command && COMMAND_HELP[command] ? COMMAND_HELP[command] : USAGE;
    out(`${command ? `unknown or malformed command: ${positionals.join(' ')}` : 'no command given'}\n\n${help}`);
    return 2;
  }
  const dataDir = values['data-dir'] ?? process.env.TELEMETRY_DATA_DIR ?? './data';
  if (command === 'migrate') return migratePluginTables(argument as MigrateAction, dataDir, databaseConfig(values['database-url']), out);
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
      dataDir,
      db: databaseConfig(values['database-url']),
      // The CLI only reads and writes local state: nothing is exported from it.
      otlp: { endpoint: null },
      // delete may ask the collector (from the environment) to erase this installation; nothing else talks to it.
      collector: command === 'delete' ? {} : { url: null },
      // The CLI is not the host: it must not add events of its own to the host's statistics.
      localStats: false,
      jobs: false,
    });
    const internals = runtimeOf(telemetry);
    // The CLI is not the host: what it runs with must not replace what the host recorded at start.
    internals.recordsHostStart = false;
    await telemetry.ready();
    if (command === 'status') {
      // Only what describes the installation: the CLI's own sink, queues and jobs would describe this process.
      const { install_id, consent, kill_switch } = telemetry.status();
      out(JSON.stringify({ install_id, consent, kill_switch, host: await internals.hostRecord() }, null, 2));
    } else if (command === 'preview') {
      const host = await internals.hostRecord();
      const inputs: PayloadInputs = {
        installId: internals.file.current.install_id,
        appVersion: values['app-version'] ?? host?.app_version ?? 'unknown',
        environment: host ? { ...internals.environment, platform: host.platform, deployment_type: host.deployment_type, timezone: host.timezone } : internals.environment,
        featureFlags: host?.feature_flags ?? {},
      };
      out(JSON.stringify((await internals.submission.summaries(inputs)).map((summary) => summary.payload), null, 2));
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

type MigrateAction = 'up' | 'down' | 'status';

/** Runs `action` with knex's migrator; status lists applied and pending names. */
async function migrateWith(
  knex: Knex,
  action: MigrateAction,
  steps: { up(db: Knex): Promise<void>; down(db: Knex): Promise<void>; config: Knex.MigratorConfig },
  out: (line: string) => void,
): Promise<void> {
  if (action === 'up') await steps.up(knex);
  else if (action === 'down') await steps.down(knex);
  const [done, pending] = (await knex.migrate.list(steps.config)) as [{ name: string }[], { file: string }[] | string[]];
  const names = (list: unknown[]) => list.map((m) => (typeof m === 'string' ? m : ((m as { name?: string; file?: string }).name ?? (m as { file?: string }).file ?? String(m))));
  out(JSON.stringify({ action, applied: names(done), pending: names(pending) }, null, 2));
}

/** `migrate up|down|status`: the plugin's tables in the host's database, without starting the plugin. */
async function migratePluginTables(action: MigrateAction, dataDir: string, db: Knex.Config | undefined, out: (line: string) => void): Promise<number> {
  const database = openDatabase(db, resolve(dataDir), quietConsoleLogger);
  try {
    if (!db) await mkdir(resolve(dataDir), { recursive: true });
    await migrateWith(database.knex, action, { up: (k) => migrateLatest(k), down: migrateRollbackAll, config: migratorConfig }, out);
    return 0;
  } catch (err) {
    out(`koa-consent-telemetry: migrate ${action} failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await database.knex.destroy();
  }
}

/** `collector migrate up|down|status`: the collector's tables in $DATABASE_URL (or its default SQLite file). */
async function migrateCollectorTables(action: MigrateAction, out: (line: string) => void): Promise<number> {
  let database;
  try {
    const { databaseFromEnv } = await import('./collector/server.js');
    const { openCollectorDatabase } = await import('./collector/storage/database.js');
    const { DEFAULT_COLLECTOR_DB_FILE } = await import('./collector/options.js');
    const { collectorMigratorConfig, migrateCollector, rollbackCollector } = await import('./collector/storage/migrations.js');
    const fromEnv = databaseFromEnv(process.env);
    database = openCollectorDatabase(fromEnv.config, fromEnv.file ?? DEFAULT_COLLECTOR_DB_FILE, quietConsoleLogger);
    await database.prepare();
    await migrateWith(database.knex, action, { up: (k) => migrateCollector(k), down: rollbackCollector, config: collectorMigratorConfig }, out);
    return 0;
  } catch (err) {
    out(`koa-consent-telemetry: collector migrate ${action} failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await database?.knex.destroy();
  }
}

/** A whole number in [min, max] from a flag, or the default; a UsageError otherwise. */
function countFlag(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${value}"`);
  return n;
}

/** `collector seed-demo`: a synthetic fleet in $DATABASE_URL (or the default SQLite file); refused unless empty or --force. */
async function seedDemoFleet(values: Partial<Record<(typeof SEED_DEMO_FLAGS)[number], string | boolean>>, out: (line: string) => void): Promise<number> {
  let sizes;
  try {
    sizes = {
      installations: countFlag('installations', values.installations as string | undefined, DEFAULT_DEMO_INSTALLATIONS, 1, 200_000),
      weeks: countFlag('weeks', values.weeks as string | undefined, DEFAULT_DEMO_WEEKS, 1, 104),
      seed: countFlag('seed', values.seed as string | undefined, DEFAULT_DEMO_SEED, 0, 2 ** 32 - 1),
    };
  } catch (err) {
    out(`${(err as Error).message}\n\n${COMMAND_HELP['collector seed-demo']}`);
    return 2;
  }
  let database;
  try {
    const { databaseFromEnv } = await import('./collector/server.js');
    const { openCollectorDatabase } = await import('./collector/storage/database.js');
    const { DEFAULT_COLLECTOR_DB_FILE } = await import('./collector/options.js');
    const { migrateCollector } = await import('./collector/storage/migrations.js');
    const { DemoFleetRepository } = await import('./collector/storage/demo-fleet.js');
    const { seedDemo } = await import('./collector/demo/seed.js');
    const fromEnv = databaseFromEnv(process.env);
    database = openCollectorDatabase(fromEnv.config, fromEnv.file ?? DEFAULT_COLLECTOR_DB_FILE, quietConsoleLogger);
    await database.prepare();
    await migrateCollector(database.knex);
    const result = await seedDemo(new DemoFleetRepository(database.knex), { ...sizes, force: values.force === true, now: new Date() });
    if (result.outcome === 'refused_not_empty') {
      out('koa-consent-telemetry: collector seed-demo refused: the collector database already holds data; --force replaces it with the demo fleet.');
      return 1;
    }
    out(JSON.stringify(result, null, 2));
    return 0;
  } catch (err) {
    out(`koa-consent-telemetry: collector seed-demo failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await database?.knex.destroy();
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
