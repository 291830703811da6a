// UTC calendar helpers: the collector counts in UTC days ('YYYY-MM-DD') and ISO weeks starting Monday.
export const DAY_MS = 86_400_000;

export function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function parseDay(day: string): Date {
  return new Date(`${day}T00:00:00.000Z`);
}

export function addDays(day: string, days: number): string {
  return utcDay(new Date(parseDay(day).getTime() + days * DAY_MS));
}

/** The Monday (UTC) of the ISO week that contains `date`. */
export function weekStart(date: Date): string {
  const day = parseDay(utcDay(date));
  const offset = (day.getUTCDay() + 6) % 7; // Monday → 0 … Sunday → 6
  return utcDay(new Date(day.getTime() - offset * DAY_MS));
}

/** The first day of the month (UTC) that contains `date`. */
export function monthStart(date: Date): string {
  return `${utcDay(date).slice(0, 7)}-01`;
}

/** Every day from `from` to `to`, both included. */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let day = from; day <= to; day = addDays(day, 1)) days.push(day);
  return days;
}

/** A timestamp as stored by either driver (Date from pg, epoch ms from sqlite3, ISO text) → Date. */
export function toDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value;
  if (typeof value === 'number') return new Date(value);
  if (typeof value === 'string') {
    if (/^\d+$/.test(value)) return new Date(Number(value));
    const parsed = new Date(value);
    return Number.isNaN(parsed.getTime()) ? null : parsed;
  }
  return null;
}

export function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' || typeof value === 'bigint') return Number(value);
  return 0;
}

/** Percent with one decimal, or null when the base is zero. */
export function percent(part: number, whole: number): number | null {
  if (!whole) return null;
  return Math.round((part / whole) * 1000) / 10;
}
