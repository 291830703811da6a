// Checks real responses against the checked-in OpenAPI documents (docs/openapi.json for the plugin,
// docs/collector-openapi.json for the collector): the status must be documented for that method and
// path, and a JSON body must match the documented schema (ajv, JSON Schema 2020-12 as OpenAPI 3.1
// uses). Route tests call it on the responses they already get, so the documents cannot drift from
// what the routes answer.
import { readFileSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

export interface OpenApiDocument {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> }>>;
  [key: string]: unknown;
}

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/** The documented path template a request path matches ("/v1/installations/{id}" for "/v1/installations/abc"), or undefined. */
export function matchTemplate(doc: OpenApiDocument, path: string): string | undefined {
  const plain = path.split('?')[0]!;
  if (doc.paths[plain]) return plain;
  const parts = plain.split('/');
  return Object.keys(doc.paths).find((template) => {
    const t = template.split('/');
    return t.length === parts.length && t.every((segment, i) => (/^\{[^}]+\}$/.test(segment) ? parts[i] !== '' : segment === parts[i]));
  });
}

/** Checks answers against one checked-in document (docs/<file>). */
export class OpenApiChecker {
  readonly id: string;
  #ajv: Ajv2020 | null = null;
  #document: OpenApiDocument | null = null;
  readonly #validators = new Map<string, ValidateFunction>();
  /** What was checked so far in this process: "METHOD path status". */
  readonly checked = new Set<string>();

  constructor(readonly file: string) {
    this.id = `https://koa-consent-telemetry.invalid/${file}`;
  }

  read(): OpenApiDocument {
    return JSON.parse(readFileSync(new URL(`../../docs/${this.file}`, import.meta.url), 'utf8')) as OpenApiDocument;
  }

  get document(): OpenApiDocument {
    return this.#setUp().document;
  }

  #setUp(): { ajv: Ajv2020; document: OpenApiDocument } {
    if (!this.#ajv || !this.#document) {
      this.#document = this.read();
      // strict: false — the document also holds OpenAPI keywords (example, …) that are not JSON Schema.
      this.#ajv = new Ajv2020({ strict: false, allErrors: true });
      this.#ajv.addSchema({ ...this.#document, $id: this.id });
    }
    return { ajv: this.#ajv, document: this.#document };
  }

  /**
   * Throws unless `status` is documented for `method path` and a JSON `body` matches its schema.
   * `path` is the request path as sent (its query string is ignored; {param} segments match).
   */
  assert(method: string, path: string, status: number, body: unknown, contentType = 'application/json'): void {
    const { ajv, document } = this.#setUp();
    const template = matchTemplate(document, path) ?? path.split('?')[0]!;
    const operation = document.paths[template]?.[method.toLowerCase()];
    if (!operation) throw new Error(`docs/${this.file} has no ${method} ${template}`);
    let response = operation.responses[String(status)] as { $ref?: string; content?: Record<string, { schema?: unknown }> } | undefined;
    if (!response) throw new Error(`docs/${this.file} documents no ${status} for ${method} ${template} (body: ${JSON.stringify(body)?.slice(0, 300)})`);
    // A shared answer (#/components/responses/…) is checked against that one's schema.
    let location = pointer('paths', template, method.toLowerCase(), 'responses', String(status));
    if (response.$ref) {
      location = response.$ref.slice(2);
      response = location.split('/').reduce<any>((node, part) => node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], document);
    }
    const mediaType = contentType.split(';')[0]!.trim();
    if (response?.content && body !== undefined && !(mediaType in response.content)) {
      throw new Error(`${method} ${template} → ${status} answered ${mediaType}; docs/${this.file} documents ${Object.keys(response.content).join(', ')}`);
    }
    if (mediaType !== 'application/json' || !response?.content?.['application/json']?.schema) return;
    const ref = `${this.id}#/${location}/${pointer('content', 'application/json', 'schema')}`;
    let validate = this.#validators.get(ref);
    if (!validate) {
      validate = ajv.compile({ $ref: ref });
      this.#validators.set(ref, validate);
    }
    if (!validate(body)) {
      throw new Error(`${method} ${template} → ${status} does not match docs/${this.file}: ${ajv.errorsText(validate.errors)} (body: ${JSON.stringify(body).slice(0, 500)})`);
    }
  }

  /** The same for a fetch Response (read from a clone, so the caller can still read it); returns it. */
  async documented(method: string, path: string, response: Response): Promise<Response> {
    const text = await response.clone().text();
    const type = response.headers.get('content-type') ?? 'application/json';
    const body = text === '' ? undefined : type.startsWith('application/json') ? JSON.parse(text) : text;
    this.assert(method, path, response.status, body, type);
    this.checked.add(`${method.toUpperCase()} ${matchTemplate(this.document, path)} ${response.status}`);
    return response;
  }
}

