// Seeded bad-input generation for test/bad-input.test.ts: a tiny deterministic PRNG (mulberry32),
// a raw HTTP/1.1 client over `net` (so every byte of the request is ours — duplicate headers,
// broken chunking, lying Content-Length, invalid UTF-8), a small incremental response parser,
// catalogues of malformed bodies / headers / queries / paths, and the per-response invariants.
import net from 'node:net';
import { gzipSync } from 'node:zlib';
// The same seeded PRNG (mulberry32) the collector's demo fleet uses: identical on every platform.
import { seededRandom as mulberry32 } from '../../src/collector/demo/fleet.js';

// ------------------------------------------------------------------ PRNG

export class Rng {
  readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** Picks by weight: [[weight, value], …]. */
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    const total = items.reduce((sum, [w]) => sum + w, 0);
    let r = this.next() * total;
    for (const [w, v] of items) {
      r -= w;
      if (r < 0) return v;
    }
    return items[items.length - 1]![1];
  }
  string(length: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'): string {
    let s = '';
    for (let i = 0; i < length; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
}

/** The seed: BAD_INPUT_SEED (decimal or 0x…) to reproduce another run, else the fixed default. */
export function seedFromEnv(fallback: number): number {
  const raw = process.env.BAD_INPUT_SEED?.trim();
  if (!raw) return fallback;
  const n = raw.startsWith('0x') ? Number.parseInt(raw.slice(2), 16) : Number.parseInt(raw, 10);
  if (!Number.isFinite(n)) throw new Error(`BAD_INPUT_SEED=${raw} is not a number`);
  return n >>> 0;
}

export const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

// ------------------------------------------------------------------ raw requests

export type HeaderList = [string, string][];

export interface RawRequestSpec {
  method: string;
  /** The request-target exactly as it goes on the wire (not re-encoded). */
  target: string;
  headers: HeaderList;
  /** The body bytes as sent (already chunk-encoded when the headers say chunked). */
  body?: Buffer;
  /** Content-Length: 'auto' (default: set when there is a body and no Transfer-Encoding), 'none', or a literal value. */
  contentLength?: 'auto' | 'none' | string;
  /** HTTP version token (default HTTP/1.1). */
  version?: string;
  /** Half-close after writing (for truncated bodies: the server must not wait forever). */
  halfClose?: boolean;
  /** Omit the Host header. */
  noHost?: boolean;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export type RawResult = { ok: true; response: RawResponse; ms: number } | { ok: false; error: string; ms: number };

export function encodeRequest(port: number, spec: RawRequestSpec): Buffer {
  const lines = [`${spec.method} ${spec.target} ${spec.version ?? 'HTTP/1.1'}`];
  if (!spec.noHost && !spec.headers.some(([k]) => k.toLowerCase() === 'host')) lines.push(`Host: 127.0.0.1:${port}`);
  for (const [k, v] of spec.headers) lines.push(`${k}: ${v}`);
  const hasTe = spec.headers.some(([k]) => k.toLowerCase() === 'transfer-encoding');
  const cl = spec.contentLength ?? 'auto';
  if (cl === 'auto') {
    if (spec.body !== undefined && !hasTe) lines.push(`Content-Length: ${spec.body.length}`);
  } else if (cl !== 'none') lines.push(`Content-Length: ${cl}`);
  if (!spec.headers.some(([k]) => k.toLowerCase() === 'connection')) lines.push('Connection: close');
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return spec.body ? Buffer.concat([head, spec.body]) : head;
}

/** Parses one HTTP/1.1 response from `buf`; null while incomplete (unless `eof`). Skips 1xx. */
export function parseResponse(buf: Buffer, eof: boolean, isHead: boolean): RawResponse | null {
  let offset = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', offset, 'latin1');
    if (end < 0) return null;
    const head = buf.subarray(offset, end).toString('latin1').split('\r\n');
    const match = /^HTTP\/\d\.\d (\d{3})/.exec(head[0] ?? '');
    if (!match) throw new Error(`not an HTTP response: ${JSON.stringify(head[0])}`);
    const status = Number(match[1]);
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      if (i <= 0) continue;
      const key = line.slice(0, i).trim().toLowerCase();
      const value = line.slice(i + 1).trim();
      headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
    }
    const start = end + 4;
    if (status >= 100 && status < 200) {
      offset = start;
      continue;
    }
    if (isHead || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0) };
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = [];
      let p = start;
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', p, 'latin1');
        if (lineEnd < 0) return eof ? { status, headers, body: Buffer.concat(parts) } : null;
        const size = Number.parseInt(buf.subarray(p, lineEnd).toString('latin1'), 16);
        if (!Number.isFinite(size)) throw new Error('bad chunk size in response');
        if (size === 0) return { status, headers, body: Buffer.concat(parts) };
        if (buf.length < lineEnd + 2 + size + 2) return eof ? { status, headers, body: Buffer.concat(parts) } : null;
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        p = lineEnd + 2 + size + 2;
      }
    }
    const length = headers['content-length'] !== undefined ? Number(headers['content-length']) : null;
    if (length !== null) {
      if (buf.length - start >= length) return { status, headers, body: buf.subarray(start, start + length) };
      return eof ? { status, headers, body: buf.subarray(start) } : null;
    }
    return eof ? { status, headers, body: buf.subarray(start) } : null;
  }
}

