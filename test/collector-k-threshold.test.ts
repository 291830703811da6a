// Small-count protection (SPEC §8): any breakdown row with fewer than kThreshold installations is
// merged into "other" — in every /stats breakdown, the weekly series, the export and the dashboard.
import test from 'ava';
import { registerAndSubmit, startCollector } from './helpers/collector.js';
import { testEachDatabase } from './helpers/databases.js';
import { protectSmallCounts } from '../src/collector/analytics/k-threshold.js';

test('protectSmallCounts merges rows under k into one "other" row (summing every counter), sorted, other last', (t) => {
  const rows = [
    { key: 'a', installations: 3, errors: 1 },
    { key: 'b', installations: 9, errors: 0 },
    { key: 'c', installations: 5, errors: 2 },
    { key: 'd', installations: 1, errors: 4 },
    { key: 'e', installations: 0, errors: 0 },
  ];
  t.deepEqual(protectSmallCounts(rows, 5), [
    { key: 'b', installations: 9, errors: 0, other: false, merged: 0 },
    { key: 'c', installations: 5, errors: 2, other: false, merged: 0 },
    { key: 'other', installations: 4, errors: 5, other: true, merged: 2 },
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
      ['/stats/versions', '/stats/geography', '/stats/features', '/stats/deployment-modes', '/stats/platforms', '/stats/version-migration', '/stats/feature-trends', '/stats/errors', '/stats/export'].map((p) =>
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
