// Child process used by test/plugin/otlp-sink.test.ts to prove the sink never keeps a process alive.
//
//   node --import=tsx test/helpers/otlp-sink-child.ts natural <receiverUrl>
//     creates a sink with short background intervals, emits, keeps itself busy for a while so
//     the background exports run, prints `DONE {...}` and returns WITHOUT calling shutdown():
//     the process must exit on its own right after.
//   node --import=tsx test/helpers/otlp-sink-child.ts hang <receiverUrl>
//     the receiver never answers; starts a flush, calls shutdown(500), prints `DONE {...}`:
//     the process must exit right after although the export deadline (timeoutMs) is 10 s.
//   node --import=tsx test/helpers/otlp-sink-child.ts refused <receiverUrl>
//     nothing listens at the URL (connections are refused, which the SDK's transport retries);
//     starts a flush, calls shutdown(500), prints `DONE {...}`, and when the process exits prints
//     `AFTER <n>`: the TCP connections it opened after shutdown() resolved (it must be 0).
import { subscribe } from 'node:diagnostics_channel';
import { createOtlpSink } from '../../src/plugin/telemetry/otlp-sink.js';

const [mode, url] = process.argv.slice(2);
if ((mode !== 'natural' && mode !== 'hang' && mode !== 'refused') || !url) {
  console.error('usage: otlp-sink-child.ts natural|hang|refused <receiverUrl>');
  process.exit(2);
}

// Every TCP client socket this process creates (net.connect publishes on this channel).
let connections = 0;
subscribe('net.client.socket', () => connections++);

const quiet = (): void => {};
const sink = createOtlpSink({
  endpoint: url,
  headers: {},
  timeoutMs: mode === 'natural' ? 2000 : 10_000,
  debug: false,
  resource: { serviceName: 'child', serviceVersion: '1.0.0', instanceId: 'child-install' },
  export: { queueCap: 100, batchSize: 10, intervalMs: 100, metricIntervalMs: 200 },
  logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
  observe: () => ({
    activeInstall: { app_version: '1.0.0', platform: 'linux' },
    events: new Map([['child.started', 1]]),
    pageviews: new Map(),
  }),
});

sink.emit('child.started', { mode });

if (mode === 'natural') {
  // Our own (ref'd) wait: long enough for several background log and metric exports.
  await new Promise((resolve) => setTimeout(resolve, 900));
  console.log(`DONE ${JSON.stringify(sink.stats())}`);
  // No shutdown(): only the sink's timers and keep-alive sockets remain; none may hold the process.
} else {
  // hang / refused
  const flushing = sink.flush();
  const started = Date.now();
  await sink.shutdown(500);
  const shutdownMs = Date.now() - started;
  const atShutdown = connections;
  process.on('exit', () => console.log(`AFTER ${connections - atShutdown}`));
  const flushed = await flushing;
  console.log(`DONE ${JSON.stringify({ shutdownMs, flushed, stats: sink.stats() })}`);
}
