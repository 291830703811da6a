// A real Prometheus server (Debian's /usr/bin/prometheus) runs the shipped scrape config
// (deploy/prometheus/prometheus.yml, pointed at a test collector) with the admin token as a bearer
// credentials file: it scrapes the collector, its HTTP API answers the expected series, it loads
// the alerting rules, and it answers every expression of the Grafana dashboard. A job without the
// token is refused (up == 0), so the bearer token is what makes the scrape work.
import { readFile } from 'node:fs/promises';
import { ADMIN_TOKEN, registerAndSubmit, startCollector } from '../helpers/collector.js';
import { createTestDatabase } from '../helpers/databases.js';
import { DEPLOY_DIR, dashboardExpressions, startPrometheus, testWithBinaries, waitFor, type PrometheusServer } from '../helpers/prometheus.js';
import { tempDirFor } from '../helpers/tmp.js';

const test = testWithBinaries(['prometheus'], 'collector-prometheus-scrape.test.ts');
const JOB = 'koa-consent-telemetry-collector';

/** The first sample of a query once it has one (Prometheus needs a scrape or two first). */
async function sampleOf(prometheus: PrometheusServer, expr: string): Promise<{ metric: Record<string, string>; value: string }> {
  try {
    return await waitFor(`a sample of ${expr}`, async () => {
      const data = await prometheus.query(expr);
      const first = data.result[0];
      return first ? { metric: first.metric, value: first.value[1] } : undefined;
    });
  } catch (err) {
    // Say why: the targets' last scrape errors and Prometheus's own log.
    const targets = await (await fetch(`${prometheus.url}/api/v1/targets`)).text().catch(() => '(no answer)');
    throw new Error(`${(err as Error).message}\ntargets: ${targets.slice(0, 2000)}\nprometheus log: ${prometheus.output().slice(-2000)}`);
  }
}

test('Prometheus scrapes the collector with the bearer token; queries return the collector\'s series; rules and dashboard queries load', async (t) => {
  // Prometheus's start-up and first scrapes take a few seconds, more on a loaded machine.
  t.timeout(120_000);
  const db = await createTestDatabase('sqlite');
  t.teardown(() => db.cleanup());
  const c = await startCollector(t, db);
  await registerAndSubmit(c.url, c.clock);
  await registerAndSubmit(c.url, c.clock, { app_version: '2.0.0' });
  const target = new URL(c.url).host;

  const dir = await tempDirFor(t, 'kct-prometheus-');
  const shipped = await readFile(new URL('prometheus/prometheus.yml', DEPLOY_DIR), 'utf8');
  // The shipped config, with only what differs in a test: intervals, the token file, the target.
  let config = shipped
    .replace(/scrape_interval: \d+s/, 'scrape_interval: 1s')
    .replace(/evaluation_interval: \d+s/, 'evaluation_interval: 1s')
    .replace('credentials_file: /run/secrets/collector_admin_token', `credentials_file: ${dir}/admin-token`)
    .replace("targets: ['collector:8080']", `targets: ['${target}']`);
  t.true(config.includes(`credentials_file: ${dir}/admin-token`) && config.includes(`targets: ['${target}']`), 'the shipped config has the expected shape');
  config += `  - job_name: without-token\n    static_configs:\n      - targets: ['${target}']\n`;
  const prometheus = await startPrometheus(t, dir, config, { 'admin-token': ADMIN_TOKEN, 'alerts.yml': await readFile(new URL('prometheus/alerts.yml', DEPLOY_DIR), 'utf8') });

  t.log(`Prometheus ready at ${prometheus.url}`);
  const accepted = await sampleOf(prometheus, `collector_submissions_total{job="${JOB}", outcome="accepted"}`);
  t.is(accepted.value, '2');
  t.is(accepted.metric.instance, target);
  t.is((await sampleOf(prometheus, `up{job="${JOB}"}`)).value, '1');
  t.is((await sampleOf(prometheus, `collector_installations{job="${JOB}", state="total"}`)).value, '2');
  t.is((await sampleOf(prometheus, `collector_database_up{job="${JOB}"}`)).value, '1');
  t.is((await sampleOf(prometheus, `collector_ingest_duration_seconds_count{job="${JOB}", outcome="accepted"}`)).value, '2');
  t.is((await sampleOf(prometheus, 'up{job="without-token"}')).value, '0', 'without the bearer token the scrape is refused');

  const rules = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string }[] }[] } };
  const loaded = rules.data.groups.flatMap((g) => g.rules);
  t.is(loaded.length, 5);
  t.true(loaded.every((r) => r.health !== 'err'), JSON.stringify(loaded));

  // Every dashboard expression, with Grafana's variables filled in, is valid PromQL here.
  const grafana = (expr: string) => expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '1h').replaceAll('$job', JOB);
  for (const { panel, expr } of dashboardExpressions()) {
    await t.notThrowsAsync(prometheus.query(grafana(expr)), panel);
  }
  const byOutcome = dashboardExpressions().find((e) => e.panel === 'Ingest rate by outcome')!;
  const series = await waitFor('two samples for rate()', async () => {
    const data = await prometheus.query(grafana(byOutcome.expr));
    return data.result.some((r) => r.metric.outcome === 'accepted') ? data.result : undefined;
  });
  t.true(series.some((r) => r.metric.outcome === 'accepted'));
});
