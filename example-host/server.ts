// `npm start`: run the example host. PORT (default 3000), HOST (default 127.0.0.1), DATA_DIR.
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createExampleHost } from './app.js';

const port = Number(process.env.PORT ?? 3000);
const hostname = process.env.HOST ?? '127.0.0.1';
const dataDir = process.env.DATA_DIR ?? fileURLToPath(new URL('./data/', import.meta.url));
mkdirSync(dataDir, { recursive: true });

const host = await createExampleHost({ dataDir });
const server = await host.listen(port, hostname);

console.log(`TimeTracker (koa-consent-telemetry example host) listening on ${server.url}`);
console.log(`  data:        ${dataDir}`);
console.log('  demo logins: admin / demo (administrator), alice / demo (member)');
console.log(`  privacy:     sign in as admin and open ${server.url}/telemetry/settings`);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal} received, shutting down…`);
  const force = setTimeout(() => {
    console.error('Shutdown took too long, exiting.');
    process.exit(1);
  }, 10_000);
  force.unref();
  try {
    await host.close();
    process.exitCode = 0;
  } catch (err) {
    console.error('Error during shutdown:', err);
    process.exitCode = 1;
  }
}
process.once('SIGINT', () => void shutdown('SIGINT'));
process.once('SIGTERM', () => void shutdown('SIGTERM'));
