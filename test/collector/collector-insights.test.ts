// The insights of issue #14 (docs/collector.md): /stats/errors-by-version-mode (error rate per
// version × deployment mode) and /stats/feature-adoption (enabled/disabled per feature, least used,
// top versions and countries), k-protected, admin only, on SQLite and PostgreSQL.
import test from 'ava';
import { registerAndSubmit, startCollector, type TestCollector } from '../helpers/collector.js';
import { testEachDatabase } from '../helpers/databases.js';
import { topRows } from '../../src/collector/analytics/insights.js';

const DAY = 86_400_000;

/**
 * 40 days ago: 3 × 1.0.0/docker. Yesterday: 5 × 2.0.0/native (3 with errors), 6 × 2.0.0/docker
 * (1 with errors), 2 × 1.0.0/native (1 with errors).
 */
async function fleet(c: TestCollector): Promise<void> {
  const now = c.clock.now().getTime();
  c.clock.set(new Date(now - 40 * DAY));
  for (let i = 0; i < 3; i++) await registerAndSubmit(c.url, c.clock, { app_version: '1.0.0', deployment_type: 'docker', country: 'US', feature_flags: { sso: false } });
  c.clock.set(new Date(now - DAY));
  for (let i = 0; i < 5; i++) {
    await registerAndSubmit(c.url, c.clock, { app_version: '2.0.0', deployment_type: 'native', error_count: i < 3 ? 4 : 0, country: 'DE', feature_flags: { sso: true, dark_mode: true } });
  }
  for (let i = 0; i < 6; i++) {
    await registerAndSubmit(c.url, c.clock, { app_version: '2.0.0', deployment_type: 'docker', error_count: i < 1 ? 2 : 0, country: 'FR', feature_flags: { sso: true, dark_mode: false, ldap: i === 0 } });
  }
  for (let i = 0; i < 2; i++) await registerAndSubmit(c.url, c.clock, { app_version: '1.0.0', deployment_type: 'native', error_count: i, country: 'AT', feature_flags: { sso: false } });
  c.clock.set(new Date(now));
}

testEachDatabase('errors by version × deployment mode: error rates per pair, small pairs merged into "other", an "other" under k dropped', async (t, db) => {
  const c = await startCollector(t, db, { registrationsPerClientPerHour: 1000 });
  await fleet(c);

  const last30 = await c.adminJson('/stats/errors-by-version-mode?window=30');
  t.like(last30, { window_days: 30, active: 13, k_threshold: 5, installations_with_errors: 5, error_rate_percent: 38.5 });
  // The two 1.0.0/native installations would be an "other" of 2 < k: not shown at all.
  t.deepEqual(last30.rows, [
    { version: '2.0.0', mode: 'docker', installations: 6, installations_with_errors: 1, errors: 2, error_rate_percent: 16.7 },
    { version: '2.0.0', mode: 'native', installations: 5, installations_with_errors: 3, errors: 12, error_rate_percent: 60 },
  ]);

  // Over 90 days the 1.0.0/docker trio joins them: an "other" of 5 (two pairs merged).
  const last90 = await c.adminJson('/stats/errors-by-version-mode?window=90');
  t.is(last90.active, 16);
  t.deepEqual(last90.rows[2], { version: 'other', mode: 'other', installations: 5, installations_with_errors: 1, errors: 1, error_rate_percent: 20, other: true, merged: 2 });
  t.is(last90.rows.length, 3);
});

testEachDatabase('feature adoption: enabled and disabled per feature, least used first, rare features only counted', async (t, db) => {
  const c = await startCollector(t, db, { registrationsPerClientPerHour: 1000 });
  await fleet(c);
  const adoption = await c.adminJson('/stats/feature-adoption?window=30');
  t.like(adoption, { window_days: 30, active: 13, k_threshold: 5, rare_features: 1 });
  t.deepEqual(adoption.features, [
    { feature: 'sso', enabled: 11, disabled: 2, enabled_percent: 84.6 },
    { feature: 'dark_mode', enabled: 5, disabled: 8, enabled_percent: 38.5 },
  ]);
  // ldap (one installation) is never named.
  t.false(JSON.stringify(adoption).includes('ldap'));
  t.deepEqual(adoption.least_used.map((f: { feature: string }) => f.feature), ['dark_mode', 'sso']);
  t.deepEqual(adoption.top_versions, [{ version: '2.0.0', installations: 11, percent: 84.6 }]);
  t.deepEqual(adoption.top_countries, [
    { country: 'FR', installations: 6, percent: 46.2 },
    { country: 'DE', installations: 5, percent: 38.5 },
  ]);
});

testEachDatabase('the insight routes are admin only, uncached, and take only the fixed windows', async (t, db) => {
  const c = await startCollector(t, db);
  for (const path of ['/stats/errors-by-version-mode', '/stats/feature-adoption']) {
    const anonymous = await fetch(`${c.url}${path}`);
    t.is(anonymous.status, 401, path);
    t.is(((await anonymous.json()) as { error: { code: string } }).error.code, 'unauthorized');
    const ok = await c.admin(path);
    t.is(ok.status, 200);
    t.is(ok.headers.get('cache-control'), 'no-store');
    t.is(((await ok.json()) as { window_days: number }).window_days, 30);
    const odd = await c.admin(`${path}?window=31`);
    t.is(odd.status, 400);
    t.is(((await odd.json()) as { error: { code: string } }).error.code, 'invalid_window');
  }
});

test('topRows keeps the first n rows and merges the rest with "other"', (t) => {
  const rows = [
    { version: 'a', installations: 9, percent: 30 },
    { version: 'b', installations: 8, percent: 26.7 },
    { version: 'c', installations: 7, percent: 23.3 },
    { version: 'other', installations: 6, percent: 20, other: true as const, merged: 3 },
  ];
  t.deepEqual(topRows(rows, 2, 'version', 30), [rows[0], rows[1], { version: 'other', installations: 13, percent: 43.3, other: true, merged: 4 }]);
  t.deepEqual(topRows(rows, 3, 'version', 30), rows);
  t.deepEqual(topRows(rows.slice(0, 3), 5, 'version', 30), rows.slice(0, 3));
});
