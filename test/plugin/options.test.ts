// resolveOptions(): every default, every environment fallback, explicit options beating the
// environment, OTLP header parsing, Grafana token → Authorization, and a TypeError naming the
// field for every kind of invalid option.
import test from 'ava';
import knex from 'knex';
import {
  DEFAULT_MOUNT_PATHS,
  PRIVACY_NOTICE_VERSION,
  parseOtlpHeaders,
  resolveOptions,
  type TelemetryOptions,
} from '../../src/plugin/options.js';

const base = { appName: 'TimeTracker', appVersion: '1.4.0' } as const;

/** Options with an injected, empty environment unless `env` is given. */
function resolve(extra: Record<string, unknown> = {}, env: Record<string, string | undefined> = {}) {
  return resolveOptions({ ...base, env, ...extra } as TelemetryOptions);
}

const basic = (s: string): string => `Basic ${Buffer.from(s, 'utf8').toString('base64')}`;

// ------------------------------------------------------------------------------------ defaults

test('defaults: every option has a value when only appName/appVersion are given', (t) => {
  const o = resolve();
  t.is(o.appName, 'TimeTracker');
  t.is(o.appVersion, '1.4.0');
  t.is(o.releaseChannel, 'stable');
  t.is(o.deploymentType, 'auto');
  t.is(o.db, undefined, 'no db → the plugin opens its own SQLite file');
  t.is(o.dataDir, './data');
  t.deepEqual(o.otlp, { endpoint: null, headers: {}, token: null, timeoutMs: 10_000 });
  t.deepEqual(o.collector, { url: null, registrationKey: null, allowInsecureHttp: false, publicInsightsUrl: null });
  t.is(typeof o.getUser, 'function');
  t.is(typeof o.isAdmin, 'function');
  t.is(o.support.enabled, true);
  t.deepEqual(o.support.urls, { tiers: [], license: null, share: null });
  t.is(o.support.longSessionMinutes, 120);
  t.is(o.support.socialProofText, null);
  t.is(o.support.hideDonateWhenSupporter, false);
  t.is(typeof o.support.isSupporter, 'function');
  t.is(typeof o.support.userStats, 'function');
  t.is(o.nunjucks, undefined);
  t.deepEqual(o.mountPath, { ...DEFAULT_MOUNT_PATHS });
  t.deepEqual(o.mountPath, {
    api: '/api/v1/usage-stats',
    pages: '/telemetry',
    donate: '/donate',
    assets: '/telemetry/assets',
  });
  for (const level of ['debug', 'info', 'warn', 'error'] as const) t.is(typeof o.logger[level], 'function');
  t.is(o.debug, false);
  t.is(o.localStats, true);
  t.is(o.retentionDays, 365);
  t.is(typeof o.featureFlags, 'function');
  t.is(o.onConsentChange, undefined);
  t.is(o.privacyNoticeVersion, PRIVACY_NOTICE_VERSION);
  t.deepEqual(o.export, { queueCap: 2_000, batchSize: 200, intervalMs: 5_000, metricIntervalMs: 60_000, intakeCap: 10_000 });
  t.is(o.stopTimeoutMs, 2_000);
  t.is(o.jobs, true);
  t.true(o.now() instanceof Date);
  t.deepEqual(o.env, {});
});

test('defaults: a nested object given in part keeps every default it leaves out (written once, in the schema)', (t) => {
  const o = resolve({ export: { queueCap: 50 }, support: { enabled: false, urls: { license: 'https://example.com/license' } }, recorder: {}, mountPath: { api: '/stats' } });
  t.deepEqual(o.export, { queueCap: 50, batchSize: 200, intervalMs: 5_000, metricIntervalMs: 60_000, intakeCap: 10_000 });
  t.like(o.support, { enabled: false, longSessionMinutes: 120, eventsPerMinute: 30, socialProofText: null, hideDonateWhenSupporter: false, sources: [] });
  t.deepEqual(o.support.urls, { tiers: [], license: 'https://example.com/license', share: null });
  t.is(o.support.isSupporter({} as never), false);
  t.deepEqual(o.recorder, { batchSize: 500, intervalMs: 2_000, cap: 10_000 });
  t.deepEqual(o.mountPath, { ...DEFAULT_MOUNT_PATHS, api: '/stats' });
  t.throws(() => resolve({ export: { batchSize: 0 } }), { instanceOf: TypeError, message: /invalid option `export\.batchSize`/ });
  t.throws(() => resolve({ support: { urls: { share: 'ftp://x' } } }), { instanceOf: TypeError, message: /invalid option `support\.urls\.share`/ });
});

