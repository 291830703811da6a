// TELEMETRY_DEBUG exporters: they print exactly what would be exported (log records with body,
// attributes and resource; metrics with names, attributes and values) through the host's
// logger at `info` level and report success. They never touch the network.
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { Logger } from '../types.js';
import { EXPORT_SUCCESS, type ExportResult } from './bounded-log-processor.js';

type HrTime = [number, number];

function hrToIso(t: HrTime | undefined): string | undefined {
  if (!t) return undefined;
  const ms = t[0] * 1000 + t[1] / 1e6;
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

function safeInfo(logger: Logger, obj: unknown, msg: string): void {
  try {
    logger.info(obj, msg);
  } catch {
    // a broken logger must not break the pipeline
  }
}

export interface DebugLogPayload {
  signal: 'logs';
  resource: Record<string, unknown>;
  records: {
    body: unknown;
    attributes: Record<string, unknown>;
    severityText?: string;
    timestamp?: string;
  }[];
}

export interface DebugMetricPayload {
  signal: 'metrics';
  resource: Record<string, unknown>;
  metrics: {
    name: string;
    type: 'gauge' | 'sum' | 'histogram' | 'exponential_histogram';
    monotonic?: boolean;
    temporality: 'cumulative' | 'delta';
    points: { attributes: Record<string, unknown>; value: unknown }[];
  }[];
}

/** Prints log records via `logger.info({ telemetryDebug: payload }, msg)`; sends nothing. */
export class DebugLogExporter implements LogRecordExporter {
  constructor(private readonly logger: Logger) {}

  export(logs: ReadableLogRecord[], resultCallback: (result: ExportResult) => void): void {
    try {
      // Group by resource (in practice there is exactly one).
      const groups = new Map<object, DebugLogPayload>();
      for (const rec of logs) {
        let payload = groups.get(rec.resource);
        if (!payload) {
          payload = { signal: 'logs', resource: { ...rec.resource.attributes }, records: [] };
          groups.set(rec.resource, payload);
        }
        const entry: DebugLogPayload['records'][number] = {
          body: rec.body,
          attributes: { ...rec.attributes },
        };
        if (rec.severityText !== undefined) entry.severityText = rec.severityText;
        const ts = hrToIso(rec.hrTime);
        if (ts !== undefined) entry.timestamp = ts;
        payload.records.push(entry);
      }
      for (const payload of groups.values()) {
        safeInfo(
          this.logger,
          { telemetryDebug: payload },
          `TELEMETRY_DEBUG: would export ${payload.records.length} log record(s) over OTLP (not sent)`,
        );
      }
    } catch {
      // printing is best effort
    }
    resultCallback({ code: EXPORT_SUCCESS });
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {}
}

/** Prints collected metrics via `logger.info({ telemetryDebug: payload }, msg)`; sends nothing. */
export class DebugMetricExporter implements PushMetricExporter {
  constructor(private readonly logger: Logger) {}

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    try {
      const payload = describeResourceMetrics(metrics);
      if (payload.metrics.length > 0) {
        safeInfo(
          this.logger,
          { telemetryDebug: payload },
          `TELEMETRY_DEBUG: would export ${payload.metrics.length} metric(s) over OTLP (not sent)`,
        );
      }
    } catch {
      // printing is best effort
    }
    resultCallback({ code: EXPORT_SUCCESS });
  }

  selectAggregationTemporality(): AggregationTemporality {
    return AggregationTemporality.CUMULATIVE;
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {}
}

/** A plain, printable view of a ResourceMetrics (names, attributes, values). */
export function describeResourceMetrics(rm: ResourceMetrics): DebugMetricPayload {
  const out: DebugMetricPayload = { signal: 'metrics', resource: { ...rm.resource.attributes }, metrics: [] };
  for (const sm of rm.scopeMetrics) {
    for (const m of sm.metrics) {
      if (m.dataPoints.length === 0) continue;
      const temporality = m.aggregationTemporality === AggregationTemporality.DELTA ? 'delta' : 'cumulative';
      const points = m.dataPoints.map((dp) => ({ attributes: { ...dp.attributes }, value: dp.value as unknown }));
      switch (m.dataPointType) {
        case DataPointType.GAUGE:
          out.metrics.push({ name: m.descriptor.name, type: 'gauge', temporality, points });
          break;
        case DataPointType.SUM:
          out.metrics.push({ name: m.descriptor.name, type: 'sum', monotonic: m.isMonotonic, temporality, points });
          break;
        case DataPointType.HISTOGRAM:
          out.metrics.push({ name: m.descriptor.name, type: 'histogram', temporality, points });
          break;
        default:
          out.metrics.push({ name: m.descriptor.name, type: 'exponential_histogram', temporality, points });
      }
    }
  }
  return out;
}
