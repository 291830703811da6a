// Helpers for the collector tests: a collector mounted in a small Koa app on 127.0.0.1:0 over a
// private test database, a settable clock, and a client that registers and signs like the real one
// (through src/stats/submission-protocol.ts).
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import type { ExecutionContext } from 'ava';
import { collectorPlugin, type CollectorHandle, type CollectorOptions } from '../../src/collector/plugin.js';
import { PATHS, SIGNED, SUBMISSION_SCHEMA_VERSION, signedHeaders, type SubmissionPayload } from '../../src/core/protocol.js';
import type { TestDatabase } from './databases.js';
import { outlastClientKeepAlive } from './ports.js';
import type { Logger } from '../../src/plugin/types.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export class TestClock {
  #now: number;
  constructor(start: Date | string = '2026-03-18T12:00:00Z') {
    this.#now = new Date(start).getTime();
  }
  now = (): Date => new Date(this.#now);
  set(value: Date | string): void {
    this.#now = new Date(value).getTime();
  }
  advance(ms: number): void {
    this.#now += ms;
  }
  seconds(): number {
    return Math.floor(this.#now / 1000);
  }
}

export interface RecordingLogger extends Logger {
  lines: string[];
}

export function recordingLogger(): RecordingLogger {
  const lines: string[] = [];
  const rec = (level: string) => (...args: unknown[]) => void lines.push(`${level} ${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`);
  return { debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error'), lines };
}

export interface TestCollector {
  url: string;
  handle: CollectorHandle;
  clock: TestClock;
  logger: RecordingLogger;
  app: Koa;
  /** fetch with the admin bearer token. */
  admin(path: string, init?: RequestInit): Promise<Response>;
  adminJson<T = any>(path: string): Promise<T>;
  close(): Promise<void>;
}

export async function startCollector(
  t: ExecutionContext,
  db: TestDatabase,
  options: Partial<CollectorOptions> & { keys?: string[] | null; clock?: TestClock } = {},
): Promise<TestCollector> {
  const clock = options.clock ?? new TestClock();
  const logger = recordingLogger();
  const { keys, clock: _clock, ...rest } = options;
  const handle = collectorPlugin({
    db: db.config(),
    adminToken: ADMIN_TOKEN,
    jobs: false,
    env: {},
    logger,
    now: clock.now,
    ...rest,
  });
  const app = new Koa();
  if (keys !== null) app.keys = keys ?? ['collector-test-key-a-0123456789', 'collector-test-key-b-0123456789'];
  app.silent = true;
  app.use(handle);
  app.use((ctx) => {
    ctx.body = { host: true };
  });
  await handle.ready();
  const server = http.createServer(app.callback());
  outlastClientKeepAlive(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${handle.options.mountPath}`;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
    await handle.stop();
  };
  t.teardown(close);
  const admin = (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${ADMIN_TOKEN}`);
    return fetch(`${url}${path}`, { ...init, headers });
  };
  return {
    url,
    handle,
    clock,
    logger,
    app,
    admin,
    async adminJson(path: string) {
      const response = await admin(path);
      if (response.status !== 200) throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
      return response.json();
    },
    close,
  };
}

export interface Installation {
  installId: string;
  secret: string;
}

export async function register(url: string, installId: string = randomUUID(), headers: Record<string, string> = {}): Promise<Installation> {
  const response = await fetch(`${url}${PATHS.register}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ install_id: installId }),
  });
  if (response.status !== 201) throw new Error(`register answered ${response.status}: ${await response.text()}`);
  const body = (await response.json()) as { install_id: string; secret: string };
  return { installId: body.install_id, secret: body.secret };
}

export function payloadFor(installId: string, overrides: Partial<SubmissionPayload> = {}): SubmissionPayload {
  return {
    schema_version: SUBMISSION_SCHEMA_VERSION,
    install_id: installId,
    period: { start: '2026-03-09', end: '2026-03-16' },
    app_version: '1.4.0',
    platform: 'linux',
    deployment_type: 'docker',
    country: 'DE',
    event_counts: { 'timer.started': 12, 'report.generated': 3 },
    feature_flags: { sso_enabled: true, dark_mode: false },
    error_count: 0,
    uptime_hours: 120,
    ...overrides,
  };
}

export interface SubmitOptions {
  /** Clock seconds for X-Timestamp (default: the collector's clock). */
  seconds?: number;
  idempotencyKey?: string | null;
  body?: string;
  headers?: Record<string, string>;
  secret?: string;
}

/** A signed POST /v1/submit exactly as the client sends it. */
export async function submit(url: string, clock: TestClock, install: Installation, payload: SubmissionPayload, options: SubmitOptions = {}): Promise<Response> {
  const body = options.body ?? JSON.stringify(payload);
  const headers = signedHeaders(SIGNED.submit, install.installId, options.secret ?? install.secret, body, options.seconds ?? clock.seconds(), payload.period.start);
  if (options.idempotencyKey === null) delete headers['idempotency-key'];
  else if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
  return fetch(`${url}${PATHS.submit}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers, ...options.headers }, body });
}

