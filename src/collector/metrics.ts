// Prometheus metrics on a private prom-client Registry per collector instance (never the global
// default registry: a host may run its own). Counters are per process; the installations gauge is
// read from the database at scrape time, so every process reports the same numbers.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type SubmissionOutcome =
  | 'accepted'
  | 'replayed'
  | 'rate_limited'
  | 'unauthorized'
  | 'invalid'
  | 'too_large'
  | 'bad_request'
  | 'error';

export interface InstallationGaugeSource {
  counts(): Promise<{ total: number; active7d: number; active30d: number }>;
  /** The /health probe; optional so a bare source still works (the gauge then reads 1). */
  health?(): Promise<{ ok: boolean }>;
}

export class CollectorMetrics {
  readonly registry = new Registry();
  readonly submissions: Counter<'outcome'>;
  readonly ingestDuration: Histogram<'outcome'>;
  readonly ingestBatchSize: Histogram;
  readonly registrations: Counter<'outcome'>;
  readonly erasures: Counter<'by'>;
  readonly reports: Counter<'kind' | 'outcome'>;
  readonly installations: Gauge<'state'>;
  readonly databaseUp: Gauge;

  constructor(source: InstallationGaugeSource, options: { processMetrics: boolean }) {
    const registers = [this.registry];
    this.submissions = new Counter({
      name: 'collector_submissions_total',
      help: 'Submissions received, by outcome (accepted, replayed, rate_limited, unauthorized, invalid, too_large, bad_request, error).',
      labelNames: ['outcome'],
      registers,
    });
    this.ingestDuration = new Histogram({
      name: 'collector_ingest_duration_seconds',
      help: 'Time to answer POST /v1/submit, from the first byte read to the answer.',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.ingestBatchSize = new Histogram({
      name: 'collector_ingest_batch_size',
      help: 'PostgreSQL group commit: submissions written per batch transaction (a batch that failed and was retried one by one is not counted).',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    });
    this.registrations = new Counter({
      name: 'collector_registrations_total',
      help: 'Registration requests, by outcome (created, conflict, unauthorized, invalid, rate_limited).',
      labelNames: ['outcome'],
      registers,
    });
    this.erasures = new Counter({ name: 'collector_erasures_total', help: 'Installations erased, by who asked (installation, admin).', labelNames: ['by'], registers });
    this.reports = new Counter({ name: 'collector_reports_total', help: 'E-mail reports, by kind and outcome.', labelNames: ['kind', 'outcome'], registers });
    this.installations = new Gauge({
      name: 'collector_installations',
      help: 'Installations with at least one accepted submission (state="total") and those with a submission in the last 7 / 30 days.',
      labelNames: ['state'],
      registers,
      async collect() {
        try {
          const counts = await source.counts();
          this.set({ state: 'total' }, counts.total);
          this.set({ state: 'active_7d' }, counts.active7d);
          this.set({ state: 'active_30d' }, counts.active30d);
        } catch {
          // Database unreachable: keep the last values (/health reports the outage).
        }
      },
    });
    // What /health answers, as a metric: alerting rules can page on a gone database even while the
    // process itself (and so Prometheus's `up`) is fine, with no blackbox prober in between.
    this.databaseUp = new Gauge({
      name: 'collector_database_up',
      help: 'Whether the collector\'s database answered its health probe at scrape time (1) or not (0): what /health reports.',
      registers,
      async collect() {
        this.set(source.health ? ((await source.health()).ok ? 1 : 0) : 1);
      },
    });
    for (const outcome of ['accepted', 'replayed', 'rate_limited', 'unauthorized', 'invalid', 'too_large'] as const) this.submissions.inc({ outcome }, 0);
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
