// The OTLP sink: the single place this package talks OpenTelemetry.
//
// - A PRIVATE MeterProvider (one PeriodicExportingMetricReader + OTLPMetricExporter) and a
//   PRIVATE LoggerProvider (a BoundedLogProcessor + OTLPLogExporter), both with a resource built
//   by `resourceFromAttributes`. Nothing global is read or written: no
//   `metrics.setGlobalMeterProvider`, `logs.setGlobalLoggerProvider`, `diag.setLogger` or
//   `setGlobalErrorHandler`, so a host's own OpenTelemetry setup is untouched.
// - Metrics are observable instruments reading `config.observe()` at collection time: the request
//   path never touches the OTel API, callers just bump counts in their own Maps.
// - Export is background work that degrades instead of failing: bounded drop-oldest queue,
//   retry with back-off (see bounded-log-processor.ts), per-attempt deadline, nothing thrown into
//   the caller, no unhandled rejections, every timer of ours unref'd (the SDK's metric interval
//   is unref'd by the SDK itself; verified by test/plugin/otlp-sink.test.ts in a child process).
// - `shutdown(capMs)` always resolves within `capMs`: the final flush gets most of the budget,
//   then every socket the exporters opened is destroyed (with a non-retryable error, so the
//   SDK's transport does not schedule a retry) and the providers are shut down.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ValueType, context } from '@opentelemetry/api';
import type { ObservableCounter, ObservableGauge, BatchObservableResult, Attributes } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { Logger as OtelLogger } from '@opentelemetry/api-logs';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import type { LogRecordExporter, LogRecordProcessor, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import {
  AggregationTemporality,
  AggregationType,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import type { AggregationOption, InstrumentType, PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import type { Logger, SinkStats } from '../types.js';
import type { ResolvedOptions } from '../options.js';
import { withDeadline } from '../../core/resilience/index.js';
import { networkCauseOf } from '../../core/network-errors.js';
import {
  BoundedLogProcessor,
  EXPORT_CONTEXT,
  EXPORT_FAILED,
  EXPORT_SUCCESS,
  exportWithin,
  httpStatusOf,
  toError,
  type BatchOutcome,
  type ExportResult,
  type StartTimer,
} from './bounded-log-processor.js';
import { DebugLogExporter, DebugMetricExporter } from './debug-exporters.js';
import { stderrDebugOutput, type DebugOutput } from './debug-output.js';

/**
 * The sink's settings: the resolved options (src/plugin/options.ts validates and defaults them
 * once; nothing is re-defaulted or re-clamped here).
 */
export interface OtlpSinkConfig {
  /** Base URL; logs go to `${endpoint}/v1/logs`, metrics to `${endpoint}/v1/metrics`. */
  endpoint: ResolvedOptions['otlp']['endpoint'];
  /** Extra request headers, e.g. Authorization. */
  headers: ResolvedOptions['otlp']['headers'];
  /** Deadline of one export attempt, retries by the transport included. */
  timeoutMs: ResolvedOptions['otlp']['timeoutMs'];
  /** Print payloads to the debug output and send nothing (works with endpoint null). */
  debug: boolean;
  /** Where debug mode prints each would-be payload (default: stderr). */
  debugOutput?: DebugOutput;
  /** -> service.name, service.version, service.instance.id */
  resource: { serviceName: string; serviceVersion: string; instanceId: string };
  /**
   * queueCap: max queued log records (when full the OLDEST is dropped and counted in `dropped`);
   * batchSize: max records per export request; intervalMs: background export interval for logs
   * (also the base of the failure back-off); metricIntervalMs: metric export interval.
   */
  export: Pick<ResolvedOptions['export'], 'queueCap' | 'batchSize' | 'intervalMs' | 'metricIntervalMs'>;
  logger: Logger;
  /** Read at each metric collection. */
  observe: () => SinkObservation;
  /**
   * Told about every export attempt that went to the network (never in debug mode), for the
   * outbound ledger. Called synchronously after the attempt; must not throw (errors are swallowed).
   */
  onExport?: (report: OtlpExportReport) => void;
  /** Internal (tests): the log processor's timer for background exports and back-off. */
  startTimer?: StartTimer;
}

/** One OTLP export attempt as it left the process: where to, what (counts only), how big, the answer. */
export interface OtlpExportReport {
  signal: 'logs' | 'metrics';
  /** Scheme, host, port and path of the request: never userinfo, query or header values. */
  endpoint: string;
  /** Log records, or metric data points. */
  records: number;
  /** Log records per event name (the record body), or data points per metric name. */
  counts: Record<string, number>;
  /** Bytes written to the network for it, headers included, across the transport's attempts. */
  bytes: number;
  /** HTTP requests made for it (the transport retries network errors and 429/5xx itself). */
  attempts: number;
  ok: boolean;
  /** HTTP status of the last answer; null when none came (refused, timed out). */
  status: number | null;
  /** Why it failed (credential-free); null on success. */
  error: string | null;
  /** Logs: 'requeued' (kept for the next attempt) or 'dropped' (non-retryable answer). Metrics: the next export carries the totals. */
  disposition: 'sent' | 'requeued' | 'dropped';
}

export interface SinkObservation {
  /** Gauge `app.install.active` = 1 with these attributes (null: no point). */
  activeInstall: Record<string, string> | null;
  /** Cumulative counts for counter `app.events`, attribute `event.name`. */
  events: ReadonlyMap<string, number>;
  /** Cumulative counts for counter `app.pageviews`. */
  pageviews: ReadonlyMap<string, { attributes: Record<string, string>; count: number }>;
}

export type EventAttributes = Readonly<Record<string, string | number | boolean>>;

export interface TelemetrySink {
  /**
   * Enqueue one log record (body = eventName; attributes: the parts merged in order, later keys
   * winning, as `{ ...a, ...b }` would). O(1), sync, never throws. The parts are kept by reference and
   * the SDK log record is built at export time, so a caller must not change them afterwards.
   */
  emit(eventName: string, ...attributes: EventAttributes[]): void;
  /** Export everything queued now (logs, and collect+export metrics); true only if all of it was accepted. Never rejects. */
  flush(): Promise<boolean>;
  /** Best-effort final flush, then shut down; resolves within capMs even if the receiver hangs. Never rejects. */
  shutdown(capMs: number): Promise<void>;
  stats(): SinkStats;
  /**
   * Removes queued (not yet exported) log records whose event name matches `predicate`, e.g.
   * detailed events once analytics consent is revoked; returns how many were removed. Not
   * counted in `dropped`. Sync, never throws.
   */
  discard(predicate: (eventName: string) => boolean): number;
}

export const METRIC_INSTALL_ACTIVE = 'app.install.active';
export const METRIC_EVENTS = 'app.events';
export const METRIC_PAGEVIEWS = 'app.pageviews';
const SCOPE_NAME = 'koa-consent-telemetry';
const LAST_ERROR_MAX = 200;

// ------------------------------------------------------------------ helpers

interface ParsedEndpoint {
  logsUrl: string;
  metricsUrl: string;
  /** Base URL without userinfo, query or trailing slash (for stats and messages). */
  display: string;
  /** Credentials embedded in the URL (to scrub from messages). */
  secrets: string[];
}

/** Parses the configured base URL; null when it is not an http(s) URL. */
export function parseEndpoint(raw: string): ParsedEndpoint | null {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  let decodedPassword = u.password;
  try {
    decodedPassword = decodeURIComponent(u.password);
  } catch {
    // keep the encoded form
  }
  const secrets = [u.username, u.password, decodedPassword].filter((s) => s.length >= 3);
  const basePath = u.pathname.replace(/\/+$/, '');
  const signalUrl = (suffix: string): string => {
    const s = new URL(u.href);
    s.pathname = `${basePath}/${suffix}`;
    return s.href;
  };
  return {
    logsUrl: signalUrl('v1/logs'),
    metricsUrl: signalUrl('v1/metrics'),
    display: `${u.protocol}//${u.host}${basePath}`,
    secrets,
  };
}

/**
 * The OTLP exporters read OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout, compression,
 * certificates, temporality) at construction and MERGE env headers into ours: a host's own
 * collector credentials would be sent to our endpoint. We pass every setting explicitly and hide
 * those variables for the (synchronous) construction, restoring them immediately.
 */
function withoutOtlpEnv<T>(fn: () => T): T {
  const saved: [string, string][] = [];
  for (const key of Object.keys(process.env)) {
    if (key.startsWith('OTEL_EXPORTER_OTLP_')) {
      const v = process.env[key];
      if (v !== undefined) saved.push([key, v]);
      delete process.env[key];
    }
  }
  try {
    return fn();
  } finally {
    for (const [k, v] of saved) process.env[k] = v;
  }
}

const CLOSED_CODE = 'ESINKCLOSED';
function closedError(): Error {
  // Not one of the transport's retryable network codes: a request failing with it is final.
  return Object.assign(new Error('telemetry sink is shut down'), { code: CLOSED_CODE });
}

/**
 * Requests and bytes that went out through one signal's agents since the last `take()`. One export
 * per signal is in flight at a time, so what it counts between two takes belongs to one export.
 */
class TransferMeter {
  #requests = 0;
  #bytes = 0;
  #status: number | null = null;

  watch(req: http.ClientRequest): void {
    this.#requests++;
    try {
      req.once('socket', (socket: net.Socket) => {
        // A kept-alive socket has served earlier requests: count from here. bytesWritten also
        // counts data still buffered, so a socket that never connected (refused) sent nothing.
        const start = socket.bytesWritten ?? 0;
        let connected = !socket.connecting;
        if (!connected) socket.once('connect', () => (connected = true));
        let counted = false;
        const count = (): void => {
          if (counted) return;
          counted = true;
          if (connected) this.#bytes += Math.max(0, (socket.bytesWritten ?? 0) - start);
        };
        req.once('response', (res: http.IncomingMessage) => {
          this.#status = res.statusCode ?? null;
          count();
        });
        req.once('close', count);
      });
    } catch {
      // metering is best effort
    }
  }

  take(): { requests: number; bytes: number; status: number | null } {
    const taken = { requests: this.#requests, bytes: this.#bytes, status: this.#status };
    this.#requests = 0;
    this.#bytes = 0;
    this.#status = null;
    return taken;
  }
}

/** Lets `meter` see every request the agent carries (addRequest is how http.request hands one to its agent). */
function metered<A extends http.Agent>(agent: A, meter: TransferMeter): A {
  const target = agent as unknown as { addRequest?: (req: http.ClientRequest, ...rest: unknown[]) => unknown };
  const original = target.addRequest;
  if (typeof original !== 'function') return agent;
  target.addRequest = function (this: unknown, req: http.ClientRequest, ...rest: unknown[]) {
    meter.watch(req);
    return original.call(this, req, ...rest);
  };
  return agent;
}

type Signal = 'logs' | 'metrics';

/**
 * The exporters' HTTP agents, one pair per signal (so each signal's traffic can be metered for
 * the outbound ledger). On shutdown every socket they hold (in use or idle) is destroyed with an
 * error the OTLP transport does not retry, so a hanging receiver cannot hold stop() or the
 * process. Plain agents (no createConnection override) keep request interception by test tools
 * such as nock working.
 */
class ConnectionTracker {
  closed = false;
  readonly meters: Record<Signal, TransferMeter> = { logs: new TransferMeter(), metrics: new TransferMeter() };
  readonly agents: Record<Signal, { http: http.Agent; https: https.Agent }> = {
    logs: {
      http: this.#refusingWhenClosed(metered(new http.Agent({ keepAlive: true }), this.meters.logs)),
      https: this.#refusingWhenClosed(metered(new https.Agent({ keepAlive: true }), this.meters.logs)),
    },
    metrics: {
      http: this.#refusingWhenClosed(metered(new http.Agent({ keepAlive: true }), this.meters.metrics)),
      https: this.#refusingWhenClosed(metered(new https.Agent({ keepAlive: true }), this.meters.metrics)),
    },
  };

  /**
   * After closeAll(), a request the SDK's transport still starts — a retry it had scheduled
   * before shutdown, against a receiver that refused or reset — fails at once with the
   * non-retryable error. Otherwise the transport reconnects and schedules the next (ref'd)
   * back-off timer until the export deadline, sending after stop() and holding the host's
   * process open for that long.
   */
  #refusingWhenClosed<A extends http.Agent>(agent: A): A {
    const target = agent as unknown as { addRequest: (req: http.ClientRequest, ...rest: unknown[]) => unknown };
    const original = target.addRequest;
    target.addRequest = (req: http.ClientRequest, ...rest: unknown[]) => {
      if (this.closed) {
        // How http.Agent itself fails a request it could not get a socket for: 'error', then 'close'.
        (req as unknown as { onSocket(socket: net.Socket | null, err: Error): void }).onSocket(null, closedError());
        return undefined;
      }
      return original.call(agent, req, ...rest);
    };
    return agent;
  }

  closeAll(): void {
    this.closed = true;
    for (const pair of Object.values(this.agents)) {
      for (const agent of [pair.http, pair.https]) {
        for (const pool of [agent.sockets, agent.freeSockets]) {
          for (const sockets of Object.values(pool)) for (const socket of sockets ?? []) socket.destroy(closedError());
        }
      }
    }
  }
}

/**
 * A short, credential-free description of an export error for the sink's `lastError` and the
 * outbound ledger: "HTTP <status> …" or "<code>: …", with the endpoint's and headers' secrets
 * scrubbed (core's describeError knows neither).
 */
function describeExportError(error: unknown, scrub: (s: string) => string): string {
  let msg: string;
  const status = httpStatusOf(error);
  if (status !== undefined) {
    const text = error instanceof Error && error.message && error.message !== 'undefined' ? ` ${error.message}` : '';
    msg = `HTTP ${status}${text}`;
  } else if (networkCauseOf(error)) {
    msg = networkCauseOf(error)!;
  } else if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    msg = error.message || (typeof code === 'string' ? code : error.name);
    if (typeof code === 'string' && !msg.includes(code)) msg = `${code}: ${msg}`;
  } else if (error === undefined || error === null) {
    msg = 'export failed';
  } else {
    msg = String(error);
  }
  msg = scrub(msg).replace(/\s+/g, ' ').trim();
  return msg.length > LAST_ERROR_MAX ? `${msg.slice(0, LAST_ERROR_MAX - 1)}…` : msg;
}

/** Failure kind for the "log once" policy: status or error code, not the full message. */
function failureKind(error: unknown): string {
  const status = httpStatusOf(error);
  if (status !== undefined) return `http:${status}`;
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    if (typeof code === 'string') return `code:${code}`;
    return `msg:${error.message.slice(0, 40)}`;
  }
  return 'unknown';
}

/** Waits for `p` at most `ms`; never rejects. */
function settleWithin(p: Promise<unknown>, ms: number): Promise<unknown> {
  return withDeadline(
    p.catch(() => undefined),
    ms,
    { onTimeout: undefined },
  );
}

/**
 * Wraps the real metric exporter: records the outcome in the sink's stats and always reports
 * SUCCESS to the PeriodicExportingMetricReader (cumulative metrics lose nothing when an export
 * fails, the next one carries the totals), so the reader never routes our failures to the
 * host's global error handler / diag logger. After shutdown it sends nothing.
 */
class GuardedMetricExporter implements PushMetricExporter {
  constructor(
    private readonly inner: PushMetricExporter,
    private readonly deadlineMs: number,
    private readonly isClosed: () => boolean,
    private readonly onResult: (ok: boolean, error: unknown, metrics: ResourceMetrics) => void,
  ) {}

  private periodicInFlight = false;
  /** Sends run one after another, so each one's network traffic can be told apart. */
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * Called by the PeriodicExportingMetricReader. Answers at once (so the reader's own export
   * timeout never fires and reports to the host's diag logger) and sends in the background, one
   * periodic export at a time: while one is in flight the next collection is skipped, which loses
   * nothing because the counters are cumulative.
   */
  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    if (!this.periodicInFlight && !this.isClosed()) {
      this.periodicInFlight = true;
      void this.send(metrics).then(() => {
        this.periodicInFlight = false;
      });
    }
    resultCallback({ code: EXPORT_SUCCESS });
  }

  /** Exports (after any send still under way) and resolves with the real verdict; never rejects. */
  send(metrics: ResourceMetrics): Promise<boolean> {
    const run = this.queue.then(() => this.sendNow(metrics));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private sendNow(metrics: ResourceMetrics): Promise<boolean> {
    if (this.isClosed()) return Promise.resolve(false);
    if (countPoints(metrics) === 0) return Promise.resolve(true);
    const exported = new Promise<ExportResult>((resolve) => {
      try {
        context.with(EXPORT_CONTEXT, () => this.inner.export(metrics, resolve));
      } catch (error) {
        resolve({ code: EXPORT_FAILED, error: toError(error) });
      }
    });
    return exportWithin(exported, this.deadlineMs).then((r) => {
      const ok = r.code === EXPORT_SUCCESS;
      try {
        this.onResult(ok, r.error, metrics);
      } catch {
        // ignore
      }
      return ok;
    });
  }

  selectAggregationTemporality(t: InstrumentType): AggregationTemporality {
    return this.inner.selectAggregationTemporality?.(t) ?? AggregationTemporality.CUMULATIVE;
  }

  selectAggregation(t: InstrumentType): AggregationOption {
    return this.inner.selectAggregation?.(t) ?? { type: AggregationType.DEFAULT };
  }

  async forceFlush(): Promise<void> {
    try {
      await this.inner.forceFlush();
    } catch {
      // ignore
    }
  }

  async shutdown(): Promise<void> {
    try {
      await this.inner.shutdown();
    } catch {
      // ignore
    }
  }
}

function countPoints(rm: ResourceMetrics): number {
  let n = 0;
  for (const sm of rm.scopeMetrics) for (const m of sm.metrics) n += m.dataPoints.length;
  return n;
}

/** Data points per metric name. */
function pointsByMetric(rm: ResourceMetrics): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const sm of rm.scopeMetrics) {
    for (const m of sm.metrics) if (m.dataPoints.length > 0) counts[m.descriptor.name] = (counts[m.descriptor.name] ?? 0) + m.dataPoints.length;
  }
  return counts;
}

