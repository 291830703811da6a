// The OpenAPI 3.1 description of the plugin's JSON API: the admin routes under {api}, the signed-in
// user's routes under {api}/me and the support routes under {donate}. Built from the same enums
// the routes validate with, served at GET {api}/openapi.json for the configured prefixes and checked
// in as docs/openapi.json for the default ones (scripts/generate-openapi-doc.ts writes it;
// test/plugin/openapi.test.ts checks it is current, valid, and matches the routers and responses).
import { z } from 'zod';
import { submissionPayloadSchema } from '../core/protocol.js';
import { PROMPT_KINDS, SUPPORT_EVENTS } from './support/events.js';
import { OUTBOUND_KINDS } from './stats/outbound-repository.js';
import { CONSENT_CATEGORIES } from './types.js';
import { PACKAGE_VERSION } from '../core/version.js';

type Schema = Record<string, unknown>;

/** The prefixes the document's paths are written under (options.mountPath). */
export interface OpenApiMountPaths {
  api: string;
  donate: string;
}

/** What a wrong request body is told it should have been (400 messages name it; the document shows it). */
export const EXPECTED_BODIES = {
  categories: `{ "categories": [${CONSENT_CATEGORIES.map((c) => `"${c}"`).join(' | ')}] } or no body`,
  empty: 'no body (or only { "_csrf": "<token>" })',
  softPrompt: `{ "kind": ${PROMPT_KINDS.map((k) => `"${k}"`).join(' | ')} }`,
  supportEvent: `{ "event": ${SUPPORT_EVENTS.map((e) => `"${e}"`).join(' | ')}, "variant"?: string, "source"?: string }`,
} as const;

const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer', minimum: 0 };
const bool: Schema = { type: 'boolean' };
const nullable = (schema: Schema): Schema => ({ anyOf: [schema, { type: 'null' }] });
const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const csrfField: Schema = { type: 'string', description: 'The CSRF token, for clients that cannot set the X-CSRF-Token header.' };

/** A JSON error answer whose code is one of `codes`. */
function errorResponse(description: string, codes: readonly string[]): Schema {
  return {
    description,
    content: {
      'application/json': {
        schema: obj({
          error: obj({ code: { type: 'string', enum: [...codes] }, message: str, details: {} }, ['code', 'message']),
        }),
      },
    },
  };
}

const json = (description: string, schema: Schema): Schema => ({ description, content: { 'application/json': { schema } } });

const pageQuery = [
  { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
  { name: 'offset', in: 'query', required: false, schema: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 0 } },
];

/** The error answers many routes share, kept once under components.responses. */
const SHARED_ERRORS = {
  Unauthorized: errorResponse('Nobody is signed in.', ['unauthorized']),
  AdminForbidden: errorResponse('The signed-in user is not an administrator, or (state-changing routes) the CSRF token is missing or wrong.', ['forbidden', 'csrf_failed']),
  CsrfFailed: errorResponse('The CSRF token is missing or wrong.', ['csrf_failed']),
  StorageUnavailable: errorResponse('The plugin\'s storage is not available, or koa-session is not mounted before the plugin (session_missing).', ['storage_unavailable', 'session_missing']),
  SessionMissing: errorResponse('koa-session is not mounted before the plugin: the message names the fix.', ['session_missing']),
  InvalidQuery: errorResponse('A query parameter is out of range.', ['invalid_request']),
  PayloadTooLarge: errorResponse('The body is too large.', ['payload_too_large']),
  UnsupportedMediaType: errorResponse('The body is not application/json.', ['unsupported_media_type']),
};
const shared = (name: keyof typeof SHARED_ERRORS): Schema => ({ $ref: `#/components/responses/${name}` });

const adminErrors = { '401': shared('Unauthorized'), '403': shared('AdminForbidden') };
const storageError = { '503': shared('StorageUnavailable') };
const queryError = { '400': shared('InvalidQuery') };
const bodyErrors = (expected: string) => ({
  '400': errorResponse(`The body is not JSON or has the wrong shape; the message names the expected shape: ${expected}.`, ['invalid_request', 'invalid_json']),
  '413': shared('PayloadTooLarge'),
  '415': shared('UnsupportedMediaType'),
});
const userErrors = { '401': shared('Unauthorized') };
const csrfError = { '403': shared('CsrfFailed') };

