// Local aggregation over 1,000,000 usage events (docs/performance.md: ≤ 2 × the equivalent hand-written SQL
// GROUP BY on the same file). The plugin's own weekly summary — buildWeeklySummary() over
// UsageStatsRepository, i.e. what preview() and the weekly submission run — against the same three
// statements written by hand and run on a plain sqlite3 connection to the same SQLite file:
//   max(id) of the unsubmitted events in the period, the GROUP BY event_type up to that id, and the
//   uptime-hours count. Rounds alternate which goes first; the median of per-round ratios is reported.
// stats.local() (the admin page's data: totals, this week, all-time by type, 30-day chart, …) is
// timed too, for information.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sqlite3 from 'sqlite3';
import { telemetryPlugin } from '../src/index.js';
import { buildWeeklySummary, periodEndingAt } from '../src/plugin/stats/aggregation.js';
import { check, median, quiet, report } from './lib/common.js';
import { runtimeOf } from '../src/plugin/internal.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const SPAN_DAYS = 56; // 8 weeks

const EVENT_TYPES = [
  'app.started', 'app.stopped', 'app.error', 'user.signed_in', 'user.signed_out', 'user.identified', 'report.generated', 'report.viewed',
  'report.exported', 'report.deleted', 'report.error', 'dashboard.viewed', 'dashboard.created', 'dashboard.updated', 'dashboard.shared', 'import.started',
  'import.completed', 'import.error', 'export.started', 'export.completed', 'search.performed', 'search.no_results', 'filter.applied', 'settings.updated',
  'invite.sent', 'invite.accepted', 'comment.created', 'comment.deleted', 'file.uploaded', 'file.downloaded', 'sync.started', 'sync_error',
  'notification.sent', 'notification.clicked', 'billing.viewed', 'plan.changed', 'api.token_created', 'webhook.delivered', 'webhook.error', 'help.opened',
];

const dataDir = mkdtempSync(join(tmpdir(), 'kct-agg-'));
const telemetry = telemetryPlugin({ appName: 'Bench', appVersion: '1.0.0', dataDir, jobs: false, env: {}, logger: quiet });
await telemetry.ready();
const { knex, statsRepository, stats } = runtimeOf(telemetry);
const file = join(dataDir, 'telemetry.sqlite3');

// ---- data: ROWS events over 8 weeks ending now, ids in time order (as they are recorded), a skewed
// mix of 40 event types (deterministic), small metadata; events before the summary period were submitted a few days
// after their week (3 % never were: weeks when sharing was off), events in the period are pending.
const now = new Date();
const period = periodEndingAt(now);
const spanStart = now.getTime() - SPAN_DAYS * DAY_MS;
const step = (SPAN_DAYS * DAY_MS) / ROWS;
const t0 = Date.now();
const typesValues = EVENT_TYPES.map((name, i) => `(${i}, '${name}')`).join(',');
await knex.raw(`
  WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < ${ROWS - 1}),
  types(i, name) AS (VALUES ${typesValues}),
  -- Deterministic pseudo-random numbers from n (reproducible runs; random() would be re-evaluated per reference).
  gen AS (
    SELECT n, CAST(${spanStart} + n * ${step} AS INTEGER) AS at,
           ((n * 2654435761) % 4294967291 % 40) * ((n * 40503 + 17) % 65521 % 40 + 1) / 40 AS t, (n * 7919) % 100 AS r
    FROM seq
  )
  INSERT INTO telemetry_usage_events (event_type, occurred_at, metadata, submitted_at)
  SELECT (SELECT name FROM types WHERE types.i = gen.t), gen.at,
         CASE gen.r % 4 WHEN 0 THEN '{}' WHEN 1 THEN '{"format":"pdf"}' WHEN 2 THEN '{"source":"web","count":3}' ELSE '{"plan":"team"}' END,
         CASE WHEN gen.at >= ${period.start.getTime()} OR gen.r < 3 THEN NULL
              ELSE gen.at - (gen.at % ${7 * DAY_MS}) + ${8 * DAY_MS} + (gen.r * 60000) END
  FROM gen
`);
// Uptime: ~90 % of the hours of the 8 weeks; page views: 20 routes per hour.
const hours: number[] = [];
for (let h = spanStart - (spanStart % HOUR_MS); h < now.getTime(); h += HOUR_MS) if (Math.random() < 0.9) hours.push(h);
for (let i = 0; i < hours.length; i += 400) await knex('telemetry_uptime_hours').insert(hours.slice(i, i + 400).map((h) => ({ hour_start: h }))).onConflict('hour_start').ignore();
for (let i = 0; i < hours.length; i += 20) {
  const rows = hours.slice(i, i + 20).flatMap((h) => Array.from({ length: 20 }, (_, r) => ({ route: `/route/${r}/:id`, hour_start: h, count: 1 + ((h / HOUR_MS + r) % 50) })));
  await knex('telemetry_pageview_counts').insert(rows).onConflict(['route', 'hour_start']).ignore();
}
await knex.raw('ANALYZE');
const generatedMs = Date.now() - t0;
const counts = (await knex.raw(`SELECT count(*) AS n, sum(submitted_at IS NULL) AS pending, sum(CASE WHEN occurred_at >= ? AND occurred_at < ? THEN 1 ELSE 0 END) AS in_period FROM telemetry_usage_events`, [
  period.start.getTime(),
  period.end.getTime(),
])) as { n: number; pending: number; in_period: number }[];
const sizeMb = (statSync(file).size + (statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0)) / 1e6;

