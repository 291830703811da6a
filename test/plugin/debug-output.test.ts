// TELEMETRY_DEBUG=1 with the default (quiet) logger used to print nothing, and `logger: console`
// showed `records: [ [Object] ]`. In debug mode each would-be payload is printed to stderr (or the
// debugOutput option), whole, as indented JSON.
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { telemetryPlugin } from '../../src/index.js';
import { tempDirFor } from '../helpers/tmp.js';
import { DEBUG_HEADER as HEADER, printedPayloads } from '../helpers/debug-output.js';

const TSX = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const INDEX = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;
test('TELEMETRY_DEBUG=1 with the default quiet logger prints each would-be OTLP payload to stderr, pretty and complete', async (t) => {
  const dataDir = await tempDirFor(t);
  const script = `
    import { telemetryPlugin } from ${JSON.stringify(INDEX)};
    const telemetry = telemetryPlugin({ appName: 'DebugHost', appVersion: '2.0.0', dataDir: ${JSON.stringify(dataDir)}, jobs: false });
    await telemetry.ready();
    await telemetry.consent.set({ analytics: true });
    telemetry.track('timer.started', { source: 'web' });
    await telemetry.flush();
    await telemetry.stop();
  `;
  const env: NodeJS.ProcessEnv = { ...process.env, TELEMETRY_DEBUG: '1' };
  for (const name of ['DO_NOT_TRACK', 'TELEMETRY_DISABLED', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'GRAFANA_OTLP_ENDPOINT']) delete env[name];
  const child = spawn(process.execPath, [`--import=${TSX}`, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => void (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => void (stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((done) => child.once('exit', (c) => done(c)));
  clearTimeout(timer);
  t.is(code, 0, stderr);

  t.false(stdout.includes(HEADER), 'debug output goes to stderr');
  t.false(stderr.includes('[Object]'));
  const logs = printedPayloads(stderr).filter((p) => p.title.includes('log record(s) over OTLP (not sent)'));
  t.true(logs.length > 0, stderr);
  const records = logs.flatMap((p) => p.payload.records as { body: unknown; attributes: Record<string, unknown> }[]);
  const timer_started = records.find((r) => r.body === 'timer.started');
  t.truthy(timer_started, stderr);
  t.is(timer_started!.attributes.source, 'web');
  t.is(logs[0]!.payload.resource['service.name'], 'DebugHost');
  t.regex(stderr, /\n {2}"signal": "logs",\n/, 'indented JSON');
});

test('debug mode prints through the debugOutput option when one is given, and never without debug', async (t) => {
  const printed: string[] = [];
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const debugging = telemetryPlugin({ appName: 'DebugHost', appVersion: '2.0.0', dataDir: await tempDirFor(t), jobs: false, env: { TELEMETRY_DEBUG: '1' }, logger: quiet, debugOutput: (text) => void printed.push(text) });
  t.teardown(() => debugging.stop());
  await debugging.ready();
  await debugging.consent.set({ analytics: true });
  debugging.track('timer.started', { source: 'web' });
  await debugging.flush();
  const records = printedPayloads(printed.join('')).flatMap((p) => (p.payload.records ?? []) as { body: unknown }[]);
  t.true(records.some((r) => r.body === 'timer.started'), printed.join(''));

  const silent: string[] = [];
  const plain = telemetryPlugin({ appName: 'DebugHost', appVersion: '2.0.0', dataDir: await tempDirFor(t), jobs: false, env: {}, logger: quiet, debugOutput: (text) => void silent.push(text) });
  t.teardown(() => plain.stop());
  await plain.ready();
  await plain.consent.set({ analytics: true });
  plain.track('timer.started', { source: 'web' });
  await plain.flush();
  t.deepEqual(silent, []);
});
