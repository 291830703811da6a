// The OpenAPI 3.1 description of the collector's HTTP API: the installation-facing /v1/* routes, the
// admin /stats/* and /reports/* routes, the dashboard's form routes and the operations routes. Built
// like the plugin's (src/plugin/openapi.ts): served at GET {mountPath}/openapi.json, checked in as
// docs/collector-openapi.json for the default mount path (scripts/generate-openapi-doc.ts writes
// it; test/collector/collector-openapi.test.ts checks it is current, valid and one-to-one with the
// routers). The document is composed of path-item objects, so other route modules can spread
// their own in: collectorOpenApiDocument(prefix, { ...morePathItems(prefix) }).
import { submissionPayloadSchema, MAX_SUBMISSION_BYTES } from '../core/protocol.js';
import { z } from 'zod';
import { PACKAGE_VERSION } from '../core/version.js';
import { BREAKDOWN_WINDOWS, DEFAULT_BREAKDOWN_WINDOW } from './analytics/k-threshold.js';
import type { SubmissionOutcome } from './metrics.js';
import { insightsPaths, type PathItem } from './openapi-insights.js';

export type Schema = Record<string, unknown>;
/** `{ [path]: { get?, post?, delete? … } }`, the unit other modules contribute. */
export type PathItems = Record<string, Schema>;

const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer', minimum: 0 };
const bool: Schema = { type: 'boolean' };
const num: Schema = { type: 'number' };
const uuid: Schema = { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' };
export const nullable = (schema: Schema): Schema => ({ anyOf: [schema, { type: 'null' }] });
export const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});
export const schemaRef = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
export const jsonResponse = (description: string, schema: Schema, headers?: Schema): Schema => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/json': { schema } },
});
const html = (description: string): Schema => ({ description, content: { 'text/html': { schema: str } } });
const retryAfter = { 'Retry-After': { description: 'Seconds to wait.', schema: { type: 'integer', minimum: 0 } } };

/** A JSON error answer whose code is one of `codes`. */
export function errorResponse(description: string, codes: readonly string[], headers?: Schema): Schema {
  return jsonResponse(
    description,
    obj({ error: obj({ code: { type: 'string', enum: [...codes] }, message: str, details: {} }, ['code', 'message']) }),
    headers,
  );
}

/** The error answers many routes share, kept once under components.responses. */
const SHARED_RESPONSES = {
  AdminRequired: errorResponse('No admin credentials: send Authorization: Bearer <COLLECTOR_ADMIN_TOKEN> (or sign in on the dashboard).', ['unauthorized'], {
    'WWW-Authenticate': { schema: str },
  }),
  CsrfFailed: errorResponse('Signed in with the dashboard cookie, but the X-CSRF-Token header is missing or wrong.', ['csrf_failed']),
  CollectorUnavailable: errorResponse('The collector cannot reach its database right now.', ['collector_unavailable'], retryAfter),
  BadBody: errorResponse('The body is empty, not JSON, or could not be read.', ['bad_request', 'invalid_json']),
  PayloadTooLarge: errorResponse('The body is larger than the route accepts.', ['payload_too_large']),
  InvalidQuery: errorResponse('A query parameter is out of range (field errors in details).', ['invalid_query']),
  InvalidWindow: errorResponse(`window is not one of ${BREAKDOWN_WINDOWS.join(', ')} (days).`, ['invalid_window']),
};
export const sharedResponse = (name: keyof typeof SHARED_RESPONSES): Schema => ({ $ref: `#/components/responses/${name}` });

/** Security requirements: bearer token, or the dashboard's session cookie (plus CSRF on unsafe methods). */
export const ADMIN_SECURITY_READ = [{ adminToken: [] }, { dashboardSession: [] }];
export const ADMIN_SECURITY_WRITE = [{ adminToken: [] }, { dashboardSession: [], csrfToken: [] }];
const SIGNED_SECURITY = [{ installId: [], timestamp: [], signature: [] }];

const adminRead = { '401': sharedResponse('AdminRequired') };
const adminWrite = { '401': sharedResponse('AdminRequired'), '403': sharedResponse('CsrfFailed') };

