// Each signed-in user's own say over detailed analytics, whatever the admin chose for the
// installation. The database is the truth; this process keeps the opted-out ids in memory because
// the drain and the page-view hook ask for every event, and reloads them when another process (or
// the CLI) changes a choice.
import type { UserPrivacyRepository } from './user-privacy-repository.js';

/** Host user ids are strings or numbers; the store and the table key them as strings. */
export const MAX_USER_ID_LENGTH = 128;

export type UserChoiceListener = (change: { userId: string; optedOut: boolean; previous: boolean }) => void | Promise<void>;

export class UserPrivacyStore {
  #optedOut = new Set<string>();
  readonly #listeners = new Set<UserChoiceListener>();

  constructor(
    private readonly repository: UserPrivacyRepository,
    private readonly now: () => Date,
  ) {}

  /** Reads every opted-out id from the database (at start, and when another process changed one). */
  async load(): Promise<void> {
    this.#optedOut = new Set(await this.repository.optedOutIds());
  }

  /** Synchronous, from memory: asked once per detailed event or exported page view. */
  isOptedOut(userId: string | number): boolean {
    return this.#optedOut.size > 0 && this.#optedOut.has(String(userId));
  }

  /** Stores the user's choice; resolves whether they are opted out now. */
  async set(userId: string | number, optedOut: boolean): Promise<boolean> {
    const id = keyOf(userId);
    const previous = await this.repository.isOptedOut(id);
    await this.repository.setOptedOut(id, optedOut, this.now());
    if (optedOut) this.#optedOut.add(id);
    else this.#optedOut.delete(id);
    if (previous !== optedOut) {
      for (const listener of this.#listeners) await listener({ userId: id, optedOut, previous });
    }
    return optedOut;
  }

  onChange(listener: UserChoiceListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

export function keyOf(userId: string | number): string {
  const id = String(userId);
  if (id.length === 0 || id.length > MAX_USER_ID_LENGTH) throw new TypeError(`koa-consent-telemetry: a user id must be 1–${MAX_USER_ID_LENGTH} characters`);
  return id;
}
