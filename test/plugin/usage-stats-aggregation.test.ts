// The weekly count-only summary (docs/privacy-policy.md, section 4): period of 7 whole UTC days ending today, country from the
// time zone (XX fallback), counts of unsubmitted events only, error count, uptime hours, sanitized
// feature flags — and a payload the collector's schema accepts. SQLite and PostgreSQL.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { migrateLatest } from '../../src/plugin/db/migration-source.js';
import { TABLES } from '../../src/plugin/db/tables.js';
import { UsageStatsRepository, type EventRow } from '../../src/plugin/stats/repository.js';
import { buildWeeklySummary, countryForTimezone, periodEndingAt, sanitizeFeatureFlags, PERIOD_DAYS, type PayloadInputs } from '../../src/plugin/stats/aggregation.js';
import { submissionPayloadSchema } from '../../src/core/protocol.js';
import type { RuntimeEnvironment } from '../../src/plugin/telemetry/environment.js';
import { testEachDatabase, type TestDatabase } from '../helpers/databases.js';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;

const ENV: RuntimeEnvironment = { platform: 'linux', os_version: '6.1.0', architecture: 'x64', locale: 'de-DE', timezone: 'Europe/Berlin', deployment_type: 'docker' };

function inputs(overrides: Partial<PayloadInputs> = {}): PayloadInputs {
  return { installId: randomUUID(), appVersion: '1.4.0', environment: ENV, featureFlags: {}, ...overrides };
}

const ev = (event_type: string, iso: string, metadata: Record<string, unknown> = {}): EventRow => ({ event_type, occurred_at: new Date(iso), metadata: JSON.stringify(metadata) });

async function repository(db: TestDatabase): Promise<UsageStatsRepository> {
  await migrateLatest(db.knex);
  return new UsageStatsRepository(db.knex);
}

// ------------------------------------------------------------------------------------ pure parts

test('the period is the 7 whole UTC days before today (start inclusive, end = today 00:00 UTC)', (t) => {
  t.is(PERIOD_DAYS, 7);
  const late = periodEndingAt(new Date('2026-03-11T23:59:59.999Z'));
  t.is(late.startDay, '2026-03-04');
  t.is(late.endDay, '2026-03-11');
  t.is(late.start.toISOString(), '2026-03-04T00:00:00.000Z');
  t.is(late.end.toISOString(), '2026-03-11T00:00:00.000Z');
  t.deepEqual(periodEndingAt(new Date('2026-03-11T00:00:00.000Z')).startDay, '2026-03-04', 'midnight belongs to the new day');
  t.deepEqual(periodEndingAt(new Date('2026-03-10T23:59:59.999Z')).endDay, '2026-03-10');
  // Across a month and a year boundary, and never shifted by a local time zone.
  t.deepEqual([periodEndingAt(new Date('2027-01-03T05:00:00Z')).startDay, periodEndingAt(new Date('2027-01-03T05:00:00Z')).endDay], ['2026-12-27', '2027-01-03']);
  const p = periodEndingAt(new Date('2026-10-25T01:30:00+02:00')); // a DST change day in Europe
  t.is((p.end.getTime() - p.start.getTime()) / DAY, 7);
});

test('country comes from the IANA time zone, XX when the zone names no single country', (t) => {
  t.is(countryForTimezone('Europe/Berlin'), 'DE');
  t.is(countryForTimezone('America/New_York'), 'US');
  t.is(countryForTimezone('Asia/Tokyo'), 'JP');
  t.is(countryForTimezone('Australia/Sydney'), 'AU');
  for (const zone of ['UTC', 'Etc/UTC', 'Etc/GMT+5', 'GMT', '', 'Not/AZone', '../../etc/passwd']) {
    t.is(countryForTimezone(zone), 'XX', `${JSON.stringify(zone)} → XX`);
  }
});