const breakdownRow = (label: string): Schema => ({
  type: 'object',
  properties: {
    [label]: str,
    installations: int,
    percent: nullable(num),
    other: { const: true, description: `The merged row of every ${label} under k_threshold installations.` },
    merged: { ...int, description: 'How many rows were merged into "other".' },
  },
  required: [label, 'installations', 'percent'],
  additionalProperties: false,
});

/** The k-protected breakdown of one dimension over a fixed window. */
export function breakdownSchema(label: string, plural: string): Schema {
  return obj({ window_days: { type: 'integer', enum: [...BREAKDOWN_WINDOWS] }, active: int, k_threshold: int, [plural]: { type: 'array', items: breakdownRow(label) } });
}

function weeklyBreakdownSchema(label: string, plural: string): Schema {
  return obj({
    weeks: int,
    k_threshold: int,
    series: { type: 'array', items: obj({ week_start: str, partial: bool, active: int, [plural]: { type: 'array', items: breakdownRow(label) } }) },
  });
}

const SUBMISSION_OUTCOMES: readonly SubmissionOutcome[] = ['accepted', 'replayed', 'rate_limited', 'unauthorized', 'invalid', 'too_large', 'bad_request', 'error'];

function submissionPayload(): Schema {
  const schema = z.toJSONSchema(submissionPayloadSchema, { io: 'input' }) as Schema;
  delete schema.$schema;
  return schema;
}

function schemas(): Record<string, Schema> {
  const day = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' };
  const errorRow = {
    type: 'object',
    properties: {
      version: str,
      installations: int,
      errors: int,
      installations_with_errors: int,
      error_rate_percent: nullable(num),
      other: { const: true },
      merged: int,
    },
    required: ['version', 'installations', 'errors', 'installations_with_errors', 'error_rate_percent'],
    additionalProperties: false,
  };
  return {
    SubmissionPayload: submissionPayload(),
    Overview: obj({
      generated_at: str,
      total: int,
      active_7d: int,
      active_30d: int,
      growth_7d_percent: nullable(num),
      new_7d: int,
      submissions_today: int,
      submissions_7d: int,
    }),
    Installations: obj({
      total: int,
      active_7d: int,
      active_30d: int,
      growth_7d_percent: nullable(num),
      interval: { type: 'string', enum: ['day', 'week'] },
      trend: { type: 'array', items: obj({ date: day, total: int, active: int }) },
    }),
    DeploymentModes: breakdownSchema('mode', 'modes'),
    Versions: breakdownSchema('version', 'versions'),
    Geography: breakdownSchema('country', 'countries'),
    Platforms: breakdownSchema('platform', 'platforms'),
    Features: breakdownSchema('feature', 'features'),
    VersionMigration: weeklyBreakdownSchema('version', 'versions'),
    FeatureTrends: weeklyBreakdownSchema('feature', 'features'),
    Errors: obj({
      weeks: int,
      k_threshold: int,
      series: {
        type: 'array',
        items: obj({ week_start: day, partial: bool, active: int, errors: int, installations_with_errors: int, error_rate_percent: nullable(num) }),
      },
      by_version: obj({ week_start: day, rows: { type: 'array', items: errorRow } }),
    }),
    Anomaly: obj({
      rule: { type: 'string', enum: ['active_installs_drop', 'active_installs_spike', 'submission_volume_spike', 'submission_volume_drop', 'error_spike', 'high_error_rate'] },
      severity: { type: 'string', enum: ['info', 'medium', 'high'] },
      title: str,
      message: str,
      current: num,
      baseline: num,
      change_percent: num,
      period: obj({ start: day, end: day }),
    }),
    Export: obj({
      format: { const: 'koa-consent-telemetry-collector-export' },
      format_version: { const: 1 },
      generated_at: str,
      k_threshold: int,
      overview: schemaRef('Overview'),
      installations: schemaRef('Installations'),
      deployment_modes: schemaRef('DeploymentModes'),
      versions: schemaRef('Versions'),
      geography: schemaRef('Geography'),
      platforms: schemaRef('Platforms'),
      features: schemaRef('Features'),
      version_migration: schemaRef('VersionMigration'),
      feature_trends: schemaRef('FeatureTrends'),
      errors: schemaRef('Errors'),
      anomalies: { type: 'array', items: schemaRef('Anomaly') },
      errors_by_version_mode: insightsResponseSchema('/stats/errors-by-version-mode'),
      feature_adoption: insightsResponseSchema('/stats/feature-adoption'),
    }),
    ReportSent: {
      type: 'object',
      properties: {
        sent: { const: true },
        kind: { type: 'string', enum: ['weekly', 'monthly', 'test'] },
        recipients: { type: 'array', items: str },
        message_id: nullable(str),
        period: obj({ start: str, end: str }),
      },
      required: ['sent', 'kind', 'recipients', 'message_id'],
      additionalProperties: false,
    },
  };
}

