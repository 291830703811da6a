// The OpenAPI 3.1 path items of the insights routes (src/collector/openapi-insights.ts, merged into
// the collector's document): valid by a real OpenAPI validator, one per route the insights routers
// register, and the routes' real answers match their schemas.
import test from 'ava';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { insightsPaths } from '../../src/collector/openapi-insights.js';
import { collectorOpenApiDocument } from '../../src/collector/openapi.js';
import { insightsStatsRouter, publicInsightsRouter } from '../../src/collector/routes/insights.js';
import { registerAndSubmit, startCollector } from '../helpers/collector.js';
import { testEachDatabase } from '../helpers/databases.js';

// The collector's whole document, into which the insights path items are merged.
const document = () => collectorOpenApiDocument('') as { paths: Record<string, unknown> };

test('the collector document with the insights path items merged in is valid OpenAPI 3.1 (swagger-parser)', async (t) => {
  await t.notThrowsAsync(SwaggerParser.validate(document() as never));
  const broken = document();
  (broken.paths['/public'] as { get: { responses: unknown } }).get.responses = 'none';
  await t.throwsAsync(SwaggerParser.validate(broken as never));
});

test('every insights route is described, and nothing else', (t) => {
  const collector = { auth: { requireAdmin: () => async () => undefined }, insights: {}, publicInsights: {}, options: {} } as never;
  const routes = [insightsStatsRouter(collector, ''), publicInsightsRouter(collector, '')].flatMap((router) =>
    router.stack.filter((layer) => layer.methods.includes('GET')).map((layer) => String(layer.path).replace(/\/$/, '')),
  );
  t.deepEqual(routes.sort(), Object.keys(insightsPaths).sort());
});

const ajv = new Ajv2020({ strict: false, allErrors: true, logger: false });
function check(path: string, status: number, body: unknown): string | null {
  const operation = (insightsPaths[path] as { get: { responses: Record<string, { content?: Record<string, { schema: object }> }> } }).get;
  const response = operation.responses[String(status)];
  if (!response) return `${path} documents no ${status}`;
  const schema = response.content?.['application/json']?.schema;
  if (!schema) return null;
  const validate = ajv.compile(schema);
  return validate(body) ? null : `${path} ${status}: ${ajv.errorsText(validate.errors)}`;
}

testEachDatabase('the insights routes answer as documented', async (t, db) => {
  const c = await startCollector(t, db, { publicInsights: true, registrationsPerClientPerHour: 1000 });
  for (let i = 0; i < 6; i++) await registerAndSubmit(c.url, c.clock, { error_count: i % 2, feature_flags: { sso: true, beta: i === 0 } });
  for (const window of ['7', '30', '90', '365']) {
    for (const path of ['/stats/errors-by-version-mode', '/stats/feature-adoption']) {
      const response = await c.admin(`${path}?window=${window}`);
      t.is(check(path, response.status, await response.json()), null);
    }
  }
  for (const [path, init, status] of [
    ['/stats/errors-by-version-mode?window=12', true, 400],
    ['/stats/feature-adoption', false, 401],
  ] as const) {
    const response = init ? await c.admin(path) : await fetch(`${c.url}${path}`);
    t.is(response.status, status);
    t.is(check(path.split('?')[0]!, response.status, await response.json()), null);
  }
  const publicJson = await fetch(`${c.url}/public/insights.json`);
  t.is(publicJson.status, 200);
  const body = await publicJson.json();
  t.true(body.windows[0].versions.length > 0);
  t.is(check('/public/insights.json', 200, body), null);
});
