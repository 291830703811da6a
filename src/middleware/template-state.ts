// ctx.state.telemetry: what the plugin's partials need inside any layout (host or plugin):
// the CSRF token (created only when a template reads it), asset URLs and the plugin's paths.
import type { Context, Next } from 'koa';
import { csrfToken } from './csrf.js';

export interface TemplatePaths {
  api: string;
  pages: string;
  donate: string;
  assets: string;
}

export class TemplateState {
  constructor(
    private readonly ctx: Context,
    readonly paths: TemplatePaths,
    private readonly assetVersion: string,
  ) {}

  get csrfToken(): string {
    return csrfToken(this.ctx);
  }

  /** URL of one of the plugin's static assets, versioned so it can be cached for a year. */
  asset(name: string): string {
    return `${this.paths.assets}/${name}?v=${this.assetVersion}`;
  }
}

export function templateState(paths: TemplatePaths, assetVersion: string) {
  return function telemetryTemplateState(ctx: Context, next: Next): Promise<unknown> {
    ctx.state.telemetry = new TemplateState(ctx, paths, assetVersion);
    return next();
  };
}
