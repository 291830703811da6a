// Fault suite (issue 6): the process killed (SIGKILL) in the middle of batch writes, then restarted
// on the same dataDir — and killed while its weekly submission waited for the collector's 202.
// A child process (test/helpers/crash-child.ts) runs a real Koa host with the plugin on the default
// SQLite file. Afterwards: PRAGMA integrity_check is ok; the events table holds only whole batches
// (every batch the child reported committed is fully there, no batch partially); installation.json
// is valid JSON with the same install_id; the restarted host answers GET /hello; and a submission
// repeated after the crash is stored once by the REAL collector (same Idempotency-Key → replay).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import knexFactory from 'knex';
import { DEFAULT_SQLITE_FILE } from '../../src/core/db/connection.js';
import { TABLES } from '../../src/plugin/db/tables.js';
import { HEADERS } from '../../src/core/protocol.js';
import { startCollector, TestClock } from '../helpers/collector.js';
import { createTestDatabase } from '../helpers/databases.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { assertNothingEscaped, until, watchProcess } from '../helpers/fault-watch.js';
import { tempDirFor } from '../helpers/tmp.js';

const DAY = 86_400_000;
const BATCH = 200;
const failures = watchProcess();
test.after.always('nothing escaped to the process in this file', (t) => assertNothingEscaped(t));

interface Child {
  process: ChildProcess;
  lines: string[];
  /** Resolves with the first line matching `pattern` (already seen or yet to come). */
  line(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<number | string | null>;
  ready: Promise<{ url: string; install_id: string }>;
}

const TSX = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const CHILD = fileURLToPath(new URL('../helpers/crash-child.ts', import.meta.url));

function startChild(t: ExecutionContext, mode: string, env: Record<string, string>): Child {
  const child = spawn(process.execPath, [`--import=${TSX}`, CHILD, mode], {
    env: { ...process.env, BATCH: String(BATCH), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  let partial = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | string | null>((done) => child.once('exit', (code, signal) => done(code ?? signal)));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const line = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = lines.find((l) => pattern.test(l));
        if (found === undefined) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`child (${mode}) printed no line matching ${pattern} within ${timeoutMs} ms:\n${lines.join('\n')}\n${stderr}`));
      }, timeoutMs);
      waiters.add(check);
      check();
      void exited.then(() => setTimeout(() => {
        if (waiters.has(check)) {
          waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`child (${mode}) exited before printing ${pattern}:\n${lines.join('\n')}\n${stderr}`));
        }
      }, 50));
    });
  const ready = line(/^READY /).then((l) => JSON.parse(l.slice('READY '.length)) as { url: string; install_id: string });
  ready.catch(() => undefined);
  return { process: child, lines, line, exited, ready };
}

async function sigkill(child: Child): Promise<void> {
  child.process.kill('SIGKILL');
  const how = await child.exited;
  if (how !== 'SIGKILL') throw new Error(`the child ended by ${how}, not by SIGKILL`);
}

async function sigterm(child: Child): Promise<number | string | null> {
  child.process.kill('SIGTERM');
  return child.exited;
}

async function installation(dataDir: string): Promise<{ install_id: string; collector?: { secret: string } | null }> {
  return JSON.parse(await readFile(join(dataDir, 'installation.json'), 'utf8'));
}

