// Small-count protection (docs/collector.md): any breakdown row with fewer than kThreshold installations is
// merged into "other" — in every /stats breakdown, the weekly series, the export and the dashboard.
import test from 'ava';
import { registerAndSubmit, startCollector } from '../helpers/collector.js';
import { testEachDatabase } from '../helpers/databases.js';
import { BREAKDOWN_WINDOWS, protectSmallCounts } from '../../src/collector/analytics/k-threshold.js';

test('protectSmallCounts merges rows under k into one "other" row (summing every counter), sorted, other last', (t) => {
  const rows = [
    { key: 'a', installations: 3, errors: 1 },
    { key: 'b', installations: 9, errors: 0 },
    { key: 'c', installations: 5, errors: 2 },
    { key: 'd', installations: 2, errors: 4 },
    { key: 'e', installations: 0, errors: 0 },
  ];
  t.deepEqual(protectSmallCounts(rows, 5), [
    { key: 'b', installations: 9, errors: 0, other: false, merged: 0 },
    { key: 'c', installations: 5, errors: 2, other: false, merged: 0 },
    { key: 'other', installations: 5, errors: 5, other: true, merged: 2 },
  ]);
  t.deepEqual(protectSmallCounts(rows, 1).map((r) => r.key), ['b', 'c', 'a', 'd']);
  t.deepEqual(protectSmallCounts([], 5), []);
  t.deepEqual(protectSmallCounts([{ key: 'other', installations: 50 }, { key: 'x', installations: 2 }], 5), [
    { key: 'other', installations: 52, other: true, merged: 2 },
  ]);
});

testEachDatabase('below the threshold a version, country or feature never shows by name — anywhere', async (t, db) => {
  const c = await startCollector(t, db);
  for (let i = 0; i < 6; i++) await registerAndSubmit(c.url, c.clock, { app_version: '2.0.0', country: 'DE', feature_flags: { common_flag: true } });
  for (let i = 0; i < 4; i++) await registerAndSubmit(c.url, c.clock, { app_version: '2.1.0-rc1', country: 'IS', feature_flags: { rare_flag: true }, deployment_type: 'native' });
  await registerAndSubmit(c.url, c.clock, { app_version: '0.0.1-alpha', country: 'LI', platform: 'freebsd' });

  const versions = await c.adminJson('/stats/versions');
  t.deepEqual(versions.versions.map((r: { version: string; installations: number }) => [r.version, r.installations]), [
    ['2.0.0', 6],
    ['other', 5],
  ]);
  const everything = JSON.stringify(
    await Promise.all(
      ['/stats/versions', '/stats/geography', '/stats/features', '/stats/deployment-modes', '/stats/platforms', '/stats/version-migration', '/stats/feature-trends', '/stats/errors', '/stats/errors-by-version-mode', '/stats/feature-adoption', '/stats/export'].map((p) =>
        c.adminJson(p),
      ),
    ),
  );
  for (const rare of ['2.1.0-rc1', '0.0.1-alpha', '"IS"', '"LI"', 'rare_flag', 'freebsd']) t.false(everything.includes(rare), rare);
  t.true(everything.includes('common_flag'));

  const dashboard = await (await c.admin('/dashboard')).text();
  for (const rare of ['2.1.0-rc1', '0.0.1-alpha', 'rare_flag', 'freebsd']) t.false(dashboard.includes(rare), `dashboard: ${rare}`);
});

testEachDatabase('kThreshold is configurable: at 1 every row is shown', async (t, db) => {
  const c = await startCollector(t, db, { kThreshold: 1 });
  await registerAndSubmit(c.url, c.clock, { app_version: '1.0.0' });
  await registerAndSubmit(c.url, c.clock, { app_version: '1.1.0' });
  const versions = await c.adminJson('/stats/versions');
  t.is(versions.k_threshold, 1);
  t.deepEqual(versions.versions.map((r: { version: string }) => r.version), ['1.0.0', '1.1.0']);
});

test('an other row under k is suppressed', (t) => {
  // Two rare versions with one installation each: merged they are still only 2 (< k = 5).
  const rows = [
    { key: 'common', installations: 7 },
    { key: 'rare-1', installations: 1 },
    { key: 'rare-2', installations: 1 },
  ];
  t.deepEqual(protectSmallCounts(rows, 5), [{ key: 'common', installations: 7, other: false, merged: 0 }]);
  t.deepEqual(protectSmallCounts([{ key: 'other', installations: 4 }], 5), [], 'a row literally named "other" under k goes too');
});

testEachDatabase('an other row under k is suppressed — in the API, without merged', async (t, db) => {
  const c = await startCollector(t, db);
  for (let i = 0; i < 5; i++) await registerAndSubmit(c.url, c.clock, { app_version: '3.0.0', country: 'DE' });
  await registerAndSubmit(c.url, c.clock, { app_version: '3.1.0-rc1', country: 'IS' });
  const versions = await c.adminJson('/stats/versions');
  t.deepEqual(versions.versions, [{ version: '3.0.0', installations: 5, percent: 83.3 }]);
  const text = JSON.stringify(await Promise.all(['/stats/versions', '/stats/geography', '/stats/version-migration', '/stats/errors', '/stats/export'].map((p) => c.adminJson(p))));
  t.false(text.includes('"merged":1'), 'no other row tells that it merged a single bucket');
  t.false(text.includes('"other":true'));
});

testEachDatabase('near-identical windows cannot single out one installation', async (t, db) => {
  const c = await startCollector(t, db);
  const start = c.clock.now().getTime();
  // One installation last seen 29.5 days ago, five more recently, all on the same version: the
  // windows 30 and 29 would differ by exactly that one installation.
  await registerAndSubmit(c.url, c.clock, { app_version: '4.0.0', country: 'DE' });
  c.clock.set(new Date(start + 29.5 * 86_400_000));
  for (let i = 0; i < 5; i++) await registerAndSubmit(c.url, c.clock, { app_version: '4.0.0', country: 'DE' });
  t.is((await c.adminJson('/stats/versions?window=30')).versions[0].installations, 6);
  for (const window of ['29', '31', '1', '364', '6']) {
    const response = await c.admin(`/stats/versions?window=${window}`);
    t.is(response.status, 400, `window=${window}`);
    const body = await response.json();
    t.is(body.error.code, 'invalid_window');
    t.deepEqual(body.error.details.allowed, [7, 30, 90, 365]);
  }
  t.deepEqual([...BREAKDOWN_WINDOWS], [7, 30, 90, 365]);
  for (const window of BREAKDOWN_WINDOWS) t.is((await c.admin(`/stats/versions?window=${window}`)).status, 200);
  t.is((await c.admin('/stats/export?window=29')).status, 400, 'the export takes the same fixed windows');
  await t.throwsAsync(() => c.handle.stats.versions(29), { instanceOf: RangeError }, 'the service refuses other windows too');
});
