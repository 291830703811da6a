// A real OTLP/HTTP JSON receiver for tests: an HTTP server on 127.0.0.1 (ephemeral port) that
// accepts `POST /v1/logs` and `POST /v1/metrics`, parses the OTLP JSON bodies into flat records
// and lets a test await them.
//
//   const rx = await startOtlpReceiver();
//   const sink = createOtlpSink({ endpoint: rx.url, ... });
//   sink.emit('timer.started', { a: 1 });
//   await sink.flush();
//   const [log] = await rx.waitForLogs(1, 5000);
//   await rx.close();
//
// Behaviour switches (all changeable later with `setStatus` / `setRetryAfter` / `setHang`):
// - `status`: HTTP status to answer (default 200); a function `(path, index) => status` gets the
//   request path and the 0-based index of the request on that path, so "500 then 200" is
//   `(path, i) => (i === 0 ? 500 : 200)`.
// - `retryAfter`: value of a `Retry-After` header sent with every non-2xx answer.
// - `hang`: accept the request, read it, and never answer (the connection stays open until the
//   client gives up or `close()` is called).
//
// Only requests answered with 2xx contribute to `logs` / `metrics` (that is what "arrived" means
// for an exporter); every request, whatever the answer, is listed in `requests`.
// Bodies may be gzip-compressed (`Content-Encoding: gzip`). Non-JSON bodies (protobuf) are
// answered with 415 and recorded in `requests` with `parseError` set.
import { createServer, type IncomingMessage, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { EventEmitter } from 'node:events';

/** Default deadline of the waitFor* methods: generous, they return as soon as the data is there. */
const WAIT_MS = 20_000;

export type StatusOption = number | ((path: string, index: number) => number);

export interface OtlpReceiverOptions {
  status?: StatusOption;
  retryAfter?: string;
  hang?: boolean;
}

/** One log record, flattened from `resourceLogs[].scopeLogs[].logRecords[]`. */
export interface ParsedLog {
  /** The record body; a non-string body is JSON-encoded. */
  body: string;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
  scope: string;
  severityText?: string;
  severityNumber?: number;
  eventName?: string;
  timeUnixNano?: string;
  traceId?: string;
  spanId?: string;
}

/** One metric data point, flattened from `resourceMetrics[].scopeMetrics[].metrics[]`. */
export interface ParsedMetricPoint {
  name: string;
  type: 'gauge' | 'sum' | 'histogram' | 'exponentialHistogram' | 'summary' | 'unknown';
  attributes: Record<string, unknown>;
  /** gauge/sum: the value (asInt decoded to a number, or asDouble); histograms/summary: count. */
  value: number;
  resource: Record<string, unknown>;
  scope: string;
  /** For sums: whether the sum is monotonic and its temporality (1 delta, 2 cumulative). */
  isMonotonic?: boolean;
  aggregationTemporality?: number;
  /** Index (0-based) of the accepted metrics request this point came from. */
  exportIndex: number;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Status answered; 0 while a hung request is still open (or was never answered). */
  status: number;
  /** Date.now() when the request body was fully received. */
  at: number;
  /** Parsed JSON body (undefined when it could not be parsed). */
  body: unknown;
  parseError?: string;
}

export interface OtlpReceiver {
  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  url: string;
  port: number;
  logs: ParsedLog[];
  metrics: ParsedMetricPoint[];
  requests: ReceivedRequest[];
  /** Resolves with all logs received so far once at least `n` arrived; rejects after timeoutMs. */
  waitForLogs(n: number, timeoutMs?: number): Promise<ParsedLog[]>;
  /**
   * Resolves with the points named `name` of the most recent accepted metrics export that
   * contains that name (and satisfies `predicate`, when given); rejects after timeoutMs.
   */
  waitForMetric(
    name: string,
    timeoutMs?: number,
    predicate?: (points: ParsedMetricPoint[]) => boolean,
  ): Promise<ParsedMetricPoint[]>;
  /** Resolves once at least `n` requests (any status) were received on `path` (or any path). */
  waitForRequests(n: number, timeoutMs?: number, path?: string): Promise<ReceivedRequest[]>;
  /** Points named `name` from the most recent accepted export containing it ([] if none). */
  latestMetric(name: string): ParsedMetricPoint[];
  setStatus(status: StatusOption): void;
  setRetryAfter(value: string | undefined): void;
  setHang(hang: boolean): void;
  /** Forget everything received so far (request indices for `status` functions restart too). */
  clear(): void;
  /** Stop listening and destroy every open connection (hung ones included). Idempotent. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------- OTLP JSON decoding

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '') return Number(v);
  return Number.NaN;
}

/** Decodes an OTLP JSON AnyValue (stringValue, intValue, doubleValue, boolValue, arrays, kvlists, bytes). */
export function decodeAnyValue(v: unknown): unknown {
  if (!isObj(v)) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  // int64 is a string in proto3 JSON; some encoders emit a number.
  if ('intValue' in v) return num(v.intValue);
  if ('doubleValue' in v) return num(v.doubleValue);
  if ('bytesValue' in v) return v.bytesValue;
  if ('arrayValue' in v) return arr(isObj(v.arrayValue) ? v.arrayValue.values : undefined).map(decodeAnyValue);
  if ('kvlistValue' in v) return decodeAttributes(isObj(v.kvlistValue) ? v.kvlistValue.values : undefined);
  return undefined;
}

/** Decodes an OTLP `KeyValue[]` into a plain object. */
export function decodeAttributes(list: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of arr(list)) {
    if (isObj(kv) && typeof kv.key === 'string') out[kv.key] = decodeAnyValue(kv.value);
  }
  return out;
}

function scopeName(scope: unknown): string {
  return isObj(scope) && typeof scope.name === 'string' ? scope.name : '';
}

/** Flattens an ExportLogsServiceRequest (JSON) into records. */
export function parseOtlpLogs(body: unknown): ParsedLog[] {
  const out: ParsedLog[] = [];
  if (!isObj(body)) return out;
  for (const rl of arr(body.resourceLogs)) {
    if (!isObj(rl)) continue;
    const resource = decodeAttributes(isObj(rl.resource) ? rl.resource.attributes : undefined);
    for (const sl of arr(rl.scopeLogs)) {
      if (!isObj(sl)) continue;
      const scope = scopeName(sl.scope);
      for (const lr of arr(sl.logRecords)) {
        if (!isObj(lr)) continue;
        const decodedBody = decodeAnyValue(lr.body);
        const rec: ParsedLog = {
          body: typeof decodedBody === 'string' ? decodedBody : JSON.stringify(decodedBody ?? null),
          attributes: decodeAttributes(lr.attributes),
          resource,
          scope,
        };
        if (typeof lr.severityText === 'string') rec.severityText = lr.severityText;
        if (lr.severityNumber !== undefined) rec.severityNumber = num(lr.severityNumber);
        if (typeof lr.eventName === 'string' && lr.eventName !== '') rec.eventName = lr.eventName;
        if (lr.timeUnixNano !== undefined) rec.timeUnixNano = String(lr.timeUnixNano);
        if (typeof lr.traceId === 'string' && lr.traceId !== '') rec.traceId = lr.traceId;
        if (typeof lr.spanId === 'string' && lr.spanId !== '') rec.spanId = lr.spanId;
        out.push(rec);
      }
    }
  }
  return out;
}

const METRIC_KINDS = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'] as const;

/** Flattens an ExportMetricsServiceRequest (JSON) into data points. */
export function parseOtlpMetrics(body: unknown, exportIndex = 0): ParsedMetricPoint[] {
  const out: ParsedMetricPoint[] = [];
  if (!isObj(body)) return out;
  for (const rm of arr(body.resourceMetrics)) {
    if (!isObj(rm)) continue;
    const resource = decodeAttributes(isObj(rm.resource) ? rm.resource.attributes : undefined);
    for (const sm of arr(rm.scopeMetrics)) {
      if (!isObj(sm)) continue;
      const scope = scopeName(sm.scope);
      for (const m of arr(sm.metrics)) {
        if (!isObj(m) || typeof m.name !== 'string') continue;
        const kind = METRIC_KINDS.find((k) => isObj(m[k]));
        const data = kind ? (m[kind] as Json) : undefined;
        for (const dp of arr(data?.dataPoints)) {
          if (!isObj(dp)) continue;
          let value: number;
          if (kind === 'gauge' || kind === 'sum') {
            value = dp.asInt !== undefined ? num(dp.asInt) : num(dp.asDouble);
          } else {
            value = num(dp.count);
          }
          const point: ParsedMetricPoint = {
            name: m.name,
            type: kind ?? 'unknown',
            attributes: decodeAttributes(dp.attributes),
            value,
            resource,
            scope,
            exportIndex,
          };
          if (kind === 'sum' && data) {
            point.isMonotonic = data.isMonotonic === true;
            if (data.aggregationTemporality !== undefined) point.aggregationTemporality = num(data.aggregationTemporality);
          }
          out.push(point);
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- server

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startOtlpReceiver(opts: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  let status: StatusOption = opts.status ?? 200;
  let retryAfter = opts.retryAfter;
  let hang = opts.hang ?? false;
  const perPathCount = new Map<string, number>();
  const events = new EventEmitter();
  events.setMaxListeners(0);
  let metricExports = 0;
  let closed = false;

  const rx = {
    logs: [] as ParsedLog[],
    metrics: [] as ParsedMetricPoint[],
    requests: [] as ReceivedRequest[],
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    let raw: Buffer;
    try {
      raw = await readBody(req);
    } catch {
      return; // client went away
    }
    const record: ReceivedRequest = {
      method: req.method ?? '',
      path,
      headers: req.headers,
      status: 0,
      at: Date.now(),
      body: undefined,
    };
    rx.requests.push(record);

    const index = perPathCount.get(path) ?? 0;
    perPathCount.set(path, index + 1);

    try {
      const decoded = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      record.body = JSON.parse(decoded.toString('utf8')) as unknown;
    } catch (err) {
      record.parseError = err instanceof Error ? err.message : String(err);
    }

    if (hang) {
      events.emit('change');
      return; // never answer; close() destroys the connection
    }

    let code = typeof status === 'function' ? status(path, index) : status;
    if (record.parseError !== undefined && code >= 200 && code < 300) code = 415;
    record.status = code;
    const ok = code >= 200 && code < 300;
    if (ok && req.method === 'POST') {
      if (path.endsWith('/v1/logs')) {
        rx.logs.push(...parseOtlpLogs(record.body));
      } else if (path.endsWith('/v1/metrics')) {
        rx.metrics.push(...parseOtlpMetrics(record.body, metricExports++));
      }
    }
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (!ok && retryAfter !== undefined) headers['retry-after'] = retryAfter;
    res.writeHead(code, headers);
    // An empty JSON object is a valid Export*ServiceResponse (full success).
    res.end(ok ? '{}' : JSON.stringify({ error: `status ${code}` }));
    events.emit('change');
  };

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  // Keep-alive connections must not keep a test waiting in close().
  server.keepAliveTimeout = 1000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  const waitFor = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const first = check();
      if (first !== undefined) {
        resolve(first);
        return;
      }
      const onChange = (): void => {
        const v = check();
        if (v !== undefined) {
          cleanup();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `otlp-receiver: timed out after ${timeoutMs} ms waiting for ${what} ` +
              `(requests: ${rx.requests.map((r) => `${r.path}→${r.status}`).join(', ') || 'none'})`,
          ),
        );
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        events.off('change', onChange);
      };
      events.on('change', onChange);
    });

  const latestMetric = (name: string): ParsedMetricPoint[] => {
    let latest = -1;
    for (const p of rx.metrics) if (p.name === name && p.exportIndex > latest) latest = p.exportIndex;
    return latest < 0 ? [] : rx.metrics.filter((p) => p.name === name && p.exportIndex === latest);
  };

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    logs: rx.logs,
    metrics: rx.metrics,
    requests: rx.requests,
    waitForLogs(n, timeoutMs = WAIT_MS) {
      return waitFor(() => (rx.logs.length >= n ? rx.logs.slice() : undefined), timeoutMs, `${n} log record(s)`);
    },
    waitForMetric(name, timeoutMs = WAIT_MS, predicate) {
      return waitFor(
        () => {
          // Newest export first, so a predicate can wait for an updated cumulative value.
          const indices = [...new Set(rx.metrics.filter((p) => p.name === name).map((p) => p.exportIndex))].sort(
            (a, b) => b - a,
          );
          for (const i of indices) {
            const points = rx.metrics.filter((p) => p.name === name && p.exportIndex === i);
            if (!predicate || predicate(points)) return points;
          }
          return undefined;
        },
        timeoutMs,
        `metric ${name}`,
      );
    },
    waitForRequests(n, timeoutMs = WAIT_MS, path) {
      return waitFor(
        () => {
          const list = path === undefined ? rx.requests : rx.requests.filter((r) => r.path === path);
          return list.length >= n ? list.slice() : undefined;
        },
        timeoutMs,
        `${n} request(s)${path ? ` on ${path}` : ''}`,
      );
    },
    latestMetric,
    setStatus(s) {
      status = s;
    },
    setRetryAfter(v) {
      retryAfter = v;
    },
    setHang(h) {
      hang = h;
    },
    clear() {
      rx.logs.length = 0;
      rx.metrics.length = 0;
      rx.requests.length = 0;
      perPathCount.clear();
      metricExports = 0;
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
