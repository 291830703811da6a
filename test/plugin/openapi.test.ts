// The OpenAPI 3.1 description of the plugin's JSON API (docs/openapi.json, built by
// src/plugin/openapi.ts): current, valid by a real OpenAPI validator, one-to-one with the routes the
// routers register, and served at GET {api}/openapi.json for the configured prefixes. The answers
// themselves are checked against it in the route tests (test/helpers/openapi.ts).
import test from 'ava';
import SwaggerParser from '@apidevtools/swagger-parser';
import type Router from '@koa/router';
import { openApiDocument } from '../../src/plugin/openapi.js';
import { DEFAULT_MOUNT_PATHS, resolveOptions } from '../../src/plugin/options.js';
import { usageStatsRouter } from '../../src/plugin/routes/usage-stats.js';
import { userPrivacyRouter } from '../../src/plugin/routes/user-privacy.js';
import { supportRouter } from '../../src/plugin/routes/support.js';
import { documentedOperations, readOpenApiDocument, withOpenApiChecks } from '../helpers/openapi.js';
import { startHostApp } from '../helpers/host-app.js';
import { tempDirFor } from '../helpers/tmp.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

test('docs/openapi.json is the document the code builds for the default prefixes (regenerate: npx tsx scripts/generate-openapi-doc.ts)', (t) => {
  t.deepEqual(readOpenApiDocument(), JSON.parse(JSON.stringify(openApiDocument(DEFAULT_MOUNT_PATHS))));
});

test('docs/openapi.json is a valid OpenAPI 3.1 document (swagger-parser)', async (t) => {
  const api = (await SwaggerParser.validate(structuredClone(readOpenApiDocument()) as never)) as { openapi: string };
  t.is(api.openapi, '3.1.0');
});

test('the validator refuses a broken document (it is not a no-op)', async (t) => {
  const broken = structuredClone(readOpenApiDocument()) as { paths: Record<string, Record<string, { responses?: unknown }>> };
  delete broken.paths['/api/v1/usage-stats/opt-in']!.post!.responses;
  (broken.paths['/api/v1/usage-stats/local']!.get as Record<string, unknown>).parameters = [{ name: 'x' }];
  await t.throwsAsync(SwaggerParser.validate(broken as never));
});

/** "METHOD path" for every route a router registers (HEAD is @koa/router's companion of GET). */
function registeredOperations(router: Router): string[] {
  return router.stack.flatMap((layer) =>
    layer.methods.filter((method) => method !== 'HEAD').map((method) => `${method} ${String(layer.path).replace(/(.)\/$/, '$1')}`),
  );
}

function apiRouters(mountPath: { api: string; donate: string }): Router[] {
  const options = resolveOptions({ appName: 'Routes', appVersion: '1.0.0', logger: quiet, mountPath, getUser: () => null, isAdmin: () => false } as never);
  // The routes are only listed here, never called: the ports are not needed.
  return [usageStatsRouter(options, {} as never), userPrivacyRouter(options, {} as never), supportRouter(options, { service: {} as never })];
}

test('every route the API routers register is in the document, and every documented operation is a registered route', (t) => {
  const registered = apiRouters(DEFAULT_MOUNT_PATHS).flatMap(registeredOperations).sort();
  t.true(registered.length >= 16, `found the routes: ${registered.join(', ')}`);
  t.deepEqual(documentedOperations(readOpenApiDocument()).sort(), registered);
});

test('with other prefixes, the routes and the document still match one to one', (t) => {
  const mountPath = { api: '/admin/telemetry', donate: '/support-us' };
  const registered = apiRouters(mountPath).flatMap(registeredOperations).sort();
  t.deepEqual(documentedOperations(openApiDocument(mountPath) as never).sort(), registered);
});

test('GET {api}/openapi.json: admin only, the document for the configured prefixes, valid', async (t) => {
  const mountPath = { api: '/admin/telemetry', donate: '/support-us', pages: '/admin/telemetry-pages', assets: '/admin/telemetry-assets' };
  const host = await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: quiet, mountPath } });
  t.teardown(() => host.close());
  t.is((await host.request('/admin/telemetry/openapi.json')).status, 401);
  t.is((await host.request('/admin/telemetry/openapi.json', { user: 'alice' })).status, 403);
  const response = await host.request('/admin/telemetry/openapi.json', { user: 'admin' });
  t.is(response.status, 200);
  t.is(response.headers.get('cache-control'), 'no-store');
  const served = (await response.json()) as { paths: Record<string, unknown> };
  t.deepEqual(served, JSON.parse(JSON.stringify(openApiDocument(mountPath))));
  t.true('/admin/telemetry/opt-in' in served.paths);
  t.true('/support-us/track-support-event' in served.paths);
  await t.notThrowsAsync(SwaggerParser.validate(served as never));

  // And at the default prefixes it is docs/openapi.json itself.
  const plain = withOpenApiChecks(await startHostApp({ telemetry: { dataDir: await tempDirFor(t), logger: quiet } }));
  t.teardown(() => plain.close());
  t.deepEqual(await (await plain.request(`${DEFAULT_MOUNT_PATHS.api}/openapi.json`, { user: 'admin' })).json(), readOpenApiDocument());
});
