// The base layer: the install footprint (first_seen once, a daily heartbeat, the active-install gauge),
// on whenever a sink is configured and no kill switch is set. Fixed schema, enforced before export.
import type { InstallationFile } from '../installation/installation-file.js';
import type { KillSwitchState, Logger } from '../types.js';
import { BASE_EVENTS, enforceBaseSchema, type BaseRecord } from './base-schema.js';
import type { RuntimeEnvironment } from './environment.js';
import type { TelemetrySink } from './otlp-sink.js';
import { describeError } from '../../core/logging.js';

export interface BaseLayerDeps {
  file: InstallationFile;
  environment: RuntimeEnvironment;
  appVersion: string;
  releaseChannel: string;
  killSwitch: KillSwitchState;
  logger: Logger;
  now: () => Date;
}

export class BaseLayer {
  #sink: TelemetrySink | null = null;

  constructor(private readonly deps: BaseLayerDeps) {}

  attach(sink: TelemetrySink): void {
    this.#sink = sink;
  }

  /** Whether base events may leave the process at all. */
  get active(): boolean {
    return !this.deps.killSwitch.disabled && this.#sink !== null && this.#sink.stats().configured;
  }

  record(extra: Partial<Record<'heartbeat_at', string>> = {}): BaseRecord {
    const data = this.deps.file.current;
    return enforceBaseSchema({
      install_id: data.install_id,
      app_version: this.deps.appVersion,
      ...this.deps.environment,
      first_seen_at: data.first_seen_at,
      last_seen_at: data.last_seen_at,
      release_channel: this.deps.releaseChannel,
      ...extra,
    });
  }

  /** Attributes of the `app.install.active` gauge. */
  activeInstallAttributes(): Record<string, string> | null {
    if (!this.active || !this.deps.file.loaded) return null;
    return {
      app_version: this.deps.appVersion,
      platform: this.deps.environment.platform,
      deployment_type: this.deps.environment.deployment_type,
      release_channel: this.deps.releaseChannel,
    };
  }

  /**
   * Sends first_seen once per install. first_seen_sent_at is written only after the export was
   * accepted, so a failure is retried at the next start. Debug mode prints and never marks it sent.
   */
  async sendFirstSeen(): Promise<boolean> {
    if (!this.active || this.deps.file.current.first_seen_sent_at) return false;
    await this.#touchLastSeen();
    const sink = this.#sink!;
    sink.emit(BASE_EVENTS.firstSeen, this.record());
    const accepted = await sink.flush();
    if (accepted && !this.deps.killSwitch.debug) {
      await this.deps.file.update(() => ({ first_seen_sent_at: this.deps.now().toISOString() }));
    }
    return accepted;
  }

  /**
   * The opt-in install ping: one base-schema record when an admin turns detailed analytics on
   * (the runtime calls it once per change to on, never at start). Nothing without a sink or with a kill switch.
   */
  async sendOptInPing(): Promise<boolean> {
    if (!this.active) return false;
    const sink = this.#sink!;
    sink.emit(BASE_EVENTS.optIn, this.record());
    return sink.flush();
  }

  async sendHeartbeat(): Promise<boolean> {
    await this.#touchLastSeen();
    if (!this.active) return false;
    const sink = this.#sink!;
    sink.emit(BASE_EVENTS.heartbeat, this.record({ heartbeat_at: this.deps.now().toISOString() }));
    return sink.flush();
  }

  async #touchLastSeen(): Promise<void> {
    try {
      await this.deps.file.update(() => ({ last_seen_at: this.deps.now().toISOString() }));
    } catch (err) {
      this.deps.logger.warn({ err: describeError(err) }, 'could not update last_seen_at in installation.json');
    }
  }
}
