// The npm package as a host gets it: `npm run build` + `npm pack`, installed with npm into a fresh
// Koa 3 app, imported as plain JavaScript (no tsx), mounted after koa-session, and working: ready(),
// a route calling ctx.telemetry.track(), the admin status route, stop(), exit. Also: the plugin runs
// in a host that has no prom-client or nodemailer (the collector's dependencies), and the published
// types of both entries compile in a strict TypeScript host without skipLibCheck.
//
// The fresh app follows README.md's install lines, including its allowScripts entry for sqlite3; npm's
// own list of unreviewed install scripts must then be empty. sqlite3 is installed with
// --ignore-scripts (compiling it takes ~2 minutes here) and gets the binding compiled for this
// repository's identical pinned version copied in.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { makeTempDir, removeDir } from './helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin?: Record<string, string>;
  devDependencies: Record<string, string>;
};
/** The packages only the collector uses: a host of the plugin alone may not have them. */
const COLLECTOR_ONLY_PACKAGES = ['prom-client', 'nodemailer'];

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** The environment for child processes: without npm's script variables (npm_config_local_prefix
 * would point a nested npm at this repo) and without telemetry switches of the outer shell. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key === 'INIT_CWD') continue;
    if (/^(OTEL_|GRAFANA_|TELEMETRY_)/.test(key) || key === 'DO_NOT_TRACK' || key === 'NODE_OPTIONS') continue;
    env[key] = value;
  }
  return env;
}