/**
 * How long sendRaw waits for an answer before calling it a hang. Generous on purpose: the servers
 * under test share this process (and a loaded machine) with the client, so a healthy answer can
 * take seconds; a hang never comes at all.
 */
export const SEND_RAW_TIMEOUT_MS = 60_000;

/** Sends the bytes on a fresh connection and reads one response (or reports what happened instead). */
export function sendRaw(port: number, bytes: Buffer, options: { halfClose?: boolean; isHead?: boolean; timeoutMs?: number } = {}): Promise<RawResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = net.connect({ port, host: '127.0.0.1' });
    const finish = (result: { ok: true; response: RawResponse } | { ok: false; error: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...result, ms: Date.now() - started } as RawResult);
    };
    const attempt = (eof: boolean) => {
      try {
        const response = parseResponse(Buffer.concat(chunks), eof, options.isHead === true);
        if (response) finish({ ok: true, response });
        else if (eof) finish({ ok: false, error: chunks.length ? 'incomplete response' : 'closed without a response' });
      } catch (err) {
        finish({ ok: false, error: (err as Error).message });
      }
    };
    // No answer in time is a 'timeout', never 'closed without a response': the socket is still
    // open, the server is only slow (or hangs). A response already complete but for its end
    // (no Content-Length, no chunking) still counts.
    const timer = setTimeout(() => {
      if (chunks.length) attempt(true);
      finish({ ok: false, error: 'timeout' });
    }, options.timeoutMs ?? SEND_RAW_TIMEOUT_MS);
    socket.on('connect', () => {
      socket.write(bytes, () => {
        if (options.halfClose) socket.end();
      });
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      attempt(false);
    });
    socket.on('end', () => attempt(true));
    socket.on('close', () => attempt(true));
    // EPIPE/ECONNRESET while we still write a body the server already refused: read what came back.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (chunks.length) attempt(true);
      else finish({ ok: false, error: err.code ?? err.message });
    });
  });
}

/** A small keep-alive-free JSON/HTML GET with fetch, for setup and health checks. */
export async function fetchText(url: string, init: RequestInit = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(url, { redirect: 'manual', ...init });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

// ------------------------------------------------------------------ invariants

const STACK_LINE = /(^|\\n|\n)\s*at\s+(?:[^\s()]+\s+)?\(?(?:file:\/\/|node:|\/|[A-Za-z]:\\)[^)\s]*:\d+(?::\d+)?\)?/;
const INTERNAL_PATH = /(?:\/work\/|\/home\/|\/tmp\/|node_modules[\\/]|\bsrc\/[\w/-]+\.(?:ts|js)\b|\.ts:\d+)/;

export interface Violation {
  problem: string;
  status?: number;
  snippet?: string;
}

/**
 * The invariants every answer keeps: a response (not a hang), never 5xx, JSON errors shaped
 * { error: { code, message } }, no stack trace or source path in any non-asset body.
 */
