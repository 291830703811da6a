// A TCP port on 127.0.0.1 that refuses connections: bound once to get a free number, then closed.
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