/**
 * One event waiting for export, as emit() got it: the SDK log record is built from it at export
 * time, in the batch (buildLogRecords), so queuing an event costs one small object.
 */
interface QueuedEvent {
  eventName: string;
  /** Epoch ms of emit(): the record's time and observed time. */
  at: number;
  attributes: readonly EventAttributes[];
}

/** Log records per event name (the record body, as the receiver sees it). */
function recordsByEvent(records: readonly QueuedEvent[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of records) counts[r.eventName] = (counts[r.eventName] ?? 0) + 1;
  return counts;
}

const mergeAttributes = (parts: readonly EventAttributes[]): EventAttributes => (parts.length === 1 ? parts[0]! : Object.assign({}, ...parts));

// ------------------------------------------------------------------ no-op sink

function noopSink(cfg: { queueCap: number; endpoint: string | null; configured: boolean; lastError: string | null }): TelemetrySink {
  let shutDown = false;
  return {
    emit() {},
    discard: () => 0,
    flush: () => Promise.resolve(!cfg.configured || shutDown ? true : cfg.lastError === null),
    shutdown: () => {
      shutDown = true;
      return Promise.resolve();
    },
    stats: () => ({
      configured: cfg.configured,
      endpoint: cfg.endpoint,
      debug: false,
      queueDepth: 0,
      queueCap: cfg.queueCap,
      dropped: 0,
      exported: 0,
      failedExports: 0,
      lastError: cfg.lastError,
      lastExportAt: null,
    }),
  };
}

