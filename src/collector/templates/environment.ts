// A nunjucks environment over the in-module templates, with autoescape on.
import nunjucks from 'nunjucks';

class MemoryLoader {
  constructor(private readonly templates: Record<string, string>) {}
  getSource(name: string): { src: string; path: string; noCache: boolean } {
    const src = this.templates[name];
    if (src === undefined) throw new Error(`template not found: ${name}`);
    return { src, path: name, noCache: false };
  }
}

export function templateEnvironment(templates: Record<string, string>): nunjucks.Environment {
  return new nunjucks.Environment(new MemoryLoader(templates) as unknown as nunjucks.ILoader, { autoescape: true, throwOnUndefined: false });
}

/** JSON for a <script type="application/json"> block: nothing in it can close the element. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}
