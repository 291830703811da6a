// deploy/prometheus/alerts.yml (docs/collector.md): Prometheus accepts the rules (promtool check rules),
// and the unit tests in deploy/prometheus/alerts.test.yml (every alert firing and staying quiet) pass
// (promtool test rules). A broken rule or a wrong expectation makes promtool fail, so these are real checks.
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEPLOY_DIR, findBinary, run, testWithBinaries } from '../helpers/prometheus.js';
import { tempDirFor } from '../helpers/tmp.js';

const test = testWithBinaries(['promtool'], 'collector-alert-rules.test.ts');
const rulesDir = fileURLToPath(new URL('prometheus/', DEPLOY_DIR));
const ALERTS = ['CollectorDown', 'CollectorHealthFailing', 'CollectorIngestErrorRateHigh', 'CollectorNoAcceptedSubmissions', 'CollectorIngestLatencyHigh'];

test('promtool check rules accepts alerts.yml: the five alerts', async (t) => {
  const result = await run(findBinary('promtool')!, ['check', 'rules', 'alerts.yml'], rulesDir);
  t.is(result.code, 0, result.output);
  t.regex(result.output, /SUCCESS: 5 rules found/);
  const text = await readFile(join(rulesDir, 'alerts.yml'), 'utf8');
  t.deepEqual([...text.matchAll(/- alert: (\w+)/g)].map((m) => m[1]), ALERTS);
});

test('promtool test rules: every alert fires in one case and stays quiet in another', async (t) => {
  const result = await run(findBinary('promtool')!, ['test', 'rules', 'alerts.test.yml'], rulesDir);
  t.is(result.code, 0, result.output);
  t.regex(result.output, /SUCCESS/);
  const tests = await readFile(join(rulesDir, 'alerts.test.yml'), 'utf8');
  for (const alert of ALERTS) {
    const blocks = tests.split(/\n {6}- eval_time:/).filter((b) => b.includes(`alertname: ${alert}\n`));
    t.true(blocks.some((b) => /exp_alerts: \[\]/.test(b)), `${alert} has a quiet case`);
    t.true(blocks.some((b) => /exp_labels:/.test(b)), `${alert} has a firing case`);
  }
});

test('the checks can fail: a broken expression and a wrong expectation are reported', async (t) => {
  const dir = await tempDirFor(t);
  await cp(rulesDir, dir, { recursive: true });
  const promtool = findBinary('promtool')!;
  const alerts = await readFile(join(dir, 'alerts.yml'), 'utf8');
  // An alert that no longer fires (threshold raised) fails the unit tests.
  await writeFile(join(dir, 'alerts.yml'), alerts.replace('> 0.5\n', '> 5\n'));
  const tested = await run(promtool, ['test', 'rules', 'alerts.test.yml'], dir);
  t.not(tested.code, 0);
  t.regex(tested.output, /CollectorIngestLatencyHigh/);
  // A syntax error fails the rule check.
  await writeFile(join(dir, 'alerts.yml'), alerts.replace('== 0\n', '== = 0\n'));
  const checked = await run(promtool, ['check', 'rules', 'alerts.yml'], dir);
  t.not(checked.code, 0);
});
