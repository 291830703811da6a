// The composition root of one plugin instance: it builds and wires the parts and owns their
// lifecycle, ready() (migrations, identity, sink, first_seen, jobs) and stop() (a hard-capped flush
// and shutdown). Constructing it does no I/O. Routes and jobs get narrow ports built from it
// (plugin.ts); the package's own CLI, tests and benchmarks reach the parts through
// runtimeInternals() (via src/plugin/internal.ts, not published).
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Knex } from 'knex';
import { SYSTEM_CLOCK, clockMs, type ResolvedOptions } from './options.js';
import type { ConsentState, KillSwitchState, TelemetryUser } from './types.js';
import { readKillSwitch } from './installation/kill-switch.js';
import { InstallationFile } from './installation/installation-file.js';
import { ConsentStore, type ConsentPatch } from './installation/consent.js';
import { SettingsRepository } from './installation/settings-repository.js';
import { Pseudonymizer } from './installation/pseudonym.js';
import { UserPrivacyRepository } from './installation/user-privacy-repository.js';
import { UserPrivacyStore } from './installation/user-privacy.js';
import { ConsentSync } from './installation/consent-sync.js';
import { ConsentReceiptsRepository, adminActor, userActor, type ConsentActor } from './installation/consent-receipts.js';
import { openDatabase, type DatabaseHandle } from '../core/db/connection.js';
import { migrateLatest } from './db/migration-source.js';
import { detectEnvironment, type RuntimeEnvironment } from './telemetry/environment.js';
import { PrivacyGuard } from './telemetry/privacy-guard.js';
import { UserAgentCache } from './telemetry/user-agent.js';
import { AnalyticsLayer } from './telemetry/analytics.js';
import { BaseLayer } from './telemetry/base-layer.js';
import { createOtlpSink, type OtlpExportReport, type TelemetrySink } from './telemetry/otlp-sink.js';
import { JobScheduler } from '../core/scheduler.js';
import { scheduleHeartbeat } from './jobs/heartbeat.js';
import { withDeadline } from '../core/resilience/deadline.js';
import { describeError, OnceLogger } from '../core/logging.js';
import { UsageStatsRepository } from './stats/repository.js';
import { LocalStatsRecorder } from './stats/recorder.js';
import { SubmissionClient } from './stats/submission-client.js';
import { StatsService } from './stats/service.js';
import { OutboundLedger } from './stats/outbound-ledger.js';
import { OutboundLedgerRepository } from './stats/outbound-repository.js';
import { sanitizeFeatureFlags } from './stats/aggregation.js';
import { scheduleSubmission } from './jobs/submission.js';
import { scheduleRetention } from './jobs/retention.js';
import { SupportRepository } from './support/repository.js';
import { SupportService } from './support/service.js';
import { statusReport, type StatusReport } from './status.js';
import { hostRecordEntries, originOf, parseHostRecord, HOST_PREFIX, type HostRecord } from './installation/host-record.js';
import { PACKAGE_VERSION } from '../core/version.js';
import { firstRunNotice } from './installation/first-run-notice.js';

const AUTO_START_RETRY_MS = 60_000;
/** How long the start record waits for the host's featureFlags() callback. */
const HOST_FLAGS_DEADLINE_MS = 1_000;
/** stop() gives up this much before its cap: timers fire a few ms late. */
const STOP_TIMER_SLACK_MS = 10;
/** The plugin's own lifecycle events, recorded with the local statistics. */
export const APP_STARTED = 'app.started';
export const APP_STOPPED = 'app.stopped';

/** The wired parts, for the package's own CLI, tests and benchmarks only (src/plugin/internal.ts; never published). */
export interface RuntimeInternals {
  readonly options: ResolvedOptions;
  readonly knex: Knex;
  readonly file: InstallationFile;
  readonly environment: RuntimeEnvironment;
  readonly scheduler: JobScheduler;
  readonly analytics: AnalyticsLayer;
  readonly userAgents: UserAgentCache;
  readonly consent: ConsentStore;
  readonly receipts: ConsentReceiptsRepository;
  readonly statsRepository: UsageStatsRepository;
  readonly recorder: LocalStatsRecorder | null;
  readonly submission: SubmissionClient;
  readonly outbound: OutboundLedger;
  readonly stats: StatsService;
  /** consent.set with a named actor (the CLI's receipts say `cli`). */
  setConsent(patch: ConsentPatch, actor: ConsentActor): Promise<ConsentState>;
  /** Whether ready() writes the host.* rows (docs/cli.md); the CLI, not being the host, turns it off. */
  recordsHostStart: boolean;
  /** What the host recorded at its last start, or null when none did on this database. */
  hostRecord(): Promise<HostRecord | null>;
}

