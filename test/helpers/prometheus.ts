// Debian's prometheus package for the ops-asset tests: promtool (rule checks and unit tests) and the
// Prometheus server (a real scrape). .ci/run installs it when missing; under CI=true a missing
// binary fails the tests that need it, elsewhere they are skipped with the reason logged.
import test, { type ExecutionContext, type TestFn } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { readFileSync } from 'node:fs';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { refusedPort } from './ports.js';

export const DEPLOY_DIR = new URL('../../deploy/', import.meta.url);

/** The binary on PATH (or /usr/bin), or null. */
export function findBinary(name: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/bin', '/usr/local/bin']) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * `test` when every binary is there; otherwise, under CI=true, tests that fail naming the missing
 * binary, and elsewhere `test.skip` (the reason printed once).
 */
export function testWithBinaries(names: string[], file: string): TestFn {
  const missing = names.filter((name) => findBinary(name) === null);
  if (missing.length === 0) return test;
  const reason = `${missing.join(', ')} not found: install Debian's prometheus package (apt-get install prometheus; .ci/run does)`;
  if (process.env.CI === 'true') {
    return ((title: string) => test(title, (t) => t.fail(`${file}: ${reason}`))) as unknown as TestFn;
  }
  console.log(`skipping ${file}: ${reason}`);
  return test.skip as unknown as TestFn;
}

export interface RunResult {
  code: number | null;
  output: string;
}

/** Runs a command to completion (no shell), stdout and stderr together. */
export async function run(command: string, args: string[], cwd?: string): Promise<RunResult> {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output };
}

/** Polls `probe` until it returns a value (not undefined) or `ms` pass; no fixed sleeps beyond a short poll step. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export interface PrometheusServer {
  url: string;
  output(): string;
  /** GET /api/v1/query; the `data` of a success answer. */
  query(expr: string): Promise<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }>;
}

/** A real Prometheus server with this config (written to a temp dir with `files`), ready to answer. Killed when the test ends. */
export async function startPrometheus(t: ExecutionContext, dir: string, config: string, files: Record<string, string> = {}): Promise<PrometheusServer> {
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content, { mode: 0o600 });
  await writeFile(join(dir, 'prometheus.yml'), config);
  await mkdir(join(dir, 'data'));
  const port = await refusedPort();
  const child = spawn(
    findBinary('prometheus')!,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = once(child, 'exit');
  // Should the test process end without its teardown (ava's timeout), Prometheus must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  t.teardown(async () => {
    process.off('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    }
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('Prometheus to be ready', async () => {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${output}`);
    return (await fetch(`${url}/-/ready`)).status === 200 ? true : undefined;
  });
  return {
    url,
    output: () => output,
    async query(expr) {
      const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
      const body = (await response.json()) as { status: string; data: never; error?: string };
      if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error}`);
      return body.data;
    },
  };
}

/** Every PromQL expression of deploy/grafana/collector-dashboard.json, with its panel's title. */
export function dashboardExpressions(): { panel: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(new URL('grafana/collector-dashboard.json', DEPLOY_DIR), 'utf8')) as {
    panels: { title: string; targets?: { expr: string }[] }[];
  };
  return dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })));
}
