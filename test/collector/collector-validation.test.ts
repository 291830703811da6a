// Schema validation (docs/collector.md): an invalid payload is 422 with field errors as [{ path, message }],
// never a 5xx, never a stack trace, and nothing is stored.
import { payloadFor, register, startCollector, submit } from '../helpers/collector.js';
import { testEachDatabase } from '../helpers/databases.js';
import type { SubmissionPayload } from '../../src/core/protocol.js';
import { checkCollectorAnswers } from '../helpers/openapi.js';

type Mutation = [label: string, mutate: (p: Record<string, unknown>) => void, path: string];

const cases: Mutation[] = [
  ['wrong schema version', (p) => (p.schema_version = 2), 'schema_version'],
  ['bad period day', (p) => (p.period = { start: '2026-02-30', end: '2026-03-05' }), 'period.start'],
  ['period end before start', (p) => (p.period = { start: '2026-03-09', end: '2026-03-01' }), 'period.end'],
  ['period longer than 31 days', (p) => (p.period = { start: '2026-01-01', end: '2026-03-01' }), 'period.end'],
  ['version with spaces', (p) => (p.app_version = '1.4 beta'), 'app_version'],
  ['unknown deployment type', (p) => (p.deployment_type = 'kubernetes'), 'deployment_type'],
  ['lowercase country', (p) => (p.country = 'de'), 'country'],
  ['event name with spaces', (p) => (p.event_counts = { 'Timer Started': 1 }), 'event_counts.Timer Started'],
  ['negative count', (p) => (p.event_counts = { 'timer.started': -1 }), 'event_counts.timer.started'],
  ['non-boolean flag', (p) => (p.feature_flags = { sso_enabled: 'yes' }), 'feature_flags.sso_enabled'],
  ['fractional error count', (p) => (p.error_count = 1.5), 'error_count'],
  ['missing uptime', (p) => delete p.uptime_hours, 'uptime_hours'],
  ['unknown key (free text)', (p) => (p.note = 'hello from alice@example.com'), '(body)'],
];

testEachDatabase('each invalid payload is 422 naming the field; nothing is stored', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const install = await register(c.url);
  for (const [label, mutate, path] of cases) {
    const payload = structuredClone(payloadFor(install.installId)) as unknown as Record<string, unknown>;
    mutate(payload);
    const response = await submit(c.url, c.clock, install, payload as unknown as SubmissionPayload);
    t.is(response.status, 422, label);
    const body = await response.json();
    t.is(body.error.code, 'invalid_payload', label);
    t.true(Array.isArray(body.error.details), label);
    t.true(
      body.error.details.some((d: { path: string; message: string }) => d.path === path && typeof d.message === 'string' && d.message.length > 0),
      `${label}: ${JSON.stringify(body.error.details)}`,
    );
    t.false(/\n\s+at /.test(JSON.stringify(body)), 'no stack trace');
  }
  t.is((await db.knex('collector_submissions').select('id')).length, 0);
  // The installation can still submit: the invalid ones did not count against the rate limit.
  t.is((await submit(c.url, c.clock, install, payloadFor(install.installId))).status, 202);
});

testEachDatabase('a body that is not JSON (but correctly signed) is 400 invalid_json', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const install = await register(c.url);
  const response = await submit(c.url, c.clock, install, payloadFor(install.installId), { body: '{"schema_version": 1,' });
  t.is(response.status, 400);
  t.is((await response.json()).error.code, 'invalid_json');
  const empty = await submit(c.url, c.clock, install, payloadFor(install.installId), { body: '' });
  t.is(empty.status, 400);
});

testEachDatabase('many field errors come back together (several paths at once)', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const install = await register(c.url);
  const payload = { ...payloadFor(install.installId), country: 'germany', deployment_type: 'vm', error_count: -4 } as unknown as SubmissionPayload;
  const body = await (await submit(c.url, c.clock, install, payload)).json();
  const paths = body.error.details.map((d: { path: string }) => d.path).sort();
  t.deepEqual(paths, ['country', 'deployment_type', 'error_count']);
});