test('feature flags: only well-formed names with boolean values, at most 50', (t) => {
  t.deepEqual(
    sanitizeFeatureFlags({ sso_enabled: true, ldap: false, Bad: true, 'has space': true, 'dot.ted': true, '9lives': true, num: 1, str: 'yes', nil: null, obj: {}, [`x${'a'.repeat(64)}`]: true, beta_4155552671: true }),
    { sso_enabled: true, ldap: false },
  );
  t.deepEqual(sanitizeFeatureFlags(null), {});
  t.deepEqual(sanitizeFeatureFlags('sso_enabled'), {});
  t.deepEqual(sanitizeFeatureFlags([true, false]), {}, 'array indices are not flag names');
  const many = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`flag_${i}`, i % 2 === 0]));
  t.is(Object.keys(sanitizeFeatureFlags(many)).length, 50);
});

// ------------------------------------------------------------------------------------ summary on a database

testEachDatabase('the summary counts unsubmitted events of the period per type, with errors and uptime', async (t, db) => {
  const repo = await repository(db);
  const now = new Date('2026-03-11T09:30:00Z'); // period 2026-03-04 .. 2026-03-11
  await repo.recordBatch(
    [
      ev('timer.started', '2026-03-03T23:59:59.999Z'), // before
      ev('timer.started', '2026-03-04T00:00:00.000Z'),
      ev('timer.started', '2026-03-06T10:00:00.000Z', { email: 'leak@example.com', note: 'free text never leaves' }),
      ev('timer.stopped', '2026-03-06T11:00:00.000Z'),
      ev('report.exported', '2026-03-10T23:59:59.999Z'),
      ev('app.error', '2026-03-07T10:00:00.000Z'),
      ev('app.error', '2026-03-08T10:00:00.000Z'),
      ev('import.error', '2026-03-08T10:00:00.000Z'),
      ev('sync_error', '2026-03-08T10:00:00.000Z'),
      ev('sync.errors', '2026-03-08T10:00:00.000Z'),
      ev('error_page.viewed', '2026-03-08T10:00:00.000Z'), // not an error event
      ev('app.started', '2026-03-05T08:00:00.000Z'),
      ev('timer.started', '2026-03-11T00:00:00.000Z'), // today: next period
      ev('timer.started', '2026-03-11T09:00:00.000Z'),
    ],
    [{ route: '/projects/:id', hour_start: new Date('2026-03-06T10:00:00Z'), count: 12 }],
    [new Date('2026-03-03T23:00:00Z'), ...Array.from({ length: 30 }, (_, i) => new Date(Date.parse('2026-03-05T00:00:00Z') + i * HOUR)), new Date('2026-03-11T00:00:00Z')],
  );
  // Already submitted with an earlier summary: not counted again.
  await db.knex(TABLES.usageEvents).where('event_type', 'timer.stopped').update({ submitted_at: new Date('2026-03-07T00:00:00Z') });

  const id = randomUUID();
  const { payload, period, maxEventId } = await buildWeeklySummary(repo, inputs({ installId: id, featureFlags: { sso_enabled: true } }), now);
  t.is(period.startDay, '2026-03-04');
  t.true(maxEventId > 0);
  t.deepEqual(payload, {
    schema_version: 1,
    install_id: id,
    period: { start: '2026-03-04', end: '2026-03-11' },
    app_version: '1.4.0',
    platform: 'linux',
    deployment_type: 'docker',
    country: 'DE',
    event_counts: {
      'app.error': 2,
      'app.started': 1,
      'error_page.viewed': 1,
      'import.error': 1,
      'report.exported': 1,
      'sync.errors': 1,
      sync_error: 1,
      'timer.started': 2,
    },
    feature_flags: { sso_enabled: true },
    error_count: 5,
    uptime_hours: 30,
  });
  t.true(submissionPayloadSchema.safeParse(payload).success, 'the collector schema accepts it');
  // Counts only: no metadata, no page-view routes, nothing free-form.
  const text = JSON.stringify(payload);
  for (const leaked of ['leak@example.com', 'free text', '/projects', 'note', 'email']) t.false(text.includes(leaked), `${leaked} is not in the payload`);
});

