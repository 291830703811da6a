// The package's own version, read once from package.json (one level up from src/, two from dist/src/).
import { existsSync, readFileSync } from 'node:fs';

function readVersion(): string {
  for (const candidate of [new URL('../../package.json', import.meta.url), new URL('../../../package.json', import.meta.url)]) {
    if (!existsSync(candidate)) continue;
    const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'koa-consent-telemetry' && pkg.version) return pkg.version;
  }
  return '0.0.0';
}

export const PACKAGE_VERSION = readVersion();
