// Each signed-in user's own say over detailed analytics, whatever the admin chose for the
// installation. The database is the truth: a change writes the choice, bumps the consent revision
// (so every process reloads within the sync interval) and appends a user receipt, in one
// transaction. This process keeps the opted-out ids in memory because the drain and the page-view
// hook ask for every event.
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { UserPrivacyRepository } from './user-privacy-repository.js';
import type { ConsentActor, ConsentReceiptsRepository, ConsentReceipt } from './consent-receipts.js';
import type { Pseudonymizer } from './pseudonym.js';

/** Host user ids are strings or numbers; the store and the table key them as strings. */
export const MAX_USER_ID_LENGTH = 128;

export interface UserPrivacyDeps {
  repository: UserPrivacyRepository;
  receipts: ConsentReceiptsRepository;
  /** Bumps the consent revision inside the change's transaction. */
  changed(trx: Knex.Transaction): Promise<number>;
  pseudonymizer(): Pseudonymizer;
  noticeVersion: number;
  now: () => Date;
}

export class UserPrivacyStore {
  #optedOut = new Set<string>();

  constructor(private readonly deps: UserPrivacyDeps) {}

  /** Reads every opted-out id from the database (at start, and when another process changed a choice). */
  async load(): Promise<void> {
    this.#optedOut = new Set(await this.deps.repository.optedOutIds());
  }

  /** Synchronous, from memory: asked once per detailed event or exported page view. */
  isOptedOut(userId: string | number): boolean {
    return this.#optedOut.size > 0 && this.#optedOut.has(keyOf(userId));
  }

  /** The user's own pseudonym: what their receipts are filed under. */
  subjectOf(userId: string | number): string {
    return this.deps.pseudonymizer().pseudonym(keyOf(userId));
  }

  /** Stores the user's choice (`actor`: the user themself, or `api` for the handle); resolves whether they are opted out now. */
  async set(userId: string | number, optedOut: boolean, actor: ConsentActor): Promise<boolean> {
    const id = keyOf(userId);
    const { repository, receipts, now } = this.deps;
    await repository.transaction(async (trx) => {
      await this.deps.changed(trx);
      const previous = await repository.isOptedOut(id, trx);
      await repository.setOptedOut(id, optedOut, now(), trx);
      if (previous !== optedOut) {
        await receipts.append(
          {
            at: now(),
            scope: 'user',
            subject: this.subjectOf(id),
            actor,
            action: 'change',
            categories: ['analytics'],
            previous: { analytics: !previous },
            next: { analytics: !optedOut },
            noticeVersion: this.deps.noticeVersion,
          },
          trx,
        );
      }
    });
    if (optedOut) this.#optedOut.add(id);
    else this.#optedOut.delete(id);
    return optedOut;
  }

  /** The user's own receipts, newest first. */
  async history(userId: string | number, limit: number): Promise<ConsentReceipt[]> {
    return (await this.deps.receipts.list({ scope: 'user', subject: this.subjectOf(userId), limit })).receipts;
  }
}

/**
 * The table key of a host user id. Any id the host's getUser returns must work (never a 500): one
 * that does not fit the column (or is empty) is stored as its SHA-256, which is as stable as the id.
 */
export function keyOf(userId: string | number): string {
  const id = String(userId);
  if (id.length > 0 && id.length <= MAX_USER_ID_LENGTH) return id;
  return `sha256:${createHash('sha256').update(id).digest('hex')}`;
}