function run(command: string, args: string[], cwd: string, timeoutMs: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...childEnv(), ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

function explain(what: string, r: RunResult): string {
  const tail = (s: string) => s.split('\n').filter((l) => !/^npm warn Unknown (user|project) config/.test(l)).join('\n').slice(-4000);
  return `${what} ${r.timedOut ? 'timed out' : `exited with ${r.code ?? r.signal}`}\n--- stdout ---\n${tail(r.stdout)}\n--- stderr ---\n${tail(r.stderr)}`;
}

function hasFiles(dir: string): boolean {
  if (!existsSync(dir)) return false;
  return readdirSync(dir, { recursive: true, withFileTypes: true }).some((entry) => entry.isFile());
}

// ------------------------------------------------------------------ shared setup: build, pack, install

interface Installed {
  work: string;
  tarball: string;
  entries: string[];
  app: string;
  /** The README's command that records the host's allowScripts decision. */
  allowScriptsCommand: string[];
}

/** README.md's `npm pkg set allowScripts…` line, as argv (the host runs it before installing). */
function readmeAllowScriptsCommand(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const line = readme.split('\n').find((l) => /^npm pkg set allowScripts\./.test(l));
  if (!line) throw new Error('README.md has no `npm pkg set allowScripts.…` install line');
  return line.replace(/\s+#.*$/, '').trim().split(/\s+/);
}

/** npm's own list of dependencies whose install scripts the project has not reviewed (read-only). */
function pendingInstallScripts(app: string): Promise<RunResult> {
  return run('npm', ['approve-scripts', '--allow-scripts-pending'], app, 60_000);
}

let installed: Installed | null = null;
let setupError: string | null = null;

test.before(async (t) => {
  t.timeout(240_000);
  const work = await makeTempDir('kct-install-');
  try {
    const build = await run('npm', ['run', 'build'], ROOT, 120_000);
    if (build.code !== 0) throw new Error(explain('`npm run build` in the repo', build));

    const packDir = join(work, 'pack');
    await mkdir(packDir);
    const pack = await run('npm', ['pack', '--pack-destination', packDir], ROOT, 60_000);
    if (pack.code !== 0) throw new Error(explain('`npm pack`', pack));
    const tgz = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error(`npm pack produced no tarball in ${packDir}:\n${pack.stdout}`);
    const tarball = join(packDir, tgz);

    const list = await run('tar', ['-tzf', tarball], work, 30_000);
    if (list.code !== 0) throw new Error(explain('tar -tzf', list));
    const entries = list.stdout.split('\n').filter(Boolean);

    const app = join(work, 'fresh-app');
    await mkdir(app);
    await writeFile(join(app, 'package.json'), `${JSON.stringify({ name: 'fresh-koa-host', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`);
    const allowScriptsCommand = readmeAllowScriptsCommand();
    const allow = await run(allowScriptsCommand[0]!, allowScriptsCommand.slice(1), app, 30_000);
    if (allow.code !== 0) throw new Error(explain(`README's \`${allowScriptsCommand.join(' ')}\``, allow));
    // @types/koa and @types/node are what a TypeScript host of Koa has anyway (the typed-host test).
    const hostTypes = ['@types/koa', '@types/node'].map((name) => `${name}@${PACKAGE.devDependencies[name]}`);
    const install = await run(
      'npm',
      ['install', tarball, 'koa@3.3.0', 'koa-session@7.0.2', ...hostTypes, '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'],
      app,
      180_000,
    );
    if (install.code !== 0) throw new Error(explain('`npm install <tarball> koa koa-session @types/koa @types/node`', install));

    // The compiled sqlite3 binding of the very same pinned version.
    const sqliteDir = [join(app, 'node_modules/sqlite3'), join(app, 'node_modules', PACKAGE.name, 'node_modules/sqlite3')].find((d) => existsSync(join(d, 'package.json')));
    if (!sqliteDir) throw new Error('sqlite3 was not installed with the package (is it in "dependencies"?)');
    const ours = JSON.parse(readFileSync(join(ROOT, 'node_modules/sqlite3/package.json'), 'utf8')).version as string;
    const theirs = JSON.parse(readFileSync(join(sqliteDir, 'package.json'), 'utf8')).version as string;
    if (ours !== theirs) throw new Error(`sqlite3 version mismatch: repo has ${ours}, the install got ${theirs}; cannot reuse the compiled binding`);
    cpSync(join(ROOT, 'node_modules/sqlite3/build'), join(sqliteDir, 'build'), { recursive: true });

    installed = { work, tarball, entries, app, allowScriptsCommand };
  } catch (err) {
    setupError = err instanceof Error ? err.message : String(err);
  }
});

test.after.always(async () => {
  if (installed) await removeDir(installed.work);
});

function requireInstalled(t: { fail(message: string): void }): Installed | null {
  if (!installed) t.fail(`build/pack/install failed:\n${setupError ?? 'unknown error'}`);
  return installed;
}

// ------------------------------------------------------------------ the tarball

test.serial('the tarball ships compiled JS, declarations, migrations and templates — no TypeScript sources or tests', (t) => {
  const setup = requireInstalled(t);
  if (!setup) return;
  const files = new Set(setup.entries);
  t.true(files.has('package/package.json'));
  t.true(files.has('package/dist/src/index.js'), 'dist/src/index.js');
  t.true(files.has('package/dist/src/index.d.ts'), 'dist/src/index.d.ts');
  t.true(files.has('package/dist/src/collector/index.js'), 'dist/src/collector/index.js (koa-consent-telemetry/collector)');
  t.true(files.has('package/dist/src/collector/index.d.ts'), 'dist/src/collector/index.d.ts');
  t.true(files.has('package/docs/openapi.json'), 'docs/openapi.json (the HTTP API description)');
  t.true(setup.entries.some((e) => e.startsWith('package/dist/migrations/') && e.endsWith('.js')), 'dist/migrations/*.js');
  if (hasFiles(join(ROOT, 'src/plugin/templates'))) {
    t.true(setup.entries.some((e) => e.startsWith('package/dist/src/plugin/templates/')), 'src/plugin/templates has files, so dist/src/plugin/templates must ship');
  }

  const sources = setup.entries.filter((e) => /\.(c|m)?ts$/.test(e) && !/\.d\.(c|m)?ts$/.test(e));
  t.deepEqual(sources, [], 'no TypeScript sources in the tarball');
  const tests = setup.entries.filter((e) => e.startsWith('package/test/') || /\.test\.(js|ts|mjs)$/.test(e) || e.includes('/helpers/'));
  t.deepEqual(tests, [], 'no tests in the tarball');
  const stray = setup.entries.filter((e) => /^package\/(src|bench|example-host|scripts|node_modules|coverage|\.ci)\//.test(e));
  t.deepEqual(stray, [], 'no repo-only folders in the tarball');

  // Whatever package.json points at is in the tarball.
  for (const [name, target] of Object.entries(PACKAGE.bin ?? {})) {
    t.true(files.has(`package/${target.replace(/^\.\//, '')}`), `bin "${name}" → ${target} is in the tarball`);
  }
});

test.serial('a host following the README gets no allowScripts notice: sqlite3 is its one dependency with an install script, and no esbuild', async (t) => {
  t.timeout(150_000);
  const setup = requireInstalled(t);
  if (!setup) return;
  const hostManifest = join(setup.app, 'package.json');
  const manifest = readFileSync(hostManifest, 'utf8');
  t.deepEqual((JSON.parse(manifest) as { allowScripts?: unknown }).allowScripts, { sqlite3: true }, `the README's ${setup.allowScriptsCommand.join(' ')}`);
  const covered = await pendingInstallScripts(setup.app);
  t.is(covered.code, 0, explain('npm approve-scripts --allow-scripts-pending', covered));
  t.notRegex(covered.stdout + covered.stderr, /not yet covered by allowScripts/, explain('npm approve-scripts --allow-scripts-pending', covered));
  // Without that entry npm names sqlite3 — and nothing else of this package's tree.
  const { allowScripts: _decision, ...withoutDecision } = JSON.parse(manifest) as Record<string, unknown>;
  await writeFile(hostManifest, `${JSON.stringify(withoutDecision, null, 2)}\n`);
  try {
    const pending = await pendingInstallScripts(setup.app);
    const listed = [...(pending.stdout + pending.stderr).matchAll(/^\s+(@?[a-z0-9._\/-]+)@\d[^\s]* \(/gm)].map((m) => m[1]);
    t.deepEqual(listed, ['sqlite3'], explain('npm approve-scripts --allow-scripts-pending without allowScripts', pending));
  } finally {
    await writeFile(hostManifest, manifest);
  }
  t.false(existsSync(join(setup.app, 'node_modules/esbuild')), 'esbuild is no dependency of the package (it comes with a host\'s own tsx or vite)');
});

test.serial('sqlite3 without its native binding (its install script denied or skipped): telemetryPlugin() names the package and the allowScripts fix', async (t) => {
  const setup = requireInstalled(t);
  if (!setup) return;
  const sqliteDir = [join(setup.app, 'node_modules/sqlite3'), join(setup.app, 'node_modules', PACKAGE.name, 'node_modules/sqlite3')].find((d) => existsSync(join(d, 'package.json')))!;
  const script = join(setup.app, 'no-binding.mjs');
  await writeFile(
    script,
    `import { telemetryPlugin } from '${PACKAGE.name}';
try {
  telemetryPlugin({ appName: 'H', appVersion: '1.0.0', dataDir: process.argv[2], jobs: false, env: {} });
  console.log(JSON.stringify({ threw: false }));
} catch (err) {
  console.log(JSON.stringify({ threw: true, message: err.message }));
}
`,
  );
  const aside = join(setup.work, 'sqlite3-build-aside');
  cpSync(join(sqliteDir, 'build'), aside, { recursive: true });
  rmSync(join(sqliteDir, 'build'), { recursive: true, force: true });
  try {
    const result = await run(process.execPath, [script, join(setup.app, 'data-no-binding')], setup.app, 30_000);
    const report = JSON.parse(result.stdout.trim().split('\n').filter(Boolean).at(-1) ?? '{}') as { threw?: boolean; message?: string };
    t.true(report.threw, explain('no-binding.mjs', result));
    t.regex(report.message ?? '', /^koa-consent-telemetry: the SQLite database needs the sqlite3 package with its native binding/);
    t.regex(report.message ?? '', /"allowScripts": \{ "sqlite3": true \}.*npm rebuild sqlite3.*db option/);
  } finally {
    cpSync(aside, join(sqliteDir, 'build'), { recursive: true });
  }
});

test.serial('the installed package exposes its bin (node_modules/.bin/koa-consent-telemetry)', (t) => {
  const setup = requireInstalled(t);
  if (!setup) return;
  const bin = join(setup.app, 'node_modules/.bin/koa-consent-telemetry');
  t.true(existsSync(bin), `${bin} exists (package.json bin → ${JSON.stringify(PACKAGE.bin)})`);
  if (!existsSync(bin)) return;
  t.true((statSync(bin).mode & 0o111) !== 0, 'the bin is executable');
  t.regex(readFileSync(bin, 'utf8').split('\n')[0] ?? '', /^#!.*\bnode\b/, 'the bin starts with a node shebang');
});

test.serial('the installed package declares types that exist', (t) => {
  const setup = requireInstalled(t);
  if (!setup) return;
  const dir = join(setup.app, 'node_modules', PACKAGE.name);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    types?: string;
    main?: string;
    exports?: Record<string, { types?: string; import?: string }>;
  };
  for (const entry of ['.', './collector']) {
    t.truthy(manifest.exports?.[entry], `exports["${entry}"]`);
  }
  for (const file of [
    manifest.types,
    manifest.main,
    manifest.exports?.['.']?.types,
    manifest.exports?.['.']?.import,
    manifest.exports?.['./collector']?.types,
    manifest.exports?.['./collector']?.import,
  ]) {
    t.truthy(file);
    t.true(existsSync(join(dir, file!)), `${file} exists in the installed package`);
  }
});

// ------------------------------------------------------------------ a fresh Koa app using it

const APP_MJS = `
import http from 'node:http';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Koa from 'koa';
import session from 'koa-session';
import { telemetryPlugin } from 'koa-consent-telemetry';

// If something the plugin left behind keeps the process alive after stop(), say so and fail.
setTimeout(() => {
  console.error('the process did not exit within 15 s after stop(): a handle keeps it alive');
  process.exit(3);
}, 15_000).unref();

const dataDir = process.argv[2];
const app = new Koa();
app.keys = ['fresh-app-key'];
app.silent = true;
app.use(session(app));
app.use(async (ctx, next) => {
  if (ctx.get('x-user') === 'admin') ctx.state.user = { id: 1, isAdmin: true };
  else if (ctx.get('x-user') === 'alice') ctx.state.user = { id: 2 };
  await next();
});
const telemetry = telemetryPlugin({ appName: 'FreshHost', appVersion: '1.0.0', dataDir, jobs: false, stopTimeoutMs: 1000 });
app.use(telemetry);
app.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path === '/timer/start') {
    const accepted = ctx.telemetry.track('timer.started', { source: 'web' });
    ctx.status = 201;
    ctx.body = { ok: true, accepted };
    return;
  }
  await next();
});
await telemetry.ready();

const server = http.createServer(app.callback());
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const base = 'http://127.0.0.1:' + server.address().port;

const call = async (path, init) => {
  const response = await fetch(base + path, init);
  const text = await response.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: response.status, body };
};
const route = await call('/timer/start', { method: 'POST', headers: { 'x-user': 'alice' } });
const status = await call('/api/v1/usage-stats/status', { headers: { 'x-user': 'admin' } });
const anonymousStatus = await call('/api/v1/usage-stats/status');
const installationJson = existsSync(join(dataDir, 'installation.json'));

server.closeAllConnections();
await new Promise((done) => server.close(done));
const stopStarted = Date.now();
await telemetry.stop();
const stopMs = Date.now() - stopStarted;
console.log(JSON.stringify({ route, status, anonymousStatus, installationJson, stopMs, typeofPlugin: typeof telemetryPlugin }));
`;

test.serial('a fresh Koa 3 app installs the package, mounts it as plain JS, tracks, serves the status route and exits', async (t) => {
  t.timeout(90_000);
  const setup = requireInstalled(t);
  if (!setup) return;
  const appFile = join(setup.app, 'app.mjs');
  await writeFile(appFile, APP_MJS);
  const dataDir = join(setup.app, 'data');

  const result = await run(process.execPath, [appFile, dataDir], setup.app, 60_000);
  t.false(result.timedOut, explain('node app.mjs', result));
  t.is(result.code, 0, explain('node app.mjs', result));
  const line = result.stdout.trim().split('\n').filter(Boolean).at(-1) ?? '';
  let report: {
    route: { status: number; body: { ok?: boolean; accepted?: unknown } };
    status: { status: number; body: { install_id?: unknown; consent?: unknown; kill_switch?: unknown; queue?: unknown } };
    anonymousStatus: { status: number; body: { error?: { code?: unknown } } };
    installationJson: boolean;
    stopMs: number;
    typeofPlugin: string;
  };
  try {
    report = JSON.parse(line);
  } catch {
    t.fail(`app.mjs printed no JSON report:\n${explain('node app.mjs', result)}`);
    return;
  }
  t.is(report.typeofPlugin, 'function');
  t.is(report.route.status, 201, 'the host route that calls ctx.telemetry.track() answered');
  t.like(report.route.body, { ok: true });
  t.is(typeof report.route.body.accepted, 'boolean');
  t.is(report.status.status, 200, `the admin status route answered: ${JSON.stringify(report.status.body)}`);
  t.regex(String(report.status.body.install_id), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.truthy(report.status.body.consent);
  t.truthy(report.status.body.queue);
  t.is(report.anonymousStatus.status, 401, 'anonymous callers are refused');
  t.is(report.anonymousStatus.body.error?.code, 'unauthorized');
  t.true(report.installationJson, 'installation.json written to the dataDir');
  t.true(existsSync(join(dataDir, 'installation.json')));
  t.true(existsSync(join(dataDir, 'telemetry.sqlite3')), 'the default SQLite database was created in the dataDir');
  t.true(report.stopMs < 1000 + 300, `stop() took ${report.stopMs} ms (cap 1000 ms)`);
  const installation = JSON.parse(readFileSync(join(dataDir, 'installation.json'), 'utf8')) as { install_id: string };
  t.is(installation.install_id, report.status.body.install_id as string, 'the status route reports the install_id from installation.json');
});

// Node ≥ 20.19 can require() an ES module: a CommonJS host gets the same package through the
// "default" export condition (without it: ERR_PACKAGE_PATH_NOT_EXPORTED).
const APP_CJS = `
const Koa = require('koa');
const sessionModule = require('koa-session');
const session = sessionModule.default ?? sessionModule; // koa-session 7 is itself an ES module
const { telemetryPlugin } = require('koa-consent-telemetry');
const app = new Koa();
app.keys = ['cjs-key'];
app.use(session(app));
const telemetry = telemetryPlugin({ appName: 'CjsHost', appVersion: '1.0.0', dataDir: process.argv[2], jobs: false, stopTimeoutMs: 1000 });
app.use(telemetry);
telemetry.ready().then(async () => {
  const accepted = telemetry.track('timer.started', { source: 'web' });
  const status = telemetry.status();
  await telemetry.stop();
  console.log(JSON.stringify({ typeofPlugin: typeof telemetryPlugin, accepted, installId: status.install_id }));
});
`;

test.serial('a CommonJS host can require() the package', async (t) => {
  t.timeout(60_000);
  const setup = requireInstalled(t);
  if (!setup) return;
  const appFile = join(setup.app, 'app.cjs');
  await writeFile(appFile, APP_CJS);
  const result = await run(process.execPath, [appFile, join(setup.app, 'data-cjs')], setup.app, 45_000);
  t.is(result.code, 0, explain('node app.cjs', result));
  const report = JSON.parse(result.stdout.trim().split('\n').filter(Boolean).at(-1) ?? '{}') as { typeofPlugin?: string; accepted?: boolean; installId?: string };
  t.is(report.typeofPlugin, 'function');
  t.true(report.accepted);
  t.regex(String(report.installId), /^[0-9a-f-]{36}$/);
});

// ------------------------------------------------------------------ the plugin without the collector's dependencies

/** Every installed copy of `name` under `nodeModules`, nested ones included. */
function installedCopies(nodeModules: string, name: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const path = join(dir, entry.name);
      if (entry.name === name) found.push(path);
      else if (entry.name.startsWith('@')) walk(path);
      else if (existsSync(join(path, 'node_modules'))) walk(join(path, 'node_modules'));
    }
  };
  walk(nodeModules);
  return found;
}

// Records every module URL the ES module loader resolves (hooks run on their own thread, so to a file).
const RESOLVE_LOG_HOOKS = `
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  appendFileSync(process.env.KCT_RESOLVE_LOG, result.url + '\\n');
  return result;
}
`;
const REGISTER_RESOLVE_LOG = `
import { register } from 'node:module';
register('./resolve-log-hooks.mjs', import.meta.url);
`;

const PLUGIN_ONLY_APP = `
import http from 'node:http';
import { once } from 'node:events';
import Koa from 'koa';
import session from 'koa-session';
import { telemetryPlugin } from 'koa-consent-telemetry';

const app = new Koa();
app.keys = ['plugin-only-key'];
app.silent = true;
app.use(session(app));
const telemetry = telemetryPlugin({ appName: 'PluginOnly', appVersion: '1.0.0', dataDir: process.argv[2], jobs: false, stopTimeoutMs: 1000 });
app.use(telemetry);
app.use(async (ctx) => {
  ctx.body = { accepted: ctx.telemetry.track('timer.started', { source: 'web' }) };
});
await telemetry.ready();
const server = http.createServer(app.callback()).listen(0, '127.0.0.1');
await once(server, 'listening');
const response = await fetch('http://127.0.0.1:' + server.address().port + '/timer/start', { method: 'POST' });
const body = await response.json();
server.closeAllConnections();
await new Promise((done) => server.close(done));
const accepted = telemetry.track('timer.started', { source: 'cli' });
await telemetry.stop();
console.log(JSON.stringify({ status: response.status, body, accepted }));
`;

const IMPORT_COLLECTOR = `
try {
  await import('koa-consent-telemetry/collector');
  console.log(JSON.stringify({ imported: true }));
} catch (err) {
  console.log(JSON.stringify({ imported: false, code: err.code, message: err.message }));
}
`;

test.serial('a host without prom-client and nodemailer imports, mounts and runs the plugin; it loads no collector code, and the collector entry cannot load there', async (t) => {
  t.timeout(120_000);
  const setup = requireInstalled(t);
  if (!setup) return;
  // A copy of the fresh app, so the other tests keep their complete install.
  const app = join(setup.work, 'plugin-only-app');
  cpSync(setup.app, app, { recursive: true, verbatimSymlinks: true });
  for (const name of COLLECTOR_ONLY_PACKAGES) {
    const copies = installedCopies(join(app, 'node_modules'), name);
    t.true(copies.length > 0, `${name} was installed with the package (so removing it means something)`);
    for (const copy of copies) rmSync(copy, { recursive: true, force: true });
    t.deepEqual(installedCopies(join(app, 'node_modules'), name), [], `no copy of ${name} is left`);
  }

  await writeFile(join(app, 'resolve-log-hooks.mjs'), RESOLVE_LOG_HOOKS);
  await writeFile(join(app, 'register-resolve-log.mjs'), REGISTER_RESOLVE_LOG);
  await writeFile(join(app, 'plugin-only.mjs'), PLUGIN_ONLY_APP);
  const resolveLog = join(app, 'resolved.log');
  const result = await run(process.execPath, ['--import', './register-resolve-log.mjs', 'plugin-only.mjs', join(app, 'data')], app, 60_000, {
    KCT_RESOLVE_LOG: resolveLog,
  });
  t.is(result.code, 0, explain('node plugin-only.mjs', result));
  const report = JSON.parse(result.stdout.trim().split('\n').filter(Boolean).at(-1) ?? '{}') as { status?: number; body?: { accepted?: unknown }; accepted?: unknown };
  t.is(report.status, 200, 'the host route calling ctx.telemetry.track() answered');
  t.is(typeof report.body?.accepted, 'boolean');
  t.is(typeof report.accepted, 'boolean', 'telemetry.track() outside a request works');

  const resolved = readFileSync(resolveLog, 'utf8').split('\n').filter(Boolean);
  t.true(resolved.some((url) => url.includes(`/node_modules/${PACKAGE.name}/dist/src/index.js`)), 'the log saw the plugin entry being loaded');
  const collectorCode = resolved.filter((url) => /\/dist\/src\/collector\//.test(url));
  t.deepEqual(collectorCode, [], 'importing the plugin loads none of the collector code');

  // The removal was real: the collector's entry needs what is gone.
  await writeFile(join(app, 'import-collector.mjs'), IMPORT_COLLECTOR);
  const collector = await run(process.execPath, ['import-collector.mjs'], app, 30_000);
  t.is(collector.code, 0, explain('node import-collector.mjs', collector));
  const outcome = JSON.parse(collector.stdout.trim() || '{}') as { imported?: boolean; code?: string; message?: string };
  t.false(outcome.imported, 'koa-consent-telemetry/collector cannot be imported without its dependencies');
  t.is(outcome.code, 'ERR_MODULE_NOT_FOUND', outcome.message);
  t.regex(outcome.message ?? '', /'(prom-client|nodemailer)'/);
});

// ------------------------------------------------------------------ the published types in a strict host

const TYPED_HOST_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    types: ['node'],
  },
  files: ['typed-host.ts'],
};

const TYPED_HOST_TS = `
import Koa from 'koa';
import { telemetryPlugin, type TelemetryHandle, type TelemetryOptions } from 'koa-consent-telemetry';
import { collectorPlugin, startCollectorServer, type CollectorHandle, type CollectorOptions } from 'koa-consent-telemetry/collector';

const options: TelemetryOptions = { appName: 'TypedHost', appVersion: '1.0.0', dataDir: './data', jobs: false };
const telemetry: TelemetryHandle = telemetryPlugin(options);
const app = new Koa();
app.use(telemetry);
app.use(async (ctx, next) => {
  const accepted: boolean = ctx.telemetry.track('timer.started', { source: 'web' });
  ctx.body = { accepted };
  await next();
});

export async function main(): Promise<void> {
  await telemetry.ready();
  const accepted: boolean = telemetry.track('timer.started', { source: 'cli' });
  const installId: string | null = telemetry.status().install_id;
  const analytics: boolean = telemetry.consent.get().analytics;
  const flushed: boolean = await telemetry.flush();
  await telemetry.stop();

  const collectorOptions: CollectorOptions = {};
  const collector: CollectorHandle = collectorPlugin(collectorOptions);
  const receiver = new Koa();
  receiver.use(collector);
  await collector.ready();
  await collector.stop();
  const server = await startCollectorServer({ port: 0 });
  await server.close();
  console.log(accepted, installId, analytics, flushed);
}
`;

test.serial('the published types compile in a strict TypeScript host without skipLibCheck (plugin and collector entries)', async (t) => {
  t.timeout(120_000);
  const setup = requireInstalled(t);
  if (!setup) return;
  // Only the host's own @types are there: the package's types must not lean on its devDependencies.
  for (const name of ['@types/nunjucks', '@types/node-schedule', '@types/nodemailer', '@types/co-body', '@types/ua-parser-js']) {
    t.false(existsSync(join(setup.app, 'node_modules', name)), `${name} is not installed in the host`);
  }
  await writeFile(join(setup.app, 'tsconfig.json'), `${JSON.stringify(TYPED_HOST_TSCONFIG, null, 2)}\n`);
  await writeFile(join(setup.app, 'typed-host.ts'), TYPED_HOST_TS);
  const tsc = await run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], setup.app, 90_000);
  t.is(tsc.code, 0, explain('tsc -p tsconfig.json (strict, skipLibCheck false) in the fresh app', tsc));
});