test('SIGKILL in the middle of batch writes, then restart: integrity ok, only whole batches, same install_id, host answers', async (t) => {
  const before = failures.length;
  const dataDir = await tempDirFor(t);
  const first = startChild(t, 'batches', { DATA_DIR: dataDir });
  const { install_id } = await first.ready;
  // Let several batches commit, then kill while the next one is being written.
  const KILL_AFTER = 6;
  await first.line(new RegExp(`^COMMITTED ${KILL_AFTER}$`));
  await first.line(new RegExp(`^BEGIN ${KILL_AFTER + 1}$`));
  await sigkill(first);
  const committed = first.lines.filter((l) => l.startsWith('COMMITTED ')).map((l) => Number(l.split(' ')[1]));
  const begun = first.lines.filter((l) => l.startsWith('BEGIN ')).map((l) => Number(l.split(' ')[1]));
  t.deepEqual(first.lines.filter((l) => l.startsWith('UNEXPECTED')), [], 'each flush wrote exactly one logical batch');
  t.true(committed.length > KILL_AFTER);

  // Inspect the files the killed process left (opening the database replays the WAL, as a restart would).
  const file = join(dataDir, DEFAULT_SQLITE_FILE);
  const db = knexFactory({ client: 'sqlite3', connection: { filename: file }, useNullAsDefault: true });
  t.teardown(() => db.destroy());
  t.deepEqual(await db.raw('PRAGMA integrity_check'), [{ integrity_check: 'ok' }]);
  const rows = (await db(TABLES.usageEvents).where('event_type', 'crash.batch').select('metadata')) as { metadata: string }[];
  const perBatch = new Map<number, Set<number>>();
  let rowsSeen = 0;
  for (const row of rows) {
    const { batch, i } = JSON.parse(row.metadata) as { batch: number; i: number };
    if (!perBatch.has(batch)) perBatch.set(batch, new Set());
    perBatch.get(batch)!.add(i);
    rowsSeen++;
  }
  t.is(rowsSeen, [...perBatch.values()].reduce((n, s) => n + s.size, 0), 'no event stored twice');
  const partial = [...perBatch].filter(([, items]) => items.size !== BATCH).map(([batch, items]) => `${batch}:${items.size}`);
  t.deepEqual(partial, [], 'no partially written batch');
  for (const k of committed) t.is(perBatch.get(k)?.size, BATCH, `committed batch ${k} is fully present`);
  const present = [...perBatch.keys()].sort((a, b) => a - b);
  const lastBegun = Math.max(...begun);
  t.true(present.every((k) => k <= lastBegun), 'only batches that were begun');
  // Only the unflushed buffer is lost: what is missing is at most the batch(es) in flight at the kill.
  t.deepEqual(present, Array.from({ length: present.length }, (_, k) => k), 'committed batches are contiguous from 0');
  t.log(`killed after ${committed.length} committed batches; batch ${lastBegun} was ${perBatch.has(lastBegun) ? 'committed before the kill landed' : 'in flight (lost whole)'}`);
  t.true(lastBegun - present.length <= 1, `lost at most the batch in flight (present ${present.length}, last begun ${lastBegun})`);
  const file1 = await installation(dataDir);
  t.is(file1.install_id, install_id);
  await db.destroy();

  // Restart on the same dataDir.
  const second = startChild(t, 'serve', { DATA_DIR: dataDir });
  const restarted = await second.ready;
  t.is(restarted.install_id, install_id, 'the restarted process has the same install_id');
  const hello = await fetch(`${restarted.url}/hello`);
  t.is(hello.status, 200);
  t.deepEqual(await hello.json(), { hello: 'world' });
  t.is(await sigterm(second), 0, 'the restarted process stops cleanly');

  const after = knexFactory({ client: 'sqlite3', connection: { filename: file }, useNullAsDefault: true });
  t.teardown(() => after.destroy());
  t.deepEqual(await after.raw('PRAGMA integrity_check'), [{ integrity_check: 'ok' }]);
  t.is(Number(((await after(TABLES.usageEvents).where('event_type', 'crash.batch').count({ n: '*' }).first()) as { n: number }).n), rowsSeen, 'the restart neither lost nor duplicated stored events');
  t.true(Number(((await after(TABLES.usageEvents).where('event_type', 'app.started').count({ n: '*' }).first()) as { n: number }).n) >= 2, 'the restarted process records again');
  t.is((await installation(dataDir)).install_id, install_id, 'installation.json still valid, same install_id');
  assertNothingEscaped(t, before);
});