/** Registers and submits once; returns the installation. */
export async function registerAndSubmit(url: string, clock: TestClock, overrides: Partial<SubmissionPayload> = {}, installId?: string): Promise<Installation> {
  const install = await register(url, installId);
  const response = await submit(url, clock, install, payloadFor(install.installId, overrides));
  if (response.status !== 202) throw new Error(`submit answered ${response.status}: ${await response.text()}`);
  return install;
}

// ------------------------------------------------------------------ real collector processes


const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CollectorProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then the exit code (or signal). */
  stop(): Promise<number | string | null>;
}

/** DATABASE_URL (+ DATABASE_SCHEMA) for a test database, as a collector process reads them. */
export function databaseEnv(db: TestDatabase): Record<string, string> {
  if (db.kind === 'sqlite') return { DATABASE_URL: db.location };
  return { DATABASE_URL: process.env.TEST_PG_URL!, DATABASE_SCHEMA: db.location, DATABASE_APPLICATION_NAME: db.location };
}

/** `node --import=tsx src/cli.ts collector` with this env; resolves once it listens. */
export function spawnCollector(t: ExecutionContext, env: Record<string, string>, cwd = PROJECT_ROOT): Promise<CollectorProcess> {
  return new Promise((resolve, reject) => {
    const base: Record<string, string | undefined> = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (/^(COLLECTOR_|SMTP_|DATABASE_|PORT$|HOST$|LOG_LEVEL$)/.test(key)) continue;
      base[key] = value;
    }
    // tsx by absolute URL, so the process can run from any working directory.
    const tsx = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
    const child = spawn(process.execPath, [`--import=${tsx}`, fileURLToPath(new URL('../../src/cli.ts', import.meta.url)), 'collector'], {
      cwd,
      env: { ...base, PORT: '0', HOST: '127.0.0.1', COLLECTOR_JOBS: '0', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let resolved = false;
    const exited = new Promise<number | string | null>((done) => child.once('exit', (code, signal) => done(code ?? signal)));
    // Whatever happens to the test, the process does not outlive it.
    t.teardown(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    // Generous: a cold start transpiles every module with tsx, slow on a loaded 2-core machine.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`collector process did not start within 60 s:\n${output}`));
    }, 60_000);
    const onData = (chunk: string) => {
      output += chunk;
      const url = /"msg":"collector listening"/.test(output) ? /"url":"(http:[^"]+)"/.exec(output)?.[1] : undefined;
      if (url && !resolved) {
        resolved = true;
        clearTimeout(timer);
        const handle: CollectorProcess = {
          url,
          child,
          output: () => output,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
            const code = await exited;
            clearTimeout(killer);
            return code;
          },
        };
        resolve(handle);
      }
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) => {
      if (!resolved) {
        clearTimeout(timer);
        reject(new Error(`collector process exited with ${code} before listening:\n${output}`));
      }
    });
  });
}


// ------------------------------------------------------------------ clients at distinct addresses

export interface AddressedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/**
 * A browser-like client whose requests leave from `localAddress` (127.0.0.1, 127.0.0.2, … are all
 * loopback on Linux), with its own cookie jar: distinct clients for per-client limits.
 */
export class AddressedClient {
  readonly jar = new Map<string, string>();
  constructor(
    readonly base: string,
    readonly localAddress: string,
  ) {}

  request(path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<AddressedResponse> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...init.headers };
      if (this.jar.size) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const req = http.request(`${this.base}${path}`, { method: init.method ?? 'GET', localAddress: this.localAddress, headers }, (res) => {
        for (const cookie of res.headers['set-cookie'] ?? []) {
          const [pair = ''] = cookie.split(';');
          const eq = pair.indexOf('=');
          const name = pair.slice(0, eq).trim();
          const value = pair.slice(eq + 1).trim();
          if (!value || /expires=Thu, 01 Jan 1970/i.test(cookie)) this.jar.delete(name);
          else this.jar.set(name, value);
        }
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      });
      req.on('error', reject);
      if (init.body !== undefined) req.write(init.body);
      req.end();
    });
  }

  form(path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<AddressedResponse> {
    return this.request(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields).toString() });
  }

  /** POST /v1/register with a fresh install id. */
  register(headers: Record<string, string> = {}): Promise<AddressedResponse> {
    return this.request(PATHS.register, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ install_id: randomUUID() }) });
  }

  /** The csrf-token meta tag of a dashboard page. */
  async csrf(path = '/dashboard'): Promise<string> {
    const page = await this.request(path);
    const token = /<meta name="csrf-token" content="([^"]+)">/.exec(page.text)?.[1];
    if (!token) throw new Error(`no csrf-token meta tag on ${path}`);
    return token;
  }
}