const statsParameters = {
  days: { name: 'days', in: 'query', required: false, description: 'Trend length in days.', schema: { type: 'integer', minimum: 1, maximum: 730, default: 90 } },
  interval: { name: 'interval', in: 'query', required: false, schema: { type: 'string', enum: ['day', 'week'], default: 'day' } },
  window: {
    name: 'window',
    in: 'query',
    required: false,
    description: 'Breakdown window in days: only this fixed set, so that two near-identical windows cannot be differenced to single out an installation.',
    schema: { type: 'integer', enum: [...BREAKDOWN_WINDOWS], default: DEFAULT_BREAKDOWN_WINDOW },
  },
  weeks: { name: 'weeks', in: 'query', required: false, description: 'ISO weeks, the current (partial) one last.', schema: { type: 'integer', minimum: 1, maximum: 104, default: 12 } },
};

/** Every stats route that reads its query validates all four parameters (400 bad window, 422 otherwise). */
function statsGet(operationId: string, summary: string, schema: Schema, parameters: (keyof typeof statsParameters)[] | null): Schema {
  return {
    get: {
      operationId,
      summary,
      tags: ['stats'],
      security: ADMIN_SECURITY_READ,
      ...(parameters ? { parameters: parameters.map((name) => statsParameters[name]) } : {}),
      responses: {
        '200': jsonResponse('The statistics (k-protected).', schema),
        ...(parameters ? { '400': sharedResponse('InvalidWindow'), '422': sharedResponse('InvalidQuery') } : {}),
        ...adminRead,
      },
    },
  };
}

