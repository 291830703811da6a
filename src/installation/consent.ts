// Consent: read from installation.json (the source of truth), mirrored to telemetry_settings and
// announced to listeners (a host syncing its own allow_analytics flag). Reads are synchronous and
// cheap because the request path asks on every event.
import type { ConsentCategory, ConsentState, Logger } from '../types.js';
import { CONSENT_CATEGORIES } from '../types.js';
import { DEFAULT_CONSENT, type InstallationFile } from './installation-file.js';
import type { SettingsRepository } from './settings-repository.js';
import { describeError } from '../logging.js';

export type ConsentListener = (consent: ConsentState, previous: ConsentState) => void | Promise<void>;
export type ConsentPatch = Partial<Record<ConsentCategory, boolean>>;

export const CONSENT_SETTING_KEYS: Record<ConsentCategory | 'version' | 'updated_at', string> = {
  analytics: 'consent.analytics',
  usageStats: 'consent.usage_stats',
  version: 'consent.version',
  updated_at: 'consent.updated_at',
};

export class ConsentStore {
  #effective: ConsentState = { ...DEFAULT_CONSENT };
  readonly #listeners = new Set<ConsentListener>();

  constructor(
    private readonly file: InstallationFile,
    private readonly settings: SettingsRepository | null,
    private readonly noticeVersion: number,
    private readonly logger: Logger,
    private readonly now: () => Date,
  ) {}

  /** Loads the stored choice; an opt-in given under an older privacy notice counts as not given. */
  async load(): Promise<ConsentState> {
    const data = this.file.loaded ? this.file.current : await this.file.load();
    this.#effective = this.#effectiveOf(data.consent);
    await this.#mirror();
    return this.get();
  }

  get(): ConsentState {
    return { ...this.#effective };
  }

  /** True when the stored version predates the current notice and an opt-in must be re-confirmed. */
  get needsReconfirmation(): boolean {
    const stored = this.file.loaded ? this.file.current.consent : null;
    return stored !== null && stored.version < this.noticeVersion && (stored.analytics || stored.usageStats);
  }

  isGranted(category: ConsentCategory): boolean {
    return this.#effective[category];
  }

  async set(patch: ConsentPatch): Promise<ConsentState> {
    const updates: ConsentPatch = {};
    for (const category of CONSENT_CATEGORIES) {
      if (typeof patch[category] === 'boolean') updates[category] = patch[category];
    }
    // `before` is read inside the queued update, so two quick set() calls compare in order.
    let before = this.#effective;
    const data = await this.file.update((current) => {
      const base = this.#effectiveOf(current.consent);
      before = base;
      return {
        consent: {
          analytics: updates.analytics ?? base.analytics,
          usageStats: updates.usageStats ?? base.usageStats,
          version: this.noticeVersion,
          updated_at: this.now().toISOString(),
        },
      };
    });
    this.#effective = this.#effectiveOf(data.consent);
    await this.#mirror();
    if (before.analytics !== this.#effective.analytics || before.usageStats !== this.#effective.usageStats) {
      await this.#announce(before);
    }
    return this.get();
  }

  onChange(listener: ConsentListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #effectiveOf(stored: ConsentState): ConsentState {
    if (stored.version < this.noticeVersion) {
      return { analytics: false, usageStats: false, version: stored.version, updated_at: stored.updated_at };
    }
    return { ...stored };
  }

  // The mirror is a convenience for the host's admin tools; a database failure must not undo consent.
  async #mirror(): Promise<void> {
    if (!this.settings) return;
    const c = this.#effective;
    try {
      await this.settings.setMany(
        {
          [CONSENT_SETTING_KEYS.analytics]: String(c.analytics),
          [CONSENT_SETTING_KEYS.usageStats]: String(c.usageStats),
          [CONSENT_SETTING_KEYS.version]: String(c.version),
          [CONSENT_SETTING_KEYS.updated_at]: c.updated_at ?? '',
        },
        this.now(),
      );
    } catch (err) {
      this.logger.warn({ err: describeError(err) }, 'could not mirror consent to telemetry_settings');
    }
  }

  async #announce(previous: ConsentState): Promise<void> {
    const snapshot = this.get();
    for (const listener of this.#listeners) {
      try {
        await listener(snapshot, { ...previous });
      } catch (err) {
        this.logger.warn({ err: describeError(err) }, 'a consent onChange listener failed');
      }
    }
  }
}
