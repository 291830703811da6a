// Installation consent. With a database (always, inside the plugin) the consent.* rows of
// telemetry_settings are the source of truth, shared by every process on that database: a change
// writes the rows, bumps consent.revision and appends a receipt in one transaction, and other
// processes reload it when ConsentSync sees the revision move (docs/configuration.md, "Where consent
// lives"). installation.json keeps a copy: it is imported once into a database that has no consent
// yet (a fresh or pre-0.2 database) and is the store only when there is no database at all.
// Reads are synchronous and cheap because the request path asks on every event.
import type { ConsentCategory, ConsentState, Logger } from '../types.js';
import { CONSENT_CATEGORIES } from '../types.js';
import { DEFAULT_CONSENT, type InstallationFile } from './installation-file.js';
import { REVISION_KEY, type SettingsRepository } from './settings-repository.js';
import type { ConsentActor, ConsentReceipt, ConsentReceiptsRepository, ReceiptQuery } from './consent-receipts.js';
import type { ConsentSync } from './consent-sync.js';
import { describeError } from '../../core/logging.js';
import type { Knex } from 'knex';

/**
 * How this process learned of a change: `local` when it made the change itself (set()), `remote`
 * when it reloaded a change another process (or the CLI) made. Side effects that must happen once
 * per installation, not once per process (the submission after an opt-in), check for `local`.
 */
export interface ConsentChange {
  origin: 'local' | 'remote';
  /** Who made a local change; null for a remote one. */
  actor: ConsentActor | null;
}

export type ConsentListener = (consent: ConsentState, previous: ConsentState, change: ConsentChange) => void | Promise<void>;
export type ConsentPatch = Partial<Record<ConsentCategory, boolean>>;

export const CONSENT_SETTING_KEYS: Record<ConsentCategory | 'version' | 'updated_at' | 'revision', string> = {
  analytics: 'consent.analytics',
  usageStats: 'consent.usage_stats',
  version: 'consent.version',
  updated_at: 'consent.updated_at',
  revision: REVISION_KEY,
};

export interface ConsentStoreExtras {
  /** Registers this store's reload, so changes made by other processes are picked up. */
  sync?: ConsentSync | null;
  /** Where every change is recorded; without it no receipt is written. */
  receipts?: ConsentReceiptsRepository | null;
}

const categoriesOf = (state: ConsentState): Record<string, boolean> => Object.fromEntries(CONSENT_CATEGORIES.map((c) => [c, state[c]]));

export class ConsentStore {
  #effective: ConsentState = { ...DEFAULT_CONSENT };
  /**
   * #effective.analytics as a field of this object, for the request path (one object fewer to load
   * per request). Assigned wherever #effective is, in the same statement's turn: never a listener's
   * copy that could lag behind a withdrawal.
   */
  #analyticsGranted = DEFAULT_CONSENT.analytics;
  /** The stored choice as written (before the notice-version rule); null until loaded. */
  #stored: ConsentState | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #listeners = new Set<ConsentListener>();
  readonly #receipts: ConsentReceiptsRepository | null;

  constructor(
    private readonly file: InstallationFile,
    private readonly settings: SettingsRepository | null,
    private readonly noticeVersion: number,
    private readonly logger: Logger,
    private readonly now: () => Date,
    extras: ConsentStoreExtras = {},
  ) {
    this.#receipts = extras.receipts ?? null;
    extras.sync?.register(() => this.reload());
  }

