// The koa-consent-telemetry command: status, enable, disable on a host's dataDir; clear errors and exit codes.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../../src/cli.js';
import { tempDirFor } from '../helpers/tmp.js';
import { startHostApp } from '../helpers/host-app.js';
import { waitUntil } from '../helpers/submission-receiver.js';
import { testEachDatabase, pgUrl, type TestDatabase } from '../helpers/databases.js';
import { MIGRATIONS_TABLE } from '../../src/plugin/db/tables.js';
import type { Logger } from '../../src/plugin/types.js';

async function cli(args: string[]): Promise<{ code: number; output: string }> {
  const lines: string[] = [];
  const code = await runCli(args, (line) => lines.push(line));
  return { code, output: lines.join('\n') };
}

test('enable and disable change consent in installation.json; status reads it back', async (t) => {
  const dataDir = await tempDirFor(t);
  const enabled = await cli(['enable', 'analytics', '--data-dir', dataDir]);
  t.is(enabled.code, 0);
  t.like(JSON.parse(enabled.output).consent, { analytics: true, usageStats: false });
  const file = JSON.parse(await readFile(join(dataDir, 'installation.json'), 'utf8'));
  t.true(file.consent.analytics);

  t.is((await cli(['enable', '--data-dir', dataDir])).code, 0);
  const disabled = await cli(['disable', 'usageStats', '--data-dir', dataDir]);
  t.like(JSON.parse(disabled.output).consent, { analytics: true, usageStats: false });

  const status = await cli(['status', '--data-dir', dataDir]);
  t.is(status.code, 0);
  const parsed = JSON.parse(status.output);
  t.is(parsed.install_id, file.install_id);
  t.true(parsed.consent.analytics);
});

test('preview prints the payloads the next run would send; export writes everything as JSON; delete needs --yes', async (t) => {
  const dataDir = await tempDirFor(t);
  const preview = await cli(['preview', '--data-dir', dataDir, '--app-version', '2.0.1']);
  t.is(preview.code, 0);
  const payloads = JSON.parse(preview.output);
  t.is(payloads.length, 1, 'a fresh installation: the last whole week');
  const payload = payloads[0];
  t.like(payload, { schema_version: 1, app_version: '2.0.1', error_count: 0 });
  t.deepEqual(payload.event_counts, {}, 'the CLI records nothing of its own in the host statistics');

  const file = join(dataDir, 'export.json');
  const exported = await cli(['export', file, '--data-dir', dataDir]);
  t.is(exported.code, 0);
  const json = JSON.parse(await readFile(file, 'utf8'));
  t.deepEqual(Object.keys(json), ['exported_at', 'installation', 'consent', 'settings', 'events', 'ledger', 'outbound_ledger', 'consent_receipts']);
  t.deepEqual(json.events, []);
  t.is(JSON.parse((await cli(['export', '--data-dir', dataDir])).output).installation.install_id, json.installation.install_id);

  const unconfirmed = await cli(['delete', '--data-dir', dataDir]);
  t.is(unconfirmed.code, 2);
  t.regex(unconfirmed.output, /--yes/);
  const deleted = await cli(['delete', '--yes', '--data-dir', dataDir]);
  t.is(deleted.code, 0);
  t.like(JSON.parse(deleted.output), { local: { events: 0 }, remote: { requested: false } });
});

test('wrong usage exits 2 with the help text; --help exits 0', async (t) => {
  const dataDir = await tempDirFor(t);
  for (const args of [[], ['bogus'], ['enable', 'everything', '--data-dir', dataDir], ['status', 'extra'], ['preview', 'extra'], ['--nope']]) {
    const result = await cli(args);
    t.is(result.code, 2, args.join(' '));
    t.regex(result.output, /Usage: koa-consent-telemetry/);
  }
  const help = await cli(['--help']);
  t.is(help.code, 0);
  t.regex(help.output, /enable \[category\]/);
  t.regex((await cli(['--version'])).output, /^\d+\.\d+\.\d+/);
});

test('an unusable data dir fails with exit code 1 and a clear message', async (t) => {
  const dataDir = await tempDirFor(t);
  const result = await cli(['status', '--data-dir', join(dataDir, 'cli.test.ts-not-a-dir', '\0bad')]);
  t.is(result.code, 1);
  t.regex(result.output, /koa-consent-telemetry: status failed/);
});

test('each command has its own --help; collector --help is not the general help', async (t) => {
  const general = (await cli(['--help'])).output;
  for (const command of ['status', 'enable', 'disable', 'preview', 'export', 'delete', 'migrate', 'collector']) {
    const help = await cli([command, '--help']);
    t.is(help.code, 0, command);
    t.not(help.output, general, `${command} --help prints the general help`);
    t.regex(help.output, new RegExp(`^Usage: koa-consent-telemetry ${command}`), command);
  }
  t.regex((await cli(['collector', '--help'])).output, /collector migrate up\|down\|status/);
  t.regex((await cli(['collector', 'migrate', '--help'])).output, /collector migrate/);
  const wrong = await cli(['migrate', 'sideways']);
  t.is(wrong.code, 2);
  t.regex(wrong.output, /^unknown or malformed command: migrate sideways\n\nUsage: koa-consent-telemetry migrate/);
});