const INTERNALS = new WeakMap<TelemetryRuntime, RuntimeInternals>();

/** The parts of a runtime, for the package's own CLI, tests and benchmarks (through src/plugin/internal.ts). */
export function runtimeInternals(runtime: TelemetryRuntime): RuntimeInternals {
  return INTERNALS.get(runtime)!;
}

export class TelemetryRuntime {
  // What the plugin's wiring (plugin.ts) hands on to the request middleware and the routes' ports.
  readonly consent: ConsentStore;
  readonly userPrivacy: UserPrivacyStore;
  readonly analytics: AnalyticsLayer;
  readonly stats: StatsService;
  readonly support: SupportService;
  readonly #killSwitch: KillSwitchState;
  readonly #environment: RuntimeEnvironment;
  readonly #file: InstallationFile;
  readonly #guard: PrivacyGuard;
  readonly #userAgents = new UserAgentCache();
  readonly #database: DatabaseHandle;
  /** Polls the database for consent changes of other processes; others' stores register their reload on it. */
  readonly #consentSync: ConsentSync;
  readonly #receipts: ConsentReceiptsRepository;
  readonly #base: BaseLayer;
  readonly #scheduler: JobScheduler;
  readonly #settings: SettingsRepository;
  readonly #statsRepository: UsageStatsRepository;
  readonly #recorder: LocalStatsRecorder | null;
  readonly #submission: SubmissionClient;
  readonly #outbound: OutboundLedger;
  #sink: TelemetrySink | null = null;
  #ready: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  #background = new Set<Promise<unknown>>();
  readonly #once: OnceLogger;
  #pseudonyms: Pseudonymizer | null = null;
  /** Earliest time a request may trigger another automatic start after one failed. */
  #autoStartAfter = 0;
  #recordsHostStart = true;

  readonly #options: ResolvedOptions;