const cookie = [{ sessionCookie: [] }];
const cookieAndCsrf = [{ sessionCookie: [], csrfToken: [] }];

const consentState = obj({ analytics: bool, usageStats: bool, version: int, updated_at: nullable(str) });
const ledgerEntry = obj({
  id: int,
  period_start: str,
  period_end: str,
  idempotency_key: str,
  payload: {},
  status: str,
  attempts: int,
  response_code: nullable(int),
  response_body: nullable(str),
  error: nullable(str),
  sent_at: str,
});
const countBy = (key: string): Schema => ({ type: 'array', items: obj({ [key]: str, count: int }) });

function submissionPayload(): Schema {
  const schema = z.toJSONSchema(submissionPayloadSchema, { io: 'output' }) as Schema;
  delete schema.$schema;
  return schema;
}

function schemas(): Record<string, Schema> {
  return {
    ConsentState: consentState,
    Status: {
      type: 'object',
      description: 'The plugin\'s health: consent, kill switch, sink, queues, privacy guard, jobs, local statistics, collector (docs/configuration.md).',
      properties: {
        install_id: nullable(str),
        consent: { type: 'object', required: ['analytics', 'usageStats', 'needs_reconfirmation'], properties: { analytics: bool, usageStats: bool, needs_reconfirmation: bool } },
        kill_switch: obj({ active: bool, reason: nullable(str), explanation: nullable(str) }),
        debug: bool,
        sink: { type: 'object' },
        queue: obj({ intake_depth: int, intake_dropped: int, export_depth: int, export_dropped: int }),
        privacy_guard: obj({ rejected_events: int, dropped_keys: int, redacted_values: int, by_reason: { type: 'object', additionalProperties: int } }),
        jobs: { type: 'array', items: obj({ name: str, nextRunAt: nullable(str), lastRunAt: nullable(str), lastError: nullable(str) }) },
        local_stats: obj({ enabled: bool, buffered: int, dropped: int, last_error: nullable(str) }),
        collector: obj({ configured: bool, registered: bool, problem: nullable({ type: 'object' }) }),
      },
      required: ['install_id', 'consent', 'kill_switch', 'debug', 'sink', 'queue', 'privacy_guard', 'jobs', 'local_stats', 'collector'],
      additionalProperties: false,
    },
    LocalStatistics: obj({
      installation: {
        type: 'object',
        required: ['install_id', 'first_seen_at', 'app_version', 'deployment_type', 'collector_registered', 'collector_problem'],
        properties: { install_id: str, first_seen_at: str, last_seen_at: nullable(str), app_version: str, deployment_type: str, collector_registered: bool },
      },
      consent: ref('ConsentState'),
      kill_switch: obj({ active: bool, reason: nullable(str) }),
      totals: obj({ events: int, unsubmitted: int, first_at: nullable(str), last_at: nullable(str) }),
      this_week: obj({ from: str, to: str, total: int, by_type: countBy('event_type'), pageviews_by_route: countBy('route') }),
      by_type: countBy('event_type'),
      by_day: countBy('day'),
      recorder: { anyOf: [obj({ buffered: int, dropped: int, last_error: nullable(str) }), obj({ disabled: { const: true } })] },
      submission: obj({ blocked_reason: nullable(str), retry_scheduled: bool }),
      last_submission: nullable(ref('LedgerEntry')),
    }),
    SubmissionPayload: submissionPayload(),
    SubmissionRun: obj({
      status: { type: 'string', enum: ['accepted', 'rejected', 'failed', 'skipped', 'debug'] },
      reason: nullable(str),
      retry_in_seconds: nullable(int),
      weeks: {
        type: 'array',
        items: obj(
          {
            period: obj({ start: str, end: str }),
            result: { type: 'string', enum: ['accepted', 'retry_later', 'refused'] },
            collector_status: nullable(int),
            reason: str,
            retry_after_seconds: int,
          },
          ['period', 'result', 'collector_status'],
        ),
      },
    }),
    LedgerEntry: ledgerEntry,
    OutboundEntry: {
      type: 'object',
      required: ['id', 'kind', 'sent_at', 'method', 'endpoint', 'request_body', 'record_count', 'counts', 'bytes'],
      properties: {
        id: int,
        kind: { type: 'string', enum: [...OUTBOUND_KINDS] },
        sent_at: str,
        method: str,
        endpoint: { type: 'string', description: 'Scheme, host, port and path only.' },
        request_body: nullable(str),
        record_count: nullable(int),
        counts: nullable({ type: 'object', additionalProperties: int }),
        bytes: nullable(int),
      },
    },
    ConsentReceipt: obj({
      id: int,
      at: str,
      scope: { type: 'string', enum: ['installation', 'user'] },
      subject: nullable(str),
      actor: str,
      action: { type: 'string', enum: ['change', 'import', 'deleted'] },
      categories: { type: 'array', items: str },
      previous: { type: 'object', additionalProperties: bool },
      next: { type: 'object', additionalProperties: bool },
      notice_version: int,
    }),
    StatsDeletion: obj({
      local: obj({ events: int, pageviews: int, submissions: int, outbound_ledger: int }),
      remote: obj({ requested: bool, deleted: bool, status: int, error: str }, ['requested', 'deleted']),
      new_identity: { anyOf: [obj({ started: { const: true }, install_id: str }), obj({ started: { const: false }, reason: str })] },
    }),
    UserPrivacy: obj({
      analytics: { type: 'boolean', description: 'Whether this user\'s detailed analytics may be sent (their own choice).' },
      gpc: { type: 'boolean', description: 'Whether this request carries Global Privacy Control (or DNT when honorDnt is set).' },
      installation_analytics: { type: 'boolean', description: 'Whether the admin opted the installation in to detailed analytics.' },
    }),
  };
}

