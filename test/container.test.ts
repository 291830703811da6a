// The Dockerfile and compose.yaml (docs/collector.md, "Run it in a container"). No image can be
// pulled here, so this does what the image build would do, outside a container: the build stage's
// COPYs are taken from the repo into a temp dir, built and packed there (`npm run build`,
// `npm pack --dry-run --json`); every file the later stages COPY from the build must be in that
// tarball; then the runtime stage's exact CMD runs with its exact ENV (the /data volume pointed
// at a temp dir, a free PORT) and the admin token as a secret file, and /health answers, the
// HEALTHCHECK command exits 0 — and 1 once the collector is gone.
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, readFileSync, symlinkSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDirFor } from './helpers/tmp.js';
import { refusedPort } from './helpers/ports.js';
import { run, waitFor } from './helpers/prometheus.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | null;
  instructions: Instruction[];
}

/** The Dockerfile's stages and instructions (comments dropped, continuation lines joined). */
function parseDockerfile(text: string): Stage[] {
  const logical = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = '', args = ''] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    if (keyword.toUpperCase() === 'FROM') {
      const [, from = '', name = null] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args) ?? [];
      stages.push({ from, name, instructions: [] });
    } else {
      stages.at(-1)!.instructions.push({ keyword: keyword.toUpperCase(), args: args.replace(/\s+/g, ' ') });
    }
  }
  return stages;
}

/** ENV KEY=value pairs (values without spaces, as ours are). */
function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of stage.instructions.filter((i) => i.keyword === 'ENV')) {
    for (const [, key, value] of args.matchAll(/(\w+)=(\S+)/g)) env[key!] = value!;
  }
  return env;
}

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const runtime = dockerfile.at(-1)!;
const one = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
const jsonArgs = (args: string) => JSON.parse(args) as string[];

