// The status report (GET {api}/status, telemetry.status(), the settings page): one snapshot of
// consent, kill switch, sink, queues, privacy guard, jobs, local statistics and the collector.
import type { ConsentState, GuardCounters, KillSwitchState, SinkStats } from './types.js';
import type { CollectorProblem } from './installation/installation-file.js';
import { KILL_SWITCH_EXPLANATIONS } from './installation/kill-switch.js';

/** A collector problem as the admin sees it: what the collector said, and since when. */
type CollectorProblemView = Pick<CollectorProblem, 'code' | 'explanation' | 'since'>;

export interface StatusReport {
  install_id: string | null;
  consent: ConsentState & { needs_reconfirmation: boolean };
  kill_switch: { active: boolean; reason: string | null; explanation: string | null };
  debug: boolean;
  sink: SinkStats;
  queue: { intake_depth: number; intake_dropped: number; export_depth: number; export_dropped: number };
  /** What the privacy guard dropped (keys) and redacted (values), in total and per reason (docs/adding-events.md). */
  privacy_guard: { rejected_events: number; dropped_keys: number; redacted_values: number; by_reason: Record<string, number> };
  jobs: { name: string; nextRunAt: string | null; lastRunAt: string | null; lastError: string | null }[];
  local_stats: { enabled: boolean; buffered: number; dropped: number; last_error: string | null };
  collector: { configured: boolean; registered: boolean; problem: CollectorProblemView | null };
}

/** What the report is read from: each part's own counters, taken at the moment of the call. */
export interface StatusSources {
  /** From the options: what is configured. */
  configured: { otlpEndpoint: string | null; queueCap: number; collectorUrl: string | null };
  killSwitch: KillSwitchState;
  installId: string | null;
  consent: { get(): ConsentState; readonly needsReconfirmation: boolean };
  /** null until the sink is started. */
  sink: { stats(): SinkStats } | null;
  intake: { readonly intakeDepth: number; readonly intakeDropped: number };
  guard: { readonly counters: GuardCounters };
  jobs: { list(): StatusReport['jobs'] };
  recorder: { readonly depth: number; readonly dropped: number; readonly lastError: string | null } | null;
  collector: { readonly holdsRegistration: boolean; problem(): CollectorProblemView | null };
}

const disconnectedSinkStats = (configured: StatusSources['configured'], killSwitch: KillSwitchState): SinkStats => ({
  configured: !killSwitch.disabled && (configured.otlpEndpoint !== null || killSwitch.debug),
  endpoint: null,
  debug: killSwitch.debug,
  queueDepth: 0,
  queueCap: configured.queueCap,
  dropped: 0,
  exported: 0,
  failedExports: 0,
  lastError: null,
  lastExportAt: null,
});

export function statusReport(from: StatusSources): StatusReport {
  const { configured, killSwitch, recorder } = from;
  const sinkStats = from.sink?.stats() ?? disconnectedSinkStats(configured, killSwitch);
  const g = from.guard.counters;
  return {
    install_id: from.installId,
    consent: { ...from.consent.get(), needs_reconfirmation: from.consent.needsReconfirmation },
    kill_switch: {
      active: killSwitch.disabled,
      reason: killSwitch.reason,
      explanation: killSwitch.reason ? KILL_SWITCH_EXPLANATIONS[killSwitch.reason] : null,
    },
    debug: killSwitch.debug,
    sink: sinkStats,
    queue: {
      intake_depth: from.intake.intakeDepth,
      intake_dropped: from.intake.intakeDropped,
      export_depth: sinkStats.queueDepth,
      export_dropped: sinkStats.dropped,
    },
    privacy_guard: { rejected_events: g.rejectedEvents, dropped_keys: g.droppedKeys, redacted_values: g.redactedValues, by_reason: { ...g.byReason } },
    jobs: from.jobs.list(),
    local_stats: {
      enabled: recorder !== null,
      buffered: recorder?.depth ?? 0,
      dropped: recorder?.dropped ?? 0,
      last_error: recorder?.lastError ?? null,
    },
    collector: {
      configured: configured.collectorUrl !== null,
      registered: from.collector.holdsRegistration,
      problem: from.collector.problem(),
    },
  };
}