function ingestPaths(prefix: string): PathItems {
  const signedError = (description: string) =>
    errorResponse(description, ['unauthorized', 'missing_signature', 'unsupported_signature_version', 'invalid_timestamp', 'timestamp_out_of_range', 'unknown_installation', 'invalid_signature']);
  return {
    [`${prefix}/v1/register`]: {
      post: {
        operationId: 'register',
        summary: 'Register a new installation id (trust on first use); answers its signing secret once.',
        tags: ['installations'],
        security: [{}, { registrationKey: [] }],
        requestBody: { required: true, content: { 'application/json': { schema: obj({ install_id: uuid }), example: { install_id: '3f0c9a52-6f6e-4c1e-9b0a-2f0e51f1c2aa' } } } },
        responses: {
          '201': jsonResponse('Registered: keep the secret, it signs every later request.', obj({ install_id: uuid, secret: { type: 'string', pattern: '^[0-9a-f]{64}$' } })),
          '400': sharedResponse('BadBody'),
          '401': errorResponse('The collector needs its registration key (X-Registration-Key).', ['registration_key_required']),
          '409': errorResponse('The id is registered already, or was erased recently and is blocked: take a new id.', ['already_registered', 'installation_erased']),
          '413': sharedResponse('PayloadTooLarge'),
          '422': errorResponse('The body is not { "install_id": "<uuid>" } (field errors in details).', ['invalid_payload']),
          '429': errorResponse('Too many registrations from this client, or the collector\'s hourly budget is spent.', ['rate_limited', 'registration_budget_exhausted'], retryAfter),
        },
      },
    },
    [`${prefix}/v1/submit`]: {
      post: {
        operationId: 'submit',
        summary: 'One signed weekly submission of an installation.',
        tags: ['installations'],
        security: SIGNED_SECURITY,
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: true,
            description: 'One key per installation and period; repeating an accepted key answers the first answer again and stores nothing.',
            schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{8,128}$' },
          },
        ],
        requestBody: { required: true, description: `At most ${MAX_SUBMISSION_BYTES} bytes.`, content: { 'application/json': { schema: schemaRef('SubmissionPayload') } } },
        responses: {
          '202': jsonResponse('Accepted (or a replay of an accepted Idempotency-Key: Idempotent-Replayed: true).', obj({ submission_id: uuid }), {
            'Idempotent-Replayed': { schema: { const: 'true' } },
          }),
          '400': errorResponse('No or malformed Idempotency-Key, or the body is empty, not JSON or unreadable.', [
            'idempotency_key_required',
            'invalid_idempotency_key',
            'bad_request',
            'invalid_json',
          ]),
          '401': signedError('A missing or wrong signature, an unknown installation, or X-Timestamp outside the allowed skew.'),
          '413': sharedResponse('PayloadTooLarge'),
          '422': errorResponse('The payload does not match the schema (field errors in details).', ['invalid_payload']),
          '429': errorResponse('This installation had a submission accepted within the rate-limit window.', ['rate_limited'], retryAfter),
        },
      },
    },
    [`${prefix}/v1/installations/{id}`]: {
      delete: {
        operationId: 'deleteInstallation',
        summary: 'Erase an installation and all its data: signed by the installation itself over an empty body, or with the admin token.',
        tags: ['installations'],
        security: [...SIGNED_SECURITY, ...ADMIN_SECURITY_WRITE],
        parameters: [{ name: 'id', in: 'path', required: true, schema: uuid }],
        responses: {
          '200': jsonResponse('Erased.', obj({ install_id: uuid, deleted: { const: true }, submissions_deleted: int })),
          '400': errorResponse('A signed erasure carried a body.', ['body_not_allowed', 'bad_request']),
          '401': signedError('A bad signature (signed), or no admin credentials (unsigned).'),
          '403': errorResponse('An installation may only erase itself, or the dashboard cookie came without its CSRF token.', ['forbidden', 'csrf_failed']),
          '404': errorResponse('No such installation.', ['not_found']),
          '413': sharedResponse('PayloadTooLarge'),
        },
      },
    },
  };
}

function statsPaths(prefix: string): PathItems {
  const s = `${prefix}/stats`;
  return {
    [`${s}/overview`]: statsGet('getOverview', 'Installations, growth and submission counts.', schemaRef('Overview'), null),
    [`${s}/installations`]: statsGet('getInstallations', 'Totals plus a daily or weekly trend.', schemaRef('Installations'), ['days', 'interval', 'window', 'weeks']),
    [`${s}/deployment-modes`]: statsGet('getDeploymentModes', 'Active installations by deployment mode.', schemaRef('DeploymentModes'), ['window', 'days', 'weeks', 'interval']),
    [`${s}/versions`]: statsGet('getVersions', 'Active installations by app version.', schemaRef('Versions'), ['window', 'days', 'weeks', 'interval']),
    [`${s}/geography`]: statsGet('getGeography', 'Active installations by country.', schemaRef('Geography'), ['window', 'days', 'weeks', 'interval']),
    [`${s}/platforms`]: statsGet('getPlatforms', 'Active installations by platform.', schemaRef('Platforms'), ['window', 'days', 'weeks', 'interval']),
    [`${s}/features`]: statsGet('getFeatures', 'Share of active installations with each feature flag on.', schemaRef('Features'), ['window', 'days', 'weeks', 'interval']),
    [`${s}/version-migration`]: statsGet('getVersionMigration', 'Per ISO week, active installations per version.', schemaRef('VersionMigration'), ['weeks', 'days', 'window', 'interval']),
    [`${s}/feature-trends`]: statsGet('getFeatureTrends', 'Per ISO week, feature adoption.', schemaRef('FeatureTrends'), ['weeks', 'days', 'window', 'interval']),
    [`${s}/errors`]: statsGet('getErrors', 'Reported errors per ISO week, and per version for the last complete week.', schemaRef('Errors'), ['weeks', 'days', 'window', 'interval']),
    [`${s}/anomalies`]: statsGet('getAnomalies', 'The anomaly rules evaluated now.', obj({ generated_at: str, anomalies: { type: 'array', items: schemaRef('Anomaly') } }), null),
    [`${s}/export`]: (() => {
      const item = statsGet('exportStats', 'Everything the dashboard shows, k-protected, as a JSON attachment.', schemaRef('Export'), ['window', 'weeks', 'days', 'interval']);
      const ok = (item.get as { responses: Record<string, Schema> }).responses['200']!;
      ok.headers = { 'Content-Disposition': { schema: str } };
      return item;
    })(),
  };
}