// ---- the hand-written baseline on a plain sqlite3 connection to the same file
const raw = new sqlite3.Database(file, sqlite3.OPEN_READONLY);
const all = <T>(sql: string, params: unknown[]): Promise<T[]> => new Promise((resolve, reject) => raw.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
async function handWritten(): Promise<{ maxId: number; counts: Record<string, number>; errorCount: number; uptime: number }> {
  const start = period.start.getTime();
  const end = period.end.getTime();
  const [max] = await all<{ id: number | null }>('SELECT max(id) AS id FROM telemetry_usage_events WHERE submitted_at IS NULL AND occurred_at >= ? AND occurred_at < ?', [start, end]);
  const maxId = max?.id ?? 0;
  const rows = await all<{ event_type: string; count: number }>(
    'SELECT event_type, count(*) AS count FROM telemetry_usage_events WHERE submitted_at IS NULL AND occurred_at >= ? AND occurred_at < ? AND id <= ? GROUP BY event_type',
    [start, end, maxId],
  );
  const [uptime] = await all<{ n: number }>('SELECT count(*) AS n FROM telemetry_uptime_hours WHERE hour_start >= ? AND hour_start < ?', [start, end]);
  const counts: Record<string, number> = {};
  let errorCount = 0;
  for (const row of rows) {
    counts[row.event_type] = row.count;
    if (/(^|[._])errors?$/.test(row.event_type)) errorCount += row.count;
  }
  return { maxId, counts, errorCount, uptime: uptime!.n };
}
const inputs = { installId: runtimeOf(telemetry).file.current.install_id, appVersion: '1.0.0', environment: runtimeOf(telemetry).environment, featureFlags: {} };
const plugin = () => buildWeeklySummary(statsRepository, inputs, now);

// Same answer from both, or the comparison means nothing.
const a = await plugin();
const b = await handWritten();
if (a.maxEventId !== b.maxId || a.payload.uptime_hours !== b.uptime || a.payload.error_count !== b.errorCount || JSON.stringify(a.payload.event_counts) !== JSON.stringify(Object.fromEntries(Object.entries(b.counts).sort())))
  throw new Error(`plugin and hand-written SQL disagree: ${JSON.stringify({ plugin: a.payload, hand: b })}`);

const time = async (fn: () => Promise<unknown>) => {
  const s = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - s) / 1e6;
};
for (let i = 0; i < 2; i++) {
  await plugin();
  await handWritten();
}
const pluginMs: number[] = [];
const handMs: number[] = [];
const ratios: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  let p: number;
  let h: number;
  if (r % 2 === 0) {
    p = await time(plugin);
    h = await time(handWritten);
  } else {
    h = await time(handWritten);
    p = await time(plugin);
  }
  pluginMs.push(p);
  handMs.push(h);
  ratios.push(p / h);
}
const localMs: number[] = [];
const previewMs: number[] = [];
for (let r = 0; r < 5; r++) {
  localMs.push(await time(() => stats.local()));
  previewMs.push(await time(() => stats.preview()));
}

const ratio = median(ratios);
console.log(`local aggregation — ${counts[0]!.n.toLocaleString('en')} events over ${SPAN_DAYS} days, ${EVENT_TYPES.length} types (${counts[0]!.pending.toLocaleString('en')} unsubmitted, ${counts[0]!.in_period.toLocaleString('en')} in the summary period ${period.startDay}…${period.endDay}); generated in ${(generatedMs / 1000).toFixed(1)} s, file ${sizeMb.toFixed(0)} MB`);
console.log(`  plugin buildWeeklySummary()   ${median(pluginMs).toFixed(1)} ms   (median of ${ROUNDS})`);
console.log(`  hand-written SQL (sqlite3)    ${median(handMs).toFixed(1)} ms`);
console.log(`  ratio plugin / hand-written: ${ratio.toFixed(3)}  (target ≤ 2)  ${ratio <= 2 ? 'OK' : 'MISSED'}`);
console.log(`  for information: stats.preview() ${median(previewMs).toFixed(1)} ms, stats.local() ${median(localMs).toFixed(1)} ms (median of 5)`);
report(
  'local-aggregation',
  [{ name: 'weekly summary / hand-written SQL (1M events)', value: ratio, target: '<= 2', met: check(ratio, '<=', 2), detail: `${median(pluginMs).toFixed(1)} ms vs ${median(handMs).toFixed(1)} ms` }],
  { localMs: median(localMs), previewMs: median(previewMs), generatedMs },
);
raw.close();
await telemetry.stop();
rmSync(dataDir, { recursive: true, force: true });
process.exit(0);
