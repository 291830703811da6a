// When the collector cannot be reached, the warning names where (host:port/path, no credentials)
// and why (ECONNREFUSED, a DNS failure, a TLS error, a timeout) instead of "TypeError: fetch failed".
import net from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import type { Logger } from '../../src/plugin/types.js';
import { describeNetworkCause } from '../../src/core/network-errors.js';
import { runtimeOf } from '../../src/plugin/internal.js';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';
import { refusedPort } from '../helpers/ports.js';

/** A server that accepts connections and never answers. */
async function hangingServer(t: ExecutionContext): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** Submits once to `collectorUrl` and returns every warning logged, as JSON text. */
async function warningsSubmittingTo(t: ExecutionContext, collectorUrl: string): Promise<{ warnings: string[]; reason: string }> {
  const warnings: string[] = [];
  const logger: Logger = { debug() {}, info() {}, error() {}, warn: (...args: unknown[]) => void warnings.push(JSON.stringify(args)) };
  const app = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      logger,
      collector: { url: collectorUrl },
      submission: { retryBaseMs: 20, maxAttempts: 1, timeoutMs: 500 },
    },
  });
  t.teardown(() => app.close());
  await app.telemetry.consent.set({ usageStats: true });
  const outcome = await runtimeOf(app.telemetry).submission.submitNow();
  t.is(outcome.status, 'failed');
  return { warnings: warnings.filter((w) => w.includes('usage statistics submission did not go through')), reason: outcome.reason ?? '' };
}

test('a refused collector port: the warning names host:port/path and ECONNREFUSED, not just "fetch failed"', async (t) => {
  const port = await refusedPort();
  const { warnings, reason } = await warningsSubmittingTo(t, `http://127.0.0.1:${port}/collector`);
  t.true(warnings.length >= 1, 'a warning is logged');
  const warning = warnings.join('\n');
  t.true(warning.includes(`127.0.0.1:${port}/collector/v1/register`), warning);
  t.regex(warning, /ECONNREFUSED/);
  t.regex(reason, new RegExp(`127\\.0\\.0\\.1:${port}/collector/v1/register: ECONNREFUSED`));
});

test('a collector that accepts the connection and never answers: the warning names the endpoint and a timeout', async (t) => {
  const port = await hangingServer(t);
  const { warnings } = await warningsSubmittingTo(t, `http://127.0.0.1:${port}`);
  const warning = warnings.join('\n');
  t.true(warning.includes(`127.0.0.1:${port}/v1/register`), warning);
  t.regex(warning, /timeout/);
});

test('a collector URL with user:password@: the warning names the endpoint without the credentials', async (t) => {
  const port = await refusedPort();
  const { warnings } = await warningsSubmittingTo(t, `http://collector-user:s3cret-pass@127.0.0.1:${port}/c`);
  const warning = warnings.join('\n');
  t.true(warning.includes(`127.0.0.1:${port}/c/v1/register`), warning);
  for (const secret of ['collector-user', 's3cret-pass']) t.false(warning.includes(secret), `${secret} is logged: ${warning}`);
});

test('the causes are named: DNS failures, TLS errors, timeouts, nested fetch causes', (t) => {
  const coded = (code: string, message = code) => Object.assign(new Error(message), { code });
  const fetchFailed = (cause: unknown) => new TypeError('fetch failed', { cause });
  t.is(describeNetworkCause(fetchFailed(coded('ENOTFOUND', 'getaddrinfo ENOTFOUND collector.example'))), 'ENOTFOUND (DNS lookup failed)');
  t.is(describeNetworkCause(fetchFailed(coded('EAI_AGAIN'))), 'EAI_AGAIN (DNS lookup failed, temporarily)');
  t.regex(describeNetworkCause(fetchFailed(coded('CERT_HAS_EXPIRED', 'certificate has expired'))), /^TLS error CERT_HAS_EXPIRED: certificate has expired/);
  t.regex(describeNetworkCause(fetchFailed(coded('UND_ERR_CONNECT_TIMEOUT'))), /timeout/);
  t.regex(describeNetworkCause(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), /^timeout/);
  t.is(describeNetworkCause(fetchFailed(new AggregateError([], 'x', { cause: coded('ECONNREFUSED') }))), 'ECONNREFUSED (connection refused)');
  t.false(describeNetworkCause(new TypeError('Request cannot be constructed from a URL that includes credentials: https://u:pw@h/x')).includes('pw'));
});
