// End to end across processes: a real collector (`koa-consent-telemetry collector`) and the real
// example host (`example-host/server.ts`), talking HTTP on 127.0.0.1. The admin opts in to usage
// statistics, the host registers and submits, the collector counts the installation; delete-all on
// the host erases it at the collector.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDirFor } from '../helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ADMIN_TOKEN = 'e2e-admin-token-0123456789';

/** Starts a node process and resolves with the first URL it prints (and the process). */
async function startProcess(args: string[], env: Record<string, string>, urlPattern: RegExp): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, ['--import=tsx', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed by ${args.join(' ')}:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = urlPattern.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited with ${code}:\n${output}`));
    });
  });
  return { child, url, output: () => output };
}

async function stopProcess(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const [code] = (await exited) as [number | null];
  clearTimeout(timer);
  return code;
}

/** fetch with a cookie jar, as a browser session would. */
function browserSession(base: string) {
  let cookies = new Map<string, string>();
  return async (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (cookies.size) headers.set('cookie', [...cookies.values()].join('; '));
    const response = await fetch(`${base}${path}`, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(';')[0]!;
      cookies = new Map(cookies).set(pair.split('=')[0]!, pair);
    }
    return response;
  };
}

async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!ok(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    value = await read();
  }
  return value;
}

test('the host opts in, submits, is counted by the collector, and delete-all erases it there', async (t) => {
  t.timeout(120_000);
  const dir = await tempDirFor(t, 'kct-e2e-');

  const collector = await startProcess(
    ['src/cli.ts', 'collector'],
    { PORT: '0', HOST: '127.0.0.1', DATABASE_URL: join(dir, 'collector.sqlite3'), COLLECTOR_ADMIN_TOKEN: ADMIN_TOKEN, COLLECTOR_JOBS: '0', LOG_LEVEL: 'info' },
    /"url":"(http:\/\/127\.0\.0\.1:\d+)"/,
  );
  t.teardown(() => stopProcess(collector.child));
  const host = await startProcess(
    ['example-host/server.ts'],
    { PORT: '0', HOST: '127.0.0.1', DATA_DIR: join(dir, 'host'), TELEMETRY_COLLECTOR_URL: collector.url },
    /listening on (http:\/\/127\.0\.0\.1:\d+)/,
  );
  t.teardown(() => stopProcess(host.child));

  const overview = async () => {
    const response = await fetch(`${collector.url}/stats/overview`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    t.is(response.status, 200);
    return (await response.json()) as { total: number };
  };
  t.is((await overview()).total, 0);

  const browser = browserSession(host.url);
  const login = await browser('/login', { method: 'POST', body: new URLSearchParams({ username: 'admin', password: 'demo' }) });
  t.true([302, 303].includes(login.status), `login answered ${login.status}`);
  await browser('/timer/start', { method: 'POST' }).catch(() => undefined);
  const settings = await browser('/telemetry/settings', { headers: { accept: 'text/html' } });
  t.is(settings.status, 200);
  const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(await settings.text())?.[1];
  t.truthy(csrf, 'the settings page carries the CSRF token');

  const optIn = await browser('/api/v1/usage-stats/opt-in', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf-token': csrf! },
    body: JSON.stringify({ categories: ['usageStats'] }),
  });
  t.is(optIn.status, 200);
  t.true(((await optIn.json()) as { consent: { usageStats: boolean } }).consent.usageStats);

  // The opt-in triggers one submission right away.
  t.is((await eventually(overview, (o) => o.total === 1)).total, 1, 'the collector counts the installation');
  const ledger = await eventually(
    async () => (await (await browser('/api/v1/usage-stats/submissions')).json()) as { entries: { status: string; response_code: number }[] },
    (l) => l.entries.length > 0,
  );
  t.like(ledger.entries[0], { status: 'accepted', response_code: 202 });

  const erase = await browser('/api/v1/usage-stats/delete-all', { method: 'DELETE', headers: { 'x-csrf-token': csrf! } });
  t.is(erase.status, 200);
  const erased = (await erase.json()) as { remote: { requested: boolean; deleted: boolean } };
  t.like(erased.remote, { requested: true, deleted: true });
  t.is((await eventually(overview, (o) => o.total === 0)).total, 0, 'the installation is gone at the collector');

  t.is(await stopProcess(host.child), 0, 'the host exits cleanly on SIGTERM');
  t.is(await stopProcess(collector.child), 0, 'the collector exits cleanly on SIGTERM');
});
