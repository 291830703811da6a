// The admin analytics API (/stats/*, docs/collector.md): numbers checked against a small history built
// through the real ingest with a controlled clock, k-protection applied, query validation, export.
import { payloadFor, register, startCollector, submit, type Installation, type TestCollector, ADMIN_TOKEN } from '../helpers/collector.js';
import { testEachDatabase } from '../helpers/databases.js';
import type { SubmissionPayload } from '../../src/core/protocol.js';
import { checkCollectorAnswers } from '../helpers/openapi.js';

let periodCounter = 0;
async function send(c: TestCollector, install: Installation, over: Partial<SubmissionPayload>) {
  const start = new Date(Date.UTC(2025, 0, 6 + 7 * periodCounter++)).toISOString().slice(0, 10);
  const end = new Date(Date.parse(start) + 7 * 86_400_000).toISOString().slice(0, 10);
  const response = await submit(c.url, c.clock, install, payloadFor(install.installId, { period: { start, end }, ...over }));
  if (response.status !== 202) throw new Error(`submit answered ${response.status}: ${await response.text()}`);
}

/**
 * Week of 2026-03-02: A1–A8 register and submit (6× 1.0.0, 2× 0.9.0; A4–A8 native; A1–A6 DE, A7 FR,
 * A8 LI; sso on A1–A5, beta on A8; errors A1 2, A2 1). Week of 2026-03-16: B1, B2 register (1.1.0,
 * docker, FR, sso on B1) and A1–A5 submit again on 1.1.0 (A1 with 4 errors). Now: Monday 2026-03-23 12:00.
 */
async function history(c: TestCollector) {
  c.clock.set('2026-03-03T10:00:00Z');
  const a: Installation[] = [];
  for (let i = 1; i <= 8; i++) {
    const install = await register(c.url);
    a.push(install);
    await send(c, install, {
      app_version: i <= 6 ? '1.0.0' : '0.9.0',
      deployment_type: i >= 4 ? 'native' : 'docker',
      country: i <= 6 ? 'DE' : i === 7 ? 'FR' : 'LI',
      feature_flags: { sso: i <= 5, beta: i === 8 },
      error_count: i === 1 ? 2 : i === 2 ? 1 : 0,
    });
  }
  c.clock.set('2026-03-17T10:00:00Z');
  const b: Installation[] = [];
  for (let i = 1; i <= 2; i++) {
    const install = await register(c.url);
    b.push(install);
    await send(c, install, { app_version: '1.1.0', deployment_type: 'docker', country: 'FR', feature_flags: { sso: i === 1 } });
  }
  for (let i = 1; i <= 5; i++) {
    await send(c, a[i - 1]!, {
      app_version: '1.1.0',
      deployment_type: i >= 4 ? 'native' : 'docker',
      country: 'DE',
      feature_flags: { sso: true },
      error_count: i === 1 ? 4 : 0,
    });
  }
  c.clock.set('2026-03-23T12:00:00Z');
  return { a, b };
}

testEachDatabase('overview and installations: totals, active 7/30 days, growth and the trend', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  await history(c);
  const overview = await c.adminJson('/stats/overview');
  t.deepEqual(overview, {
    generated_at: '2026-03-23T12:00:00.000Z',
    total: 10,
    active_7d: 7,
    active_30d: 10,
    growth_7d_percent: 25,
    new_7d: 2,
    submissions_today: 0,
    submissions_7d: 7,
  });

  const daily = await c.adminJson('/stats/installations?days=30');
  t.like(daily, { total: 10, active_7d: 7, active_30d: 10, growth_7d_percent: 25, interval: 'day' });
  t.is(daily.trend.length, 30);
  const at = (date: string) => daily.trend.find((p: { date: string }) => p.date === date);
  t.deepEqual(at('2026-02-22'), { date: '2026-02-22', total: 0, active: 0 });
  t.deepEqual(at('2026-03-03'), { date: '2026-03-03', total: 8, active: 8 });
  t.deepEqual(at('2026-03-09'), { date: '2026-03-09', total: 8, active: 8 });
  t.deepEqual(at('2026-03-10'), { date: '2026-03-10', total: 8, active: 0 });
  t.deepEqual(at('2026-03-17'), { date: '2026-03-17', total: 10, active: 7 });
  t.deepEqual(at('2026-03-23'), { date: '2026-03-23', total: 10, active: 7 });

  const weekly = await c.adminJson('/stats/installations?interval=week&days=21');
  t.deepEqual(weekly.trend, [
    { date: '2026-03-09', total: 8, active: 0 },
    { date: '2026-03-16', total: 10, active: 7 },
    { date: '2026-03-23', total: 10, active: 0 },
  ]);
});