function apiPaths(api: string): Record<string, Schema> {
  const categoriesBody = {
    required: false,
    description: `Which categories to change; no body means both. Expected: ${EXPECTED_BODIES.categories}.`,
    content: {
      'application/json': {
        schema: obj({ categories: { type: 'array', items: { type: 'string', enum: [...CONSENT_CATEGORIES] }, minItems: 1, maxItems: 2 }, _csrf: csrfField }, []),
        example: { categories: ['analytics'] },
      },
    },
  };
  const emptyBody = { required: false, content: { 'application/json': { schema: obj({ _csrf: csrfField }, []) } } };
  const consentChange = (summary: string, operationId: string) => ({
    post: {
      operationId,
      summary,
      tags: ['admin'],
      security: cookieAndCsrf,
      requestBody: categoriesBody,
      responses: {
        '200': json('The installation\'s consent after the change.', obj({ consent: ref('ConsentState') })),
        ...bodyErrors(EXPECTED_BODIES.categories),
        ...adminErrors,
        ...storageError,
      },
    },
  });
  const page = (extra: Record<string, Schema>, itemsKey: string, item: string) =>
    obj({ limit: int, offset: int, ...extra, total: int, [itemsKey]: { type: 'array', items: ref(item) } });
  return {
    [`${api}/status`]: {
      get: { operationId: 'getStatus', summary: 'The plugin\'s health; answers even when its storage is broken.', tags: ['admin'], security: cookie, responses: { '200': json('The status report.', ref('Status')), ...adminErrors } },
    },
    [`${api}/local`]: {
      get: { operationId: 'getLocalStatistics', summary: 'What is stored here: totals, this week, the last 30 days, the submission state.', tags: ['admin'], security: cookie, responses: { '200': json('The local statistics.', ref('LocalStatistics')), ...adminErrors, ...storageError } },
    },
    [`${api}/preview`]: {
      get: {
        operationId: 'previewSubmission',
        summary: 'Exactly the payloads the next submission run would send: one per unsubmitted whole UTC week (at most 12), oldest first. Before 0.2 this answered a single payload.',
        tags: ['admin'],
        security: cookie,
        responses: {
          '200': json('The pending payloads, and why nothing would be sent now (or null).', obj({ payloads: { type: 'array', items: ref('SubmissionPayload') }, blocked_reason: nullable(str) })),
          ...adminErrors,
          ...storageError,
        },
      },
    },
    [`${api}/submissions`]: {
      get: {
        operationId: 'listSubmissions',
        summary: 'The weekly submissions sent (newest first).',
        tags: ['admin'],
        security: cookie,
        parameters: pageQuery,
        responses: { '200': json('One page of the submission ledger.', page({}, 'entries', 'LedgerEntry')), ...queryError, ...adminErrors, ...storageError },
      },
    },
    [`${api}/ledger`]: {
      get: {
        operationId: 'listOutbound',
        summary: 'Everything else that left the process: OTLP batches, the registration, erasure requests.',
        tags: ['admin'],
        security: cookie,
        parameters: [...pageQuery, { name: 'kind', in: 'query', required: false, schema: { type: 'string', enum: [...OUTBOUND_KINDS] } }],
        responses: {
          '200': json('One page of the outbound ledger.', page({ kind: nullable({ type: 'string', enum: [...OUTBOUND_KINDS] }) }, 'entries', 'OutboundEntry')),
          ...queryError,
          ...adminErrors,
          ...storageError,
        },
      },
    },
    [`${api}/receipts`]: {
      get: {
        operationId: 'listConsentReceipts',
        summary: 'The consent receipts: every change of the installation\'s or the users\' consent.',
        tags: ['admin'],
        security: cookie,
        parameters: [{ name: 'scope', in: 'query', required: false, schema: { type: 'string', enum: ['installation', 'user'], default: 'installation' } }, ...pageQuery],
        responses: {
          '200': json('One page of receipts.', page({ scope: { type: 'string', enum: ['installation', 'user'] } }, 'receipts', 'ConsentReceipt')),
          ...queryError,
          ...adminErrors,
          ...storageError,
        },
      },
    },
    [`${api}/export`]: {
      get: {
        operationId: 'exportLocalRecord',
        summary: 'The whole local record as one JSON download (installation, settings, events, both ledgers, receipts).',
        tags: ['admin'],
        security: cookie,
        responses: {
          '200': {
            description: 'A JSON attachment, telemetry-export-<day>.json.',
            headers: { 'Content-Disposition': { schema: str } },
            content: { 'application/json': { schema: { type: 'object' } } },
          },
          ...adminErrors,
          ...storageError,
        },
      },
    },
    [`${api}/opt-in`]: consentChange('Opt the installation in to the given categories (both without a body).', 'optIn'),
    [`${api}/opt-out`]: consentChange('Opt the installation out of the given categories (both without a body).', 'optOut'),
    [`${api}/delete-all`]: {
      delete: {
        operationId: 'deleteAll',
        summary: 'Erase the local record, ask the collector to erase this installation, start a new identity.',
        tags: ['admin'],
        security: cookieAndCsrf,
        requestBody: emptyBody,
        responses: { '200': json('What was erased here and at the collector.', ref('StatsDeletion')), ...bodyErrors(EXPECTED_BODIES.empty), ...adminErrors, ...storageError },
      },
    },
    [`${api}/collector/re-register`]: {
      post: {
        operationId: 'reRegister',
        summary: 'Start a new identity and register it with the collector (the way out of a collector problem).',
        tags: ['admin'],
        security: cookieAndCsrf,
        requestBody: emptyBody,
        responses: {
          '200': json('The new identity and whether it registered.', obj({ install_id: str, registered: bool, status: int, error: str, problem: nullable({ type: 'object' }) }, ['install_id', 'registered', 'problem'])),
          ...bodyErrors(EXPECTED_BODIES.empty),
          ...adminErrors,
          '409': errorResponse('No registration can be made now (no collector, kill switch, no consent).', ['cannot_register']),
          ...storageError,
        },
      },
    },
    [`${api}/submit-now`]: {
      post: {
        operationId: 'submitNow',
        summary: 'Run the usage statistics submission now (every pending week, oldest first) and answer what happened to each week.',
        tags: ['admin'],
        security: cookieAndCsrf,
        requestBody: emptyBody,
        responses: {
          '200': json('The run: its overall status and, per week sent, accepted / retry_later / refused with the collector\'s status.', ref('SubmissionRun')),
          ...bodyErrors(EXPECTED_BODIES.empty),
          ...adminErrors,
          '409': errorResponse('Nothing can be submitted now (usage statistics off, a kill switch, no collector, or a collector problem).', ['submission_blocked']),
          '429': {
            ...errorResponse('The collector\'s rate limit (one submission of the current week per installation per hour): see Retry-After; error.details is the run. The run is retried by itself then.', ['collector_rate_limited']),
            headers: { 'Retry-After': { schema: { type: 'integer' } } },
          },
          ...storageError,
        },
      },
    },
    [`${api}/openapi.json`]: {
      get: {
        operationId: 'getOpenApiDocument',
        summary: 'This document, for the configured prefixes.',
        tags: ['admin'],
        security: cookie,
        responses: { '200': json('The OpenAPI 3.1 document.', { type: 'object', required: ['openapi', 'paths'] }), ...adminErrors },
      },
    },
  };
}

