// deploy/grafana/collector-dashboard.json (docs/collector.md): a Grafana dashboard whose every PromQL
// expression names only metrics a running collector really exports (scraped from its /metrics), and
// covers ingest by outcome, latency quantiles, installations and errors. (That Prometheus itself
// accepts and answers every expression: collector-prometheus-scrape.test.ts.)
import test from 'ava';
import { registerAndSubmit, startCollector } from '../helpers/collector.js';
import { createTestDatabase } from '../helpers/databases.js';
import { dashboardExpressions } from '../helpers/prometheus.js';

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset']);

/** The metric names a PromQL expression selects: identifiers that are not functions, keywords, labels or strings. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  return [...stripped.matchAll(/(?<![\w$.])([a-zA-Z_:][\w:]*)\b(?!\s*\()/g)].map((m) => m[1]!).filter((name) => !KEYWORDS.has(name));
}

/** Every metric name /metrics declares (# TYPE), with a histogram's _bucket/_sum/_count series. */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

test('the metric-name reader finds metrics, not functions, labels or keywords', (t) => {
  t.deepEqual(metricNames('histogram_quantile(0.95, sum by (le) (rate(foo_bucket{job=~"$job", a="b(c)"}[5m])))'), ['foo_bucket']);
  t.deepEqual(metricNames('sum(rate(a_total[1m])) / sum(rate(b_total{x="y"}[1m])) and on (job) max(c) > 0'), ['a_total', 'b_total', 'c']);
});

test('every dashboard expression names metrics the collector exports; the required panels are there', async (t) => {
  const db = await createTestDatabase('sqlite');
  t.teardown(() => db.cleanup());
  const c = await startCollector(t, db);
  await registerAndSubmit(c.url, c.clock);
  const exported = exportedNames(await (await c.admin('/metrics')).text());
  t.true(exported.has('collector_submissions_total'));

  const expressions = dashboardExpressions();
  t.true(expressions.length >= 8);
  for (const { panel, expr } of expressions) {
    const names = metricNames(expr);
    t.true(names.length > 0, `${panel}: ${expr} names no metric`);
    for (const name of names) t.true(exported.has(name), `${panel}: ${name} is not exported by the collector`);
  }
  const all = expressions.map((e) => e.expr).join('\n');
  t.regex(all, /sum by \(outcome\) \(rate\(collector_submissions_total/, 'ingest rate by outcome');
  for (const q of ['0.5', '0.95', '0.99']) t.true(all.includes(`histogram_quantile(${q}, sum by (le) (rate(collector_ingest_duration_seconds_bucket`), `p${q}`);
  t.regex(all, /collector_installations/, 'installations');
  t.regex(all, /outcome="error"/, 'errors');
  t.regex(all, /collector_database_up/, 'database health');
});