test('defaults: getUser reads ctx.state.user, isAdmin denies unless isAdmin === true', (t) => {
  const o = resolve();
  const ctx = (state: unknown) => ({ state }) as never;
  t.deepEqual(o.getUser(ctx({ user: { id: 7, createdAt: '2024-01-01' } })), { id: 7, createdAt: '2024-01-01' });
  t.deepEqual(o.getUser(ctx({ user: { id: 'u1' } })), { id: 'u1', createdAt: null });
  t.is(o.getUser(ctx({})), null);
  t.is(o.getUser(ctx({ user: { name: 'no id' } })), null);
  t.false(o.isAdmin(ctx({})));
  t.false(o.isAdmin(ctx({ user: { id: 1, isAdmin: 'yes' } })));
  t.true(o.isAdmin(ctx({ user: { id: 1, isAdmin: true } })));
});

test('defaults: process.env is used when no env option is given', (t) => {
  // Synchronous: no other test in this process can observe the temporary variable.
  const saved = process.env.RELEASE_CHANNEL;
  try {
    process.env.RELEASE_CHANNEL = 'from-process-env';
    const o = resolveOptions({ ...base });
    t.is(o.releaseChannel, 'from-process-env');
    t.is(o.env, process.env);
  } finally {
    if (saved === undefined) delete process.env.RELEASE_CHANNEL;
    else process.env.RELEASE_CHANNEL = saved;
  }
});