function userPaths(api: string): Record<string, Schema> {
  const emptyBody = { required: false, content: { 'application/json': { schema: obj({ _csrf: csrfField }, []) } } };
  const errors = { ...userErrors, ...storageError };
  const choice = (summary: string, operationId: string) => ({
    post: {
      operationId,
      summary,
      tags: ['user'],
      security: cookieAndCsrf,
      requestBody: emptyBody,
      responses: {
        '200': json('The user\'s privacy view after the change.', ref('UserPrivacy')),
        ...bodyErrors(EXPECTED_BODIES.empty),
        ...userErrors,
        ...csrfError,
        '429': { ...errorResponse('Too many changes from this user; see Retry-After.', ['rate_limited']), headers: { 'Retry-After': { schema: { type: 'integer' } } } },
        ...storageError,
      },
    },
  });
  return {
    [`${api}/me`]: {
      get: { operationId: 'getMyPrivacy', summary: 'The signed-in user\'s own analytics choice.', tags: ['user'], security: cookie, responses: { '200': json('The user\'s privacy view.', ref('UserPrivacy')), ...errors } },
    },
    [`${api}/me/opt-out`]: choice('Opt the signed-in user out of detailed analytics.', 'optMeOut'),
    [`${api}/me/opt-in`]: choice('Opt the signed-in user back in (sent only while the installation is opted in).', 'optMeIn'),
  };
}

