// What the admin can see, take away and erase (see docs/privacy-policy.md): local statistics, the exact next
// payload, a full JSON export, delete-all (locally and at the collector), the ledger, retention.
import type { ConsentStore } from '../installation/consent.js';
import type { InstallationFile } from '../installation/installation-file.js';
import type { SettingsRepository } from '../installation/settings-repository.js';
import type { ConsentActor, ConsentReceiptsRepository } from '../installation/consent-receipts.js';
import type { RuntimeEnvironment } from '../telemetry/environment.js';
import type { KillSwitchState } from '../types.js';
import type { LedgerEntry, UsageStatsRepository } from './repository.js';
import type { LocalStatsRecorder } from './recorder.js';
import type { SubmissionClient, SubmissionOutcome } from './submission-client.js';
import type { OutboundLedger, OutboundRecord } from './outbound-ledger.js';
import type { OutboundEntry, OutboundKind } from './outbound-repository.js';
import { countryForTimezone, periodEndingAt } from './aggregation.js';
import type { InstallationView, LocalStatistics, StatsDeletion } from './views.js';
import type { SubmissionPayload } from '../../core/protocol.js';

const DAY_MS = 86_400_000;
export const CHART_DAYS = 30;

export interface StatsServiceDeps {
  repository: UsageStatsRepository;
  recorder: LocalStatsRecorder | null;
  client: SubmissionClient;
  /** Everything else that left: OTLP batches, registration, erasure. */
  outbound: OutboundLedger;
  settings: SettingsRepository;
  receipts: ConsentReceiptsRepository;
  file: InstallationFile;
  consent: ConsentStore;
  killSwitch: KillSwitchState;
  environment: RuntimeEnvironment;
  appVersion: string;
  retentionDays: number;
  /** Other local telemetry data erased by delete-all (the support funnel and counters). */
  alsoDelete: () => Promise<void>;
  /** Called after installation.json got a new identity, so the running parts switch to it. */
  onNewIdentity?: () => Promise<void> | void;
  now: () => Date;
}

export class StatsService {
  constructor(private readonly deps: StatsServiceDeps) {}

