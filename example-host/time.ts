// Date arithmetic (server-local calendar days), duration formatting and CSV helpers.

const DAY_MS = 24 * 60 * 60 * 1000;

export function startOfDay(d: Date): Date {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate());
}

export function addDays(d: Date, days: number): Date {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + days);
}

export function startOfWeek(d: Date, weekStart: 'monday' | 'sunday'): Date {
  const day = startOfDay(d);
  const offset = weekStart === 'monday' ? (day.getDay() + 6) % 7 : day.getDay();
  return addDays(day, -offset);
}

/** `YYYY-MM-DD` (local calendar day) → Date at local midnight; null when invalid. */
export function parseDateInput(value: unknown): Date | null {
  if (typeof value !== 'string') return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(y, mo - 1, d);
  return date.getFullYear() === y && date.getMonth() === mo - 1 && date.getDate() === d ? date : null;
}

const pad = (n: number) => String(n).padStart(2, '0');

export function formatDateInput(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function formatDateTime(ms: number): string {
  const d = new Date(ms);
  return `${formatDateInput(d)} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function formatClock(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** 5400000 → "1:30" (hm) or "1.50" (decimal hours). */
export function formatDuration(ms: number, format: 'hm' | 'decimal' = 'hm'): string {
  const minutes = Math.max(0, Math.floor(ms / 60000));
  if (format === 'decimal') return (minutes / 60).toFixed(2);
  return `${Math.floor(minutes / 60)}:${pad(minutes % 60)}`;
}

export function daysBetween(from: Date, toExclusive: Date): number {
  return Math.round((toExclusive.getTime() - from.getTime()) / DAY_MS);
}

/** One CSV field: quoted when needed, and defused against spreadsheet formula injection. */
export function csvField(value: string | number): string {
  let s = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvRow(values: Array<string | number>): string {
  return values.map(csvField).join(',') + '\r\n';
}