export function checkResponse(result: RawResult, options: { allowNoResponse?: boolean; isAsset?: boolean; isHead?: boolean } = {}): Violation[] {
  if (!result.ok) {
    // A connection the client truncated (half-closed mid-body) may be dropped without an answer;
    // anything else must be answered.
    if (options.allowNoResponse && result.error !== 'timeout') return [];
    return [{ problem: `no response: ${result.error}` }];
  }
  const { status, headers, body } = result.response;
  const out: Violation[] = [];
  const text = body.toString('utf8');
  const snippet = text.slice(0, 300);
  if (status >= 500 || status < 200) out.push({ problem: `status ${status}`, status, snippet });
  const type = headers['content-type'] ?? '';
  if (/json/i.test(type) && status >= 400 && !(options.isHead && body.length === 0)) {
    try {
      const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
      if (!parsed || typeof parsed !== 'object' || !parsed.error || typeof parsed.error.code !== 'string' || typeof parsed.error.message !== 'string') {
        out.push({ problem: 'JSON error without { error: { code, message } }', status, snippet });
      }
    } catch {
      out.push({ problem: 'JSON content-type but unparsable body', status, snippet });
    }
  }
  if (!options.isAsset || status >= 300) {
    if (STACK_LINE.test(text)) out.push({ problem: 'stack trace in the body', status, snippet });
    else if (status >= 400 && INTERNAL_PATH.test(text)) out.push({ problem: 'internal file path in an error body', status, snippet });
  }
  return out;
}

// ------------------------------------------------------------------ catalogues

export const PROBES = {
  script: '<script>alert(1)</script>',
  attr: '"><img src=x onerror=alert(1)>',
  template: 'kct{{7*7}}probe',
  /** What the template probe would become if a template engine evaluated it. */
  templateEvaluated: 'kct49probe',
} as const;
export const PROBE_LIST = [PROBES.script, PROBES.attr, PROBES.template] as const;

/** A body as sent, with the Content-Type (or none) and any extra headers that belong to it. */
export interface BodyCase {
  name: string;
  body?: Buffer;
  contentType?: string | null;
  headers?: HeaderList;
  contentLength?: 'auto' | 'none' | string;
  halfClose?: boolean;
  /** The server may drop the connection without answering (the client truncated its request). */
  allowNoResponse?: boolean;
}

const b = (s: string, enc: BufferEncoding = 'utf8') => Buffer.from(s, enc);
const JSON_TYPE = 'application/json';

function nested(depth: number, open = '[', close = ']', inner = '1'): string {
  return open.repeat(depth) + inner + close.repeat(depth);
}
function nestedObject(depth: number): string {
  return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}
function chunked(parts: string[], terminate = true): Buffer {
  return b(parts.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join('') + (terminate ? '0\r\n\r\n' : ''));
}
function manyKeys(n: number): string {
  const o: Record<string, number> = {};
  for (let i = 0; i < n; i++) o[`k${i}`] = i;
  return JSON.stringify(o);
}

/**
 * Bodies that no JSON route should accept: malformed, wrong shape, too large, oddly encoded,
 * lying about their type or framing. `valid` is one body the route does accept (for contrast
 * and for the encoding wrappers).
 */