test('status and preview report what the host recorded at its last start, not the CLI\'s own configuration', async (t) => {
  const dataDir = await tempDirFor(t);
  const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
  const app = await startHostApp({
    telemetry: {
      dataDir,
      logger: silent,
      appName: 'RecordedHost',
      appVersion: '4.5.6',
      otlp: { endpoint: 'http://127.0.0.1:9/otlp-path?token=q' },
      collector: { url: 'http://127.0.0.1:9/collector' },
      featureFlags: () => ({ dark_mode: true }),
    },
  });
  const recorded = async () => JSON.parse((await cli(['status', '--data-dir', dataDir])).output).host as Record<string, unknown> | null;
  await waitUntil(async () => (await recorded()) !== null, 5_000, 'the host recorded its start');
  await app.close();

  const status = await cli(['status', '--data-dir', dataDir]);
  t.is(status.code, 0);
  const host = JSON.parse(status.output).host;
  t.like(host, { app_name: 'RecordedHost', app_version: '4.5.6', sink_configured: true, otlp_endpoint: 'http://127.0.0.1:9', collector_url: 'http://127.0.0.1:9', local_stats: true });
  t.deepEqual(host.feature_flags, { dark_mode: true });
  t.regex(host.recorded_at, /^\d{4}-\d\d-\d\dT/);
  t.false(JSON.stringify(host).includes('token=q'), 'URLs are kept as origins only');

  const [preview] = JSON.parse((await cli(['preview', '--data-dir', dataDir])).output);
  t.like(preview, { app_version: '4.5.6', platform: host.platform, deployment_type: host.deployment_type });
  t.deepEqual(preview.feature_flags, { dark_mode: true });
  t.is(JSON.parse((await cli(['preview', '--data-dir', dataDir, '--app-version', '7.0.0'])).output)[0].app_version, '7.0.0', '--app-version overrides');
  t.like(JSON.parse((await cli(['status', '--data-dir', dataDir])).output).host, { app_name: 'RecordedHost', app_version: '4.5.6' }, 'the CLI\'s own runs do not replace the record');
});

test('status before any host started says host: null', async (t) => {
  const dataDir = await tempDirFor(t);
  const status = await cli(['status', '--data-dir', dataDir]);
  t.is(status.code, 0);
  t.is(JSON.parse(status.output).host, null);
});

/** A --database-url for the test database: the SQLite file, or the PostgreSQL URL with its private schema as search_path. */
function databaseUrlOf(db: TestDatabase): string {
  if (db.kind === 'sqlite') return db.location;
  const url = new URL(pgUrl()!);
  url.searchParams.set('options', `-c search_path=${db.location}`);
  return url.toString();
}

testEachDatabase('migrate up|down|status runs the plugin\'s migrations on the host\'s database', async (t, db) => {
  const args = ['--database-url', databaseUrlOf(db), '--data-dir', await tempDirFor(t)];
  const before = await cli(['migrate', 'status', ...args]);
  t.is(before.code, 0, before.output);
  t.deepEqual(JSON.parse(before.output).applied, []);
  t.true(JSON.parse(before.output).pending.includes('001_telemetry_settings'));

  const up = await cli(['migrate', 'up', ...args]);
  t.is(up.code, 0, up.output);
  t.deepEqual(JSON.parse(up.output).pending, []);
  t.true(await db.knex.schema.hasTable('telemetry_settings'));
  t.true(await db.knex.schema.hasTable(MIGRATIONS_TABLE));
  t.deepEqual(JSON.parse((await cli(['migrate', 'status', ...args])).output).applied, JSON.parse(up.output).applied);

  const down = await cli(['migrate', 'down', ...args]);
  t.is(down.code, 0, down.output);
  t.deepEqual(JSON.parse(down.output).applied, []);
  t.false(await db.knex.schema.hasTable('telemetry_settings'));
});

test.serial('collector migrate up|down|status runs the collector\'s migrations on $DATABASE_URL', async (t) => {
  const file = join(await tempDirFor(t), 'collector.sqlite3');
  const previous = process.env.DATABASE_URL;
  process.env.DATABASE_URL = file;
  t.teardown(() => {
    if (previous === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = previous;
  });
  const before = await cli(['collector', 'migrate', 'status']);
  t.is(before.code, 0, before.output);
  t.deepEqual(JSON.parse(before.output).applied, []);
  const up = await cli(['collector', 'migrate', 'up']);
  t.is(up.code, 0, up.output);
  t.deepEqual(JSON.parse(up.output).pending, []);
  t.true(JSON.parse(up.output).applied.includes('001_collector_tables'));
  const down = await cli(['collector', 'migrate', 'down']);
  t.deepEqual(JSON.parse(down.output).applied, []);
});
