// Child process for test/plugin/faults-crash-restart.test.ts: a real Koa host with the plugin on the
// default SQLite file in DATA_DIR, serving GET /hello. Lines on stdout tell the parent what it did:
//
//   READY {"url":…,"install_id":…}
//   mode "batches": records logical batches of BATCH events (props {batch, i}) in a tight loop, each
//     written by one recorder flush (= one transaction): `BEGIN <k>` before the flush, `COMMITTED <k>`
//     once it is in the database. Runs until killed.
//   mode "optin":   gives usage-statistics consent, which sends the weekly submission at once. With
//                   CLOCK_START_OFFSET_MS, the clock runs at that offset until app.started is written,
//                   then at CLOCK_OFFSET_MS (a week later: app.started lies in the reported week).
//                   Runs until killed (the parent kills it while the collector's answer is held).
//   mode "submit":  submitNow() once, prints `OUTCOME {…}` and `LEDGER […]`, then serves until SIGTERM.
//   mode "serve":   serves until SIGTERM.
// On SIGTERM: stop() and exit 0.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import session from 'koa-session';
import { telemetryPlugin } from '../../src/index.js';
import { TABLES } from '../../src/plugin/db/tables.js';
import { runtimeOf } from '../../src/plugin/internal.js';

const mode = process.argv[2];
const dataDir = process.env.DATA_DIR!;
const offsetMs = Number(process.env.CLOCK_OFFSET_MS ?? 0);
let clockOffsetMs = Number(process.env.CLOCK_START_OFFSET_MS ?? offsetMs);
const BATCH = Number(process.env.BATCH ?? 200);
const quiet = (): void => {};

const telemetry = telemetryPlugin({
  appName: 'CrashHost',
  appVersion: '1.0.0',
  dataDir,
  jobs: false,
  env: {},
  logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
  recorder: { batchSize: BATCH, intervalMs: 60_000, cap: 100_000 },
  export: { queueCap: 100, batchSize: 100, intervalMs: 60_000, metricIntervalMs: 600_000, intakeCap: 100_000 },
  collector: { url: process.env.COLLECTOR_URL ?? null },
  submission: { retryBaseMs: 20, maxAttempts: 1, timeoutMs: 20_000 },
  now: () => new Date(Date.now() + clockOffsetMs),
});
const app = new Koa();
app.silent = true;
app.keys = ['crash-child-key-a', 'crash-child-key-b'];
app.use(session({ sameSite: 'lax' }, app));
app.use(telemetry);
app.use((ctx) => {
  if (ctx.path === '/hello') ctx.body = { hello: 'world' };
});
app.on('error', (err: Error) => process.stderr.write(`host error: ${err.stack}\n`));

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

await telemetry.ready();
const server = http.createServer(app.callback()).listen(0, '127.0.0.1');
await new Promise((done) => server.once('listening', done));
const runtime = runtimeOf(telemetry);
say(`READY ${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, install_id: telemetry.status().install_id })}`);

process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close();
  void telemetry.stop().then(() => process.exit(0));
});

if (mode === 'batches') {
  const recorder = runtime.recorder!;
  runtime.analytics.drain();
  await recorder.flush(); // app.started on its own
  for (let k = 0; ; k++) {
    for (let i = 0; i < BATCH; i++) telemetry.track('crash.batch', { batch: k, i });
    const writtenBefore = recorder.written;
    say(`BEGIN ${k}`);
    runtime.analytics.drain(); // guard + hand to the recorder now; the BATCH-th event starts the flush
    await recorder.flush();
    if (recorder.written - writtenBefore !== BATCH) say(`UNEXPECTED ${k} ${recorder.written - writtenBefore} ${recorder.lastError}`);
    say(`COMMITTED ${k}`);
  }
} else if (mode === 'optin') {
  runtime.analytics.drain();
  await runtime.recorder!.flush(); // app.started in the database, so the submission counts it
  clockOffsetMs = offsetMs;
  await telemetry.consent.set({ usageStats: true });
  say('OPTED_IN');
} else if (mode === 'submit') {
  const outcome = await runtime.submission.submitNow();
  say(`OUTCOME ${JSON.stringify(outcome)}`);
  const ledger = await runtime.knex(TABLES.submissions).orderBy('id').select('status', 'response_code', 'idempotency_key', 'attempts');
  say(`LEDGER ${JSON.stringify(ledger)}`);
}
