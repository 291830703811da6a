// The handle telemetryPlugin() returns is the package's whole public API (docs/configuration.md,
// "The handle"): exactly the documented members, no `runtime`, and stats.{local, preview, export,
// deleteAll} that start the plugin on their own. The CLI and tests reach the parts through
// src/plugin/internal.ts, which the package does not publish.
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import test from 'ava';
import * as publicApi from '../../src/index.js';
import { telemetryPlugin } from '../../src/index.js';
import { runtimeOf } from '../../src/plugin/internal.js';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const API = '/api/v1/usage-stats';

const HANDLE_MEMBERS = ['consent', 'flush', 'identify', 'migrationSource', 'migrationsTableName', 'ready', 'stats', 'status', 'stop', 'support', 'templatesPath', 'track', 'users'];
const STATS_MEMBERS = ['deleteAll', 'export', 'local', 'preview'];

/** The members docs/configuration.md's "The handle" table names: `name…` and `stats.name…` in the first column. */
async function documentedMembers(): Promise<{ top: string[]; stats: string[] }> {
  const doc = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## The handle'), doc.indexOf('\n## ', doc.indexOf('## The handle') + 1));
  const top = new Set<string>();
  const stats = new Set<string>();
  for (const row of section.split('\n').filter((line) => line.startsWith('| `'))) {
    const firstColumn = row.split(' | ')[0]!;
    for (const [, name] of firstColumn.matchAll(/`([A-Za-z]+)/g)) top.add(name!);
    for (const [, name] of firstColumn.matchAll(/`stats\.([A-Za-z]+)/g)) stats.add(name!);
  }
  return { top: [...top].sort(), stats: [...stats].sort() };
}

test('the handle carries exactly the documented public API, and no runtime', async (t) => {
  const telemetry = telemetryPlugin({ appName: 'T', appVersion: '1.0.0', dataDir: await tempDirFor(t), logger: quiet, jobs: false, env: {} });
  t.teardown(() => telemetry.stop());
  t.false('runtime' in telemetry);
  t.deepEqual(Object.keys(telemetry).sort(), HANDLE_MEMBERS);
  t.deepEqual(Object.keys(telemetry.stats).sort(), STATS_MEMBERS);
  t.deepEqual(Object.keys(telemetry.support).sort(), ['deleteAll', 'deleteUser', 'funnel', 'hasRecentDonationClick', 'interactions', 'reportGenerated', 'reportsGenerated'], 'the SupportApi methods, not the service behind them');
  const documented = await documentedMembers();
  t.deepEqual(documented.top, HANDLE_MEMBERS, 'docs/configuration.md lists every member, and no other');
  t.deepEqual(documented.stats, STATS_MEMBERS, 'docs/configuration.md lists every stats member, and no other');
});

test('the internal entry point is not published: not exported by the package entry, not reachable through package.json "exports"', async (t) => {
  t.false('runtimeOf' in publicApi);
  t.false('bindRuntime' in publicApi);
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; exports: Record<string, unknown> };
  t.deepEqual(Object.keys(pkg.exports).sort(), ['.', './collector', './package.json']);
  // The package resolving itself by name applies its "exports": the internal module is not among them.
  const require = createRequire(import.meta.url);
  for (const path of ['dist/src/plugin/internal.js', 'src/plugin/internal.ts', 'internal']) {
    const error = t.throws(() => require.resolve(`${pkg.name}/${path}`));
    t.is((error as NodeJS.ErrnoException).code, 'ERR_PACKAGE_PATH_NOT_EXPORTED', path);
  }
  t.throws(() => runtimeOf({}), { message: /not a handle returned by telemetryPlugin/ });
});

