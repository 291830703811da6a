// Operations: /health (database reachable or only busy → 200, gone → 503), /metrics (Prometheus text format;
// admin token unless publicMetrics) and /openapi.json (public: the same document the npm package ships
// as docs/collector-openapi.json, for this mount path).
import Router from '@koa/router';
import type { Collector } from '../collector.js';
import { collectorOpenApiDocument } from '../openapi.js';

export function opsRouter(collector: Collector, prefix: string): Router {
  const router = new Router({ prefix: prefix || undefined });

  router.get('/health', async (ctx) => {
    const health = await collector.health();
    ctx.set('Cache-Control', 'no-store');
    ctx.status = health.ok ? 200 : 503;
    ctx.body = health.ok ? { status: 'ok', database: health.busy ? 'busy' : 'reachable' } : { status: 'unavailable', database: 'unreachable' };
  });

  const metricsGuard = collector.options.publicMetrics ? async (_ctx: unknown, next: () => Promise<unknown>) => next() : collector.auth.requireAdmin();
  router.get('/metrics', metricsGuard, async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = collector.metrics.contentType;
    ctx.body = await collector.metrics.text();
  });

  // Built once: it depends only on the mount path.
  const document = JSON.stringify(collectorOpenApiDocument(prefix));
  router.get('/openapi.json', (ctx) => {
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'application/json';
    ctx.body = document;
  });
  return router;
}
