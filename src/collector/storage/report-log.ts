// The e-mail report log: every send (scheduled, manual, test) with its outcome. A scheduled run is
// claimed by inserting its unique period key first, so with several collector processes exactly one
// sends it.
import type { Knex } from 'knex';
import { COLLECTOR_TABLES } from './tables.js';
import { isUniqueViolation } from './database.js';
import { toDate } from '../analytics/time.js';

export type ReportKind = 'weekly' | 'monthly' | 'test';
export type ReportTrigger = 'schedule' | 'manual';
export type ReportStatus = 'sending' | 'sent' | 'failed' | 'skipped';

export interface ReportLogEntry {
  id: number;
  kind: ReportKind;
  trigger: ReportTrigger;
  period_key: string | null;
  status: ReportStatus;
  recipients: string[];
  message_id: string | null;
  error: string | null;
  created_at: string | null;
  finished_at: string | null;
}

export class ReportLogRepository {
  constructor(private readonly knex: Knex) {}

  /** A new log row; null when `periodKey` was already claimed (by this or another process). */
  async start(kind: ReportKind, trigger: ReportTrigger, recipients: string[], now: Date, periodKey: string | null = null): Promise<number | null> {
    try {
      const [row] = (await this.knex(COLLECTOR_TABLES.reportLog)
        .insert({ kind, trigger, period_key: periodKey, status: 'sending', recipients: JSON.stringify(recipients), created_at: now })
        .returning('id')) as ({ id: number } | number)[];
      return typeof row === 'object' ? Number(row.id) : Number(row);
    } catch (err) {
      if (periodKey && isUniqueViolation(err)) return null;
      throw err;
    }
  }

  async finish(id: number, status: Exclude<ReportStatus, 'sending'>, now: Date, details: { messageId?: string | null; error?: string | null } = {}): Promise<void> {
    await this.knex(COLLECTOR_TABLES.reportLog)
      .where('id', id)
      .update({ status, finished_at: now, message_id: details.messageId ?? null, error: details.error ?? null });
  }

  async recent(limit = 10): Promise<ReportLogEntry[]> {
    const rows = (await this.knex(COLLECTOR_TABLES.reportLog).select('*').orderBy('id', 'desc').limit(limit)) as Record<string, unknown>[];
    return rows.map((r) => ({
      id: Number(r.id),
      kind: r.kind as ReportKind,
      trigger: r.trigger as ReportTrigger,
      period_key: (r.period_key as string | null) ?? null,
      status: r.status as ReportStatus,
      recipients: safeList(r.recipients),
      message_id: (r.message_id as string | null) ?? null,
      error: (r.error as string | null) ?? null,
      created_at: toDate(r.created_at)?.toISOString() ?? null,
      finished_at: toDate(r.finished_at)?.toISOString() ?? null,
    }));
  }

  async purgeBefore(cutoff: Date): Promise<number> {
    return this.knex(COLLECTOR_TABLES.reportLog).where('created_at', '<', cutoff).delete();
  }
}

function safeList(value: unknown): string[] {
  try {
    const parsed = JSON.parse(String(value ?? '[]')) as unknown;
    return Array.isArray(parsed) ? parsed.map(String) : [];
  } catch {
    return [];
  }
}
