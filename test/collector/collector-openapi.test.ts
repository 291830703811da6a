// The collector's OpenAPI 3.1 description (docs/collector-openapi.json, built by
// src/collector/openapi.ts): current, valid by a real OpenAPI validator, one-to-one with the routes the
// routers register, served at GET /openapi.json, and the real answers of every route match it.
import test from 'ava';
import { insightsStatsRouter, publicInsightsRouter } from '../../src/collector/routes/insights.js';
import SwaggerParser from '@apidevtools/swagger-parser';
import type Router from '@koa/router';
import { randomUUID } from 'node:crypto';
import { collectorOpenApiDocument } from '../../src/collector/openapi.js';
import { collectorPlugin } from '../../src/collector/plugin.js';
import { ingestRouter } from '../../src/collector/routes/ingest.js';
import { statsRouter } from '../../src/collector/routes/stats.js';
import { reportsRouter } from '../../src/collector/routes/reports.js';
import { dashboardRouter } from '../../src/collector/routes/dashboard.js';
import { opsRouter } from '../../src/collector/routes/ops.js';
import { PATHS, SIGNED, signedHeaders } from '../../src/core/protocol.js';
import { checkCollectorAnswers, collectorOpenApi, documentedOperations, type OpenApiDocument } from '../helpers/openapi.js';
import { ADMIN_TOKEN, payloadFor, register, registerAndSubmit, startCollector, submit } from '../helpers/collector.js';
import { createTestDatabase, testEachDatabase } from '../helpers/databases.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

test('docs/collector-openapi.json is the document the code builds (regenerate: npm run docs:openapi)', (t) => {
  t.deepEqual(collectorOpenApi.read(), JSON.parse(JSON.stringify(collectorOpenApiDocument(''))));
});

test('docs/collector-openapi.json is a valid OpenAPI 3.1 document (swagger-parser)', async (t) => {
  const api = (await SwaggerParser.validate(structuredClone(collectorOpenApi.read()) as never)) as { openapi: string };
  t.is(api.openapi, '3.1.0');
});

test('the validator refuses a broken collector document (it is not a no-op)', async (t) => {
  const broken = structuredClone(collectorOpenApi.read()) as { paths: Record<string, Record<string, Record<string, unknown>>> };
  delete broken.paths['/v1/submit']!.post!.responses;
  broken.paths['/stats/overview']!.get!.parameters = [{ name: 'x' }];
  await t.throwsAsync(SwaggerParser.validate(broken as never));
});

test('path items from another module are spread in, and get the shared 503', (t) => {
  const extra = { '/x/public': { get: { operationId: 'extra', responses: { '200': { description: 'ok' } } } } };
  const doc = collectorOpenApiDocument('/c', extra) as unknown as OpenApiDocument;
  t.truthy(doc.paths['/x/public']?.get);
  t.truthy(doc.paths['/x/public']!.get!.responses['503']);
  t.truthy(doc.paths['/c/v1/submit']);
});

/** "METHOD path" for every route a router registers, with :param written {param}. */
function registeredOperations(router: Router): string[] {
  return router.stack.flatMap((layer) =>
    layer.methods
      .filter((method) => method !== 'HEAD')
      .map((method) => `${method} ${String(layer.path).replace(/(.)\/$/, '$1').replace(/:([A-Za-z_]+)/g, '{$1}')}`),
  );
}

function routers(prefix: string): string[] {
  const handle = collectorPlugin({ dbFile: '/nonexistent/never-opened.sqlite', adminToken: ADMIN_TOKEN, jobs: false, env: {}, logger: quiet, mountPath: prefix });
  const c = handle.collector;
  // The public insights routes are described although they are mounted only with publicInsights on.
  return [
    ingestRouter(c, prefix),
    statsRouter(c, prefix),
    insightsStatsRouter(c, prefix),
    publicInsightsRouter(c, prefix),
    reportsRouter(c, prefix),
    dashboardRouter(c, prefix),
    opsRouter(c, prefix),
  ]
    .flatMap(registeredOperations)
    .sort();
}

test('every route the collector registers is documented, and every documented operation is a route (also under a mount path)', (t) => {
  const registered = routers('');
  t.true(registered.length >= 25, registered.join(', '));
  t.deepEqual(documentedOperations(collectorOpenApi.read()).sort(), registered);
  t.deepEqual(documentedOperations(collectorOpenApiDocument('/telemetry-collector') as never).sort(), routers('/telemetry-collector'));
});

testEachDatabase('GET /openapi.json is public, not cached stale, and is the document for the mount path', async (t, db) => {
  const c = await startCollector(t, db);
  const response = await fetch(`${c.url}/openapi.json`);
  t.is(response.status, 200);
  t.is(response.headers.get('cache-control'), 'no-cache');
  t.deepEqual(await response.json(), collectorOpenApi.read());

  const other = await createTestDatabase(db.kind);
  t.teardown(() => other.cleanup());
  const mounted = await startCollector(t, other, { mountPath: '/collector' });
  const served = (await (await fetch(`${mounted.url}/openapi.json`)).json()) as OpenApiDocument;
  t.truthy(served.paths['/collector/v1/submit']);
  t.deepEqual(served, JSON.parse(JSON.stringify(collectorOpenApiDocument('/collector'))));
  await t.notThrowsAsync(SwaggerParser.validate(served as never));
});