test('defaults: a knex instance and a knex config are both accepted as db', async (t) => {
  const instance = knex({ client: 'sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
  t.teardown(() => instance.destroy());
  t.is(resolve({ db: instance }).db, instance);
  const config = { client: 'pg', connection: 'postgres://x@127.0.0.1/db' };
  t.deepEqual(resolve({ db: config }).db, config);
});

// ------------------------------------------------------------------------------------ env fallbacks

const envFallbacks: { variable: string; value: string; read: (o: ReturnType<typeof resolve>) => unknown; expected: unknown }[] = [
  { variable: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'https://otlp.example.com', read: (o) => o.otlp.endpoint, expected: 'https://otlp.example.com' },
  { variable: 'GRAFANA_OTLP_ENDPOINT', value: 'https://otlp-gateway.grafana.net/otlp', read: (o) => o.otlp.endpoint, expected: 'https://otlp-gateway.grafana.net/otlp' },
  { variable: 'OTEL_EXPORTER_OTLP_HEADERS', value: 'x-api-key=abc', read: (o) => o.otlp.headers, expected: { 'x-api-key': 'abc' } },
  { variable: 'GRAFANA_OTLP_TOKEN', value: 'tok', read: (o) => o.otlp.token, expected: 'tok' },
  { variable: 'RELEASE_CHANNEL', value: 'beta', read: (o) => o.releaseChannel, expected: 'beta' },
  { variable: 'TELEMETRY_DATA_DIR', value: '/var/lib/app', read: (o) => o.dataDir, expected: '/var/lib/app' },
  { variable: 'TELEMETRY_DEBUG', value: '1', read: (o) => o.debug, expected: true },
  { variable: 'TELEMETRY_DEBUG', value: 'true', read: (o) => o.debug, expected: true },
  { variable: 'TELEMETRY_DEBUG', value: '0', read: (o) => o.debug, expected: false },
  { variable: 'TELEMETRY_COLLECTOR_URL', value: 'https://collector.example.com', read: (o) => o.collector.url, expected: 'https://collector.example.com' },
  { variable: 'TELEMETRY_COLLECTOR_REGISTRATION_KEY', value: 'reg-key', read: (o) => o.collector.registrationKey, expected: 'reg-key' },
];

for (const { variable, value, read, expected } of envFallbacks) {
  test(`env fallback: ${variable}=${value}`, (t) => {
    t.deepEqual(read(resolve({}, { [variable]: value })), expected);
  });
}

test('env fallback: OTEL_EXPORTER_OTLP_ENDPOINT wins over its GRAFANA_OTLP_ENDPOINT alias', (t) => {
  const o = resolve({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example.com', GRAFANA_OTLP_ENDPOINT: 'https://grafana.example.com' });
  t.is(o.otlp.endpoint, 'https://otel.example.com');
});

test('env fallback: empty variables count as unset', (t) => {
  const o = resolve(
    {},
    {
      OTEL_EXPORTER_OTLP_ENDPOINT: '',
      OTEL_EXPORTER_OTLP_HEADERS: '',
      GRAFANA_OTLP_TOKEN: '',
      RELEASE_CHANNEL: '',
      TELEMETRY_DATA_DIR: '',
      TELEMETRY_COLLECTOR_URL: '',
    },
  );
  t.is(o.otlp.endpoint, null);
  t.deepEqual(o.otlp.headers, {});
  t.is(o.otlp.token, null);
  t.is(o.releaseChannel, 'stable');
  t.is(o.dataDir, './data');
  t.is(o.collector.url, null);
});

test('env fallback: an invalid endpoint from the environment is reported under otlp.endpoint', (t) => {
  const err = t.throws(() => resolve({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }), { instanceOf: TypeError });
  t.regex(err!.message, /`otlp\.endpoint`/);
});

// ------------------------------------------------------------------------------------ explicit beats env

const fullEnv = {
  OTEL_EXPORTER_OTLP_ENDPOINT: 'https://env-otel.example.com',
  GRAFANA_OTLP_ENDPOINT: 'https://env-grafana.example.com',
  OTEL_EXPORTER_OTLP_HEADERS: 'x-from-env=1',
  GRAFANA_OTLP_TOKEN: 'envuser:envkey',
  RELEASE_CHANNEL: 'env-channel',
  TELEMETRY_DATA_DIR: '/env/data',
  TELEMETRY_DEBUG: '1',
  TELEMETRY_COLLECTOR_URL: 'https://env-collector.example.com',
  TELEMETRY_COLLECTOR_REGISTRATION_KEY: 'env-key',
};

test('explicit options beat every environment variable', (t) => {
  const o = resolve(
    {
      releaseChannel: 'nightly',
      dataDir: '/opt/data',
      debug: false,
      otlp: { endpoint: 'https://explicit.example.com', headers: { 'x-explicit': 'yes' }, token: 'me:secret' },
      collector: { url: 'https://explicit-collector.example.com', registrationKey: 'explicit-key' },
    },
    fullEnv,
  );
  t.is(o.releaseChannel, 'nightly');
  t.is(o.dataDir, '/opt/data');
  t.false(o.debug);
  t.is(o.otlp.endpoint, 'https://explicit.example.com');
  t.is(o.otlp.token, 'me:secret');
  t.deepEqual(o.otlp.headers, { 'x-explicit': 'yes', Authorization: basic('me:secret') });
  t.is(o.collector.url, 'https://explicit-collector.example.com');
  t.is(o.collector.registrationKey, 'explicit-key');
});

test('explicit options: giving only some otlp fields still takes the rest from the environment', (t) => {
  const o = resolve({ otlp: { endpoint: 'https://explicit.example.com' } }, fullEnv);
  t.is(o.otlp.endpoint, 'https://explicit.example.com');
  t.deepEqual(o.otlp.headers, { 'x-from-env': '1', Authorization: basic('envuser:envkey') });
  t.is(o.otlp.token, 'envuser:envkey');
});

test('explicit options: explicit otlp.headers replace OTEL_EXPORTER_OTLP_HEADERS', (t) => {
  const o = resolve({ otlp: { headers: { 'x-explicit': 'yes' } } }, { OTEL_EXPORTER_OTLP_HEADERS: 'x-from-env=1' });
  t.deepEqual(o.otlp.headers, { 'x-explicit': 'yes' });
});

// ------------------------------------------------------------------------------------ headers

test('headers: OTEL_EXPORTER_OTLP_HEADERS values are URL-decoded', (t) => {
  const o = resolve({}, { OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Basic%20dXNlcjprZXk%3D,X-Scope-OrgID=tenant%2C1 , x-note=caf%C3%A9' });
  t.deepEqual(o.otlp.headers, {
    Authorization: 'Basic dXNlcjprZXk=',
    'X-Scope-OrgID': 'tenant,1',
    'x-note': 'café',
  });
});

test('headers: parseOtlpHeaders keeps "=" inside values, skips malformed pairs, keeps bad percent-encoding raw', (t) => {
  t.deepEqual(parseOtlpHeaders('a=b=c,novalue,=nokey,k=%E0%A4%A'), { a: 'b=c', k: '%E0%A4%A' });
  t.deepEqual(parseOtlpHeaders(undefined), {});
  t.deepEqual(parseOtlpHeaders(''), {});
});

// ------------------------------------------------------------------------------------ Grafana token

test('grafana token: user:key becomes Authorization: Basic base64(user:key)', (t) => {
  const o = resolve({}, { GRAFANA_OTLP_ENDPOINT: 'https://otlp-gateway.grafana.net/otlp', GRAFANA_OTLP_TOKEN: '123456:glc_abc==' });
  t.is(o.otlp.endpoint, 'https://otlp-gateway.grafana.net/otlp');
  t.is(o.otlp.headers.Authorization, basic('123456:glc_abc=='));
  t.is(o.otlp.headers.Authorization, `Basic ${Buffer.from('123456:glc_abc==').toString('base64')}`);
});

test('grafana token: a token without a colon is sent as a Bearer token', (t) => {
  const o = resolve({ otlp: { token: 'just-a-token' } });
  t.is(o.otlp.headers.Authorization, 'Bearer just-a-token');
});

test('grafana token: an explicit Authorization header is not overwritten (any case, explicit or env)', (t) => {
  const explicit = resolve({ otlp: { headers: { Authorization: 'Bearer mine' } } }, { GRAFANA_OTLP_TOKEN: 'u:k' });
  t.deepEqual(explicit.otlp.headers, { Authorization: 'Bearer mine' });

  const lower = resolve({ otlp: { headers: { authorization: 'Bearer mine' }, token: 'u:k' } });
  t.deepEqual(lower.otlp.headers, { authorization: 'Bearer mine' });

  const fromEnv = resolve({}, { OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer%20env', GRAFANA_OTLP_TOKEN: 'u:k' });
  t.deepEqual(fromEnv.otlp.headers, { Authorization: 'Bearer env' });
});

test('grafana token: the caller\'s headers object is not mutated', (t) => {
  const headers = { 'x-a': '1' };
  const o = resolve({ otlp: { headers, token: 'u:k' } });
  t.deepEqual(headers, { 'x-a': '1' });
  t.is(o.otlp.headers.Authorization, basic('u:k'));
});

// ------------------------------------------------------------------------------------ invalid input

const invalid: { title: string; input: Record<string, unknown>; field: string }[] = [
  { title: 'missing appName', input: { appName: undefined }, field: 'appName' },
  { title: 'blank appName', input: { appName: '   ' }, field: 'appName' },
  { title: 'appVersion not a string', input: { appVersion: 140 }, field: 'appVersion' },
  { title: "otlp.endpoint 'ftp://x'", input: { otlp: { endpoint: 'ftp://x' } }, field: 'otlp.endpoint' },
  { title: "otlp.endpoint 'not a url'", input: { otlp: { endpoint: 'not a url' } }, field: 'otlp.endpoint' },
  { title: 'otlp.timeoutMs -1', input: { otlp: { timeoutMs: -1 } }, field: 'otlp.timeoutMs' },
  { title: 'getUser not a function', input: { getUser: 'ctx.state.user' }, field: 'getUser' },
  { title: "mountPath.api 'no-slash'", input: { mountPath: { api: 'no-slash' } }, field: 'mountPath.api' },
  { title: 'support.longSessionMinutes 10 (min 30)', input: { support: { longSessionMinutes: 10 } }, field: 'support.longSessionMinutes' },
  {
    title: 'support.urls.tiers[0].url invalid',
    input: { support: { urls: { tiers: [{ key: 'coffee', label: 'Coffee', url: 'javascript:alert(1)' }] } } },
    field: 'support.urls.tiers.0.url',
  },
  { title: 'db: 42', input: { db: 42 }, field: 'db' },
  { title: 'collector.url not http(s)', input: { collector: { url: 'mailto:x@example.com' } }, field: 'collector.url' },
  { title: 'logger without methods', input: { logger: { info: () => {} } }, field: 'logger' },
];

for (const { title, input, field } of invalid) {
  test(`invalid: ${title} → TypeError naming \`${field}\``, (t) => {
    const err = t.throws(() => resolve(input), { instanceOf: TypeError });
    t.true(err!.message.includes(`\`${field}\``), `message should name ${field}: ${err!.message}`);
  });
}

test('invalid: a non-object options argument is a TypeError asking for appName/appVersion', (t) => {
  for (const bad of [undefined, null, 'TimeTracker', 42]) {
    const err = t.throws(() => resolveOptions(bad as unknown as TelemetryOptions), { instanceOf: TypeError });
    t.regex(err!.message, /appName/);
  }
});

// ------------------------------------------------------------------------------------ unknown keys

const typos: { input: Record<string, unknown>; message: string }[] = [
  { input: { retentionDay: 30 }, message: 'unknown option `retentionDay` (did you mean retentionDays?)' },
  { input: { appVerison: '1.4.0' }, message: 'unknown option `appVerison` (did you mean appVersion?)' },
  { input: { otlp: { endpont: 'https://otlp.example.com' } }, message: 'unknown option `otlp.endpont` (did you mean otlp.endpoint?)' },
  { input: { collector: { registrationkey: 'k' } }, message: 'unknown option `collector.registrationkey` (did you mean collector.registrationKey?)' },
  { input: { support: { urls: { licence: 'https://example.com/l' } } }, message: 'unknown option `support.urls.licence` (did you mean support.urls.license?)' },
  {
    input: { support: { urls: { tiers: [{ key: 'coffee', label: 'Coffee', url: 'https://example.com/c', lable: 'x' }] } } },
    message: 'unknown option `support.urls.tiers.0.lable` (did you mean support.urls.tiers.0.label?)',
  },
  { input: { mountPath: { page: '/t' } }, message: 'unknown option `mountPath.page` (did you mean mountPath.pages?)' },
  { input: { pages: { layuot: 'layout.njk' } }, message: 'unknown option `pages.layuot` (did you mean pages.layout?)' },
  { input: { export: { batchSise: 5 } }, message: 'unknown option `export.batchSise` (did you mean export.batchSize?)' },
  { input: { recorder: { capp: 50 } }, message: 'unknown option `recorder.capp` (did you mean recorder.cap?)' },
  { input: { submission: { timeout: 50 } }, message: 'unknown option `submission.timeout` (did you mean submission.timeoutMs?)' },
  { input: { outboundLedger: { maxrows: 5 } }, message: 'unknown option `outboundLedger.maxrows` (did you mean outboundLedger.maxRows?)' },
];

for (const { input, message } of typos) {
  test(`an unknown option key is a TypeError suggesting the nearest known key: ${message}`, (t) => {
    const err = t.throws(() => resolve(input), { instanceOf: TypeError });
    t.is(err!.message, `koa-consent-telemetry: ${message}`);
  });
}

test('an unknown option key far from every known key is still refused, without a guess', (t) => {
  const err = t.throws(() => resolve({ somethingElseEntirely: true }), { instanceOf: TypeError });
  t.is(err!.message, 'koa-consent-telemetry: unknown option `somethingElseEntirely`');
});

test('the typo is named even when it also leaves a required option missing', (t) => {
  const err = t.throws(() => resolveOptions({ appName: 'TimeTracker', appVerison: '1.4.0', env: {} } as unknown as TelemetryOptions), { instanceOf: TypeError });
  t.regex(err!.message, /unknown option `appVerison` \(did you mean appVersion\?\)/);
});

// ------------------------------------------------------------------------------------ collector.url over plain http

test('a plain http:// collector URL on a non-loopback host is refused with a TypeError naming collector.url', (t) => {
  for (const url of ['http://collector.example.com', 'http://10.0.0.5:4000', 'http://[2001:db8::1]/c', 'http://128.0.0.1', 'http://localhost.example.com']) {
    const err = t.throws(() => resolve({ collector: { url } }), { instanceOf: TypeError }, url);
    t.regex(err!.message, /`collector\.url`/, url);
    t.regex(err!.message, /allowInsecureHttp/, url);
  }
});

test('the same refusal for TELEMETRY_COLLECTOR_URL from the environment', (t) => {
  const err = t.throws(() => resolve({}, { TELEMETRY_COLLECTOR_URL: 'http://collector.example.com' }), { instanceOf: TypeError });
  t.regex(err!.message, /`collector\.url`/);
  t.is(resolve({}, { TELEMETRY_COLLECTOR_URL: 'https://collector.example.com' }).collector.url, 'https://collector.example.com');
  t.is(resolve({ collector: { allowInsecureHttp: true } }, { TELEMETRY_COLLECTOR_URL: 'http://collector.example.com' }).collector.url, 'http://collector.example.com');
});

test('https:// anywhere, and http:// to loopback (localhost, 127.0.0.0/8, ::1), are accepted', (t) => {
  for (const url of ['https://collector.example.com', 'http://localhost:4000', 'http://LOCALHOST', 'http://127.0.0.1:4000/c', 'http://127.8.9.10', 'http://[::1]:4000']) {
    t.is(resolve({ collector: { url } }).collector.url, url, url);
  }
});

test('collector.allowInsecureHttp: true lets a non-loopback http:// URL through (default false)', (t) => {
  t.false(resolve({}).collector.allowInsecureHttp);
  const o = resolve({ collector: { url: 'http://collector.internal:4000', allowInsecureHttp: true } });
  t.is(o.collector.url, 'http://collector.internal:4000');
  t.true(o.collector.allowInsecureHttp);
  const err = t.throws(() => resolve({ collector: { allowInsecureHttp: 'yes' } }), { instanceOf: TypeError });
  t.regex(err!.message, /`collector\.allowInsecureHttp`/);
});