export const pluginOpenApi = new OpenApiChecker('openapi.json');
export const collectorOpenApi = new OpenApiChecker('collector-openapi.json');

export function readOpenApiDocument(): OpenApiDocument {
  return pluginOpenApi.read();
}

/** Throws unless `status` is documented in docs/openapi.json for `method path` and `body` matches its schema. */
export function assertDocumentedResponse(method: string, path: string, status: number, body: unknown): void {
  pluginOpenApi.assert(method, path, status, body);
}

/** The same for a fetch Response of the plugin; returns it. */
export function documented(method: string, path: string, response: Response): Promise<Response> {
  return pluginOpenApi.documented(method, path, response);
}

/** Every operation of the document, as "METHOD path" (e.g. "POST /api/v1/usage-stats/opt-in"). */
export function documentedOperations(doc: OpenApiDocument = pluginOpenApi.document): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
}

/** What was checked so far in this process: "METHOD path status". */
export const checkedResponses = pluginOpenApi.checked;

/**
 * Makes `host.request` check every answer of a documented operation against the document: a status
 * the document does not list, or a body that does not match, rejects the request (so the test
 * fails where it made it). Paths or methods the document does not have (404/405 probes) pass through.
 */
export function withOpenApiChecks<H extends { request(path: string, init?: RequestInit & { user?: never }): Promise<Response> }>(host: H): H {
  const request = host.request.bind(host);
  const { document } = pluginOpenApi;
  host.request = (async (path: string, init: RequestInit = {}) => {
    const response = await request(path, init as never);
    const method = (init.method ?? 'GET').toUpperCase();
    const template = path.split('?')[0]!;
    if (document.paths[template]?.[method.toLowerCase()]) {
      await documented(method, path, response);
    }
    return response;
  }) as H['request'];
  return host;
}

// ------------------------------------------------------------------ the collector, through fetch

const checkedBases = new Set<string>();
let realFetch: typeof fetch | null = null;

/**
 * From now until the test ends, every fetch to `baseUrl` (a collector on the default mount path,
 * e.g. TestCollector.url) of an operation in docs/collector-openapi.json is checked against it: an
 * undocumented status or a body that does not match rejects the fetch, so the test fails where it
 * made the request. This covers the helpers (register, submit, admin) as well as plain fetch calls.
 * Paths or methods the document does not have (404/405 probes) pass through.
 */
export function checkCollectorAnswers(t: ExecutionContext, baseUrl: string): void {
  if (!realFetch) {
    const original = globalThis.fetch;
    realFetch = original;
    globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      const response = await original(input, init);
      const url = new URL(input instanceof Request ? input.url : String(input));
      const base = [...checkedBases].find((b) => url.href.startsWith(`${b}/`));
      if (!base) return response;
      const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
      const path = url.pathname.slice(new URL(base).pathname.replace(/\/$/, '').length);
      const template = matchTemplate(collectorOpenApi.document, path);
      if (template && collectorOpenApi.document.paths[template]?.[method.toLowerCase()]) await collectorOpenApi.documented(method, path, response);
      return response;
    }) as typeof fetch;
  }
  checkedBases.add(baseUrl);
  t.teardown(() => void checkedBases.delete(baseUrl));
}
