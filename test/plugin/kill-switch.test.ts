// DO_NOT_TRACK=1 / TELEMETRY_DISABLED=1: nothing at all leaves, base layer included, even when opted in.
// TELEMETRY_DEBUG=1: every payload is printed, none is sent.
import test from 'ava';
import { disallowNetwork, nock, restoreNetwork } from '../helpers/no-network.js';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';
import type { Logger } from '../../src/index.js';

const ENDPOINT = 'http://otlp.invalid:4318';

test.before(disallowNetwork);
test.afterEach.always(() => nock.cleanAll());
test.after.always(restoreNetwork);

for (const variable of ['DO_NOT_TRACK', 'TELEMETRY_DISABLED'] as const) {
  test.serial(`${variable}=1 silences everything, base layer included, and the status says why`, async (t) => {
    const scope = nock(ENDPOINT).persist().post(/.*/).reply(200, {});
    const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), otlp: { endpoint: ENDPOINT }, env: { [variable]: '1' } } });
    t.teardown(() => host.close());
    await host.telemetry.consent.set({ analytics: true, usageStats: true });
    await host.request('/projects/3', { user: 'alice' });
    host.telemetry.track('timer.started', { source: 'web' });
    t.true(await host.telemetry.flush());
    t.false(scope.isDone(), 'no request at all reached the endpoint');
    t.deepEqual(nock.pendingMocks().length, 1);

    const response = await host.request('/api/v1/usage-stats/status', { user: 'admin' });
    const status = await response.json();
    t.true(status.kill_switch.active);
    t.is(status.kill_switch.reason, variable);
    t.regex(status.kill_switch.explanation, new RegExp(variable));
    t.is(status.queue.export_depth, 0);
    t.false(status.sink.configured);
  });
}

test.serial('TELEMETRY_DEBUG=1 prints the would-be payloads and sends nothing', async (t) => {
  const scope = nock(ENDPOINT).persist().post(/.*/).reply(200, {});
  const printed: string[] = [];
  const logger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), otlp: { endpoint: ENDPOINT }, env: { TELEMETRY_DEBUG: '1' }, logger, debugOutput: (text) => void printed.push(text) } });
  t.teardown(() => host.close());
  await host.telemetry.consent.set({ analytics: true });
  host.telemetry.track('timer.started', { source: 'web' });
  t.true(await host.telemetry.flush());
  t.false(scope.isDone(), 'nothing was sent');
  const output = printed.join('\n');
  t.true(output.includes('base_telemetry.first_seen'));
  t.true(output.includes('timer.started'));
  t.true(host.telemetry.status().debug);
});