  constructor(options: ResolvedOptions) {
    this.#options = options;
    const { logger, now } = options;
    // One clock for what is recorded and for the weeks it is counted in (options.clockMs).
    const nowMs = clockMs(now);
    this.#killSwitch = readKillSwitch(options.env, options.debug);
    this.#environment = detectEnvironment(options.deploymentType, options.env);
    this.#guard = new PrivacyGuard({ events: options.events, debugLogger: this.#killSwitch.debug ? logger : null });
    this.#file = new InstallationFile(resolve(options.dataDir), now);
    this.#database = openDatabase(options.db, resolve(options.dataDir), logger);
    this.#settings = new SettingsRepository(this.#database.knex);
    this.#consentSync = new ConsentSync({ settings: this.#settings, intervalMs: options.consentSyncIntervalMs, logger, now });
    this.#receipts = new ConsentReceiptsRepository(this.#database.knex);
    this.consent = new ConsentStore(this.#file, this.#settings, options.privacyNoticeVersion, logger, now, { sync: this.#consentSync, receipts: this.#receipts });
    if (options.onConsentChange) this.consent.onChange(options.onConsentChange);
    this.userPrivacy = new UserPrivacyStore({
      repository: new UserPrivacyRepository(this.#database.knex),
      receipts: this.#receipts,
      changed: (trx) => this.#consentSync.changed(trx),
      pseudonymizer: () => this.#pseudonymizer,
      noticeVersion: options.privacyNoticeVersion,
      now,
    });
    // A user's choice made in another process (or by the CLI) is seen here within the sync interval.
    this.#consentSync.register(() => this.userPrivacy.load());
    this.analytics = new AnalyticsLayer({
      guard: this.#guard,
      consent: this.consent,
      killSwitch: this.#killSwitch,
      environment: this.#environment,
      appVersion: options.appVersion,
      userAgents: this.#userAgents,
      userOptOuts: this.userPrivacy,
      intakeCap: options.export.intakeCap,
      logger,
      nowMs,
    });
    this.#base = new BaseLayer({
      file: this.#file,
      environment: this.#environment,
      appVersion: options.appVersion,
      releaseChannel: options.releaseChannel,
      killSwitch: this.#killSwitch,
      logger,
      now,
    });
    this.#scheduler = new JobScheduler(logger);
    this.#statsRepository = new UsageStatsRepository(this.#database.knex);
    this.#recorder = options.localStats ? new LocalStatsRecorder(this.#statsRepository, { ...options.recorder, logger, nowMs, hourTimer: now === SYSTEM_CLOCK }) : null;
    this.analytics.setLocalRecorder(this.#recorder);
    this.#outbound = new OutboundLedger({ repository: new OutboundLedgerRepository(this.#database.knex), ...options.outboundLedger, logger, now });
    this.#submission = new SubmissionClient({
      repository: this.#statsRepository,
      file: this.#file,
      consent: this.consent,
      killSwitch: this.#killSwitch,
      collector: options.collector,
      policy: options.submission,
      summaryInputs: async () => ({
        installId: this.#file.current.install_id,
        appVersion: options.appVersion,
        environment: this.#environment,
        featureFlags: sanitizeFeatureFlags(await Promise.resolve(options.featureFlags()).catch(() => ({}))),
      }),
      logger,
      debugOutput: options.debugOutput,
      now,
      outbound: this.#outbound,
    });
    this.stats = new StatsService({
      repository: this.#statsRepository,
      recorder: this.#recorder,
      client: this.#submission,
      outbound: this.#outbound,
      settings: this.#settings,
      receipts: this.#receipts,
      file: this.#file,
      consent: this.consent,
      killSwitch: this.#killSwitch,
      environment: this.#environment,
      appVersion: options.appVersion,
      retentionDays: options.retentionDays,
      alsoDelete: () => this.support.deleteAll(),
      onNewIdentity: () => this.#adoptNewIdentity(),
      now,
    });
    // One submission right after an admin opts in to sharing usage statistics — by the process that
    // made the change only: the others see it as a remote change, so a fleet does not submit N times.
    this.consent.onChange((consent, previous, change) => {
      if (change.origin === 'local' && consent.usageStats && !previous.usageStats && this.#isReady) {
        this.#inBackground(this.#recorder?.flush().then(() => this.#submission.submitNow()) ?? this.#submission.submitNow(), 'the submission after opt-in failed');
      }
      // Turning detailed analytics on sends one opt-in install ping (the same single-process rule).
      if (change.origin === 'local' && consent.analytics && !previous.analytics && this.#isReady) {
        this.#inBackground(this.#base.sendOptInPing(), 'the opt-in install ping could not be sent');
      }
    });
    this.support = new SupportService({
      repository: new SupportRepository(this.#database.knex),
      settings: options.support,
      appName: options.appName,
      donatePath: options.mountPath.donate,
      track: (name, props, user, privacySignal) => this.track(name, props, user, undefined, privacySignal),
      guard: this.#guard,
      isReady: () => this.#isReady,
      now,
      logger,
    });
    this.#once = new OnceLogger(logger);
    const self = this;
    INTERNALS.set(this, {
      options,
      get knex() {
        return self.#knex;
      },
      file: this.#file,
      environment: this.#environment,
      scheduler: this.#scheduler,
      analytics: this.analytics,
      userAgents: this.#userAgents,
      consent: this.consent,
      receipts: this.#receipts,
      statsRepository: this.#statsRepository,
      recorder: this.#recorder,
      submission: this.#submission,
      outbound: this.#outbound,
      stats: this.stats,
      setConsent: (patch, actor) => this.setConsent(patch, actor),
      get recordsHostStart() {
        return self.#recordsHostStart;
      },
      set recordsHostStart(value: boolean) {
        self.#recordsHostStart = value;
      },
      hostRecord: async () => parseHostRecord(await this.#settings.withPrefix(HOST_PREFIX)),
    });
  }

  get #knex(): Knex {
    return this.#database.knex;
  }