export function malformedBodies(rng: Rng, valid: unknown, limitBytes: number): BodyCase[] {
  const validText = JSON.stringify(valid);
  const huge = (n: number) => `{"pad":"${'x'.repeat(Math.max(0, n - 10))}"}`;
  const gz = gzipSync(Buffer.from(validText));
  const bomb = gzipSync(Buffer.from(`{"pad":"${' '.repeat(4 * 1024 * 1024)}"}`));
  const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(validText, 'utf16le')]);
  return [
    // malformed JSON
    { name: 'json:open-brace', body: b('{'), contentType: JSON_TYPE },
    { name: 'json:truncated', body: b(validText.slice(0, Math.max(1, validText.length - 2))), contentType: JSON_TYPE },
    { name: 'json:trailing-comma', body: b('{"a":1,}'), contentType: JSON_TYPE },
    { name: 'json:single-quotes', body: b("{'kind':'page'}"), contentType: JSON_TYPE },
    { name: 'json:bare-word', body: b('nul'), contentType: JSON_TYPE },
    { name: 'json:two-documents', body: b(`${validText}${validText}`), contentType: JSON_TYPE },
    { name: 'json:comment', body: b(`/* x */${validText}`), contentType: JSON_TYPE },
    { name: 'json:NaN', body: b('{"limit":NaN}'), contentType: JSON_TYPE },
    { name: 'json:lone-surrogate', body: b('{"kind":"\\ud800"}'), contentType: JSON_TYPE },
    { name: 'json:garbage-bytes', body: Buffer.from(Array.from({ length: 64 }, () => rng.int(256))), contentType: JSON_TYPE },
    // wrong types / shapes
    { name: 'shape:array', body: b('[]'), contentType: JSON_TYPE },
    { name: 'shape:string', body: b('"page"'), contentType: JSON_TYPE },
    { name: 'shape:number', body: b('123'), contentType: JSON_TYPE },
    { name: 'shape:true', body: b('true'), contentType: JSON_TYPE },
    { name: 'shape:null', body: b('null'), contentType: JSON_TYPE },
    { name: 'shape:empty-object', body: b('{}'), contentType: JSON_TYPE },
    { name: 'shape:wrong-types', body: b('{"categories":"analytics","kind":5,"event":null,"source":[1],"variant":{"a":1},"install_id":42,"to":{"x":1}}'), contentType: JSON_TYPE },
    { name: 'shape:unknown-values', body: b('{"categories":["everything"],"kind":"nope","event":"hacked","install_id":"not-a-uuid","to":"not-an-address"}'), contentType: JSON_TYPE },
    { name: 'shape:proto', body: b('{"__proto__":{"isAdmin":true,"polluted":1},"constructor":{"prototype":{"polluted":1}}}'), contentType: JSON_TYPE },
    { name: 'shape:probe-values', body: b(JSON.stringify({ kind: PROBES.script, event: PROBES.attr, source: PROBES.template, variant: PROBES.script, categories: [PROBES.attr], install_id: PROBES.script, to: PROBES.attr })), contentType: JSON_TYPE },
    { name: 'shape:long-strings', body: b(JSON.stringify({ kind: 'a'.repeat(3000), source: 'b'.repeat(300), event: 'modal_opened' })), contentType: JSON_TYPE },
    { name: 'shape:many-keys', body: b(manyKeys(Math.min(1500, Math.floor(limitBytes / 14)))), contentType: JSON_TYPE },
    { name: 'shape:big-numbers', body: b('{"limit":1e999,"kind":-0,"categories":[1e308]}'), contentType: JSON_TYPE },
    // deep nesting, within and beyond the limit
    { name: 'deep:array-in-limit', body: b(nested(Math.floor((limitBytes - 8) / 2))), contentType: JSON_TYPE },
    { name: 'deep:object-in-limit', body: b(nestedObject(Math.floor((limitBytes - 8) / 6))), contentType: JSON_TYPE },
    { name: 'deep:array-over-limit', body: b(nested(50_000)), contentType: JSON_TYPE },
    // oversized
    { name: 'size:just-over-limit', body: b(huge(limitBytes + 1)), contentType: JSON_TYPE },
    { name: 'size:over-16k', body: b(huge(16 * 1024 + 10)), contentType: JSON_TYPE },
    { name: 'size:over-64k', body: b(huge(64 * 1024 + 10)), contentType: JSON_TYPE },
    { name: 'size:256k', body: b(huge(256 * 1024)), contentType: JSON_TYPE },
    { name: 'size:declared-huge', body: b(validText), contentType: JSON_TYPE, contentLength: String(10 * 1024 * 1024), halfClose: true, allowNoResponse: true },
    { name: 'size:over-limit-chunked', body: chunked([huge(limitBytes + 100).slice(0, 4000), 'x'.repeat(limitBytes)]), contentType: JSON_TYPE, headers: [['Transfer-Encoding', 'chunked']] },
    // odd encodings
    { name: 'enc:invalid-utf8', body: Buffer.concat([b('{"kind":"'), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1]), b('"}')]), contentType: JSON_TYPE },
    { name: 'enc:utf8-bom', body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b(validText)]), contentType: JSON_TYPE },
    { name: 'enc:utf16-bom', body: utf16, contentType: JSON_TYPE },
    { name: 'enc:utf16-declared', body: utf16, contentType: 'application/json; charset=utf-16' },
    { name: 'enc:nul-bytes', body: b(`{"kind":"pa\u0000ge","event":"modal_opened\u0000"}`), contentType: JSON_TYPE },
    { name: 'enc:raw-nul', body: Buffer.concat([b(validText.slice(0, 1)), Buffer.from([0, 0, 0]), b(validText.slice(1))]), contentType: JSON_TYPE },
    { name: 'enc:latin1', body: Buffer.from('{"kind":"p\u00e4ge"}', 'latin1'), contentType: 'application/json; charset=latin1' },
    { name: 'enc:charset-bogus', body: b(validText), contentType: 'application/json; charset=x-klingon' },
    { name: 'enc:gzip-garbage', body: b('this is not gzip at all'), contentType: JSON_TYPE, headers: [['Content-Encoding', 'gzip']] },
    { name: 'enc:gzip-truncated', body: gz.subarray(0, Math.max(1, gz.length - 6)), contentType: JSON_TYPE, headers: [['Content-Encoding', 'gzip']] },
    { name: 'enc:gzip-valid', body: gz, contentType: JSON_TYPE, headers: [['Content-Encoding', 'gzip']] },
    { name: 'enc:gzip-bomb', body: bomb, contentType: JSON_TYPE, headers: [['Content-Encoding', 'gzip']] },
    { name: 'enc:deflate-garbage', body: b('xx'), contentType: JSON_TYPE, headers: [['Content-Encoding', 'deflate']] },
    { name: 'enc:unknown-encoding', body: b(validText), contentType: JSON_TYPE, headers: [['Content-Encoding', 'x-rot13']] },
    // content-type lies
    { name: 'type:text-plain', body: b(validText), contentType: 'text/plain' },
    { name: 'type:form', body: b('kind=page&categories=analytics&_csrf=x'), contentType: 'application/x-www-form-urlencoded' },
    { name: 'type:form-says-json', body: b('kind=page&event=modal_opened'), contentType: JSON_TYPE },
    { name: 'type:multipart-garbage', body: b('--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x'), contentType: 'multipart/form-data; boundary=x' },
    { name: 'type:none', body: b(validText), contentType: null },
    { name: 'type:empty', body: b(validText), contentType: '' },
    { name: 'type:garbage', body: b(validText), contentType: ';;;/;=' },
    { name: 'type:vnd+json', body: b(validText), contentType: 'application/vnd.api+json' },
    { name: 'type:xml', body: b('<?xml version="1.0"?><a>1</a>'), contentType: 'application/xml' },
    { name: 'type:duplicate', body: b(validText), contentType: 'text/plain', headers: [['Content-Type', JSON_TYPE]] },
    // framing
    { name: 'frame:empty-with-type', body: b(''), contentType: JSON_TYPE },
    { name: 'frame:whitespace', body: b('   \r\n\t '), contentType: JSON_TYPE },
    { name: 'frame:chunked-valid', body: chunked([validText.slice(0, 3), validText.slice(3)]), contentType: JSON_TYPE, headers: [['Transfer-Encoding', 'chunked']] },
    { name: 'frame:chunked-bad-size', body: b(`zz\r\n${validText}\r\n0\r\n\r\n`), contentType: JSON_TYPE, headers: [['Transfer-Encoding', 'chunked']] },
    { name: 'frame:chunked-size-lies', body: b(`ff\r\n${validText}\r\n0\r\n\r\n`), contentType: JSON_TYPE, headers: [['Transfer-Encoding', 'chunked']], halfClose: true, allowNoResponse: true },
    { name: 'frame:chunked-no-terminator', body: chunked([validText], false), contentType: JSON_TYPE, headers: [['Transfer-Encoding', 'chunked']], halfClose: true, allowNoResponse: true },
    { name: 'frame:chunked-ext-junk', body: b(`${Buffer.byteLength(validText).toString(16)};${'x'.repeat(300)}\r\n${validText}\r\n0\r\n\r\n`), contentType: JSON_TYPE, headers: [['Transfer-Encoding', 'chunked']] },
    { name: 'frame:te-and-cl', body: chunked([validText]), contentType: JSON_TYPE, headers: [['Transfer-Encoding', 'chunked']], contentLength: '5' },
    { name: 'frame:te-unknown', body: b(validText), contentType: JSON_TYPE, headers: [['Transfer-Encoding', 'gzip, chunked, identity']] },
    { name: 'frame:no-content-length', body: b(validText), contentType: JSON_TYPE, contentLength: 'none' },
    { name: 'frame:cl-short', body: b(validText), contentType: JSON_TYPE, contentLength: String(Math.max(1, validText.length - 3)) },
    { name: 'frame:cl-long', body: b(validText), contentType: JSON_TYPE, contentLength: String(validText.length + 20), halfClose: true, allowNoResponse: true },
    { name: 'frame:cl-negative', body: b(validText), contentType: JSON_TYPE, contentLength: '-1' },
    { name: 'frame:cl-not-a-number', body: b(validText), contentType: JSON_TYPE, contentLength: '12abc' },
    { name: 'frame:cl-duplicate-differs', body: b(validText), contentType: JSON_TYPE, headers: [['Content-Length', String(validText.length + 1)]] },
    { name: 'frame:expect-continue', body: b(validText), contentType: JSON_TYPE, headers: [['Expect', '100-continue']] },
    { name: 'frame:expect-junk', body: b(validText), contentType: JSON_TYPE, headers: [['Expect', 'the-unexpected']] },
  ];
}