test('stats.local() starts the plugin on its own and answers what GET {api}/local does', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: quiet }, ready: false });
  t.teardown(() => host.close());
  const local = await host.telemetry.stats.local();
  t.is<string | null, string | null>(local.installation.install_id, host.telemetry.status().install_id);
  t.not(host.telemetry.status().install_id, null, 'started: the identity is loaded');
  host.telemetry.track('timer.started', { source: 'web' });
  await host.telemetry.flush();
  const fromApi = (await (await host.request(`${API}/local`, { user: 'admin' })).json()) as typeof local;
  const again = await host.telemetry.stats.local();
  t.deepEqual(again.totals, fromApi.totals);
  t.deepEqual(again.by_type, fromApi.by_type);
  t.true(again.by_type.some((row) => row.event_type === 'timer.started'));
});

test('stats.preview() is the payload GET {api}/preview shows; stats.export() is the JSON GET {api}/export sends', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: quiet } });
  t.teardown(() => host.close());
  host.telemetry.track('timer.started', { source: 'web' });
  await host.telemetry.flush();
  t.deepEqual(await host.telemetry.stats.preview(), (await (await host.request(`${API}/preview`, { user: 'admin' })).json()).payloads);

  let text = '';
  for await (const chunk of host.telemetry.stats.export()) text += chunk;
  const exported = JSON.parse(text) as Record<string, unknown> & { events: { event_type: string }[] };
  const fromApi = (await (await host.request(`${API}/export`, { user: 'admin' })).json()) as Record<string, unknown>;
  const { exported_at: _a, ...mine } = exported;
  const { exported_at: _b, ...theirs } = fromApi;
  t.deepEqual(mine, theirs);
  t.true(exported.events.some((event) => event.event_type === 'timer.started'));
});

test('stats.deleteAll() erases the local record, starts a new identity and resolves what happened; its receipt names the actor api', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: quiet } });
  t.teardown(() => host.close());
  const before = host.telemetry.status().install_id;
  host.telemetry.track('timer.started', { source: 'web' });
  await host.telemetry.flush();
  const stored = (await host.telemetry.stats.local()).totals.events; // local() writes what the recorder buffers
  t.true(stored >= 2, 'app.started and timer.started are stored');
  const result = await host.telemetry.stats.deleteAll();
  t.is(result.local.events, stored, 'the stored events are counted as erased');
  t.deepEqual(result.remote, { requested: false, deleted: false }, 'no collector registration: nobody is asked');
  t.true(result.new_identity.started);
  t.not(result.new_identity.started && result.new_identity.install_id, before);
  t.is(host.telemetry.status().install_id, result.new_identity.started ? result.new_identity.install_id : null);
  t.is((await host.telemetry.stats.local()).totals.events, 0);
  const [receipt] = (await runtimeOf(host.telemetry).consent.receipts({ scope: 'installation', limit: 1 })).receipts;
  t.is(receipt?.action, 'deleted');
  t.is(receipt?.actor, 'api');
});

test('stats.*, consent.set() and users.* reject with ready()\'s error when the plugin cannot start; status() still answers', async (t) => {
  const dir = await tempDirFor(t);
  const notADirectory = join(dir, 'a-file');
  await writeFile(notADirectory, 'x');
  const telemetry = telemetryPlugin({ appName: 'T', appVersion: '1.0.0', dataDir: notADirectory, logger: quiet, jobs: false, env: {} });
  t.teardown(() => telemetry.stop());
  const unusable = { message: /^koa-consent-telemetry: cannot use the data folder/ };
  await t.throwsAsync(telemetry.stats.local(), unusable);
  await t.throwsAsync(telemetry.stats.preview(), unusable);
  await t.throwsAsync(telemetry.stats.deleteAll(), unusable);
  await t.throwsAsync(async () => {
    for await (const _chunk of telemetry.stats.export()) t.fail('no chunk before the plugin started');
  }, unusable);
  // The same for the other calls that need storage (as the docs' handle table says).
  await t.throwsAsync(telemetry.consent.set({ analytics: true }), unusable);
  await t.throwsAsync(telemetry.users.isOptedOut(1), unusable);
  t.is(telemetry.status().install_id, null);
});
