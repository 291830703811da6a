// The wired parts of one collector instance and their lifecycle: ready() (database folder,
// migrations, jobs) and stop() (jobs, SMTP pool, the collector's own database). Construction does
// no I/O.
import type { Knex } from 'knex';
import type { ResolvedCollectorOptions } from './options.js';
import { openCollectorDatabase, type CollectorDatabase } from './storage/database.js';
import { migrateCollector } from './storage/migrations.js';
import { InstallationRepository } from './storage/installations.js';
import { SubmissionRepository } from './storage/submissions.js';
import { RollupRepository } from './storage/rollups.js';
import { ReportLogRepository } from './storage/report-log.js';
import { SessionRepository } from './storage/sessions.js';
import { RegistrationLimits } from './ingest/registration-limits.js';
import { IngestService } from './ingest/service.js';
import { FleetStatsService } from './analytics/stats.js';
import { InsightsService } from './analytics/insights.js';
import { PublicInsightsService } from './analytics/public-insights.js';
import { InsightsRepository } from './storage/insights.js';
import { ReportService } from './reports/service.js';
import { CollectorMetrics } from './metrics.js';
import { AdminAuth } from './auth.js';
import { JobScheduler, dailyAt, monthlyAt, weeklyAt, type JobRule } from '../core/scheduler.js';
import { OnceLogger, describeError } from '../core/logging.js';
import { withDeadline } from '../core/resilience/index.js';
import { addDays, utcDay, weekStart, DAY_MS } from './analytics/time.js';

export const MAINTENANCE_JOB = 'collector-maintenance';
export const WEEKLY_REPORT_JOB = 'collector-weekly-report';
export const MONTHLY_REPORT_JOB = 'collector-monthly-report';

export interface MaintenanceResult {
  submissions: number;
  installations: number;
  rollups: number;
  reportLog: number;
  /** Erased ids whose re-registration block ran out. */
  erasedIds: number;
  /** Installations that never had a submission accepted, older than unconfirmedRegistrationDays. */
  unconfirmedInstallations: number;
  /** Dashboard sessions past their idle or absolute expiry, or of a previous admin token. */
  sessions: number;
}

/** Every Monday at 08:00 (server local time). */
export function weeklyRule(): JobRule {
  return weeklyAt(1, 8, 0);
}

/** The 1st of every month at 08:00 (server local time). */
export function monthlyRule(): JobRule {
  return monthlyAt(1, 8, 0);
}

/** How long /health waits for `select 1`. */
export const HEALTH_TIMEOUT_MS = 2_000;
/** A database that answered any query this recently and is slow now is busy, not gone. */
export const HEALTH_BUSY_WINDOW_MS = 30_000;

export class Collector {
  #lastAnswerAt = 0;
  readonly database: CollectorDatabase;
  readonly installations: InstallationRepository;
  readonly submissions: SubmissionRepository;
  readonly rollups: RollupRepository;
  readonly reportLog: ReportLogRepository;
  readonly ingest: IngestService;
  readonly stats: FleetStatsService;
  readonly insights: InsightsService;
  readonly publicInsights: PublicInsightsService;
  readonly reports: ReportService;
  readonly metrics: CollectorMetrics;
  readonly auth: AdminAuth;
  readonly sessions: SessionRepository;
  readonly registrationLimits: RegistrationLimits;
  readonly scheduler: JobScheduler;
  readonly #once: OnceLogger;
  #ready: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;

  constructor(readonly options: ResolvedCollectorOptions) {
    const { logger, now } = options;
    this.database = openCollectorDatabase(options.db, options.dbFile, logger);
    const { knex, dialect } = this.database;
    // Every answered query is a sign of life, which lets /health tell a busy database from a gone one.
    knex.on('query-response', () => {
      this.#lastAnswerAt = Date.now();
    });
    this.installations = new InstallationRepository(knex, dialect);
    this.submissions = new SubmissionRepository(knex, dialect, {
      maxSize: options.ingestBatchSize,
      maxWaitMs: options.ingestBatchWaitMs,
      onBatch: (size) => this.metrics.ingestBatchSize.observe(size),
    });
    this.rollups = new RollupRepository(knex);
    this.reportLog = new ReportLogRepository(knex);
    this.metrics = new CollectorMetrics({ counts: () => this.installations.counts(now()), health: () => this.health() }, { processMetrics: options.processMetrics });
    this.ingest = new IngestService({
      installations: this.installations,
      submissions: this.submissions,
      registrationKey: options.registrationKey,
      rateLimitWindowSeconds: options.rateLimitWindowSeconds,
      now,
    });
    this.stats = new FleetStatsService({ installations: this.installations, rollups: this.rollups, kThreshold: options.kThreshold, now });
    this.insights = new InsightsService({ insights: new InsightsRepository(knex), installations: this.installations, stats: this.stats, kThreshold: options.kThreshold, now });
    this.publicInsights = new PublicInsightsService({
      stats: this.stats,
      installations: this.installations,
      kThreshold: options.kThreshold,
      cacheMinutes: options.publicInsightsCacheMinutes,
      now,
    });
    this.scheduler = new JobScheduler(logger);
    this.reports = new ReportService({
      stats: this.stats,
      insights: this.insights,
      log: this.reportLog,
      smtp: options.smtp,
      recipients: options.reportRecipients,
      title: options.title,
      metrics: this.metrics,
      logger,
      now,
      nextRuns: () => {
        const jobs = this.scheduler.list();
        return {
          weekly: jobs.find((j) => j.name === WEEKLY_REPORT_JOB)?.nextRunAt ?? null,
          monthly: jobs.find((j) => j.name === MONTHLY_REPORT_JOB)?.nextRunAt ?? null,
        };
      },
    });
    this.sessions = new SessionRepository(knex);
    this.auth = new AdminAuth({
      adminToken: options.adminToken,
      isAdmin: options.isAdmin,
      sessions: this.sessions,
      sessionHours: options.sessionHours,
      sessionIdleMinutes: options.sessionIdleMinutes,
      trustProxy: options.trustProxy,
      cookiePath: options.mountPath || '/',
      now,
    });
    this.registrationLimits = new RegistrationLimits({
      installations: this.installations,
      perClientPerHour: options.registrationsPerClientPerHour,
      perHour: options.registrationsPerHour,
      now,
    });
    this.#once = new OnceLogger(logger);
  }

