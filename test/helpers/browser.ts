// Debian's chromium for the browser tests, driven by playwright-core (`npx playwright install` cannot
// download a browser here). The flags keep it off the network: a closed network otherwise refuses
// its background connections, many at a time.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (the CI script does this)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * Lets the context reach only `origin`'s host (and data:/blob: URLs); every other request is
 * aborted and its URL collected in the returned list, so a test can assert that nothing left.
 */
export async function keepRequestsLocal(context: BrowserContext, origin: string): Promise<string[]> {
  const host = new URL(origin).host;
  const external: string[] = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.host === host || url.protocol === 'data:' || url.protocol === 'blob:') return route.continue();
    external.push(url.href);
    return route.abort();
  });
  return external;
}
