// GET <assets>/<file>: the plugin's own CSS/JS and Chart.js, served locally (no CDN: pages work
// offline) with a year-long cache; URLs carry ?v=<version> so an upgrade busts it.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Router from '@koa/router';
import { TEMPLATES_DIR } from './page-renderer.js';

const require = createRequire(import.meta.url);

/** Chart.js's UMD build is not in its exports map: resolve the package's entry and take the file beside it. */
function chartJsPath(): string {
  return join(dirname(require.resolve('chart.js')), 'chart.umd.min.js');
}

const CONTENT_TYPES: Record<string, string> = { '.css': 'text/css; charset=utf-8', '.js': 'application/javascript; charset=utf-8' };

export function assetFiles(): Record<string, string> {
  const own = (name: string) => join(TEMPLATES_DIR, 'assets', name);
  return {
    'telemetry.css': own('telemetry.css'),
    'telemetry.js': own('telemetry.js'),
    'stats.js': own('stats.js'),
    'settings.js': own('settings.js'),
    'user-privacy.js': own('user-privacy.js'),
    'support.css': own('support.css'),
    'support.js': own('support.js'),
    'chart.umd.min.js': chartJsPath(),
  };
}

export function assetsRouter(prefix: string): Router {
  let files: Record<string, string> | null = null;
  const cache = new Map<string, Buffer>();
  const router = new Router({ prefix });
  router.get('/:file', async (ctx) => {
    const file = ctx.params.file!;
    files ??= assetFiles();
    const path = Object.hasOwn(files, file) ? files[file] : undefined;
    if (!path) return;
    let body = cache.get(file);
    if (!body) {
      try {
        body = await readFile(path);
      } catch {
        return;
      }
      cache.set(file, body);
    }
    ctx.type = CONTENT_TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream';
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.body = body;
  });
  return router;
}
