// Reading column values the same way on every knex client: SQLite hands timestamps back as epoch
// milliseconds (sometimes as digit strings) and JSON columns as text, PostgreSQL as Date and objects.
import type { Knex } from 'knex';

/** A timestamp column as a Date; null for NULL or anything unreadable. */
export function dateFromDb(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  const date = value instanceof Date ? value : new Date(typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : (value as string | number));
  return Number.isFinite(date.getTime()) ? date : null;
}

/** A timestamp column as an ISO string; null for NULL or anything unreadable. */
export function isoFromDb(value: unknown): string | null {
  return dateFromDb(value)?.toISOString() ?? null;
}

/** A JSON object column (text on SQLite, json/text on PostgreSQL); {} when it is not an object. */
export function jsonObjectFromDb(value: unknown): Record<string, unknown> {
  if (typeof value === 'object' && value !== null) return value as Record<string, unknown>;
  try {
    const parsed = JSON.parse(String(value)) as unknown;
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * Every row of `table`, oldest id first, in pages (keyset pagination on `id`): an export reads a
 * table of any size without holding it in memory.
 */
export async function* rowsById(db: Knex, table: string, pageSize: number): AsyncGenerator<Record<string, unknown>[]> {
  let afterId = 0;
  for (;;) {
    const rows = (await db(table).where('id', '>', afterId).orderBy('id').limit(pageSize)) as Record<string, unknown>[];
    if (rows.length === 0) return;
    afterId = Number(rows[rows.length - 1]!.id);
    yield rows;
  }
}