testEachDatabase('an empty week still gives a valid payload; XX for UTC; odd versions and platforms are normalised', async (t, db) => {
  const repo = await repository(db);
  const { payload, maxEventId } = await buildWeeklySummary(
    repo,
    inputs({ appVersion: '1.4.0 (build <b>7</b>)', environment: { ...ENV, timezone: 'Etc/UTC', platform: 'Linux!', deployment_type: 'native' } }),
    new Date('2026-03-11T09:30:00Z'),
  );
  t.is(maxEventId, 0);
  t.deepEqual(payload.event_counts, {});
  t.is(payload.error_count, 0);
  t.is(payload.uptime_hours, 0);
  t.is(payload.country, 'XX');
  t.is(payload.app_version, 'unknown');
  t.is(payload.platform, 'other');
  t.is(payload.deployment_type, 'native');
  t.true(submissionPayloadSchema.safeParse(payload).success);
});

testEachDatabase('at most 200 event types go into one payload, which the schema still accepts', async (t, db) => {
  const repo = await repository(db);
  await repo.recordBatch(Array.from({ length: 230 }, (_, i) => ev(`type_${String(i).padStart(3, '0')}.done`, '2026-03-05T10:00:00Z')), [], []);
  const { payload } = await buildWeeklySummary(repo, inputs(), new Date('2026-03-11T09:30:00Z'));
  t.is(Object.keys(payload.event_counts).length, 200);
  t.true(submissionPayloadSchema.safeParse(payload).success);
});

// ------------------------------------------------------------------------------------ through the plugin

test('preview(): feature flags come from the host option, sanitized; a failing callback gives {}', async (t) => {
  const dir = await tempDirFor(t);
  let flags: () => unknown = () => ({ sso_enabled: true, beta_ui: false, 'Bad Name': true, count: 3 });
  const host = await startHostApp({ telemetry: { dataDir: dir, featureFlags: () => flags() as Record<string, boolean> } });
  t.teardown(() => host.close());
  const [preview] = await host.telemetry.stats.preview();
  if (!preview) return t.fail('one week is pending');
  t.deepEqual(preview.feature_flags, { sso_enabled: true, beta_ui: false });
  t.is(preview.install_id, host.telemetry.status().install_id!);
  t.is(preview.app_version, '9.9.9');
  t.true(submissionPayloadSchema.safeParse(preview).success);

  flags = async () => ({ async_flag: true });
  t.deepEqual((await host.telemetry.stats.preview())[0]!.feature_flags, { async_flag: true });
  flags = () => Promise.reject(new Error('host flag store down'));
  t.deepEqual((await host.telemetry.stats.preview())[0]!.feature_flags, {});
});

test('preview(): tracked events are counted in the whole UTC week they fall into (injected clock)', async (t) => {
  const dir = await tempDirFor(t);
  // A Wednesday: the events' week (Monday 2026-11-23 to Monday 2026-11-30) is not over yet.
  const clock = { at: Date.parse('2026-11-25T10:00:00Z') };
  const host = await startHostApp({ telemetry: { dataDir: dir, now: () => new Date(clock.at) } });
  t.teardown(() => host.close());
  host.telemetry.track('timer.started', { source: 'web' });
  host.telemetry.track('timer.started', { source: 'api' });
  host.telemetry.track('app.error', { status_code: 500 });
  await new Promise((done) => setImmediate(done));

  const today = await host.telemetry.stats.preview();
  t.deepEqual(today.map((p) => p.period), [{ start: '2026-11-16', end: '2026-11-23' }], 'only the last whole week, which has nothing');
  t.deepEqual(today[0]!.event_counts, {}, 'this week is not part of it yet');

  clock.at += 6 * DAY; // the next Tuesday: the events' week is whole now
  const [later, ...more] = await host.telemetry.stats.preview();
  if (!later) return t.fail('a week is pending');
  t.is(more.length, 0);
  t.is(later.event_counts['timer.started'], 2);
  t.is(later.event_counts['app.error'], 1);
  t.is(later.event_counts['app.started'], 1, "the plugin's own start event counts too");
  t.is(later.error_count, 1);
  t.true(later.uptime_hours >= 1, 'this hour was up');
  t.deepEqual(later.period, { start: '2026-11-23', end: '2026-11-30' });
});
