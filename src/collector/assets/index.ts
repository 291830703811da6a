// Static assets of the dashboard: our CSS/JS (from modules) and Chart.js's UMD build, read from the
// installed chart.js package (its UMD file is not in the package's exports map, so it is found next
// to the file `chart.js` resolves to). Served with a content hash in the URL and a long cache.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DASHBOARD_CSS } from './dashboard-css.js';
import { DASHBOARD_JS } from './dashboard-js.js';
import { PUBLIC_JS } from './public-js.js';

export interface StaticAsset {
  name: string;
  contentType: string;
  body: Buffer;
  hash: string;
}

/** Absolute path of chart.js's `dist/chart.umd.min.js`. */
export function chartJsUmdPath(): string {
  const require = createRequire(import.meta.url);
  // 'chart.js' resolves (via "require") to <pkg>/dist/chart.cjs; the UMD build sits beside it.
  return join(dirname(require.resolve('chart.js')), 'chart.umd.min.js');
}

function asset(name: string, contentType: string, body: Buffer): StaticAsset {
  return { name, contentType, body, hash: createHash('sha256').update(body).digest('hex').slice(0, 12) };
}

let cached: Map<string, StaticAsset> | null = null;

/** The assets by file name; read once, lazily (construction does no I/O). */
export function dashboardAssets(): Map<string, StaticAsset> {
  if (!cached) {
    cached = new Map(
      [
        asset('dashboard.css', 'text/css; charset=utf-8', Buffer.from(DASHBOARD_CSS)),
        asset('dashboard.js', 'text/javascript; charset=utf-8', Buffer.from(DASHBOARD_JS)),
        asset('public.js', 'text/javascript; charset=utf-8', Buffer.from(PUBLIC_JS)),
        asset('chart.umd.min.js', 'text/javascript; charset=utf-8', readFileSync(chartJsUmdPath())),
      ].map((a) => [a.name, a]),
    );
  }
  return cached;
}