function supportPaths(donate: string): Record<string, Schema> {
  const supportErrors = { ...userErrors, ...csrfError, '413': shared('PayloadTooLarge'), '415': shared('UnsupportedMediaType') };
  return {
    [`${donate}/request-soft-prompt`]: {
      post: {
        operationId: 'requestSoftPrompt',
        summary: 'Whether to show a support prompt of this kind now, and which.',
        tags: ['support'],
        security: cookieAndCsrf,
        requestBody: {
          required: true,
          content: { 'application/json': { schema: obj({ kind: { type: 'string', enum: [...PROMPT_KINDS] }, _csrf: csrfField }, ['kind']), example: { kind: PROMPT_KINDS[0] } } },
        },
        responses: {
          '200': json('The decision.', { anyOf: [obj({ show: { const: false } }), obj({ show: { const: true }, variant: str, message: str })] }),
          '400': errorResponse(`The body has the wrong shape; expected ${EXPECTED_BODIES.softPrompt}.`, ['invalid_request', 'invalid_json']),
          ...supportErrors,
        },
      },
    },
    [`${donate}/track-support-event`]: {
      post: {
        operationId: 'trackSupportEvent',
        summary: 'Record one support-funnel event (allow-listed variant and source; rate-limited per user).',
        tags: ['support'],
        security: cookieAndCsrf,
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: obj({ event: { type: 'string', enum: [...SUPPORT_EVENTS] }, variant: nullable({ type: 'string', maxLength: 32 }), source: nullable({ type: 'string', maxLength: 64 }), _csrf: csrfField }, ['event']),
              example: { event: SUPPORT_EVENTS[0] },
            },
          },
        },
        responses: {
          '202': json('Stored.', obj({ ok: { const: true } })),
          '400': errorResponse(`The body has the wrong shape, or a variant or source is not allow-listed; expected ${EXPECTED_BODIES.supportEvent}.`, ['invalid_request', 'invalid_json', 'unknown_event', 'unknown_source', 'unknown_variant']),
          '404': errorResponse('Support is turned off in this application.', ['support_disabled']),
          '429': { ...errorResponse('Too many events from this user; see Retry-After.', ['rate_limited']), headers: { 'Retry-After': { schema: { type: 'integer' } } } },
          '503': errorResponse('The event could not be stored now, or koa-session is not mounted before the plugin (session_missing).', ['unavailable', 'session_missing']),
          ...supportErrors,
        },
      },
    },
  };
}