// ------------------------------------------------------------------ the sink

export function createOtlpSink(config: OtlpSinkConfig): TelemetrySink {
  const logger = config.logger;
  const { queueCap } = config.export;
  const safeLog = (level: 'info' | 'warn', obj: unknown, msg: string): void => {
    try {
      logger[level](obj, msg);
    } catch {
      // a broken logger must not break the host
    }
  };

  const debug = config.debug === true;
  const endpointRaw = typeof config.endpoint === 'string' && config.endpoint.trim() !== '' ? config.endpoint : null;
  if (endpointRaw === null && !debug) {
    return noopSink({ queueCap, endpoint: null, configured: false, lastError: null });
  }
  const parsed = endpointRaw === null ? null : parseEndpoint(endpointRaw);
  if (endpointRaw !== null && parsed === null && !debug) {
    safeLog('warn', {}, 'telemetry: the OTLP endpoint is not a valid http(s) URL; nothing will be exported');
    return noopSink({ queueCap, endpoint: null, configured: true, lastError: 'invalid OTLP endpoint URL' });
  }

  try {
    return buildSink(config, { debug, parsed, queueCap, safeLog });
  } catch (error) {
    // Construction must never throw into the host: degrade to a sink that exports nothing.
    const message = error instanceof Error ? error.message : String(error);
    const scrubbed = parsed ? parsed.secrets.reduce((m, s) => m.split(s).join('[redacted]'), message) : message;
    safeLog('warn', { error: scrubbed.slice(0, LAST_ERROR_MAX) }, 'telemetry: could not set up the OTLP export; nothing will be exported');
    return noopSink({
      queueCap,
      endpoint: parsed?.display ?? null,
      configured: true,
      lastError: `setup failed: ${scrubbed}`.slice(0, LAST_ERROR_MAX),
    });
  }
}