  get #isReady(): boolean {
    return this.#sink !== null;
  }

  /** Idempotent; a failed attempt (e.g. an unwritable dataDir) can be retried by calling it again. */
  ready(): Promise<void> {
    if (this.#stopping) return Promise.reject(new Error('koa-consent-telemetry: ready() called after stop()'));
    this.#ready ??= this.#start().catch((err) => {
      this.#ready = null;
      throw err;
    });
    return this.#ready;
  }

  /**
   * Starts on behalf of a request or track() when the host did not call ready(). A failure is
   * logged once and retried at most once a minute, so a broken database costs no I/O per request.
   * False once there is nothing left to start (started, or stopping): the caller may stop asking.
   */
  autoStart(): boolean {
    if (this.#isReady || this.#stopping) return false;
    if (Date.now() < this.#autoStartAfter) return true;
    this.#autoStartAfter = Number.POSITIVE_INFINITY;
    this.ready().then(
      () => this.#once.reset('auto-start', 'telemetry started after an earlier failure'),
      (err) => {
        this.#autoStartAfter = Date.now() + AUTO_START_RETRY_MS;
        this.#once.warn('auto-start', err, 'telemetry could not start; the host keeps working without it and it retries in the background');
      },
    );
    return true;
  }

  async #start(): Promise<void> {
    const options = this.#options;
    const dataDir = resolve(options.dataDir);
    if (!options.db) await mkdir(dataDir, { recursive: true }).catch((err: unknown) => Promise.reject(dataDirError(dataDir, err)));
    await migrateLatest(this.#knex);
    const data = await this.#file.load().catch((err: unknown) => Promise.reject(dataDirError(dataDir, err)));
    if (this.#file.created && !this.#killSwitch.disabled) {
      try {
        options.logger.warn(firstRunNotice(`${options.mountPath.pages}/settings`));
      } catch {
        // the notice is best effort: a throwing logger must not stop the start
      }
    }
    // The baseline revision first: a change made while consent loads is then still picked up.
    await this.#consentSync.start();
    await this.consent.load();
    // Before anything can be exported: a user's stored opt-out holds from the first event on.
    await this.userPrivacy.load();
    this.#sink = this.#killSwitch.disabled
      ? createOtlpSink({ ...this.#sinkConfig(data.install_id), endpoint: null, debug: false })
      : createOtlpSink(this.#sinkConfig(data.install_id));
    this.#base.attach(this.#sink);
    this.analytics.attach(this.#sink, this.#pseudonymizer, data.install_id);
    this.#recorder?.start();
    this.analytics.track(APP_STARTED, { app_version: options.appVersion }, null);
    if (this.#recordsHostStart) this.#inBackground(this.#recordHostStart(), 'could not record this start in telemetry_settings (the CLI reports the previous one)');
    this.#inBackground(this.#base.sendFirstSeen(), 'first_seen could not be sent; it will be retried at the next start');
    if (options.jobs) {
      scheduleHeartbeat(this.#scheduler, this.#base, data.install_id);
      scheduleSubmission(this.#scheduler, this.#submission, data.install_id);
      scheduleRetention(this.#scheduler, this.stats);
      // Weeks missed while the host was down go out now, not at the next Monday.
      this.#inBackground(this.#submitIfDueAtStart(), 'the submission at start-up failed');
    }
  }

  async #submitIfDueAtStart(): Promise<void> {
    await this.#recorder?.flush();
    if (await this.#submission.dueAtStart()) await this.#submission.submitNow();
  }

  /**
   * After delete-all or a re-registration gave installation.json a new identity: from now on
   * every export carries the new install id (a new sink, as service.instance.id is fixed per sink),
   * user pseudonyms use the new salt, and the daily/weekly jobs move to the new id's minute.
   * Events queued before go out through the previous sink, which is then shut down.
   */
  async #adoptNewIdentity(): Promise<void> {
    const previous = this.#sink;
    if (!previous || this.#stopping) return; // not started: ready() reads the new identity from the file
    const data = this.#file.current;
    this.analytics.drain();
    this.#sink = this.#killSwitch.disabled
      ? createOtlpSink({ ...this.#sinkConfig(data.install_id), endpoint: null, debug: false })
      : createOtlpSink(this.#sinkConfig(data.install_id));
    this.#base.attach(this.#sink);
    // The new salt names people from now on, in events and in consent receipts alike.
    this.#pseudonyms = new Pseudonymizer(data.salt);
    this.analytics.attach(this.#sink, this.#pseudonymizer, data.install_id);
    this.#inBackground(previous.shutdown(this.#options.otlp.timeoutMs), 'the export queue of the previous installation identity could not be flushed');
    this.#inBackground(this.#base.sendFirstSeen(), 'first_seen could not be sent; it will be retried at the next start');
    if (this.#options.jobs) {
      scheduleHeartbeat(this.#scheduler, this.#base, data.install_id);
      scheduleSubmission(this.#scheduler, this.#submission, data.install_id);
    }
  }

  #sinkConfig(installId: string) {
    const options = this.#options;
    return {
      endpoint: options.otlp.endpoint,
      headers: options.otlp.headers,
      timeoutMs: options.otlp.timeoutMs,
      debug: this.#killSwitch.debug,
      debugOutput: options.debugOutput,
      resource: { serviceName: options.appName, serviceVersion: options.appVersion, instanceId: installId },
      export: options.export,
      logger: options.logger,
      observe: () => ({ ...this.analytics.observation(), activeInstall: this.#base.activeInstallAttributes() }),
      onExport: (report: OtlpExportReport) => this.#outbound.recordOtlp(report),
    };
  }

  track(name: string, props: Record<string, unknown> | undefined, user: TelemetryUser | null | undefined, userAgent?: string, privacySignal = false): boolean {
    this.autoStart();
    return this.analytics.track(name, props, user?.id ?? null, userAgent, privacySignal);
  }

  /**
   * A user's own choice about detailed analytics (stored in the host's database, with a receipt).
   * `byUser`: the user made it themself (the receipt's actor is their pseudonym), else the host (`api`).
   */
  async setUserOptOut(userId: string | number, optedOut: boolean, byUser = false): Promise<boolean> {
    await this.ready();
    return this.userPrivacy.set(userId, optedOut, byUser ? userActor(this.#pseudonymizer, userId) : 'api');
  }

  async isUserOptedOut(userId: string | number): Promise<boolean> {
    await this.ready();
    return this.userPrivacy.isOptedOut(userId);
  }

  async setConsent(patch: ConsentPatch, actor: ConsentActor = 'api'): Promise<ConsentState> {
    await this.ready();
    return this.consent.set(patch, actor);
  }

  /** hmac(install salt, id): how receipts (and detailed events) name a person. Needs ready(). */
  get #pseudonymizer(): Pseudonymizer {
    this.#pseudonyms ??= new Pseudonymizer(this.#file.current.salt);
    return this.#pseudonyms;
  }

  /** The receipt actor for a signed-in admin: `admin:<pseudonym>`, never the raw id (needs ready()). */
  adminActor(adminId: string | number): ConsentActor {
    return adminActor(this.#pseudonymizer, adminId);
  }

  /** Writes buffered local statistics, then exports what is queued; true when the sink took it all. */
  async flush(): Promise<boolean> {
    await this.#recorder?.flush(); // never rejects
    if (!this.#sink) return true;
    await Promise.allSettled([...this.#background]);
    this.analytics.drain();
    const accepted = await this.#sink.flush();
    await this.#outbound.flush(); // the ledger entries of what was just sent
    return accepted;
  }

  status(): StatusReport {
    const options = this.#options;
    return statusReport({
      configured: { otlpEndpoint: options.otlp.endpoint, queueCap: options.export.queueCap, collectorUrl: options.collector.url },
      killSwitch: this.#killSwitch,
      installId: this.#file.loaded ? this.#file.current.install_id : null,
      consent: this.consent,
      sink: this.#sink,
      intake: this.analytics,
      guard: this.#guard,
      jobs: this.#scheduler,
      recorder: this.#recorder,
      collector: this.#submission,
    });
  }

  /** Why no usage statistics submission can be sent now, or null. */
  submissionBlockedReason(): string | null {
    return this.#submission.blockedReason();
  }

  /** Why a registration with the collector cannot be made now (kill switch, debug, no URL…), or null. */
  registrationBlockedReason(): string | null {
    return this.#submission.registrationBlockedReason();
  }

  /** Cancels jobs, flushes what it can and closes what it opened — resolved within stopTimeoutMs. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const cap = this.#options.stopTimeoutMs;
    const deadline = Date.now() + cap;
    const remaining = () => Math.max(deadline - Date.now(), 0);
    // Before anything is awaited: from now on no submission retry is scheduled, whatever finishes later.
    const submissionStopped = this.#submission.stop().catch(() => undefined);
    const syncStopped = this.#consentSync.stop();
    const work = (async () => {
      // A job still running (a heartbeat or submission against a hanging endpoint) gets a quarter.
      await within(this.#scheduler.stop(), remaining() / 4);
      await within(this.#ready?.catch(() => undefined), remaining());
      // Half of what is left at most: a hanging request must not eat the final flush's share.
      await within(Promise.allSettled([...this.#background]), remaining() / 2);
      if (this.#isReady) this.analytics.track(APP_STOPPED, {}, null);
      this.analytics.drain();
      await within(Promise.all([this.#recorder?.stop(), submissionStopped, syncStopped]), remaining() / 2);
      if (this.#sink) await this.#sink.shutdown(Math.max(remaining() - 50, 0));
      // The final flush's ledger entries, written before the database is closed.
      if (this.#isReady) await within(this.#outbound.stop(), Math.max(remaining() - 25, 0));
      if (this.#database.owned) await this.#knex.destroy();
    })().catch((err) => this.#options.logger.warn({ err: describeError(err) }, 'telemetry stop() did not finish cleanly'));
    await within(work, Math.max(cap - STOP_TIMER_SLACK_MS, 0));
  }

  /** The host.* rows the CLI reports (docs/cli.md): this start's app, sink and collector, URLs as origins only. */
  async #recordHostStart(): Promise<void> {
    const options = this.#options;
    const flags = await withDeadline(Promise.resolve().then(() => options.featureFlags()).catch(() => ({})), HOST_FLAGS_DEADLINE_MS, { onTimeout: {} });
    const record: HostRecord = {
      recorded_at: options.now().toISOString(),
      app_name: options.appName,
      app_version: options.appVersion,
      package_version: PACKAGE_VERSION,
      platform: this.#environment.platform,
      deployment_type: this.#environment.deployment_type,
      timezone: this.#environment.timezone,
      feature_flags: sanitizeFeatureFlags(flags),
      sink_configured: this.#sink?.stats().configured ?? false,
      otlp_endpoint: originOf(options.otlp.endpoint),
      collector_url: originOf(options.collector.url),
      local_stats: this.#recorder !== null,
    };
    await this.#settings.setMany(hostRecordEntries(record), options.now());
  }

  #inBackground(promise: Promise<unknown>, failure: string): void {
    const tracked = promise.catch((err) => this.#options.logger.warn({ err: describeError(err) }, failure));
    this.#background.add(tracked);
    void tracked.finally(() => this.#background.delete(tracked));
  }
}

/** ready()'s answer to a data folder it cannot use: names the package, the folder and how to choose another. */
export function dataDirError(dataDir: string, cause: unknown): Error {
  const code = (cause as { code?: unknown } | null)?.code;
  const why = typeof code === 'string' ? code : describeError(cause);
  return new Error(
    `koa-consent-telemetry: cannot use the data folder ${dataDir} (${why}). Point the \`dataDir\` option or the TELEMETRY_DATA_DIR environment variable at a folder the app can write, or pass \`db\` to keep the statistics in your own database.`,
    { cause },
  );
}

/** `work`, or nothing once `ms` has passed: each step of stop() gets its share of the cap and no more. */
function within(work: PromiseLike<unknown> | undefined, ms: number): Promise<unknown> {
  return withDeadline(work ?? Promise.resolve(), ms, { onTimeout: undefined });
}
