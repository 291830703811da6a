// The plugin's OTLP export end to end: a real host, a real OTLP/HTTP receiver on 127.0.0.1.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';
import { BASE_SCHEMA_KEYS } from '../../src/index.js';

const FIXED_KEYS = new Set<string>(BASE_SCHEMA_KEYS);

test('first_seen carries exactly the fixed base schema and the resource identifies the install', async (t) => {
  const receiver = await startOtlpReceiver();
  const dataDir = await tempDirFor(t);
  const host = await startHostApp({ telemetry: { dataDir, otlp: { endpoint: receiver.url } } });
  t.teardown(async () => {
    await host.close();
    await receiver.close();
  });
  await host.telemetry.flush();
  const [log] = await receiver.waitForLogs(1);
  const installation = JSON.parse(await readFile(join(dataDir, 'installation.json'), 'utf8'));

  t.is(log!.body, 'base_telemetry.first_seen');
  for (const key of Object.keys(log!.attributes)) t.true(FIXED_KEYS.has(key), `unexpected base key ${key}`);
  t.is(log!.attributes.install_id, installation.install_id);
  t.is(log!.attributes.app_version, '9.9.9');
  t.is(log!.attributes.platform, process.platform);
  t.truthy(log!.attributes.deployment_type);
  t.like(log!.resource, { 'service.name': 'TestHost', 'service.version': '9.9.9', 'service.instance.id': installation.install_id });
  t.truthy(installation.first_seen_sent_at, 'first_seen is marked sent after a 2xx');
});

test('first_seen is sent once per install, and retried at the next start after a failed export', async (t) => {
  const receiver = await startOtlpReceiver({ status: 500 });
  const dataDir = await tempDirFor(t);
  t.teardown(() => receiver.close());
  const telemetry = { dataDir, otlp: { endpoint: receiver.url } };

  const first = await startHostApp({ telemetry });
  t.false(await first.telemetry.flush());
  await first.close();
  let installation = JSON.parse(await readFile(join(dataDir, 'installation.json'), 'utf8'));
  t.is(installation.first_seen_sent_at, null, 'not marked sent after a 500');

  receiver.setStatus(200);
  const second = await startHostApp({ telemetry });
  t.true(await second.telemetry.flush());
  await second.close();
  installation = JSON.parse(await readFile(join(dataDir, 'installation.json'), 'utf8'));
  t.truthy(installation.first_seen_sent_at);
  t.is(receiver.logs.filter((l) => l.body === 'base_telemetry.first_seen').length, 1);

  const third = await startHostApp({ telemetry });
  await third.telemetry.flush();
  await third.close();
  t.is(receiver.logs.filter((l) => l.body === 'base_telemetry.first_seen').length, 1, 'never sent twice');
});

test('opted in: track() and page views reach the receiver, enriched, guarded, by route template only', async (t) => {
  const receiver = await startOtlpReceiver();
  const dataDir = await tempDirFor(t);
  const host = await startHostApp({
    telemetry: { dataDir, otlp: { endpoint: receiver.url } },
    routes: (router) =>
      router.post('/notes', (ctx) => {
        ctx.telemetry.track('note.created', { source: 'web', email: 'bob@example.com', comment: 'mail me at bob@example.com', words: 12 });
        ctx.status = 204;
      }),
  });
  t.teardown(async () => {
    await host.close();
    await receiver.close();
  });
  await host.telemetry.consent.set({ analytics: true });

  await host.request('/projects/42?secret=hunter2', { user: 'alice', headers: { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36' } });
  await host.request('/notes', { method: 'POST', user: 'alice' });
  t.true(await host.telemetry.flush());

  const logs = await receiver.waitForLogs(3);
  const note = logs.find((l) => l.body === 'note.created');
  t.truthy(note);
  t.is(note!.attributes.source, 'web');
  t.is(note!.attributes.words, 12);
  t.is(note!.attributes.email, '[redacted]', 'a PII key keeps only the marker');
  t.is(note!.attributes.comment, '[redacted]');
  t.regex(String(note!.attributes['user.pseudonym']), /^[0-9a-f]{16}$/);
  t.not(note!.attributes['user.pseudonym'], '2');
  t.truthy(note!.attributes.install_id);

  const viewed = logs.find((l) => l.body === 'project.viewed');
  t.is(viewed!.attributes['browser.family'], 'Chrome');

  const pageviews = await receiver.waitForMetric('app.pageviews', 5000, (points) => points.some((p) => p.attributes['http.route'] === '/projects/:id'));
  const project = pageviews.find((p) => p.attributes['http.route'] === '/projects/:id');
  t.is(project!.value, 1);
  t.like(project!.attributes, { 'http.method': 'GET', 'http.status_class': '2xx', 'browser.family': 'Chrome', 'device.class': 'desktop' });
  const events = receiver.latestMetric('app.events');
  t.true(events.some((p) => p.attributes['event.name'] === 'note.created' && p.value === 1));
  t.truthy(receiver.latestMetric('app.install.active').find((p) => p.value === 1));

  const everything = JSON.stringify(receiver.requests.map((r) => r.body));
  t.false(everything.includes('hunter2'), 'no query string leaves');
  t.false(everything.includes('/projects/42'), 'no raw URL leaves');
  t.false(everything.includes('bob@example.com'), 'no e-mail leaves');
});

test('GRAFANA_OTLP_ENDPOINT and GRAFANA_OTLP_TOKEN user:key become the endpoint and Basic auth', async (t) => {
  const receiver = await startOtlpReceiver();
  const host = await startHostApp({
    telemetry: { dataDir: await tempDirFor(t), env: { GRAFANA_OTLP_ENDPOINT: receiver.url, GRAFANA_OTLP_TOKEN: '123456:glc_secret' } },
  });
  t.teardown(async () => {
    await host.close();
    await receiver.close();
  });
  await host.telemetry.flush();
  const [request] = await receiver.waitForRequests(1, 5000, '/v1/logs');
  t.is(request!.headers.authorization, `Basic ${Buffer.from('123456:glc_secret').toString('base64')}`);
});

test('OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS are honoured', async (t) => {
  const receiver = await startOtlpReceiver();
  const host = await startHostApp({
    telemetry: { dataDir: await tempDirFor(t), env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_HEADERS: 'x-scope-orgid=tenant%201' } },
  });
  t.teardown(async () => {
    await host.close();
    await receiver.close();
  });
  await host.telemetry.flush();
  const [request] = await receiver.waitForRequests(1, 5000, '/v1/logs');
  t.is(request!.headers['x-scope-orgid'], 'tenant 1');
});