testEachDatabase('breakdowns of the active installations, with small groups merged into "other"', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  await history(c);
  t.deepEqual(await c.adminJson('/stats/versions'), {
    window_days: 30,
    active: 10,
    k_threshold: 5,
    versions: [
      // The other 3 installations (2 versions) are fewer than k: no "other" row either.
      { version: '1.1.0', installations: 7, percent: 70 },
    ],
  });
  t.deepEqual((await c.adminJson('/stats/versions?window=7')).versions, [{ version: '1.1.0', installations: 7, percent: 100 }]);
  t.deepEqual((await c.adminJson('/stats/deployment-modes')).modes, [
    { mode: 'docker', installations: 5, percent: 50 },
    { mode: 'native', installations: 5, percent: 50 },
  ]);
  t.deepEqual((await c.adminJson('/stats/geography')).countries, [
    { country: 'DE', installations: 6, percent: 60 },
  ]);
  t.deepEqual((await c.adminJson('/stats/features')).features, [
    { feature: 'sso', installations: 6, percent: 60 },
  ]);
  t.deepEqual((await c.adminJson('/stats/platforms')).platforms, [{ platform: 'linux', installations: 10, percent: 100 }]);
});

testEachDatabase('weekly series: version migration, feature trends, errors', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  await history(c);
  const migration = await c.adminJson('/stats/version-migration?weeks=4');
  t.deepEqual(migration.series, [
    { week_start: '2026-03-02', partial: false, active: 8, versions: [{ version: '1.0.0', installations: 6, percent: 75 }] },
    { week_start: '2026-03-09', partial: false, active: 0, versions: [] },
    { week_start: '2026-03-16', partial: false, active: 7, versions: [{ version: '1.1.0', installations: 7, percent: 100 }] },
    { week_start: '2026-03-23', partial: true, active: 0, versions: [] },
  ]);
  const trends = await c.adminJson('/stats/feature-trends?weeks=4');
  t.deepEqual(trends.series[0].features, [{ feature: 'sso', installations: 5, percent: 62.5 }]);
  t.deepEqual(trends.series[2].features, [{ feature: 'sso', installations: 6, percent: 85.7 }]);
  const errors = await c.adminJson('/stats/errors?weeks=4');
  t.deepEqual(errors.series[0], { week_start: '2026-03-02', partial: false, active: 8, errors: 3, installations_with_errors: 2, error_rate_percent: 25 });
  t.deepEqual(errors.series[2], { week_start: '2026-03-16', partial: false, active: 7, errors: 4, installations_with_errors: 1, error_rate_percent: 14.3 });
  t.deepEqual(errors.by_version, {
    week_start: '2026-03-16',
    rows: [{ version: '1.1.0', installations: 7, errors: 4, installations_with_errors: 1, error_rate_percent: 14.3 }],
  });
});

testEachDatabase('export: a JSON attachment with every section, k-protected, without installation ids', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const { a, b } = await history(c);
  const response = await c.admin('/stats/export');
  t.is(response.status, 200);
  t.regex(response.headers.get('content-disposition') ?? '', /^attachment; filename="collector-stats-2026-03-23\.json"$/);
  t.regex(response.headers.get('content-type') ?? '', /application\/json/);
  const text = await response.text();
  const data = JSON.parse(text);
  t.deepEqual(Object.keys(data).sort(), [
    'anomalies',
    'deployment_modes',
    'errors',
    'errors_by_version_mode',
    'feature_adoption',
    'feature_trends',
    'features',
    'format',
    'format_version',
    'generated_at',
    'geography',
    'installations',
    'k_threshold',
    'overview',
    'platforms',
    'version_migration',
    'versions',
  ]);
  t.is(data.overview.total, 10);
  t.deepEqual(data.geography.countries.map((r: { country: string }) => r.country), ['DE']);
  for (const install of [...a, ...b]) t.false(text.includes(install.installId));
  t.false(text.includes('"LI"'), 'a country with one installation never appears');
  t.false(text.includes('0.9.0'), 'a version below the threshold never appears');
  t.false(text.includes('beta'), 'a feature below the threshold never appears');
});

testEachDatabase('stats need the admin token; bad query parameters are 422 with field errors, a window outside the fixed set is 400', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  for (const path of ['/stats/overview', '/stats/versions', '/stats/export', '/stats/anomalies']) {
    const anonymous = await fetch(`${c.url}${path}`);
    t.is(anonymous.status, 401, path);
    t.is(anonymous.headers.get('www-authenticate'), 'Bearer realm="collector"');
    t.is((await anonymous.json()).error.code, 'unauthorized');
    t.is((await fetch(`${c.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}x` } })).status, 401);
    t.is((await fetch(`${c.url}${path}`, { headers: { authorization: `Basic ${ADMIN_TOKEN}` } })).status, 401);
  }
  for (const [query, path] of [
    ['days=0', 'days'],
    ['days=731', 'days'],
    ['weeks=-1', 'weeks'],
    ['interval=month', 'interval'],
  ]) {
    const response = await c.admin(`/stats/installations?${query}`);
    t.is(response.status, 422, query);
    const body = await response.json();
    t.is(body.error.code, 'invalid_query');
    t.is(body.error.details[0].path, path);
  }
  for (const query of ['window=abc', 'window=29', 'window=0', 'window=']) {
    const response = await c.admin(`/stats/versions?${query}`);
    t.is(response.status, 400, query);
    const body = await response.json();
    t.is(body.error.code, 'invalid_window');
    t.regex(body.error.message, /7, 30, 90, 365/);
  }
  t.is((await c.admin('/stats/nothing-here')).status, 404);
  t.is((await c.admin('/stats/overview')).headers.get('cache-control'), 'no-store');
});