/** Header tricks any route may get. Values stay within Node's 16 KiB header limit unless named so. */
export function headerTricks(rng: Rng): { name: string; headers: HeaderList; noHost?: boolean }[] {
  return [
    { name: 'hdr:none', headers: [] },
    { name: 'hdr:xff-spoof', headers: [['X-Forwarded-For', '127.0.0.1, 10.0.0.1, <script>alert(1)</script>'], ['X-Real-IP', '::1'], ['Forwarded', 'for=evil;proto=https']] },
    { name: 'hdr:xff-huge', headers: [['X-Forwarded-For', Array.from({ length: 800 }, (_, i) => `10.0.${i % 255}.${rng.int(255)}`).join(', ')]] },
    { name: 'hdr:xff-proto-host', headers: [['X-Forwarded-Proto', 'https, http'], ['X-Forwarded-Host', 'evil.example, admin']] },
    { name: 'hdr:huge-header', headers: [['X-Padding', 'a'.repeat(12_000)]] },
    { name: 'hdr:over-node-limit', headers: [['X-Padding', 'a'.repeat(20_000)]] },
    { name: 'hdr:many-headers', headers: Array.from({ length: 90 }, (_, i): [string, string] => [`X-H-${i}`, String(i)]) },
    { name: 'hdr:accept-html', headers: [['Accept', 'text/html']] },
    { name: 'hdr:accept-json', headers: [['Accept', 'application/json']] },
    { name: 'hdr:accept-junk', headers: [['Accept', ';;;,,q=x/;'], ['Accept-Language', '*;q=-1,,,'], ['Accept-Encoding', 'gzip;q=NaN, br;q=2']] },
    { name: 'hdr:accept-many', headers: [['Accept', Array.from({ length: 400 }, (_, i) => `a${i}/b;q=0.${i % 10}`).join(',')]] },
    { name: 'hdr:cookie-junk', headers: [['Cookie', 'koa.sess=%%%garbage; koa.sess.sig=nope; kct_collector_session=v1.9999999999999.x; kct_collector_csrf=%ZZ']] },
    { name: 'hdr:cookie-forged-session', headers: [['Cookie', `koa.sess=${Buffer.from('{"telemetryCsrfToken":"' + 'A'.repeat(43) + '"}').toString('base64')}`]] },
    { name: 'hdr:cookie-huge', headers: [['Cookie', `x=${'c'.repeat(10_000)}`]] },
    { name: 'hdr:dup-cookie', headers: [['Cookie', 'a=1'], ['Cookie', 'koa.sess=bad']] },
    { name: 'hdr:dup-host', headers: [['Host', '127.0.0.1'], ['Host', 'evil.example']] },
    { name: 'hdr:host-empty', headers: [['Host', '']] },
    { name: 'hdr:host-evil', headers: [['Host', 'evil.example:99999']] },
    { name: 'hdr:no-host', headers: [], noHost: true },
    { name: 'hdr:method-override', headers: [['X-HTTP-Method-Override', 'DELETE'], ['X-Method-Override', 'PUT']] },
    { name: 'hdr:authorization-junk', headers: [['Authorization', `Bearer ${'x'.repeat(4000)}`]] },
    { name: 'hdr:authorization-basic', headers: [['Authorization', 'Basic Og==']] },
    { name: 'hdr:unicode-value', headers: [['X-Note', 'h\u00e9llo \u00ff']] },
    { name: 'hdr:user-agent-junk', headers: [['User-Agent', `${PROBES.script} ${'Mozilla/5.0 '.repeat(300)}`]] },
    { name: 'hdr:range', headers: [['Range', 'bytes=999999-1, 0-0, -5']] },
    { name: 'hdr:if-none-match', headers: [['If-None-Match', '*'], ['If-Modified-Since', 'yesterday']] },
    { name: 'hdr:upgrade', headers: [['Upgrade', 'websocket'], ['Connection', 'Upgrade']] },
    { name: 'hdr:keep-alive', headers: [['Connection', 'keep-alive, close']] },
  ];
}

