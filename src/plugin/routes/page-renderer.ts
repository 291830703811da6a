// Renders the plugin's pages. With the host's nunjucks environment (and a host layout) the pages
// sit inside the host's own chrome; otherwise the plugin's own environment and layout are used.
// Autoescape is required either way: a host environment without it is not used for our pages.
import { fileURLToPath } from 'node:url';
import nunjucks from 'nunjucks';
import type { NunjucksEnvironment } from '../options.js';
import type { Logger } from '../types.js';

export const TEMPLATES_DIR = fileURLToPath(new URL('../templates/', import.meta.url));
export const DEFAULT_LAYOUT = 'telemetry/layout.njk';

interface LoaderList {
  loaders: { searchPaths?: string[]; cache?: Record<string, unknown> }[];
  opts: { autoescape?: boolean };
}

export class PageRenderer {
  readonly env: NunjucksEnvironment;
  readonly layout: string;

  constructor(options: { hostEnv?: NunjucksEnvironment; layout: string | null; logger: Logger }) {
    const host = options.hostEnv as (NunjucksEnvironment & LoaderList) | undefined;
    if (host && host.opts.autoescape !== false) {
      // Make the plugin's templates resolvable from the host environment (and so from host layouts).
      // (A host can also list telemetry.templatesPath in its own loader; then nothing is added.)
      if (!host.loaders.some((loader) => loader.searchPaths?.some((p) => p.replace(/\/$/, '') === TEMPLATES_DIR.replace(/\/$/, '')))) {
        const loader = new nunjucks.FileSystemLoader(TEMPLATES_DIR) as unknown as LoaderList['loaders'][number];
        loader.cache = {}; // what Environment's constructor gives each of its loaders
        host.loaders.push(loader);
      }
      this.env = options.hostEnv!;
      this.layout = options.layout ?? DEFAULT_LAYOUT;
      return;
    }
    if (host) options.logger.warn('the host nunjucks environment has autoescape off; the telemetry pages use their own environment and layout');
    this.env = new nunjucks.Environment(new nunjucks.FileSystemLoader(TEMPLATES_DIR), { autoescape: true, throwOnUndefined: false });
    this.layout = DEFAULT_LAYOUT;
  }

  render(template: string, context: Record<string, unknown>): Promise<string> {
    return new Promise((resolve, reject) => {
      this.env.render(template, { ...context, telemetryLayout: this.layout }, (err, html) => (err ? reject(err) : resolve(html ?? '')));
    });
  }
}