testEachDatabase('real answers match the document: register, submit, erasure, every /stats route, health, metrics, sign-in', async (t, db) => {
  const c = await startCollector(t, db, { registrationsPerClientPerHour: 5 });
  checkCollectorAnswers(t, c.url);
  const seen = (method: string, path: string, status: number) => t.true(collectorOpenApi.checked.has(`${method} ${path} ${status}`), `${method} ${path} ${status} checked`);

  // register: 201, 409, 422, 400, 413, 429
  const a = await registerAndSubmit(c.url, c.clock, { error_count: 2 });
  seen('POST', '/v1/register', 201);
  seen('POST', '/v1/submit', 202);
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${c.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  t.is((await post(PATHS.register, JSON.stringify({ install_id: a.installId }))).status, 409);
  t.is((await post(PATHS.register, JSON.stringify({ install_id: 'nope' }))).status, 422);
  t.is((await post(PATHS.register, '{')).status, 400);
  t.is((await post(PATHS.register, ' '.repeat(70_000))).status, 413);
  t.is((await post(PATHS.register, JSON.stringify({ install_id: randomUUID() }))).status, 429);
  for (const status of [409, 422, 400, 413, 429]) seen('POST', '/v1/register', status);

  // submit: replay 202, 401, 413, 422, 429, 400
  const b = await register(c.url).catch(() => null);
  t.is(b, null, 'the per-client registration limit is spent');
  t.is((await submit(c.url, c.clock, a, payloadFor(a.installId))).headers.get('idempotent-replayed'), 'true');
  t.is((await submit(c.url, c.clock, a, payloadFor(a.installId), { secret: '0'.repeat(64) })).status, 401);
  t.is((await submit(c.url, c.clock, a, payloadFor(a.installId), { body: ' '.repeat(70_000) })).status, 413);
  t.is((await submit(c.url, c.clock, a, payloadFor(a.installId, { country: 'germany' }), { idempotencyKey: 'other-key-1234' })).status, 422);
  t.is((await submit(c.url, c.clock, a, payloadFor(a.installId, { period: { start: '2026-03-16', end: '2026-03-23' } }))).status, 429);
  t.is((await submit(c.url, c.clock, a, payloadFor(a.installId), { idempotencyKey: null })).status, 400);
  for (const status of [401, 413, 422, 429, 400]) seen('POST', '/v1/submit', status);

  // every /stats route, with and without credentials, with a bad window and a bad query
  const statsPaths = Object.keys(collectorOpenApi.document.paths).filter((p) => p.startsWith('/stats/'));
  t.true(statsPaths.length >= 12);
  for (const path of statsPaths) {
    t.is((await c.admin(path)).status, 200, path);
    seen('GET', path, 200);
    t.is((await fetch(`${c.url}${path}`)).status, 401, path);
  }
  t.is((await c.admin('/stats/versions?window=31')).status, 400);
  t.is((await c.admin('/stats/errors?weeks=0')).status, 422);

  // health, metrics, the document itself
  t.is((await fetch(`${c.url}/health`)).status, 200);
  t.is((await c.admin('/metrics')).status, 200);
  t.is((await fetch(`${c.url}/metrics`)).status, 401);
  t.is((await fetch(`${c.url}/openapi.json`)).status, 200);

  // the dashboard's sign-in: wrong CSRF 403, wrong token 401, right token 303 (HTML answers)
  const page = await fetch(`${c.url}/dashboard`);
  t.is(page.status, 200);
  const cookie = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(await page.text())?.[1] ?? '';
  const signIn = (fields: Record<string, string>) =>
    fetch(`${c.url}/dashboard/sign-in`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie }, body: new URLSearchParams(fields).toString() });
  t.is((await signIn({ token: ADMIN_TOKEN, _csrf: 'wrong' })).status, 403);
  t.is((await signIn({ token: 'wrong-token', _csrf: csrf })).status, 401);
  t.is((await signIn({ token: ADMIN_TOKEN, _csrf: csrf })).status, 303);
  for (const status of [403, 401, 303]) seen('POST', '/dashboard/sign-in', status);

  // erasure: signed 200, signed for another id 403, admin 200, unknown 404, no credentials 401
  const other = await (async () => {
    const fresh = await startCollector(t, await createTestDatabase(db.kind).then((d) => (t.teardown(() => d.cleanup()), d)), { clock: c.clock });
    checkCollectorAnswers(t, fresh.url);
    return { c: fresh, x: await registerAndSubmit(fresh.url, c.clock), y: await registerAndSubmit(fresh.url, c.clock) };
  })();
  const erase = (base: string, id: string, signer: { installId: string; secret: string }) =>
    fetch(`${base}${PATHS.installation(id)}`, { method: 'DELETE', headers: signedHeaders(SIGNED.erase(id), signer.installId, signer.secret, '', c.clock.seconds()) });
  t.is((await erase(other.c.url, other.y.installId, other.x)).status, 403, 'an installation can only erase itself');
  t.is((await erase(other.c.url, other.x.installId, other.x)).status, 200);
  t.is((await other.c.admin(PATHS.installation(other.y.installId), { method: 'DELETE' })).status, 200);
  t.is((await other.c.admin(PATHS.installation(randomUUID()), { method: 'DELETE' })).status, 404);
  t.is((await fetch(`${other.c.url}${PATHS.installation(randomUUID())}`, { method: 'DELETE' })).status, 401);
  for (const status of [200, 401, 403, 404]) seen('DELETE', '/v1/installations/{id}', status);
  seen('GET', '/health', 200);
  seen('GET', '/metrics', 200);
  seen('GET', '/metrics', 401);
});

test('an undocumented status fails the request (the check is not a no-op)', (t) => {
  t.throws(() => collectorOpenApi.assert('POST', '/v1/submit', 418, { error: { code: 'teapot', message: 'x' } }), { message: /documents no 418/ });
  t.throws(() => collectorOpenApi.assert('GET', '/stats/overview', 200, { total: 'many' }), { message: /does not match/ });
  t.throws(() => collectorOpenApi.assert('POST', '/v1/register', 409, { error: { code: 'made_up', message: 'x' } }), { message: /does not match/ });
});