test('SIGKILL while the 202 of a submission is held back, then restart and submit again: the real collector stores it once', async (t) => {
  const before = failures.length;
  const dataDir = await tempDirFor(t);
  // Both clocks run a day ahead; the first process starts a week behind that, so its app.started
  // lies in the last whole week (t − 7 days always does), the week its submission reports.
  const offset = DAY;
  const database = await createTestDatabase('sqlite');
  t.teardown(() => database.cleanup());
  const collector = await startCollector(t, database, { clock: new TestClock(new Date(Date.now() + offset)), now: () => new Date(Date.now() + offset) });
  const proxy = await startFaultProxy(collector.url, { match: (path) => path.endsWith('/v1/submit') });
  t.teardown(() => proxy.close());
  // The collector receives and stores the submission; its 202 is held back for 20 s.
  proxy.script([{ delayMs: 20_000 }]);
  const env = { DATA_DIR: dataDir, COLLECTOR_URL: proxy.url, CLOCK_OFFSET_MS: String(offset) };

  const first = startChild(t, 'optin', { ...env, CLOCK_START_OFFSET_MS: String(offset - 7 * DAY) });
  const { install_id } = await first.ready;
  await until(() => proxy.requests.some((r) => r.path.endsWith('/v1/submit') && r.targetStatus === 202) && proxy.held === 1, 20_000, 'the submission stored at the collector, its answer held');
  await sigkill(first);
  t.is(Number(((await database.knex('collector_submissions').count({ n: '*' }).first()) as { n: number }).n), 1, 'the collector stored the first attempt');
  const file = await installation(dataDir);
  t.is(file.install_id, install_id);
  t.truthy(file.collector?.secret, 'the registration survived the kill');

  const second = startChild(t, 'submit', env);
  const restarted = await second.ready;
  t.is(restarted.install_id, install_id);
  const outcome = JSON.parse((await second.line(/^OUTCOME /)).slice('OUTCOME '.length)) as { status: string; responseCode?: number };
  t.is(outcome.status, 'accepted', `the repeated submission: ${JSON.stringify(outcome)}`);
  const ledger = JSON.parse((await second.line(/^LEDGER /)).slice('LEDGER '.length)) as { status: string; idempotency_key: string }[];
  t.deepEqual(ledger.map((r) => r.status), ['accepted'], 'the killed attempt left no ledger row; the repeat is accepted');
  t.is((await fetch(`${restarted.url}/hello`)).status, 200, 'the restarted host answers');

  const submits = proxy.requests.filter((r) => r.path.endsWith('/v1/submit'));
  t.is(submits.length, 2);
  t.is(submits[0]!.headers[HEADERS.idempotencyKey], submits[1]!.headers[HEADERS.idempotencyKey], 'the same Idempotency-Key before and after the crash');
  t.is(ledger[0]!.idempotency_key, String(submits[0]!.headers[HEADERS.idempotencyKey]));
  t.is(proxy.requests.filter((r) => r.path.endsWith('/v1/register')).length, 1, 'registered once');
  t.is(Number(((await database.knex('collector_submissions').count({ n: '*' }).first()) as { n: number }).n), 1, 'exactly one stored submission');
  t.is(Number((await database.knex('collector_installations').where('install_id', install_id).first()).submissions_count), 1);
  t.is(await sigterm(second), 0);

  const db = knexFactory({ client: 'sqlite3', connection: { filename: join(dataDir, DEFAULT_SQLITE_FILE) }, useNullAsDefault: true });
  t.teardown(() => db.destroy());
  t.deepEqual(await db.raw('PRAGMA integrity_check'), [{ integrity_check: 'ok' }]);
  const started = (await db(TABLES.usageEvents).where('event_type', 'app.started').orderBy('id').select('submitted_at')) as { submitted_at: unknown }[];
  t.is(started.length, 2, 'app.started of both processes');
  t.not(started[0]!.submitted_at, null, 'the first process’s event was counted and marked by the repeated submission');
  t.is(started[1]!.submitted_at, null, 'the restart’s own event (written at stop) waits for next week');
  assertNothingEscaped(t, before);
});