/** Without koa-session every plugin route answers 503 session_missing: operations with no 503 of their own get the shared one. */
function withSessionMissing(paths: Record<string, Schema>): Record<string, Schema> {
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item as Record<string, { responses?: Record<string, Schema> }>)) {
      if (operation.responses && !('503' in operation.responses)) operation.responses['503'] = shared('SessionMissing');
    }
  }
  return paths;
}

/** The document for these prefixes (the defaults are /api/v1/usage-stats and /donate). */
export function openApiDocument(mountPath: OpenApiMountPaths): Schema {
  return {
    openapi: '3.1.0',
    info: {
      title: 'koa-consent-telemetry plugin API',
      version: PACKAGE_VERSION,
      license: { name: 'MIT', identifier: 'MIT' },
      description: [
        'The JSON API the koa-consent-telemetry plugin adds to a Koa host.',
        `Paths are shown under the prefixes ${mountPath.api} (admin and user routes) and ${mountPath.donate} (support routes);`,
        'both are configurable with the mountPath option (docs/configuration.md), and GET {api}/openapi.json answers with this document for the configured prefixes.',
        'Authentication is the host\'s own session cookie (koa-session): the host\'s getUser/isAdmin options decide who is signed in and who is an administrator.',
        'Every state-changing request needs the session\'s CSRF token in the X-CSRF-Token header (from the page\'s csrf-token meta tag), or as a _csrf field in the JSON body.',
        'Every error is JSON: { "error": { "code", "message", "details"? } } with a 4xx status (503 when the storage is unavailable, or session_missing when koa-session is not mounted before the plugin).',
        'Unknown paths under the prefixes answer 404 not_found, a known path with another method 405 method_not_allowed.',
      ].join(' '),
    },
    tags: [
      { name: 'admin', description: 'Administrators only: 401 when nobody is signed in, 403 for other users.' },
      { name: 'user', description: 'Any signed-in user: their own analytics choice.' },
      { name: 'support', description: 'Support prompts and their funnel (docs/support.md); any signed-in user.' },
    ],
    paths: withSessionMissing({ ...apiPaths(mountPath.api), ...userPaths(mountPath.api), ...supportPaths(mountPath.donate) }),
    components: {
      schemas: schemas(),
      responses: SHARED_ERRORS,
      securitySchemes: {
        sessionCookie: { type: 'apiKey', in: 'cookie', name: 'koa.sess', description: 'The host\'s koa-session cookie (its name is the host\'s session key; koa.sess by default).' },
        csrfToken: { type: 'apiKey', in: 'header', name: 'X-CSRF-Token', description: 'The session\'s CSRF token, from the csrf-token meta tag of a plugin page (or a _csrf body field).' },
      },
    },
  };
}
