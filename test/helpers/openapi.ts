// Checks a real response of the plugin against docs/openapi.json: its status must be documented for
// that method and path, and its JSON body must match the documented schema (ajv, JSON Schema
// 2020-12 as OpenAPI 3.1 uses). Route tests call it on the responses they already get, so the
// document cannot drift from what the routes answer.
import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

const DOCUMENT_ID = 'https://koa-consent-telemetry.invalid/openapi.json';

export interface OpenApiDocument {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> }>>;
  [key: string]: unknown;
}

export function readOpenApiDocument(): OpenApiDocument {
  return JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8')) as OpenApiDocument;
}

let ajv: Ajv2020 | null = null;
let document: OpenApiDocument | null = null;
const validators = new Map<string, ValidateFunction>();

function setUp(): { ajv: Ajv2020; document: OpenApiDocument } {
  if (!ajv || !document) {
    document = readOpenApiDocument();
    // strict: false — the document also holds OpenAPI keywords (example, …) that are not JSON Schema.
    ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema({ ...document, $id: DOCUMENT_ID });
  }
  return { ajv, document };
}

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/**
 * Throws unless `status` is documented for `method path` and `body` matches its JSON schema.
 * `path` is the request path as sent (its query string is ignored).
 */
export function assertDocumentedResponse(method: string, path: string, status: number, body: unknown): void {
  const { ajv, document } = setUp();
  const template = path.split('?')[0]!;
  const operation = document.paths[template]?.[method.toLowerCase()];
  if (!operation) throw new Error(`docs/openapi.json has no ${method} ${template}`);
  let response = operation.responses[String(status)] as { $ref?: string; content?: Record<string, { schema?: unknown }> } | undefined;
  if (!response) throw new Error(`docs/openapi.json documents no ${status} for ${method} ${template} (body: ${JSON.stringify(body).slice(0, 300)})`);
  // A shared answer (#/components/responses/…) is checked against that one's schema.
  let location = pointer('paths', template, method.toLowerCase(), 'responses', String(status));
  if (response.$ref) {
    location = response.$ref.slice(2);
    response = location.split('/').reduce<any>((node, part) => node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], document);
  }
  if (!response?.content?.['application/json']?.schema) return;
  const ref = `${DOCUMENT_ID}#/${location}/${pointer('content', 'application/json', 'schema')}`;
  let validate = validators.get(ref);
  if (!validate) {
    validate = ajv.compile({ $ref: ref });
    validators.set(ref, validate);
  }
  if (!validate(body)) {
    throw new Error(`${method} ${template} → ${status} does not match docs/openapi.json: ${ajv.errorsText(validate.errors)} (body: ${JSON.stringify(body).slice(0, 500)})`);
  }
}

/** The same for a fetch Response (read from a clone, so the caller can still read it); returns it. */
export async function documented(method: string, path: string, response: Response): Promise<Response> {
  const text = await response.clone().text();
  assertDocumentedResponse(method, path, response.status, text === '' ? undefined : JSON.parse(text));
  return response;
}

/** Every operation of the document, as "METHOD path" (e.g. "POST /api/v1/usage-stats/opt-in"). */
export function documentedOperations(doc: OpenApiDocument = setUp().document): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
}

/** What was checked so far in this process: "METHOD path status". */
export const checkedResponses = new Set<string>();

/**
 * Makes `host.request` check every answer of a documented operation against the document: a status
 * the document does not list, or a body that does not match, rejects the request (so the test
 * fails where it made it). Paths or methods the document does not have (404/405 probes) pass through.
 */
export function withOpenApiChecks<H extends { request(path: string, init?: RequestInit & { user?: never }): Promise<Response> }>(host: H): H {
  const request = host.request.bind(host);
  const { document } = setUp();
  host.request = (async (path: string, init: RequestInit = {}) => {
    const response = await request(path, init as never);
    const method = (init.method ?? 'GET').toUpperCase();
    const template = path.split('?')[0]!;
    if (document.paths[template]?.[method.toLowerCase()]) {
      await documented(method, path, response);
      checkedResponses.add(`${method} ${template} ${response.status}`);
    }
    return response;
  }) as H['request'];
  return host;
}