function reportsPaths(prefix: string): PathItems {
  const notConfigured = errorResponse('No recipients are configured.', ['email_not_configured']);
  const failed = errorResponse('The SMTP server refused or could not be reached.', ['email_failed']);
  const send = (kind: string) => ({
    post: {
      operationId: `send${kind[0]!.toUpperCase()}${kind.slice(1)}Report`,
      summary: `Send the ${kind} report now.`,
      tags: ['reports'],
      security: ADMIN_SECURITY_WRITE,
      responses: {
        '200': jsonResponse('Sent.', schemaRef('ReportSent')),
        '204': { description: 'Another collector process is sending this report right now.' },
        '409': notConfigured,
        '502': failed,
        ...adminWrite,
      },
    },
  });
  return {
    [`${prefix}/reports/weekly`]: send('weekly'),
    [`${prefix}/reports/monthly`]: send('monthly'),
    [`${prefix}/reports/test-email`]: {
      post: {
        operationId: 'sendTestEmail',
        summary: 'A short test message to the given addresses (or the configured recipients).',
        tags: ['reports'],
        security: ADMIN_SECURITY_WRITE,
        requestBody: {
          required: false,
          content: { 'application/json': { schema: obj({ to: { anyOf: [{ type: 'string', pattern: '^[^\\s@]+@[^\\s@]+$' }, { type: 'array', items: { type: 'string', pattern: '^[^\\s@]+@[^\\s@]+$' }, maxItems: 10 }] } }, []) } },
        },
        responses: {
          '200': jsonResponse('Sent.', schemaRef('ReportSent')),
          '400': sharedResponse('BadBody'),
          '409': notConfigured,
          '413': sharedResponse('PayloadTooLarge'),
          '422': errorResponse('`to` is not an address or a list of at most 10.', ['invalid_payload']),
          '502': failed,
          ...adminWrite,
        },
      },
    },
    [`${prefix}/reports/email-status`]: {
      get: {
        operationId: 'getEmailStatus',
        summary: 'SMTP settings (no password), recipients, the next scheduled runs and the recent sends.',
        tags: ['reports'],
        security: ADMIN_SECURITY_READ,
        responses: {
          '200': jsonResponse(
            'The e-mail status.',
            obj({
              configured: bool,
              smtp: obj({ host: nullable(str), port: int, secure: bool, auth: bool, from: str }),
              recipients: { type: 'array', items: str },
              schedule: obj({ weekly: nullable(str), monthly: nullable(str) }),
              recent: { type: 'array', items: { type: 'object', required: ['id', 'kind', 'status'] } },
              last_error: nullable(str),
            }),
          ),
          ...adminRead,
        },
      },
    },
  };
}

