// The plugin's CSRF token is bound to the user it was issued for: the token in an anonymous page's
// csrf-token meta tag (the example host's login page) is refused once someone signs in, and a new
// one is issued when the user changes.
import test from 'ava';
import { createExampleHost } from '../../example-host/app.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';
import { CookieClient } from '../helpers/cookie-client.js';
import { startHostApp } from '../helpers/host-app.js';

const API = '/api/v1/usage-stats';
const quiet = { info() {}, error() {} };
const metaToken = (html: string) => /<meta name="csrf-token" content="([^"]+)">/.exec(html)?.[1] ?? null;

test('a CSRF token from the anonymous page is refused after sign-in', async (t) => {
  for (const name of ['TELEMETRY_COLLECTOR_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'GRAFANA_OTLP_ENDPOINT']) delete process.env[name];
  const dataDir = await makeTempDir('kct-plugin-csrf-');
  const host = await createExampleHost({ dataDir, logger: quiet });
  const { url } = await host.listen(0, '127.0.0.1');
  t.teardown(async () => {
    await host.close();
    await removeDir(dataDir);
  });
  const browser = new CookieClient(url);
  const anonymousToken = metaToken(await (await browser.get('/login', { accept: 'text/html' })).text());
  t.truthy(anonymousToken, 'the login page carries the plugin meta tag');

  t.is((await browser.login('admin')).status, 303);
  const refused = await browser.request(`${API}/opt-in`, { method: 'POST', json: { categories: ['analytics'] }, headers: { 'x-csrf-token': anonymousToken! } });
  t.is(refused.status, 403);
  t.is(((await refused.json()) as { error: { code: string } }).error.code, 'csrf_failed');
  t.false(host.telemetry.consent.get().analytics, 'nothing changed');

  const signedInToken = metaToken(await (await browser.get('/telemetry/settings', { accept: 'text/html' })).text());
  t.truthy(signedInToken);
  t.not(signedInToken, anonymousToken, 'sign-in issued a new token');
  const accepted = await browser.request(`${API}/opt-in`, { method: 'POST', json: { categories: ['analytics'] }, headers: { 'x-csrf-token': signedInToken! } });
  t.is(accepted.status, 200);
});

test('a CSRF token issued to one user is refused when another user takes the session', async (t) => {
  const dataDir = await makeTempDir('kct-plugin-csrf-users-');
  const app = await startHostApp({
    telemetry: { dataDir },
    // A host page that renders the plugin's token for whoever is signed in.
    routes: (router) => router.get('/token', (ctx) => void (ctx.body = { token: (ctx.state.telemetry as { csrfToken: string }).csrfToken })),
  });
  t.teardown(async () => {
    await app.close();
    await removeDir(dataDir);
  });
  const tokenFor = async (user?: 'admin' | 'alice') => ((await (await app.request('/token', { user })).json()) as { token: string }).token;
  const optIn = (token: string) =>
    app.request(`${API}/opt-in`, { method: 'POST', user: 'admin', headers: { 'content-type': 'application/json', 'x-csrf-token': token }, body: JSON.stringify({ categories: ['analytics'] }) });

  const alices = await tokenFor('alice');
  t.is(await tokenFor('alice'), alices, 'stable while the user stays the same');
  t.is((await optIn(alices)).status, 403, "alice's token is refused once the admin uses the session");
  const admins = await tokenFor('admin');
  t.not(admins, alices);
  t.is((await optIn(admins)).status, 200);
  const anonymous = await tokenFor();
  t.is((await optIn(anonymous)).status, 403, 'nor does a token rendered to nobody work for the admin');
});
