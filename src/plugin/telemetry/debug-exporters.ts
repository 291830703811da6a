// TELEMETRY_DEBUG exporters: they print exactly what would be exported (log records with body,
// attributes and resource; metrics with names, attributes and values), whole, to the debug output
// (stderr by default, see debug-output.ts) and report success. They never touch the network.
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { printDebugPayload, type DebugOutput } from './debug-output.js';
import { EXPORT_SUCCESS, type ExportResult } from './bounded-log-processor.js';

type HrTime = [number, number];

function hrToIso(t: HrTime | undefined): string | undefined {
  if (!t) return undefined;
  const ms = t[0] * 1000 + t[1] / 1e6;
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
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

/** Prints log records whole to the debug output; sends nothing. */
export class DebugLogExporter implements LogRecordExporter {
  constructor(private readonly output: DebugOutput) {}

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
        printDebugPayload(this.output, `would export ${payload.records.length} log record(s) over OTLP (not sent)`, payload);
      }
    } catch {
      // printing is best effort
    }
    resultCallback({ code: EXPORT_SUCCESS });
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {}
}

/** Prints collected metrics whole to the debug output; sends nothing. */
export class DebugMetricExporter implements PushMetricExporter {
  constructor(private readonly output: DebugOutput) {}

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    try {
      const payload = describeResourceMetrics(metrics);
      if (payload.metrics.length > 0) {
        printDebugPayload(this.output, `would export ${payload.metrics.length} metric(s) over OTLP (not sent)`, payload);
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