  /** Loads the stored choice; an opt-in given under an older privacy notice counts as not given. */
  async load(): Promise<ConsentState> {
    const data = this.file.loaded ? this.file.current : await this.file.load();
    const settings = this.settings;
    if (!settings) {
      this.#apply(data.consent);
      return this.get();
    }
    await this.#serial(async () => {
      this.#apply((await this.#readStored()) ?? (await this.#importFromFile(settings, data.consent)));
    });
    return this.get();
  }

  /**
   * Re-reads the database's consent and tells listeners (origin 'remote') when the effective choice
   * changed. Registered on ConsentSync; a no-op before load() and without a database.
   */
  async reload(): Promise<void> {
    if (!this.settings || this.#stored === null) return;
    await this.#serial(async () => {
      // A missing row (a host emptied telemetry_settings) is read as no consent: never more permissive.
      const stored = (await this.#readStored()) ?? { ...DEFAULT_CONSENT };
      const before = this.#effective;
      this.#apply(stored);
      if (this.#differs(before)) await this.#announce(before, { origin: 'remote', actor: null });
    });
  }

  get(): ConsentState {
    return { ...this.#effective };
  }

  /** True when the stored version predates the current notice and an opt-in must be re-confirmed. */
  get needsReconfirmation(): boolean {
    const stored = this.#stored;
    return stored !== null && stored.version < this.noticeVersion && (stored.analytics || stored.usageStats);
  }

  /** isGranted('analytics'), read on the request path. */
  get analyticsGranted(): boolean {
    return this.#analyticsGranted;
  }

  isGranted(category: ConsentCategory): boolean {
    return this.#effective[category];
  }

  /**
   * Changes installation consent for every process on the database and records a receipt naming
   * `actor`. If the database write fails, set() rejects; a withdrawal in the patch still applies in
   * this process at once (a failed write never leaves it more permissive than asked), nothing is granted.
   */
  async set(patch: ConsentPatch, actor: ConsentActor = 'api'): Promise<ConsentState> {
    const updates: ConsentPatch = {};
    for (const category of CONSENT_CATEGORIES) {
      if (typeof patch[category] === 'boolean') updates[category] = patch[category];
    }
    return this.#serial(async () => {
      const before = this.#effective;
      const settings = this.settings;
      let changedInStore: boolean;
      if (settings) {
        try {
          const { next, changed } = await settings.transaction((trx) => this.#write(settings, trx, updates, actor));
          this.#apply(next);
          changedInStore = changed;
        } catch (err) {
          this.#withdrawLocally(updates);
          if (this.#differs(before)) await this.#announce(before, { origin: 'local', actor });
          throw err;
        }
        await this.file.update(() => ({ consent: { ...this.#stored! } })).catch((err: unknown) => {
          this.logger.warn({ err: describeError(err) }, 'could not copy consent to installation.json (the database holds it)');
        });
      } else {
        const data = await this.file.update((current) => ({ consent: this.#next(this.#effectiveOf(current.consent), updates) }));
        this.#apply(data.consent);
        changedInStore = true;
      }
      if (this.#differs(before)) {
        // When the database already held this value (another process changed it and this one had not
        // reloaded yet), this process only catches up: it is not the origin of the change.
        await this.#announce(before, changedInStore ? { origin: 'local', actor } : { origin: 'remote', actor: null });
      }
      return this.get();
    });
  }

  onChange(listener: ConsentListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The receipts of one scope, newest first. */
  receipts(query: ReceiptQuery): Promise<{ total: number; receipts: ConsentReceipt[] }> {
    return this.#receipts ? this.#receipts.list(query) : Promise.resolve({ total: 0, receipts: [] });
  }

  /** Delete-all: every receipt (installation and users) goes; one receipt that the deletion happened stays. */
  async recordDeletion(actor: ConsentActor): Promise<void> {
    const receipts = this.#receipts;
    if (!this.settings || !receipts) return;
    const current = categoriesOf(this.#effective);
    await this.settings.transaction(async (trx) => {
      await receipts.deleteAll(trx);
      await receipts.append(
        { at: this.now(), scope: 'installation', actor, action: 'deleted', categories: [...CONSENT_CATEGORIES], previous: current, next: current, noticeVersion: this.noticeVersion },
        trx,
      );
    });
  }

  async #write(settings: SettingsRepository, trx: Knex.Transaction, updates: ConsentPatch, actor: ConsentActor) {
    const at = this.now();
    // First: takes the write lock, so the read below sees every change committed before ours.
    await settings.bumpRevision(at, trx);
    const base = this.#effectiveOf((await this.#readStored(trx)) ?? { ...DEFAULT_CONSENT });
    const next = this.#next(base, updates);
    const categories = CONSENT_CATEGORIES.filter((c) => base[c] !== next[c]);
    await settings.setMany(this.#rows(next), at, trx);
    if (categories.length > 0 && this.#receipts) {
      await this.#receipts.append(
        { at, scope: 'installation', actor, action: 'change', categories, previous: categoriesOf(base), next: categoriesOf(next), noticeVersion: this.noticeVersion },
        trx,
      );
    }
    return { next, changed: categories.length > 0 };
  }

  /** A database without consent rows takes installation.json's choice, once (the first process wins). */
  async #importFromFile(settings: SettingsRepository, fromFile: ConsentState): Promise<ConsentState> {
    return settings.transaction(async (trx) => {
      const at = this.now();
      await settings.ensureRevision(at, trx);
      if (((await settings.revision(trx)) ?? 0) > 0) return (await this.#readStored(trx)) ?? { ...DEFAULT_CONSENT };
      await settings.setMany(this.#rows(fromFile), at, trx);
      await settings.bumpRevision(at, trx);
      if (fromFile.updated_at !== null && this.#receipts) {
        await this.#receipts.append(
          {
            at,
            scope: 'installation',
            actor: 'system',
            action: 'import',
            categories: [...CONSENT_CATEGORIES],
            previous: categoriesOf(DEFAULT_CONSENT),
            next: categoriesOf(fromFile),
            noticeVersion: fromFile.version,
          },
          trx,
        );
      }
      return { ...fromFile };
    });
  }

  /** The consent rows, or null when consent was never stored in this database. */
  async #readStored(trx?: Knex.Transaction): Promise<ConsentState | null> {
    const rows = await this.settings!.withPrefix('consent.', trx);
    if (rows[REVISION_KEY] === undefined || rows[CONSENT_SETTING_KEYS.version] === undefined) return null;
    const version = Number.parseInt(rows[CONSENT_SETTING_KEYS.version] ?? '', 10);
    return {
      analytics: rows[CONSENT_SETTING_KEYS.analytics] === 'true',
      usageStats: rows[CONSENT_SETTING_KEYS.usageStats] === 'true',
      version: Number.isInteger(version) ? version : 0,
      updated_at: rows[CONSENT_SETTING_KEYS.updated_at] || null,
    };
  }

  #rows(state: ConsentState): Record<string, string> {
    return {
      [CONSENT_SETTING_KEYS.analytics]: String(state.analytics),
      [CONSENT_SETTING_KEYS.usageStats]: String(state.usageStats),
      [CONSENT_SETTING_KEYS.version]: String(state.version),
      [CONSENT_SETTING_KEYS.updated_at]: state.updated_at ?? '',
    };
  }

  #next(base: ConsentState, updates: ConsentPatch): ConsentState {
    return {
      analytics: updates.analytics ?? base.analytics,
      usageStats: updates.usageStats ?? base.usageStats,
      version: this.noticeVersion,
      updated_at: this.now().toISOString(),
    };
  }

  #apply(stored: ConsentState): void {
    this.#stored = { ...stored };
    this.#effective = this.#effectiveOf(stored);
    this.#analyticsGranted = this.#effective.analytics;
  }

  /** Only withdrawals of the patch, in this process only (the database could not be written). */
  #withdrawLocally(updates: ConsentPatch): void {
    const effective = { ...this.#effective };
    for (const category of CONSENT_CATEGORIES) if (updates[category] === false) effective[category] = false;
    this.#effective = effective;
    this.#analyticsGranted = effective.analytics;
  }

  #differs(before: ConsentState): boolean {
    return before.analytics !== this.#effective.analytics || before.usageStats !== this.#effective.usageStats;
  }

  #effectiveOf(stored: ConsentState): ConsentState {
    if (stored.version < this.noticeVersion) {
      return { analytics: false, usageStats: false, version: stored.version, updated_at: stored.updated_at };
    }
    return { ...stored };
  }

  /** One consent operation at a time in this process: a reload never interleaves with a set(). */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #announce(previous: ConsentState, change: ConsentChange): Promise<void> {
    const snapshot = this.get();
    for (const listener of this.#listeners) {
      try {
        await listener(snapshot, { ...previous }, change);
      } catch (err) {
        this.logger.warn({ err: describeError(err) }, 'a consent onChange listener failed');
      }
    }
  }
}