  /** Writes what the recorder still buffers, so every view shows what has happened so far. */
  async #settle(): Promise<void> {
    await this.deps.recorder?.flush();
  }

  installation(): InstallationView {
    const data = this.deps.file.current;
    return {
      install_id: data.install_id,
      first_seen_at: data.first_seen_at,
      last_seen_at: data.last_seen_at,
      app_version: this.deps.appVersion,
      platform: this.deps.environment.platform,
      deployment_type: this.deps.environment.deployment_type,
      timezone: this.deps.environment.timezone,
      country: countryForTimezone(this.deps.environment.timezone),
      collector_registered: data.collector !== null,
      collector_problem: this.deps.client.problem(),
    };
  }

  async local(): Promise<LocalStatistics> {
    await this.#settle();
    const now = this.deps.now();
    const week = periodEndingAt(new Date(now.getTime() + DAY_MS));
    const chartFrom = new Date(week.end.getTime() - CHART_DAYS * DAY_MS);
    const [totals, thisWeek, byType, byDay, pageviews, last] = await Promise.all([
      this.deps.repository.totals(),
      this.deps.repository.countsByType(week.start, week.end),
      this.deps.repository.countsByType(),
      this.deps.repository.countsByDay(chartFrom, week.end),
      this.deps.repository.pageviewsByRoute(week.start, week.end),
      this.deps.repository.lastLedgerEntry(),
    ]);
    return {
      installation: this.installation(),
      consent: this.deps.consent.get(),
      kill_switch: { active: this.deps.killSwitch.disabled, reason: this.deps.killSwitch.reason },
      totals,
      this_week: {
        from: week.startDay,
        // Inclusive, as people read a range: the last day counted, not the exclusive end.
        to: new Date(week.end.getTime() - DAY_MS).toISOString().slice(0, 10),
        total: thisWeek.reduce((sum, row) => sum + row.count, 0),
        by_type: thisWeek,
        pageviews_by_route: pageviews,
      },
      by_type: byType,
      by_day: fillDays(byDay, chartFrom, week.end),
      recorder: this.deps.recorder
        ? { buffered: this.deps.recorder.depth, dropped: this.deps.recorder.dropped, last_error: this.deps.recorder.lastError }
        : { disabled: true },
      submission: { blocked_reason: this.deps.client.blockedReason(), retry_scheduled: this.deps.client.retryScheduled },
      last_submission: last,
    };
  }

  /** Exactly the payloads the next submission run would send, oldest first (one per pending week). */
  async preview(): Promise<SubmissionPayload[]> {
    await this.#settle();
    return (await this.deps.client.summaries()).map((summary) => summary.payload);
  }

  /** A submission run now (the admin's "Submit now"): what happened to each week. */
  async submitNow(): Promise<SubmissionOutcome> {
    await this.#settle();
    return this.deps.client.submitNow();
  }

  ledger(limit: number, offset: number): Promise<{ total: number; entries: LedgerEntry[] }> {
    return this.deps.repository.ledger(limit, offset);
  }

  outboundLedger(limit: number, offset: number, kind?: OutboundKind): Promise<{ total: number; entries: OutboundEntry[] }> {
    return this.deps.outbound.list(limit, offset, kind);
  }

  /** The whole local record as JSON text chunks: installation, settings, every event, both ledgers, every consent receipt. */
  async *exportJson(): AsyncGenerator<string> {
    await this.#settle();
    const settings = await this.deps.settings.all();
    const { install_id, first_seen_at, last_seen_at } = this.deps.file.current;
    const head = {
      exported_at: this.deps.now().toISOString(),
      installation: { ...this.installation(), install_id, first_seen_at, last_seen_at },
      consent: this.deps.consent.get(),
      settings,
    };
    yield `${JSON.stringify(head, null, 2).slice(0, -2)},\n  "events": [`;
    let first = true;
    for await (const page of this.deps.repository.events()) {
      for (const event of page) {
        yield `${first ? '\n' : ',\n'}    ${JSON.stringify(event)}`;
        first = false;
      }
    }
    const ledger = await this.deps.repository.ledger(10_000, 0);
    yield `${first ? '' : '\n  '}],\n  "ledger": ${JSON.stringify(ledger.entries, null, 2).replace(/\n/g, '\n  ')},\n  "outbound_ledger": [`;
    first = true;
    for await (const page of this.deps.outbound.entries()) {
      for (const entry of page) {
        yield `${first ? '\n' : ',\n'}    ${JSON.stringify(entry)}`;
        first = false;
      }
    }
    yield `${first ? '' : '\n  '}],\n  "consent_receipts": [`;
    first = true;
    for await (const page of this.deps.receipts.all()) {
      for (const receipt of page) {
        yield `${first ? '\n' : ',\n'}    ${JSON.stringify(receipt)}`;
        first = false;
      }
    }
    yield `${first ? '' : '\n  '}]\n}\n`;
  }

  /**
   * Erases the local record and asks the collector to erase this installation's data (the consent
   * receipts go too, but for one: the receipt that `actor` ran the deletion). Then the
   * installation starts a new identity (install id, salt, no collector secret), so nothing sent
   * afterwards links to what was erased — unless a registration with the collector is still kept
   * because the erasure did not reach it: then the identity stays so delete-all can be repeated.
   */
  async deleteAll(actor: ConsentActor = 'api'): Promise<StatsDeletion> {
    this.deps.recorder?.clear();
    // The erasure request's own ledger entry is held back and written after the deletion: the
    // receipt that it happened is all the ledger keeps.
    let receipt: OutboundRecord | null = null;
    const remote = await this.deps.client.deleteRemote((entry) => {
      receipt = entry;
    });
    const local = await this.deps.repository.deleteAll();
    const outbound = await this.deps.outbound.deleteAll();
    await this.deps.alsoDelete();
    await this.deps.consent.recordDeletion(actor);
    if (receipt) await this.deps.outbound.write(receipt);
    const renewed = !this.deps.client.holdsRegistration;
    if (renewed) await this.#startNewIdentity();
    return {
      local: { ...local, outbound_ledger: outbound },
      remote,
      new_identity: renewed
        ? { started: true as const, install_id: this.deps.file.current.install_id }
        : { started: false as const, reason: 'the erasure did not reach the collector, which may still hold this installation: the identity is kept so delete-all can be repeated' },
    };
  }

  /**
   * The admin's way out of a collector problem (unknown installation, refused signature): a new
   * identity, registered with the collector right away. The old identity's data at the collector
   * (if any is left) can then only be erased by the collector's admin.
   */
  async reRegister() {
    await this.#startNewIdentity();
    const registration = await this.deps.client.registerNow();
    return { install_id: this.deps.file.current.install_id, ...registration, problem: this.deps.client.problem() };
  }

  async #startNewIdentity(): Promise<void> {
    await this.deps.file.startNewIdentity();
    await this.deps.onNewIdentity?.();
  }

  /** Retention: local rows older than retentionDays; outbound ledger entries beyond its own bounds. */
  async purgeExpired() {
    await this.#settle();
    const cutoff = new Date(this.deps.now().getTime() - this.deps.retentionDays * DAY_MS);
    const purged = await this.deps.repository.purgeOlderThan(cutoff);
    return { ...purged, outbound_ledger: await this.deps.outbound.purgeExpired() };
  }
}

/** Every day of the chart range, zero where nothing happened, so the line chart has no gaps. */
function fillDays(rows: { day: string; count: number }[], from: Date, to: Date): { day: string; count: number }[] {
  const byDay = new Map(rows.map((row) => [row.day, row.count]));
  const days: { day: string; count: number }[] = [];
  for (let t = from.getTime(); t < to.getTime(); t += DAY_MS) {
    const day = new Date(t).toISOString().slice(0, 10);
    days.push({ day, count: byDay.get(day) ?? 0 });
  }
  return days;
}