test('the Dockerfile: node:20-slim stages, npm ci --omit=dev, a non-root user, a node HEALTHCHECK on /health, a /data volume, the port exposed', (t) => {
  t.true(dockerfile.length >= 2, 'a multi-stage build');
  t.true(dockerfile.every((s) => s.from === 'node:20-slim'), dockerfile.map((s) => s.from).join(', '));
  t.true(dockerfile.some((s) => one(s, 'RUN').some((r) => r.includes('npm ci --omit=dev'))));
  t.deepEqual(one(runtime, 'USER'), ['node']);
  t.deepEqual(one(runtime, 'VOLUME'), ['["/data"]']);
  t.true(envOf(runtime).DATABASE_URL!.startsWith('/data/'), 'the SQLite file lives on the volume');
  t.deepEqual(one(runtime, 'EXPOSE'), [envOf(runtime).PORT]);
  const [healthcheck] = one(runtime, 'HEALTHCHECK');
  t.regex(healthcheck ?? '', /CMD \["node", "-e", ".*\/health/);
  t.false(/curl|wget/.test(healthcheck ?? ''));
});

test('compose.yaml: the collector and postgres:15, DATABASE_URL, the admin token as a secret, healthchecks, volumes', (t) => {
  const compose = readFileSync(join(ROOT, 'compose.yaml'), 'utf8');
  t.regex(compose, /^\s+image: postgres:15$/m);
  t.regex(compose, /DATABASE_URL: postgres:\/\/collector:\$\{POSTGRES_PASSWORD[^}]*\}@postgres:5432\/collector/);
  t.regex(compose, /COLLECTOR_ADMIN_TOKEN_FILE: \/run\/secrets\/collector_admin_token/);
  t.regex(compose, /^secrets:\n\s+collector_admin_token:\n\s+file: /m);
  t.is(compose.match(/healthcheck:/g)?.length, 2);
  t.regex(compose, /collector-data:\/data/);
  t.regex(compose, /postgres-data:\/var\/lib\/postgresql\/data/);
  t.regex(compose, /condition: service_healthy/);
});

test('built as the Dockerfile builds it, the files it copies exist; its CMD and ENV run a collector whose /health and HEALTHCHECK answer', async (t) => {
  t.timeout(240_000);
  const work = await tempDirFor(t, 'kct-container-');
  const build = dockerfile.find((s) => s.name === 'build')!;

  // The build stage: its COPYs from the context (the repo), then its build.
  const src = join(work, 'src-stage');
  await mkdir(src);
  for (const args of one(build, 'COPY')) {
    const parts = args.split(' ');
    const dest = parts.pop()!;
    for (const from of parts) {
      t.true(existsSync(join(ROOT, from)), `COPY ${from}: in the repo`);
      // `COPY a b ./` keeps the names; `COPY src ./src` names the target.
      cpSync(join(ROOT, from), dest === './' ? join(src, from) : join(src, dest), { recursive: true });
    }
  }
  symlinkSync(join(ROOT, 'node_modules'), join(src, 'node_modules'));
  const built = await run('npm', ['run', 'build'], src);
  t.is(built.code, 0, built.output);
  const packed = await run('npm', ['pack', '--dry-run', '--json'], src);
  t.is(packed.code, 0, packed.output);
  const files = (JSON.parse(packed.output.slice(packed.output.indexOf('['))) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);

  // Every later COPY: from the build's tarball (/pack/package/…), or from the context.
  for (const stage of dockerfile.slice(1)) {
    for (const args of one(stage, 'COPY')) {
      const parts = args.split(' ');
      parts.pop();
      const from = parts.find((p) => p.startsWith('--from='))?.slice('--from='.length);
      for (const source of parts.filter((p) => !p.startsWith('--'))) {
        if (from === 'build') {
          const path = source.replace(/^\/pack\/package\//, '');
          t.not(path, source, `COPY --from=build ${source} takes from the packed package`);
          t.true(files.some((f) => f === path || f.startsWith(`${path}/`)), `COPY --from=build ${source}: ${path} is in the packed tarball`);
        } else if (from === undefined) {
          t.true(existsSync(join(ROOT, source)), `COPY ${source}: in the repo`);
        }
      }
    }
  }

  // The runtime stage, outside a container: /app = the packed files + node_modules, /data = a temp dir.
  const app = join(work, 'app');
  await mkdir(app);
  for (const file of files) cpSync(join(src, file), join(app, file), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'));
  const data = join(work, 'data');
  await mkdir(data);
  const port = await refusedPort();
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(envOf(runtime))) env[key] = value.replace(/^\/data\//, `${data}/`);
  env.PORT = String(port);
  await writeFile(join(work, 'admin-token'), 'container-test-admin-token-0123456789\n', { mode: 0o600 });
  const childEnv = { PATH: process.env.PATH ?? '', ...env, COLLECTOR_ADMIN_TOKEN_FILE: join(work, 'admin-token') };
  const [command, ...args] = jsonArgs(one(runtime, 'CMD')[0]!);
  t.is(command, 'node');
  const child = spawn(process.execPath, args, { cwd: app, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = once(child, 'exit');
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const health = await waitFor('the collector to answer /health', async () => {
    if (child.exitCode !== null) throw new Error(`the collector exited with ${child.exitCode}:\n${output}`);
    const response = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
    return response?.status === 200 ? response.json() : undefined;
  });
  t.deepEqual(health, { status: 'ok', database: 'reachable' });
  t.true(existsSync(join(data, env.DATABASE_URL!.slice(data.length + 1))), 'the SQLite database is on the data volume');
  const metrics = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: 'Bearer container-test-admin-token-0123456789' } });
  t.is(metrics.status, 200, 'the admin token from the secret file works');

  const healthcheck = jsonArgs(one(runtime, 'HEALTHCHECK')[0]!.replace(/^.*?CMD /, ''));
  t.is(healthcheck[0], 'node');
  const check = () =>
    new Promise<number | null>((resolve) => {
      const probe = spawn(process.execPath, healthcheck.slice(1), { cwd: app, env: childEnv, stdio: 'ignore' });
      probe.on('exit', (code) => resolve(code));
    });
  t.is(await check(), 0, 'HEALTHCHECK passes while the collector runs');
  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  t.is(code, 0, `a clean shutdown on SIGTERM:\n${output}`);
  t.is(await check(), 1, 'HEALTHCHECK fails once it is gone');
});
