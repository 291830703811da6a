// ctx.telemetry.support.reportGenerated(): a persisted per-user counter in
// telemetry_support_counters that queues the after_report prompt, shows in the modal, and never
// breaks the host route that calls it.
import test from 'ava';
import nunjucks from 'nunjucks';
import type { Knex } from 'knex';
import type { ExecutionContext } from 'ava';
import { startHostApp, type HostApp } from '../helpers/host-app.js';
import { testEachDatabase } from '../helpers/databases.js';
import { tempDirFor } from '../helpers/tmp.js';
import type { TelemetryOptions } from '../../src/index.js';
import { migrateLatest, migrateRollbackAll } from '../../src/plugin/db/migration-source.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const MODAL = '{% include "telemetry/support/modal.njk" %}{% include "telemetry/support/toast_container.njk" %}';

async function counterHost(t: ExecutionContext, knex: Knex, support: Partial<TelemetryOptions['support']> = {}): Promise<HostApp> {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(await tempDirFor(t, 'kct-views-')), { autoescape: true });
  const host = await startHostApp({
    telemetry: { dataDir: await tempDirFor(t), db: knex, nunjucks: env, logger: quiet, support: { userStats: () => ({ hoursTracked: 3, entries: 7 }), ...support } },
    routes: (router) => {
      router.get('/export.csv', async (ctx) => {
        const count = await ctx.telemetry.support.reportGenerated();
        ctx.body = { count };
      });
      router.get('/page', (ctx) => {
        ctx.type = 'html';
        ctx.body = env.renderString(MODAL, { ...ctx.state });
      });
    },
  });
  t.teardown(() => host.close());
  return host;
}

async function count(host: HostApp, user?: 'alice' | 'admin'): Promise<unknown> {
  const response = await host.request('/export.csv', { user });
  return ((await response.json()) as { count: unknown }).count;
}

testEachDatabase('reportGenerated counts per user, persisted in telemetry_support_counters', async (t, db) => {
  const host = await counterHost(t, db.knex);
  t.is(await count(host, 'alice'), 1);
  t.is(await count(host, 'alice'), 2);
  t.is(await count(host, 'admin'), 1, 'per user');
  t.is(await count(host, 'alice'), 3);
  const rows = (await db.knex('telemetry_support_counters').orderBy('user_id').select('user_id', 'reports_generated')) as { user_id: string; reports_generated: unknown }[];
  t.deepEqual(rows.map((r) => [r.user_id, Number(r.reports_generated)]), [['1', 1], ['2', 3]]);
  t.is(await host.telemetry.support.reportsGenerated({ id: 2 }), 3);
  t.is(await host.telemetry.support.reportGenerated({ id: 2 }), 4, 'the handle counts outside a request as well');

  await host.close();
  const again = await counterHost(t, db.knex);
  t.is(await count(again, 'alice'), 5, 'survives a restart');
});

testEachDatabase('parallel reports are all counted', async (t, db) => {
  const host = await counterHost(t, db.knex);
  const results = await Promise.all(Array.from({ length: 20 }, () => count(host, 'alice')));
  t.deepEqual([...(results as number[])].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
  t.is(await host.telemetry.support.reportsGenerated({ id: 2 }), 20);
});

testEachDatabase('signed out or support disabled: nothing is counted, the route still answers', async (t, db) => {
  const host = await counterHost(t, db.knex);
  t.is(await count(host), null);
  t.is(Number(((await db.knex('telemetry_support_counters').count({ n: '*' }).first()) as { n: unknown }).n), 0);
  await host.close();

  const off = await counterHost(t, db.knex, { enabled: false });
  t.is(await count(off, 'alice'), null);
  t.is(Number(((await db.knex('telemetry_support_counters').count({ n: '*' }).first()) as { n: unknown }).n), 0);
});

testEachDatabase('the modal shows the counter beside the host stats, and the next page asks for after_report', async (t, db) => {
  const host = await counterHost(t, db.knex);
  await count(host, 'alice');
  await count(host, 'alice');
  const html = await (await host.request('/page', { user: 'alice', headers: { accept: 'text/html' } })).text();
  t.regex(html, /data-support-stat="hours_tracked"><dd>3<\/dd><dt>Hours tracked<\/dt>/);
  t.regex(html, /data-support-stat="entries"><dd>7<\/dd>/);
  t.regex(html, /data-support-stat="reports_generated"><dd>2<\/dd><dt>Reports generated<\/dt>/);
  t.regex(html, /data-support-prompt-page/, 'after_report is pending in this session');
});

testEachDatabase('a broken database: reportGenerated resolves null and the host route is unaffected', async (t, db) => {
  const host = await counterHost(t, db.knex);
  t.is(await count(host, 'alice'), 1);
  await migrateRollbackAll(db.knex); // the support tables disappear under the running plugin
  const response = await host.request('/export.csv', { user: 'alice' });
  t.is(response.status, 200);
  t.deepEqual(await response.json(), { count: null });
  const page = await host.request('/page', { user: 'alice', headers: { accept: 'text/html' } });
  t.is(page.status, 200);
  t.regex(await page.text(), /data-support-modal/, 'the modal still renders, without the counter');
  await migrateLatest(db.knex);
});

test('migration 003 creates the support tables and drops them on rollback', async (t) => {
  const { createTestDatabase } = await import('../helpers/databases.js');
  const db = await createTestDatabase('sqlite');
  t.teardown(() => db.cleanup());
  await migrateLatest(db.knex);
  for (const table of ['telemetry_support_counters', 'telemetry_support_prompt_state', 'telemetry_donation_interactions']) {
    t.true(await db.knex.schema.hasTable(table), table);
  }
  await migrateRollbackAll(db.knex);
  for (const table of ['telemetry_support_counters', 'telemetry_support_prompt_state', 'telemetry_donation_interactions']) {
    t.false(await db.knex.schema.hasTable(table), table);
  }
});