  get knex(): Knex {
    return this.database.knex;
  }

  /** Idempotent; a failed attempt (database down) is retried by the next call. */
  ready(): Promise<void> {
    if (this.#stopping) return Promise.reject(new Error('koa-consent-telemetry collector: ready() called after stop()'));
    this.#ready ??= this.#start().then(
      () => this.#once.reset('ready', 'collector database reachable again'),
      (err) => {
        this.#ready = null;
        this.#once.warn('ready', err, 'collector could not start (database unreachable or migrations failed); requests get 503 until it can');
        throw err;
      },
    );
    return this.#ready;
  }

  async #start(): Promise<void> {
    await this.database.prepare();
    await migrateCollector(this.knex);
    if (this.options.jobs) {
      this.scheduler.schedule(MAINTENANCE_JOB, dailyAt(3, 30), () => this.maintenance());
      this.scheduler.schedule(WEEKLY_REPORT_JOB, weeklyRule(), () => this.reports.scheduled('weekly'));
      this.scheduler.schedule(MONTHLY_REPORT_JOB, monthlyRule(), () => this.reports.scheduled('monthly'));
    }
  }

  /**
   * Daily maintenance: retention. Submissions, rollups and report-log rows older than
   * retentionDays go, and so do installations silent for that long (with their submissions).
   * A rollup period (day, ISO week) that reaches past the cutoff goes whole: every rollup row
   * left then has all its submissions still stored, which erasure needs to take an installation
   * back out exactly. Erased ids past their re-registration block go too; installations that never
   * had a submission accepted go after unconfirmedRegistrationDays, and expired dashboard sessions go.
   * Safe to run in several processes at once.
   */
  async maintenance(): Promise<MaintenanceResult> {
    const now = this.options.now();
    const cutoff = new Date(now.getTime() - this.options.retentionDays * DAY_MS);
    const cutoffDay = utcDay(cutoff);
    const submissions = await this.submissions.purgeBefore(cutoff);
    const installations = await this.installations.purgeInactive(cutoff, now);
    const rollups = (await this.rollups.purgeBefore('day', addDays(cutoffDay, 1))) + (await this.rollups.purgeBefore('week', addDays(weekStart(cutoff), 7)));
    // Not counted in `rollups`: empty counters carry no data.
    await this.rollups.purgeEmptyLastSeenDays(addDays(utcDay(now), -1));
    const reportLog = await this.reportLog.purgeBefore(cutoff);
    const erasedIds = await this.installations.purgeErasedIds(now);
    const unconfirmedInstallations = await this.installations.purgeNeverSubmitted(new Date(now.getTime() - this.options.unconfirmedRegistrationDays * DAY_MS));
    const sessions = await this.auth.purgeSessions();
    const result = { submissions, installations, rollups, reportLog, erasedIds, unconfirmedInstallations, sessions };
    if (submissions + installations + rollups + reportLog + erasedIds + unconfirmedInstallations + sessions > 0) this.options.logger.info(result, 'collector retention purge done');
    return result;
  }

  /**
   * Database reachable? Answers within `timeoutMs`. A database that is only busy (every connection
   * held by ingest, a write lock being waited for) is not gone: when the probe gets no answer in
   * time but some query was answered within the last HEALTH_BUSY_WINDOW_MS, it is `busy` and still
   * healthy, so a probe does not page anyone for load. An error, or silence for longer, is `ok: false`.
   */
  async health(timeoutMs = HEALTH_TIMEOUT_MS): Promise<{ ok: boolean; busy?: boolean; error?: string }> {
    const noAnswer = Symbol('no answer');
    try {
      const answer = await withDeadline(this.knex.raw('select 1'), timeoutMs, { onTimeout: noAnswer });
      if (answer !== noAnswer) return { ok: true };
      if (Date.now() - this.#lastAnswerAt < HEALTH_BUSY_WINDOW_MS) return { ok: true, busy: true };
      return { ok: false, error: `no answer within ${timeoutMs} ms` };
    } catch (err) {
      return { ok: false, error: describeError(err) };
    }
  }

  /** Cancels jobs (waiting for a run under way), closes the SMTP pool and the collector's own database. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.scheduler.stop();
      this.reports.close();
      if (this.#ready) await this.#ready.catch(() => undefined);
      if (this.database.owned) await this.knex.destroy();
    })();
    return this.#stopping;
  }
}
