// Consent is one truth for every process on a database (the app's other processes, the CLI, other
// hosts on a shared PostgreSQL): each consent change bumps one revision row in the same transaction,
// and every process polls that row on an unref'd timer. When it moved, the registered reload
// callbacks re-read what they own from the database (installation consent, per-user choices).
// Polling works on every database; one indexed row read per interval is cheap.
import type { Knex } from 'knex';
import type { Logger } from '../types.js';
import { OnceLogger } from '../../core/logging.js';
import type { SettingsRepository } from './settings-repository.js';

export type ConsentReload = () => Promise<void>;

export interface ConsentSyncDeps {
  settings: SettingsRepository;
  /** How often the revision is polled (option consentSyncIntervalMs). */
  intervalMs: number;
  logger: Logger;
  now: () => Date;
}

export class ConsentSync {
  readonly #reloads = new Set<ConsentReload>();
  readonly #once: OnceLogger;
  #known: number | null = null;
  #timer: NodeJS.Timeout | null = null;
  #inFlight: Promise<boolean> | null = null;
  #stopped = false;

  constructor(private readonly deps: ConsentSyncDeps) {
    this.#once = new OnceLogger(deps.logger);
  }

  /** The revision this process has caught up with (null before start()). */
  get revision(): number | null {
    return this.#known;
  }

  get running(): boolean {
    return this.#timer !== null;
  }

  /**
   * Adds a callback run (in registration order, one after the other) whenever another process
   * changed consent. It must re-read its state from the database and be idempotent: it also runs
   * after this process's own changes. A rejection is logged and the reload retried at the next poll.
   */
  register(reload: ConsentReload): () => void {
    this.#reloads.add(reload);
    return () => this.#reloads.delete(reload);
  }

  /**
   * Records that consent changed: bumps the revision inside `trx`, the transaction that writes the
   * change (call it first in the transaction: it takes the write lock, so what you read next is
   * current). Without a transaction it runs in one of its own. Returns the new revision.
   */
  changed(trx?: Knex.Transaction): Promise<number> {
    const { settings, now } = this.deps;
    return trx ? settings.bumpRevision(now(), trx) : settings.transaction((own) => settings.bumpRevision(now(), own));
  }

  /** Reads the current revision as the baseline and starts polling. Idempotent; a failed first read is retried by the poll. */
  async start(): Promise<void> {
    if (this.#stopped || this.#timer) return;
    try {
      this.#known = await this.deps.settings.revision();
    } catch (err) {
      this.#once.warn('consent-sync', err, 'could not read the consent revision; retrying in the background');
    }
    if (this.#stopped || this.#timer) return;
    this.#timer = setInterval(() => void this.check(), this.deps.intervalMs);
    this.#timer.unref();
  }

  /**
   * Polls once now: true when the revision moved and every reload succeeded. Never rejects; a
   * database error is logged once (until the poll works again). Concurrent calls share one poll.
   */
  check(): Promise<boolean> {
    this.#inFlight ??= this.#poll().finally(() => {
      this.#inFlight = null;
    });
    return this.#inFlight;
  }

  /** Stops polling; resolves when a poll in flight has finished (so the database can be closed). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#inFlight?.catch(() => undefined);
  }

  async #poll(): Promise<boolean> {
    if (this.#stopped) return false;
    let revision: number | null;
    try {
      revision = await this.deps.settings.revision();
    } catch (err) {
      this.#once.warn('consent-sync', err, 'could not check the consent revision; other processes\' consent changes are seen once the database answers again');
      return false;
    }
    this.#once.reset('consent-sync', 'the consent revision can be read again');
    if (revision === this.#known || this.#stopped) return false;
    let allReloaded = true;
    for (const reload of this.#reloads) {
      try {
        await reload();
      } catch (err) {
        allReloaded = false;
        this.#once.warn('consent-reload', err, 'a consent reload failed; it is retried at the next check');
      }
    }
    if (allReloaded) this.#once.reset('consent-reload', 'consent changes are reloaded again');
    // Only a complete reload moves the baseline: otherwise the next poll tries again.
    if (allReloaded) this.#known = revision;
    return allReloaded;
  }
}
