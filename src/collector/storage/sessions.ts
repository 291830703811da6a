// Dashboard sessions in the collector's database (shared by every process on it). Rows are keyed
// by a hash of the session id; the id itself is never stored.
import type { Knex } from 'knex';
import { COLLECTOR_TABLES } from './tables.js';
import { toDate } from '../analytics/time.js';

const T = COLLECTOR_TABLES;

export interface StoredSession {
  idHash: string;
  tokenFingerprint: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
}

export class SessionRepository {
  constructor(private readonly knex: Knex) {}

  async create(session: StoredSession): Promise<void> {
    await this.knex(T.sessions).insert({
      id_hash: session.idHash,
      token_fingerprint: session.tokenFingerprint,
      created_at: session.createdAt,
      last_used_at: session.lastUsedAt,
      expires_at: session.expiresAt,
    });
  }

  async find(idHash: string): Promise<StoredSession | null> {
    const row = (await this.knex(T.sessions).select('*').where('id_hash', idHash).first()) as Record<string, unknown> | undefined;
    if (!row) return null;
    return {
      idHash: String(row.id_hash),
      tokenFingerprint: String(row.token_fingerprint),
      createdAt: toDate(row.created_at) ?? new Date(0),
      lastUsedAt: toDate(row.last_used_at) ?? new Date(0),
      expiresAt: toDate(row.expires_at) ?? new Date(0),
    };
  }

  async touch(idHash: string, at: Date): Promise<void> {
    await this.knex(T.sessions).where('id_hash', idHash).update({ last_used_at: at });
  }

  async delete(idHash: string): Promise<void> {
    await this.knex(T.sessions).where('id_hash', idHash).delete();
  }

  /** Sessions past their absolute expiry, idle since before `idleCutoff`, or made under another admin token. */
  async purgeExpired(now: Date, idleCutoff: Date, tokenFingerprint: string | null): Promise<number> {
    return this.knex(T.sessions)
      .where('expires_at', '<=', now)
      .orWhere('last_used_at', '<=', idleCutoff)
      .modify((q) => {
        if (tokenFingerprint === null) q.orWhereNotNull('token_fingerprint');
        else q.orWhereNot('token_fingerprint', tokenFingerprint);
      })
      .delete();
  }
}
