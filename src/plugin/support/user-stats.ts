// The host's `support.userStats(ctx, user)` answer, made safe to show and store. Anything the host
// returns is accepted; what does not fit the shape below is ignored, never an error.
//
//   { hoursTracked?: number, entries?: number, hoursToday?: number,
//     stats?: [{ key?: string, label: string, value: number | string }] }   (at most 3 shown)
//
// snake_case aliases are read too (hours_tracked / total_hours, total_entries, hours_today).

export interface SupportStatItem {
  key: string;
  label: string;
  /** Display text (numbers formatted); escaped by the templates like everything else. */
  value: string;
}

export interface SupportUserStats {
  /** The host's stats shown in the modal and the dashboard card (at most MAX_HOST_STATS). */
  items: SupportStatItem[];
  /** For the active_today prompt. */
  hoursToday: number | null;
  /** Numbers only, stored with each funnel row. */
  snapshot: Record<string, number>;
}

const MAX_HOST_STATS = 3;
const MAX_LABEL = 40;
const MAX_VALUE = 32;
const KEY_PATTERN = /^[a-z][a-z0-9_]{0,31}$/;

export const EMPTY_USER_STATS: SupportUserStats = Object.freeze({ items: [], hoursToday: null, snapshot: {} }) as SupportUserStats;

import { ENGLISH, type Translator } from '../i18n/catalog.js';

function finite(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return null;
}

function formatStatValue(value: unknown, translator: Translator): string | null {
  if (typeof value === 'number') return Number.isFinite(value) ? translator.number(value) : null;
  if (typeof value === 'string') {
    const trimmed = value.trim();
    return trimmed ? trimmed.slice(0, MAX_VALUE) : null;
  }
  return null;
}

function first(record: Record<string, unknown>, keys: string[]): unknown {
  for (const key of keys) if (record[key] !== undefined && record[key] !== null) return record[key];
  return undefined;
}

function slug(label: string): string {
  return label.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 32) || 'stat';
}

/** The host's userStats answer, bounded; numbers are written in the translator's locale. Host labels are the host's own text. */
export function normalizeUserStats(raw: unknown, translator: Translator = ENGLISH): SupportUserStats {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return EMPTY_USER_STATS;
  const record = raw as Record<string, unknown>;
  const items: SupportStatItem[] = [];
  const snapshot: Record<string, number> = {};

  if (Array.isArray(record.stats)) {
    for (const entry of record.stats) {
      if (items.length >= MAX_HOST_STATS) break;
      if (typeof entry !== 'object' || entry === null) continue;
      const { key, label, value } = entry as { key?: unknown; label?: unknown; value?: unknown };
      if (typeof label !== 'string' || !label.trim()) continue;
      const shown = formatStatValue(value, translator);
      if (shown === null) continue;
      const statKey = typeof key === 'string' && KEY_PATTERN.test(key) ? key : slug(label);
      items.push({ key: statKey, label: label.trim().slice(0, MAX_LABEL), value: shown });
      const n = finite(value);
      if (n !== null) snapshot[statKey] = n;
    }
  } else {
    const hours = first(record, ['hoursTracked', 'hours_tracked', 'totalHours', 'total_hours']);
    const entries = first(record, ['entries', 'totalEntries', 'total_entries']);
    const hoursShown = formatStatValue(hours, translator);
    const entriesShown = formatStatValue(entries, translator);
    if (hoursShown !== null) items.push({ key: 'hours_tracked', label: translator.t('support.stat.hours_tracked'), value: hoursShown });
    if (entriesShown !== null) items.push({ key: 'entries', label: translator.t('support.stat.entries'), value: entriesShown });
    const h = finite(hours);
    const e = finite(entries);
    if (h !== null) snapshot.hours_tracked = h;
    if (e !== null) snapshot.entries = e;
  }

  const today = finite(first(record, ['hoursToday', 'hours_today']));
  if (today !== null) snapshot.hours_today = today;
  return { items, hoursToday: today, snapshot };
}