interface BuildCtx {
  debug: boolean;
  parsed: ParsedEndpoint | null;
  queueCap: number;
  safeLog: (level: 'info' | 'warn', obj: unknown, msg: string) => void;
}

function buildSink(config: OtlpSinkConfig, ctx: BuildCtx): TelemetrySink {
  const { debug, parsed, queueCap, safeLog } = ctx;
  const { timeoutMs } = config;
  const { batchSize, intervalMs: flushIntervalMs, metricIntervalMs } = config.export;
  // Our own safety deadline around one export call; the transport enforces timeoutMs itself.
  const exportDeadlineMs = timeoutMs + 2000;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(config.headers)) if (typeof v === 'string') headers[k] = v;

  const secrets = [...(parsed?.secrets ?? []), ...Object.values(headers).filter((v) => v.length >= 4)];
  // Also each whitespace-separated part ("Basic abc…" → "abc…").
  for (const v of Object.values(headers)) {
    for (const part of v.split(/\s+/)) if (part.length >= 6 && !/^(basic|bearer|token)$/i.test(part)) secrets.push(part);
  }
  secrets.sort((a, b) => b.length - a.length);
  const scrub = (s: string): string => secrets.reduce((m, secret) => m.split(secret).join('[redacted]'), s);

  // ---- state
  let closed = false;
  let lastError: string | null = null;
  let lastExportAt: string | null = null;
  let metricFailures = 0;
  // Failure kinds already logged since the signal's last success ("log once", no storms).
  const reported = { logs: new Set<string>(), metrics: new Set<string>() };

  const recordFailure = (signal: 'logs' | 'metrics', error: unknown, extra: Record<string, unknown> = {}): void => {
    const short = describeExportError(error, scrub);
    lastError = `${signal}: ${short}`;
    if (closed) return; // failures caused by our own shutdown are not worth a warning
    const kind = failureKind(error);
    if (reported[signal].has(kind)) return;
    reported[signal].add(kind);
    safeLog(
      'warn',
      { signal, error: short, endpoint: parsed?.display ?? null, ...extra },
      `telemetry: OTLP ${signal} export failed (${short}); will retry in the background`,
    );
  };
  const recordSuccess = (signal: 'logs' | 'metrics'): void => {
    lastExportAt = new Date().toISOString();
    if (reported[signal].size > 0) {
      reported[signal].clear();
      safeLog('info', { signal, endpoint: parsed?.display ?? null }, `telemetry: OTLP ${signal} export recovered`);
    }
  };

  const report = (r: OtlpExportReport): void => {
    if (debug || !config.onExport) return;
    try {
      config.onExport(r);
    } catch {
      // the ledger must never break the export
    }
  };
  const endpointOf = (signal: Signal): string => (parsed ? `${parsed.display}/v1/${signal}` : '');
  const reportAttempt = (
    signal: Signal,
    records: number,
    counts: Record<string, number>,
    ok: boolean,
    error: unknown,
    disposition: OtlpExportReport['disposition'],
  ): void => {
    if (debug || !config.onExport) return;
    const traffic = tracker.meters[signal].take();
    report({
      signal,
      endpoint: endpointOf(signal),
      records,
      counts,
      bytes: traffic.bytes,
      attempts: Math.max(1, traffic.requests),
      ok,
      status: traffic.status ?? httpStatusOf(error) ?? null,
      error: ok ? null : describeExportError(error, scrub),
      disposition,
    });
  };

  const onLogOutcome = (o: BatchOutcome<QueuedEvent>): void => {
    if (o.count > 0) reportAttempt('logs', o.count, recordsByEvent(o.records ?? []), o.ok, o.error, o.disposition);
    if (o.ok) {
      if (o.count > 0) recordSuccess('logs');
      return;
    }
    if (o.disposition === 'dropped') {
      recordFailure('logs', o.error, { droppedRecords: o.count, reason: 'non-retryable answer; batch dropped' });
    } else {
      recordFailure('logs', o.error);
    }
  };

  // ---- transport (real mode only)
  const tracker = new ConnectionTracker();
  const resource = resourceFromAttributes({
    'service.name': config.resource.serviceName,
    'service.version': config.resource.serviceVersion,
    'service.instance.id': config.resource.instanceId,
  });

  let logExporter: LogRecordExporter;
  let metricInner: PushMetricExporter;
  if (debug) {
    logExporter = new DebugLogExporter(config.debugOutput ?? stderrDebugOutput);
    metricInner = new DebugMetricExporter(config.debugOutput ?? stderrDebugOutput);
  } else {
    if (!parsed) throw new Error('no endpoint');
    const common = { headers, timeoutMillis: timeoutMs };
    const agentsOf = (signal: Signal) => (protocol: string) => (protocol === 'https:' ? tracker.agents[signal].https : tracker.agents[signal].http);
    ({ logExporter, metricInner } = withoutOtlpEnv(() => ({
      logExporter: new OTLPLogExporter({ ...common, httpAgentOptions: agentsOf('logs'), url: parsed.logsUrl }),
      metricInner: new OTLPMetricExporter({
        ...common,
        httpAgentOptions: agentsOf('metrics'),
        url: parsed.metricsUrl,
        temporalityPreference: AggregationTemporality.CUMULATIVE,
      }),
    })));
  }

  // The SDK builds each log record through a Logger into its processors: this one only hands the
  // records of the batch being built back to buildLogRecords (export time), and on shutdown shuts
  // the queue (and the exporter) down.
  let building: ReadableLogRecord[] | null = null;
  const buildLogRecords = (batch: readonly QueuedEvent[]): ReadableLogRecord[] => {
    const records: ReadableLogRecord[] = [];
    building = records;
    try {
      for (const event of batch) {
        otelLogger.emit({
          body: event.eventName,
          eventName: event.eventName,
          attributes: mergeAttributes(event.attributes),
          severityNumber: SeverityNumber.INFO,
          severityText: 'INFO',
          timestamp: event.at,
          observedTimestamp: event.at,
          // ROOT: no host span/trace context is attached to our records.
          context: EXPORT_CONTEXT,
        });
      }
    } finally {
      building = null;
    }
    return records;
  };
  const processor = new BoundedLogProcessor<QueuedEvent>({
    exporter: logExporter,
    toRecords: buildLogRecords,
    queueCap,
    batchSize,
    flushIntervalMs,
    exportDeadlineMs,
    onOutcome: onLogOutcome,
    ...(config.startTimer ? { startTimer: config.startTimer } : {}),
  });
  const recordBuilder: LogRecordProcessor = {
    onEmit: (record) => void building?.push(record),
    forceFlush: () => Promise.resolve(),
    shutdown: () => processor.shutdown(),
  };

  const metricExporter = new GuardedMetricExporter(metricInner, exportDeadlineMs, () => closed, (ok, error, metrics) => {
    reportAttempt('metrics', countPoints(metrics), pointsByMetric(metrics), ok, error, ok ? 'sent' : 'requeued');
    if (ok) {
      recordSuccess('metrics');
    } else {
      metricFailures++;
      recordFailure('metrics', error);
    }
  });
  const reader = new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: metricIntervalMs,
    exportTimeoutMillis: Math.min(exportDeadlineMs + 1000, metricIntervalMs),
  });

  const meterProvider = new MeterProvider({ resource, readers: [reader] });
  const loggerProvider = new LoggerProvider({ resource, processors: [recordBuilder] });
  const otelLogger: OtelLogger = loggerProvider.getLogger(SCOPE_NAME);

  // ---- metrics: observable instruments reading config.observe() at collection time
  const meter = meterProvider.getMeter(SCOPE_NAME);
  const installGauge: ObservableGauge = meter.createObservableGauge(METRIC_INSTALL_ACTIVE, {
    description: 'Active installation (1 per install)',
    valueType: ValueType.INT,
  });
  const eventsCounter: ObservableCounter = meter.createObservableCounter(METRIC_EVENTS, {
    description: 'Product events, by event name (cumulative)',
    valueType: ValueType.INT,
  });
  const pageviewsCounter: ObservableCounter = meter.createObservableCounter(METRIC_PAGEVIEWS, {
    description: 'Page views, by route template, method, status class, browser family and device class (cumulative)',
    valueType: ValueType.INT,
  });
  meter.addBatchObservableCallback(
    (result: BatchObservableResult) => {
      // Read everything first: if observe() (or iterating its maps) throws, report nothing.
      const points: [ObservableGauge | ObservableCounter, number, Attributes][] = [];
      try {
        const obs = config.observe();
        if (obs.activeInstall) points.push([installGauge, 1, { ...obs.activeInstall }]);
        for (const [name, count] of obs.events) {
          if (Number.isFinite(count)) points.push([eventsCounter, count, { 'event.name': name }]);
        }
        for (const pv of obs.pageviews.values()) {
          if (Number.isFinite(pv.count)) points.push([pageviewsCounter, pv.count, { ...pv.attributes }]);
        }
      } catch {
        return;
      }
      for (const [instrument, value, attrs] of points) {
        try {
          result.observe(instrument, value, attrs);
        } catch {
          // skip a bad point
        }
      }
    },
    [installGauge, eventsCounter, pageviewsCounter],
  );

  const flushMetrics = async (): Promise<boolean> => {
    try {
      const { resourceMetrics } = await reader.collect({ timeoutMillis: timeoutMs });
      return await metricExporter.send(resourceMetrics);
    } catch {
      return false;
    }
  };

  let shutdownPromise: Promise<void> | null = null;

  return {
    emit(eventName, ...attributes) {
      if (closed) return;
      try {
        processor.push({ eventName, at: Date.now(), attributes });
      } catch {
        // never throw into the host
      }
    },

    discard(predicate) {
      try {
        return processor.discard((r) => predicate(r.eventName));
      } catch {
        return 0;
      }
    },

    async flush() {
      if (closed) return processor.stats().queueDepth === 0;
      // otlp.timeoutMs bounds the whole flush, retries and an export already in flight included:
      // at the deadline it answers false and the exports go on in the background.
      const work = Promise.all([processor.flush(), flushMetrics()]).then(
        ([logsOk, metricsOk]) => logsOk && metricsOk,
        () => false,
      );
      return withDeadline(work, timeoutMs, { onTimeout: false });
    },

    shutdown(capMs) {
      if (shutdownPromise) return shutdownPromise;
      const cap = Number.isFinite(capMs) && capMs > 0 ? capMs : 0;
      const started = Date.now();
      const remaining = (): number => Math.max(0, cap - (Date.now() - started));
      const run = async (): Promise<void> => {
        processor.stop(); // no new records, no background timer
        // 1. Best-effort final flush with most of the budget — unless the sink is known to be down
        //    (the last export failed): then waiting would only spend the host's shutdown time.
        const sinkDown = processor.stats().consecutiveFailures > 0;
        const reserve = Math.min(250, cap / 4);
        if (!sinkDown) {
          await settleWithin(Promise.all([processor.flush(), flushMetrics()]), remaining() - reserve);
        }
        // 2. From here on nothing is sent: abort in-flight requests, refuse new ones.
        closed = true;
        tracker.closeAll();
        // 3. Shut the private providers down within what is left.
        const providers = Promise.allSettled([
          meterProvider.shutdown({ timeoutMillis: Math.max(1, remaining()) }),
          loggerProvider.shutdown(),
        ]);
        await settleWithin(providers, remaining() - 5);
        tracker.closeAll(); // sockets opened meanwhile, if any
      };
      shutdownPromise = settleWithin(run(), cap).then(() => {
        closed = true;
        processor.stop();
        tracker.closeAll();
      });
      return shutdownPromise;
    },

    stats() {
      const p = processor.stats();
      return {
        configured: true,
        endpoint: parsed?.display ?? null,
        debug,
        queueDepth: p.queueDepth,
        queueCap: p.queueCap,
        dropped: p.dropped,
        exported: p.exported,
        failedExports: p.failedExports + metricFailures,
        lastError,
        lastExportAt,
      };
    },
  };
}
