// OpenAPI 3.1 path items of the insights routes (routes/insights.ts), as plain objects, merged into
// the collector's document by src/collector/openapi.ts. Paths are relative to the collector's mount path.
export type PathItem = Record<string, unknown>;

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
    },
  },
};

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: errorSchema } } });
const percentOrNull = { type: ['number', 'null'], minimum: 0, maximum: 100 };
const count = { type: 'integer', minimum: 0 };

const windowParameter = {
  name: 'window',
  in: 'query',
  required: false,
  description: 'Breakdown window in days: one of the fixed windows (default 30).',
  schema: { type: 'string', enum: ['7', '30', '90', '365'] },
};

// The security scheme names of the collector's document (src/collector/openapi.ts).
const adminSecurity = [{ adminToken: [] }, { dashboardSession: [] }];

const adminErrors = {
  '400': errorResponse('`window` is not one of 7, 30, 90, 365 (code invalid_window).'),
  '401': errorResponse('No admin token or session (code unauthorized).'),
  '422': errorResponse('Invalid query parameters (code invalid_query).'),
  '503': errorResponse('The collector cannot reach its database (code collector_unavailable).'),
};

const breakdownRow = (label: string) => ({
  type: 'object',
  required: [label, 'installations', 'percent'],
  properties: { [label]: { type: 'string' }, installations: count, percent: percentOrNull, other: { const: true }, merged: count },
});

const featureRow = {
  type: 'object',
  additionalProperties: false,
  required: ['feature', 'enabled', 'disabled', 'enabled_percent'],
  properties: { feature: { type: 'string' }, enabled: count, disabled: count, enabled_percent: percentOrNull },
};

const publicRow = {
  type: 'object',
  additionalProperties: false,
  required: ['label', 'installations', 'percent'],
  properties: {
    label: { type: 'string' },
    installations: { type: 'integer', minimum: 0, multipleOf: 10, description: 'Rounded to the nearest 10.' },
    percent: percentOrNull,
    other: { const: true },
  },
};

const publicHeaders = {
  'Cache-Control': { description: 'public, max-age=<publicInsightsCacheMinutes × 60>', schema: { type: 'string' } },
};

export const insightsPaths: Record<string, PathItem> = {
  '/stats/errors-by-version-mode': {
    get: {
      operationId: 'statsErrorsByVersionMode',
      tags: ['stats'],
      summary: 'Error rate per app version × deployment mode',
      description:
        "Active installations in the window per (app version, deployment mode) of their latest submission, and how many of them reported errors there. Pairs under kThreshold installations are merged into one \"other\" row, which is left out when it is itself under kThreshold.",
      security: adminSecurity,
      parameters: [windowParameter],
      responses: {
        '200': {
          description: 'The k-protected error rates.',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                additionalProperties: false,
                required: ['window_days', 'active', 'k_threshold', 'installations_with_errors', 'error_rate_percent', 'rows'],
                properties: {
                  window_days: { type: 'integer', enum: [7, 30, 90, 365] },
                  active: count,
                  k_threshold: { type: 'integer', minimum: 1 },
                  installations_with_errors: count,
                  error_rate_percent: percentOrNull,
                  rows: {
                    type: 'array',
                    items: {
                      type: 'object',
                      additionalProperties: false,
                      required: ['version', 'mode', 'installations', 'installations_with_errors', 'errors', 'error_rate_percent'],
                      properties: {
                        version: { type: 'string' },
                        mode: { type: 'string' },
                        installations: count,
                        installations_with_errors: count,
                        errors: count,
                        error_rate_percent: percentOrNull,
                        other: { const: true },
                        merged: count,
                      },
                    },
                  },
                },
              },
            },
          },
        },
        ...adminErrors,
      },
    },
  },
  '/stats/feature-adoption': {
    get: {
      operationId: 'statsFeatureAdoption',
      tags: ['stats'],
      summary: 'Feature adoption: enabled/disabled per feature, least used, top versions and countries',
      description:
        'Per feature enabled by at least kThreshold active installations: how many have it on (enabled) and off (disabled); the least-used of them; how many features fewer than kThreshold installations use (not named); the top 5 versions and top 10 countries (the rest as "other").',
      security: adminSecurity,
      parameters: [windowParameter],
      responses: {
        '200': {
          description: 'The k-protected feature adoption.',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                additionalProperties: false,
                required: ['window_days', 'active', 'k_threshold', 'features', 'least_used', 'rare_features', 'top_versions', 'top_countries'],
                properties: {
                  window_days: { type: 'integer', enum: [7, 30, 90, 365] },
                  active: count,
                  k_threshold: { type: 'integer', minimum: 1 },
                  features: { type: 'array', items: featureRow },
                  least_used: { type: 'array', maxItems: 5, items: featureRow },
                  rare_features: count,
                  top_versions: { type: 'array', maxItems: 6, items: breakdownRow('version') },
                  top_countries: { type: 'array', maxItems: 11, items: breakdownRow('country') },
                },
              },
            },
          },
        },
        ...adminErrors,
      },
    },
  },
  '/public': {
    get: {
      operationId: 'publicInsightsPage',
      tags: ['public'],
      summary: 'Public insights page (only when publicInsights is on)',
      description: 'HTML with charts drawn by the collector\'s own scripts; no authentication, no cookies. 404 (or the host\'s own route, when mounted) while publicInsights is off.',
      security: [],
      responses: {
        '200': { description: 'The page.', headers: publicHeaders, content: { 'text/html': { schema: { type: 'string' } } } },
        '404': errorResponse('publicInsights is off (standalone collector).'),
        '503': errorResponse('The collector cannot reach its database (code collector_unavailable).'),
      },
    },
  },
  '/public/insights.json': {
    get: {
      operationId: 'publicInsightsJson',
      tags: ['public'],
      summary: 'Public insights as JSON (only when publicInsights is on)',
      description:
        'Versions, deployment modes, countries and feature adoption over the last 30 and 90 days. k-protected, every count rounded to the nearest 10, rows rounding under kThreshold left out; computed at most once per cache period. No authentication, no cookies.',
      security: [],
      responses: {
        '200': {
          description: 'The rounded insights.',
          headers: publicHeaders,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                additionalProperties: false,
                required: ['generated_at', 'rounding', 'k_threshold', 'windows'],
                properties: {
                  generated_at: { type: 'string', format: 'date-time' },
                  rounding: { const: 10 },
                  k_threshold: { type: 'integer', minimum: 1 },
                  windows: {
                    type: 'array',
                    items: {
                      type: 'object',
                      additionalProperties: false,
                      required: ['window_days', 'active', 'versions', 'deployment_modes', 'countries', 'features'],
                      properties: {
                        window_days: { type: 'integer', enum: [30, 90] },
                        active: { type: 'integer', minimum: 0, multipleOf: 10 },
                        versions: { type: 'array', items: publicRow },
                        deployment_modes: { type: 'array', items: publicRow },
                        countries: { type: 'array', items: publicRow },
                        features: { type: 'array', items: publicRow },
                      },
                    },
                  },
                },
              },
            },
          },
        },
        '404': errorResponse('publicInsights is off (standalone collector).'),
        '503': errorResponse('The collector cannot reach its database (code collector_unavailable).'),
      },
    },
  },
};