function dashboardPaths(prefix: string): PathItems {
  const redirect = { description: 'Done: back to the dashboard.', headers: { Location: { schema: str } } };
  const form = (properties: Record<string, Schema>, required: string[]) => ({
    required: true,
    content: { 'application/x-www-form-urlencoded': { schema: obj(properties, required) } },
  });
  return {
    [`${prefix}/dashboard`]: {
      get: {
        operationId: 'getDashboard',
        summary: 'The dashboard page for an admin; the sign-in form for anyone else.',
        tags: ['dashboard'],
        security: [{}, ...ADMIN_SECURITY_READ],
        responses: { '200': html('The dashboard, or the sign-in form.') },
      },
    },
    [`${prefix}/dashboard/sign-in`]: {
      post: {
        operationId: 'signIn',
        summary: 'Trade the admin token for a session cookie (HttpOnly, SameSite=Strict).',
        tags: ['dashboard'],
        requestBody: form({ token: str, _csrf: str }, ['token', '_csrf']),
        responses: {
          '303': redirect,
          '401': html('The token is wrong: the form again, with the error.'),
          '403': html('The form expired (CSRF token): the form again.'),
          '429': { ...html('Too many failed sign-ins from this client in the last minute.'), headers: retryAfter },
        },
      },
    },
    [`${prefix}/dashboard/sign-out`]: {
      post: {
        operationId: 'signOut',
        summary: 'End the dashboard session (revoked on the server).',
        tags: ['dashboard'],
        requestBody: form({ _csrf: str }, []),
        responses: { '303': redirect, '403': sharedResponse('CsrfFailed') },
      },
    },
    [`${prefix}/dashboard/assets/{name}`]: {
      get: {
        operationId: 'getDashboardAsset',
        summary: 'The dashboard\'s own CSS, JS and Chart.js (immutable, long cache).',
        tags: ['dashboard'],
        parameters: [{ name: 'name', in: 'path', required: true, schema: str }],
        responses: {
          '200': { description: 'The asset.', content: { 'text/css': { schema: str }, 'text/javascript': { schema: str } } },
          '304': { description: 'Not modified (If-None-Match).' },
          '404': errorResponse('No such asset.', ['not_found']),
        },
      },
    },
  };
}

function opsPaths(prefix: string): PathItems {
  return {
    [`${prefix}/health`]: {
      get: {
        operationId: 'getHealth',
        summary: 'Database reachable (or only busy): 200; gone: 503. No authentication; answers even before migrations ran.',
        tags: ['operations'],
        responses: {
          '200': jsonResponse('Healthy.', obj({ status: { const: 'ok' }, database: { type: 'string', enum: ['reachable', 'busy'] } })),
          '503': jsonResponse('The database does not answer.', obj({ status: { const: 'unavailable' }, database: { const: 'unreachable' } })),
        },
      },
    },
    [`${prefix}/metrics`]: {
      get: {
        operationId: 'getMetrics',
        summary: `Prometheus text format: collector_submissions_total{outcome=${SUBMISSION_OUTCOMES.join('|')}}, collector_ingest_duration_seconds, collector_installations{state}, registrations, erasures, reports. Admin token unless publicMetrics.`,
        tags: ['operations'],
        security: [...ADMIN_SECURITY_READ, {}],
        responses: { '200': { description: 'The metrics.', content: { 'text/plain': { schema: str } } }, ...adminRead },
      },
    },
    [`${prefix}/openapi.json`]: {
      get: {
        operationId: 'getOpenApiDocument',
        summary: 'This document, for the configured mount path. Public: it is the file the npm package ships (docs/collector-openapi.json).',
        tags: ['operations'],
        responses: { '200': jsonResponse('The OpenAPI 3.1 document.', { type: 'object', required: ['openapi', 'paths'] }) },
      },
    },
  };
}

/** The collector's own path items under `prefix` (options.mountPath; '' by default). */
export function collectorPathItems(prefix: string): PathItems {
  return {
    ...ingestPaths(prefix),
    ...statsPaths(prefix),
    ...prefixed(prefix, insightsPaths),
    ...reportsPaths(prefix),
    ...dashboardPaths(prefix),
    ...opsPaths(prefix),
  };
}

/** The 200 body schema of an insights route, reused where the export embeds it. */
function insightsResponseSchema(path: string): Schema {
  const operation = insightsPaths[path] as { get: { responses: { '200': { content: { 'application/json': { schema: Schema } } } } } };
  return structuredClone(operation.get.responses['200'].content['application/json'].schema);
}

