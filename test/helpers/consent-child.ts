// Child process for test/plugin/consent-across-processes.test.ts: one process of a real Koa host (the test
// host of helpers/host-app.ts: x-test-user header, the plugin's admin routes) on DATA_DIR's default
// SQLite file, exporting to OTLP_URL. Detailed events are exported only when the parent asks
// (POST /test/flush), so whatever waits in the queue at an opt-out can be checked afterwards.
//
//   GET  /test/work?phase=P   tracks `work.done` { process: PROCESS_NAME, phase: P } as user alice
//   POST /test/flush          telemetry.flush(); answers { flushed }
//
// Prints `READY {"url":…}` once listening; on SIGTERM: stop() and exit 0.
import { startHostApp } from './host-app.js';

const quiet = (): void => {};
const processName = process.env.PROCESS_NAME ?? 'child';

const host = await startHostApp({
  telemetry: {
    dataDir: process.env.DATA_DIR!,
    otlp: { endpoint: process.env.OTLP_URL ?? null },
    logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    // Nothing leaves on a timer: the parent decides when the queue is exported.
    export: { queueCap: 1_000, batchSize: 500, intervalMs: 600_000, metricIntervalMs: 600_000, intakeCap: 10_000 },
    recorder: { batchSize: 500, intervalMs: 60_000, cap: 10_000 },
    ...(process.env.CONSENT_SYNC_MS ? { consentSyncIntervalMs: Number(process.env.CONSENT_SYNC_MS) } : {}),
  },
  routes: (router) => {
    router.get('/test/work', (ctx) => {
      ctx.telemetry.track('work.done', { process: processName, phase: String(ctx.query.phase ?? 'none') });
      ctx.body = { ok: true };
    });
    router.post('/test/flush', async (ctx) => {
      ctx.body = { flushed: await host.telemetry.flush() };
    });
  },
});

process.stdout.write(`READY ${JSON.stringify({ url: host.url })}\n`);

process.on('SIGTERM', () => {
  void host.close().then(() => process.exit(0));
});
