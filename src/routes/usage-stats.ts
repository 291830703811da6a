// /api/v1/usage-stats/*: the admin's view of what the plugin collects and sends.
import Router from '@koa/router';
import type { TelemetryRuntime } from '../runtime.js';
import { requireAdmin } from '../middleware/auth.js';

export function usageStatsRouter(runtime: TelemetryRuntime): Router {
  const { options } = runtime;
  const router = new Router({ prefix: options.mountPath.api });
  router.use(requireAdmin(options.getUser, options.isAdmin));

  router.get('/status', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = runtime.status();
  });

  return router;
}