/** Path items written relative to the mount path, placed under it (copies: the document is mutated later). */
function prefixed(prefix: string, items: Record<string, PathItem>): PathItems {
  return Object.fromEntries(Object.entries(items).map(([path, item]) => [`${prefix}${path}`, structuredClone(item)]));
}

/** Every route but /health needs the migrated database: operations without a 503 of their own get the shared one. */
function withCollectorUnavailable(paths: PathItems, healthPath: string): PathItems {
  for (const [path, item] of Object.entries(paths)) {
    if (path === healthPath) continue;
    for (const operation of Object.values(item as Record<string, { responses?: Record<string, Schema> }>)) {
      if (operation.responses && !('503' in operation.responses)) operation.responses['503'] = sharedResponse('CollectorUnavailable');
    }
  }
  return paths;
}

/**
 * The document for this mount path. `extraPathItems` (built for the same prefix) are spread in after
 * the collector's own, so a route module can describe itself next to its router.
 */
export function collectorOpenApiDocument(prefix = '', extraPathItems: PathItems = {}): Schema {
  return {
    openapi: '3.1.0',
    info: {
      title: 'koa-consent-telemetry collector API',
      version: PACKAGE_VERSION,
      license: { name: 'MIT', identifier: 'MIT' },
      description: [
        'The receiving side of koa-consent-telemetry (docs/collector.md).',
        `Paths are shown under the mount path "${prefix}" (mountPath option; GET {mountPath}/openapi.json answers with this document for the configured one).`,
        'Installations register once, then sign every request: X-Signature: v2=<hex HMAC-SHA256 with their secret over "v2", the method, the path, X-Timestamp and the SHA-256 of the raw body>.',
        'Admin routes take Authorization: Bearer <COLLECTOR_ADMIN_TOKEN>, or the dashboard\'s session cookie plus X-CSRF-Token on state-changing requests (or the host\'s isAdmin when mounted in a host).',
        'Every error is JSON: { "error": { "code", "message", "details"? } }. Unknown paths under the collector answer 404 not_found, a known path with another method 405 method_not_allowed.',
      ].join(' '),
    },
    tags: [
      { name: 'installations', description: 'Called by the plugin in each installation.' },
      { name: 'stats', description: 'Fleet statistics; every breakdown row under k_threshold installations is merged into "other".' },
      { name: 'reports', description: 'E-mail reports.' },
      { name: 'dashboard', description: 'The dashboard page and its forms (HTML).' },
      { name: 'operations', description: 'Health, metrics, this document.' },
      { name: 'public', description: 'The public insights page (only when publicInsights is on): no auth, no cookies, rounded k-protected counts.' },
    ],
    paths: withCollectorUnavailable({ ...collectorPathItems(prefix), ...extraPathItems }, `${prefix}/health`),
    components: {
      schemas: schemas(),
      responses: SHARED_RESPONSES,
      securitySchemes: {
        adminToken: { type: 'http', scheme: 'bearer', description: 'COLLECTOR_ADMIN_TOKEN.' },
        dashboardSession: { type: 'apiKey', in: 'cookie', name: 'kct_collector_session', description: 'Set by POST /dashboard/sign-in.' },
        csrfToken: { type: 'apiKey', in: 'header', name: 'X-CSRF-Token', description: 'The csrf-token meta tag of a dashboard page; needed with the session cookie on state-changing requests.' },
        registrationKey: { type: 'apiKey', in: 'header', name: 'X-Registration-Key', description: 'Needed only when the collector runs with COLLECTOR_REGISTRATION_KEY.' },
        installId: { type: 'apiKey', in: 'header', name: 'X-Install-Id', description: 'The registered installation id.' },
        timestamp: { type: 'apiKey', in: 'header', name: 'X-Timestamp', description: 'Unix seconds; at most 5 minutes behind the collector\'s clock and slightly ahead.' },
        signature: { type: 'apiKey', in: 'header', name: 'X-Signature', description: 'v2=<hex>, see the description above.' },
      },
    },
  };
}
