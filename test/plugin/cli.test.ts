// The koa-consent-telemetry command: status, enable, disable on a host's dataDir; clear errors and exit codes.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../../src/cli.js';
import { tempDirFor } from '../helpers/tmp.js';

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

test('preview prints the next weekly payload; export writes everything as JSON; delete needs --yes', async (t) => {
  const dataDir = await tempDirFor(t);
  const preview = await cli(['preview', '--data-dir', dataDir, '--app-version', '2.0.1']);
  t.is(preview.code, 0);
  const payload = JSON.parse(preview.output);
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
