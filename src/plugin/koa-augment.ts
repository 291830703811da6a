// ctx.telemetry, as the plugin defines it on the host app's context.
import type { RequestTelemetry } from './types.js';

declare module 'koa' {
  interface ExtendableContext {
    telemetry: RequestTelemetry;
  }
}

export {};
