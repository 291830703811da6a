// GET /api/v1/usage-stats/status: admin only, and it tells the admin what the plugin is doing.
import test from 'ava';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';

test('anonymous → 401, a regular user → 403, both as JSON errors', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t) } });
  t.teardown(() => host.close());

  const anonymous = await host.request('/api/v1/usage-stats/status');
  t.is(anonymous.status, 401);
  t.is((await anonymous.json()).error.code, 'unauthorized');

  const regular = await host.request('/api/v1/usage-stats/status', { user: 'alice' });
  t.is(regular.status, 403);
  t.is((await regular.json()).error.code, 'forbidden');
});

test('an admin sees consent, kill switch, sink, queue depth, drops and guard counters', async (t) => {
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), debug: true, debugOutput: () => {}, logger: quiet } });
  t.teardown(() => host.close());
  await host.telemetry.consent.set({ analytics: true });
  host.telemetry.track('Not A Valid Name');
  host.telemetry.track('note.saved', { email: 'someone@example.com', body: 'call +1 415-555-0100', '10.0.0.1': true });
  await host.telemetry.flush();

  const response = await host.request('/api/v1/usage-stats/status', { user: 'admin' });
  t.is(response.status, 200);
  t.is(response.headers.get('cache-control'), 'no-store');
  const status = await response.json();
  t.regex(status.install_id, /^[0-9a-f-]{36}$/);
  t.like(status.consent, { analytics: true, usageStats: false, needs_reconfirmation: false });
  t.like(status.kill_switch, { active: false, reason: null });
  t.like(status.sink, { configured: true, debug: true, endpoint: null, queueDepth: 0 });
  t.like(status.queue, { export_depth: 0, export_dropped: 0 });
  t.is(status.privacy_guard.rejected_events, 1);
  t.is(status.privacy_guard.dropped_keys, 1);
  t.is(status.privacy_guard.redacted_values, 2);
  // Per reason: the key that is an IP address is dropped, the e-mail key and the free text redacted.
  t.like(status.privacy_guard.by_reason, { key_not_safe: 1, pii_key: 1, phone_number: 1, email: 0 });
});

test('a host whose isAdmin throws is denied, not crashed', async (t) => {
  const host = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      isAdmin: () => {
        throw new Error('host bug');
      },
    },
  });
  t.teardown(() => host.close());
  const response = await host.request('/api/v1/usage-stats/status', { user: 'admin' });
  t.is(response.status, 403);
});

test('a configured sink shows its endpoint without credentials', async (t) => {
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), otlp: { endpoint: 'http://user:pass@127.0.0.1:9' }, stopTimeoutMs: 200 } });
  t.teardown(() => host.close());
  const status = await (await host.request('/api/v1/usage-stats/status', { user: 'admin' })).json();
  t.true(status.sink.configured);
  t.false(JSON.stringify(status).includes('pass'));
});
