// The consent receipts: an append-only log of every consent change, the installation's and a user's
// own. Each receipt says when, which categories changed, old → new, the privacy-notice version and
// who changed it — as a pseudonym, never a raw id (see docs/privacy-policy.md, "Consent receipts").
// There is deliberately no update method, and the table refuses UPDATE at the database level.
import type { Knex } from 'knex';
import { TABLES } from '../db/tables.js';
import { isoFromDb, jsonObjectFromDb, rowsById } from '../../core/db/values.js';
import type { Pseudonymizer } from './pseudonym.js';

export type ReceiptScope = 'installation' | 'user';
/** change: a choice was made; import: consent brought over from installation.json; deleted: delete-all ran. */
export type ReceiptAction = 'change' | 'import' | 'deleted';

/**
 * Who made a change. Fixed actors: `cli` (the koa-consent-telemetry command), `api` (the handle's
 * consent.set), `system` (the plugin itself, e.g. importing installation.json). People appear only as
 * `admin:<pseudonym>` or `user:<pseudonym>`, the pseudonym being hmac(install salt, id) — the same
 * 16 hex characters the detailed events carry as user.pseudonym.
 */
export type ConsentActor = 'cli' | 'api' | 'system' | `admin:${string}` | `user:${string}`;

export const ACTOR_PATTERN = /^(cli|api|system|(admin|user):[0-9a-f]{16})$/;

export function adminActor(pseudonymizer: Pseudonymizer, adminId: string | number): ConsentActor {
  return `admin:${pseudonymizer.pseudonym(adminId)}`;
}

export function userActor(pseudonymizer: Pseudonymizer, userId: string | number): ConsentActor {
  return `user:${pseudonymizer.pseudonym(userId)}`;
}

export interface NewConsentReceipt {
  at: Date;
  scope: ReceiptScope;
  /** The user's pseudonym for scope 'user'; null (or omitted) for the installation. */
  subject?: string | null;
  actor: ConsentActor;
  action: ReceiptAction;
  /** The categories whose value changed (all of them for 'import' and 'deleted'). */
  categories: string[];
  previous: Record<string, boolean>;
  next: Record<string, boolean>;
  noticeVersion: number;
}

export interface ConsentReceipt {
  id: number;
  at: string;
  scope: ReceiptScope;
  subject: string | null;
  actor: string;
  action: ReceiptAction;
  categories: string[];
  previous: Record<string, boolean>;
  next: Record<string, boolean>;
  notice_version: number;
}

export interface ReceiptQuery {
  scope: ReceiptScope;
  /** Only this user's receipts (scope 'user'); ignored for the installation. */
  subject?: string;
  limit: number;
  offset?: number;
}

/** Bounds a subject so a bad caller cannot store a raw id or free text in it. */
const SUBJECT_PATTERN = /^[0-9a-f]{16}$/;

export class ConsentReceiptsRepository {
  constructor(private readonly db: Knex) {}

  /** Appends one receipt; pass the transaction of the change so the receipt and the change commit together. */
  async append(receipt: NewConsentReceipt, trx?: Knex.Transaction): Promise<void> {
    if (!ACTOR_PATTERN.test(receipt.actor)) throw new TypeError('consent receipt: the actor must be cli, api, system, admin:<pseudonym> or user:<pseudonym>');
    const subject = receipt.scope === 'user' ? (receipt.subject ?? null) : null;
    if (receipt.scope === 'user' && (subject === null || !SUBJECT_PATTERN.test(subject))) {
      throw new TypeError('consent receipt: a user receipt needs the user\'s pseudonym as its subject');
    }
    await (trx ?? this.db)(TABLES.consentReceipts).insert({
      created_at: receipt.at,
      scope: receipt.scope,
      subject,
      actor: receipt.actor,
      action: receipt.action,
      categories: JSON.stringify(receipt.categories),
      previous: JSON.stringify(receipt.previous),
      next: JSON.stringify(receipt.next),
      notice_version: receipt.noticeVersion,
    });
  }

  /** Newest first, paged. */
  async list(query: ReceiptQuery): Promise<{ total: number; receipts: ConsentReceipt[] }> {
    const where = (builder: Knex.QueryBuilder) => {
      builder.where('scope', query.scope);
      if (query.scope === 'user' && query.subject !== undefined) builder.where('subject', query.subject);
      return builder;
    };
    const total = (await where(this.db(TABLES.consentReceipts)).count({ n: '*' }).first()) as { n: number | string };
    const rows = (await where(this.db(TABLES.consentReceipts))
      .orderBy('id', 'desc')
      .limit(query.limit)
      .offset(query.offset ?? 0)) as Record<string, unknown>[];
    return { total: Number(total.n), receipts: rows.map(toReceipt) };
  }

  /** Every receipt of both scopes, oldest first, in pages (for the JSON export). */
  async *all(pageSize = 5_000): AsyncGenerator<ConsentReceipt[]> {
    for await (const rows of rowsById(this.db, TABLES.consentReceipts, pageSize)) yield rows.map(toReceipt);
  }

  /** Delete-all only: the caller appends the receipt of the deletion in the same transaction. */
  async deleteAll(trx?: Knex.Transaction): Promise<number> {
    return (trx ?? this.db)(TABLES.consentReceipts).delete();
  }
}

function booleans(value: unknown): Record<string, boolean> {
  return Object.fromEntries(Object.entries(jsonObjectFromDb(value)).map(([key, v]) => [key, v === true]));
}

function stringList(value: unknown): string[] {
  try {
    const parsed = JSON.parse(String(value)) as unknown;
    return Array.isArray(parsed) ? parsed.map(String) : [];
  } catch {
    return [];
  }
}

function toReceipt(row: Record<string, unknown>): ConsentReceipt {
  return {
    id: Number(row.id),
    at: isoFromDb(row.created_at) ?? '',
    scope: row.scope === 'user' ? 'user' : 'installation',
    subject: typeof row.subject === 'string' ? row.subject : null,
    actor: String(row.actor),
    action: String(row.action) as ReceiptAction,
    categories: stringList(row.categories),
    previous: booleans(row.previous),
    next: booleans(row.next),
    notice_version: Number(row.notice_version),
  };
}