/** Query strings for GET routes. */
export function queryJunk(rng: Rng): string[] {
  return [
    '',
    '?limit=-1',
    '?limit=0',
    '?limit=1e99',
    '?limit=1.5&offset=-0',
    '?limit=NaN&offset=Infinity',
    '?limit=99999999999999999999999',
    '?limit=1&limit=2',
    '?limit[]=1&offset[a]=2',
    '?__proto__[isAdmin]=true&constructor[prototype][x]=1',
    '?__proto__=1&hasOwnProperty=1&toString=x',
    '?limit=%00&offset=%ZZ',
    '?limit=%E2%80%AE1',
    '?days=0&window=-5&weeks=99999&interval=year',
    '?days=1e3&window=1.0&weeks=0x10&interval=day&interval=week',
    '?days=%20%31&window=',
    `?q=${encodeURIComponent(PROBES.script)}&x=${encodeURIComponent(PROBES.attr)}`,
    '?' + 'a'.repeat(8000),
    '?' + Array.from({ length: 1500 }, (_, i) => `k${i}=${i}`).join('&'),
    '?&&&==&=&a==b',
    `?r=${rng.string(32)}`,
    '?limit=%F0%9F%92%A9',
    '?%',
  ];
}

/** Path variants of a route: encodings, traversal, odd separators, very long segments. */
export function pathJunk(path: string): string[] {
  const base = path.replace(/\/$/, '');
  return [
    `${base}%00`,
    `${base}/%00`,
    `${base}/..%2f..%2f..%2fetc%2fpasswd`,
    `${base}/../../package.json`,
    `${base}%2f..%2fsettings`,
    `${base}/${'x'.repeat(6000)}`,
    `${base}/\u00fc\u00f1\u00ef\u00e7\u00f8d\u00e9`,
    `${base}/%F0%9F%92%A9`,
    `${base}/%E0%A4%A`,
    `${base}/%`,
    `${base};jsessionid=1`,
    `${base}/`,
    `${base}//`,
    `/${base}`,
    base.toUpperCase(),
    `${base}/__proto__`,
    `${base}/constructor`,
    `${base}.json`,
    `${base}/%2e%2e/%2e%2e/`,
    `${base}#frag`,
    `http://evil.example${base}`,
  ];
}

export const ODD_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND', 'MKCOL', 'BREW', 'get', 'G ET'] as const;
export const ODD_VERSIONS = ['HTTP/1.0', 'HTTP/1.1', 'HTTP/1.2', 'HTTP/9.9', 'HTTP/x', 'HTTPS/1.1'] as const;

/** Whatever the server said, short, for failure messages. */
export function describeResult(result: RawResult): string {
  if (!result.ok) return result.error;
  return `${result.response.status} ${result.response.headers['content-type'] ?? ''} ${result.response.body.toString('utf8').slice(0, 200)}`;
}
