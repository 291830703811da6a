// /metrics (docs/collector.md): prom-client text with submissions by outcome, an ingest latency histogram and
// the installations gauge, on a private registry per collector (never prom-client's global one).
import test from 'ava';
import { register as globalRegistry } from 'prom-client';
import { payloadFor, register, registerAndSubmit, startCollector, submit } from '../helpers/collector.js';
import { createTestDatabase, testEachDatabase } from '../helpers/databases.js';
import { checkCollectorAnswers } from '../helpers/openapi.js';

function metricValue(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

testEachDatabase('submissions by outcome, the latency histogram and the installations gauge', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const a = await registerAndSubmit(c.url, c.clock); // accepted
  await submit(c.url, c.clock, a, payloadFor(a.installId)); // replayed
  await submit(c.url, c.clock, a, payloadFor(a.installId, { period: { start: '2026-03-16', end: '2026-03-23' } })); // rate_limited
  await submit(c.url, c.clock, a, payloadFor(a.installId), { secret: '0'.repeat(64) }); // unauthorized
  const b = await register(c.url);
  await submit(c.url, c.clock, b, payloadFor(b.installId, { country: 'germany' })); // invalid
  await submit(c.url, c.clock, b, payloadFor(b.installId), { body: ' '.repeat(70_000) }); // too_large
  await register(c.url); // a third, silent installation

  const response = await c.admin('/metrics');
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /text\/plain; version=0\.0\.4/);
  const text = await response.text();
  for (const [outcome, n] of [
    ['accepted', 1],
    ['replayed', 1],
    ['rate_limited', 1],
    ['unauthorized', 1],
    ['invalid', 1],
    ['too_large', 1],
  ] as const) {
    t.is(metricValue(text, 'collector_submissions_total', `outcome="${outcome}"`), n, outcome);
  }
  t.is(metricValue(text, 'collector_ingest_duration_seconds_count', 'outcome="accepted"'), 1);
  t.is(metricValue(text, 'collector_ingest_duration_seconds_bucket', 'le="+Inf",outcome="accepted"'), 1);
  t.true((metricValue(text, 'collector_ingest_duration_seconds_sum', 'outcome="accepted"') ?? 0) > 0);
  t.regex(text, /# TYPE collector_ingest_duration_seconds histogram/);
  // Group commit (PostgreSQL): each of the five requests that reached the database came alone, so five batches of one.
  t.regex(text, /# TYPE collector_ingest_batch_size histogram/);
  t.is(metricValue(text, 'collector_ingest_batch_size_count'), db.kind === 'postgres' ? 5 : 0);
  t.is(metricValue(text, 'collector_ingest_batch_size_sum'), db.kind === 'postgres' ? 5 : 0);
  t.is(metricValue(text, 'collector_installations', 'state="total"'), 1, 'only installations with an accepted submission count');
  t.is(metricValue(text, 'collector_installations', 'state="active_7d"'), 1);
  t.is(metricValue(text, 'collector_installations', 'state="active_30d"'), 1);
  t.is(metricValue(text, 'collector_registrations_total', 'outcome="created"'), 3);
});

testEachDatabase('a private registry per instance: prom-client\'s global registry stays untouched', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  await registerAndSubmit(c.url, c.clock);
  const other = await startCollector(t, await createTestDatabase(db.kind).then((d) => (t.teardown(() => d.cleanup()), d)));
  t.not(c.handle.metrics.registry, other.handle.metrics.registry);
  t.false((await globalRegistry.metrics()).includes('collector_'));
  const otherText = await (await other.admin('/metrics')).text();
  t.is(metricValue(otherText, 'collector_submissions_total', 'outcome="accepted"'), 0);
});

test('/metrics needs the admin token unless publicMetrics is on; process metrics are opt-in', async (t) => {
  const db = await createTestDatabase('sqlite');
  t.teardown(() => db.cleanup());
  const closed = await startCollector(t, db);
  t.is((await fetch(`${closed.url}/metrics`)).status, 401);
  t.false((await (await closed.admin('/metrics')).text()).includes('process_cpu'));
  await closed.close();
  const open = await startCollector(t, db, { publicMetrics: true, processMetrics: true });
  const response = await fetch(`${open.url}/metrics`);
  t.is(response.status, 200);
  const text = await response.text();
  t.true(text.includes('collector_installations'));
  t.true(text.includes('process_cpu_user_seconds_total'));
});

testEachDatabase('collector_database_up is 1 while the database answers and 0 once it is gone (what /health says)', async (t, db) => {
  const hostKnex = (await import('knex')).default(db.config());
  const c = await startCollector(t, db, { db: hostKnex });
  t.is(metricValue(await (await c.admin('/metrics')).text(), 'collector_database_up'), 1);
  await hostKnex.destroy();
  const response = await c.admin('/metrics');
  t.is(response.status, 200, 'the metrics still answer, so the alert can fire');
  t.is(metricValue(await response.text(), 'collector_database_up'), 0);
  t.is((await fetch(`${c.url}/health`)).status, 503);
});
