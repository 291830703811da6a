// Ports and server settings for tests: a port that refuses connections; keep-alive that outlasts the client.
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';

export async function refusedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/**
 * Keeps idle keep-alive connections open longer than fetch (undici) keeps them in its pool, as
 * the collector's own server does (src/collector/server.ts). With Node's default 5 s the server
 * and the client race to close an idle connection: undici closes at the server's hint minus 1 s,
 * on a coarse timer, so when a loaded machine stalls the event loop the server's close can come
 * first, onto a request already written to that socket — the client gets ECONNRESET, "fetch failed".
 */
export function outlastClientKeepAlive(server: { keepAliveTimeout: number; headersTimeout: number }): void {
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
}
