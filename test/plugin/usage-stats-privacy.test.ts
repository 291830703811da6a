// Issue 3, "Not done until": a planted set of e-mails, IP addresses, tokens and names (plus card
// numbers, phone numbers, passwords and URLs with query strings) passed in event metadata appears
// in none of: the stored rows, the preview payload, the export (raw text), the ledger, what the
// collector received, the /local view or the statistics page.
import test from 'ava';
import { TABLES } from '../../src/plugin/db/tables.js';
import type { Logger } from '../../src/plugin/types.js';
import { startHostApp } from '../helpers/host-app.js';
import { startSubmissionReceiver, waitUntil } from '../helpers/submission-receiver.js';
import { tempDirFor } from '../helpers/tmp.js';
import { runtimeOf } from '../../src/plugin/internal.js';
import { mondayOf } from '../../src/plugin/stats/aggregation.js';

const DAY = 86_400_000;
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** What must never come out, in whatever form it went in. */
const PLANTED = {
  email: 'alice.liddell@example.com',
  emailInText: 'bob+tag@mail.example.org',
  ipv4: '203.0.113.77',
  ipv4Private: '192.168.10.20',
  ipv6: '2001:db8:85a3::8a2e:370:7334',
  ipv6LinkLocal: 'fe80::1ff:fe23:4567:890a',
  bearer: 'sk_live_abcdef1234567890',
  jwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
  name: 'Alice Liddell',
  fullName: 'Roberta Marley-Smith',
  username: 'wonderland_alice',
  password: 'hunter2-correct-horse',
  token: 'tok_9f8e7d6c5b4a',
  secret: 'shh-it-is-a-secret-value',
  phoneKeyed: '+1 415 555 0100',
  card: '4111 1111 1111 1111',
  cardDashed: '5500-0000-0000-0004',
  phone: '+49 30 12345678',
  urlQuery: 'https://example.com/reset?token=s3cr3t-reset-value',
  pathQuery: '/search?q=very+private+query',
  address: '42 Wallaby Way, Sydney',
} as const;

/** Forms a planted value could take in JSON or HTML output. */
function needles(): string[] {
  const out = new Set<string>();
  for (const value of Object.values(PLANTED)) {
    out.add(value);
    out.add(JSON.stringify(value).slice(1, -1));
    out.add(value.replace(/&/g, '&amp;').replace(/\+/g, '&#43;'));
    out.add(encodeURIComponent(value));
  }
  // Distinctive fragments, so a partial leak (e.g. a truncated or reformatted value) is caught too.
  for (const fragment of ['alice.liddell', 'bob+tag', '203.0.113', '8a2e:370', 'abcdef1234567890', 'dozjgNryP4J3', 'Liddell', 'Marley-Smith', 'wonderland', 'hunter2', '9f8e7d6c', 'shh-it-is', '555 0100', '4111 1111', '5500-0000', '12345678', 's3cr3t', 'very+private', 'Wallaby']) {
    out.add(fragment);
  }
  return [...out];
}

function leaks(text: string): string[] {
  return needles().filter((needle) => text.includes(needle));
}

test('no planted e-mail, IP, token, name, card, phone or URL survives into storage, preview, ledger, export or pages', async (t) => {
  const clock = { offset: 0 };
  const receiver = await startSubmissionReceiver({ nowMs: () => Date.now() + clock.offset });
  t.teardown(() => receiver.close());
  const app = await startHostApp({
    telemetry: {
      dataDir: await tempDirFor(t),
      logger: silent,
      collector: { url: receiver.url },
      recorder: { intervalMs: 20 },
      submission: { retryBaseMs: 20, maxAttempts: 1, timeoutMs: 2_000 },
      now: () => new Date(Date.now() + clock.offset),
    },
    routes: (router) => {
      router.post('/signup', (ctx) => {
        // A careless host passing personal data straight into telemetry.
        ctx.telemetry.track('user.signed_up', { email: PLANTED.email, name: PLANTED.name, plan: 'pro', referrer: PLANTED.urlQuery });
        ctx.telemetry.identify({ email: PLANTED.email, username: PLANTED.username, company_size: 12 });
        ctx.body = { ok: true };
      });
    },
  });
  t.teardown(() => app.close());

  // Deny-listed keys (dropped whatever their value) …
  app.telemetry.track('profile.updated', {
    email: PLANTED.email,
    name: PLANTED.name,
    full_name: PLANTED.fullName,
    fullName: PLANTED.fullName,
    username: PLANTED.username,
    password: PLANTED.password,
    token: PLANTED.token,
    secret: PLANTED.secret,
    phone: PLANTED.phoneKeyed,
    address: PLANTED.address,
    ip: PLANTED.ipv4,
    ip_address: PLANTED.ipv6,
    IPAddress: PLANTED.ipv4Private,
    Email: PLANTED.emailInText,
    fields_changed: 3,
  });
  // … and sensitive values under innocent keys (redacted), also inside longer text.
  app.telemetry.track('import.finished', {
    contact: `write to ${PLANTED.emailInText} for help`,
    origin: PLANTED.ipv4,
    origin_private: `from ${PLANTED.ipv4Private}:8080`,
    origin6: PLANTED.ipv6,
    link_local: PLANTED.ipv6LinkLocal,
    authorization: `Bearer ${PLANTED.bearer}`,
    session: PLANTED.jwt,
    payment: PLANTED.card,
    payment_alt: `card ${PLANTED.cardDashed} expires 12/29`,
    callback: PLANTED.phone,
    reset_link: PLANTED.urlQuery,
    search: PLANTED.pathQuery,
    long_note: `${'x'.repeat(250)} ${PLANTED.email}`,
    rows: 1200,
  });
  t.is((await app.request('/signup', { method: 'POST', user: 'alice' })).status, 200);
  await (await app.request(`/projects/5?email=${encodeURIComponent(PLANTED.email)}&q=${encodeURIComponent(PLANTED.pathQuery)}`, { user: 'alice' })).arrayBuffer();
  t.false(app.telemetry.track(`user.${PLANTED.username}`.replace(/[^a-z._]/g, '_') + '@x', {}), 'names cannot carry an e-mail');

  await waitUntil(async () => Number(((await runtimeOf(app.telemetry).knex(TABLES.usageEvents).count({ n: '*' }).first()) as { n: number }).n) >= 5, 3_000, 'events stored');

  // The events are there — guarded, with the harmless properties kept.
  const rows = (await runtimeOf(app.telemetry).knex(TABLES.usageEvents).select('event_type', 'metadata')) as { event_type: string; metadata: string }[];
  const meta = (type: string) => JSON.parse(rows.find((r) => r.event_type === type)!.metadata);
  // PII keys keep only the marker; everything the allow-list does not know is redacted too.
  const profile = meta('profile.updated');
  t.is(profile.fields_changed, 3);
  t.true(Object.entries(profile).every(([key, value]) => key === 'fields_changed' || value === '[redacted]'));
  t.is(meta('import.finished').rows, 1200);
  t.is(meta('import.finished').contact, '[redacted]');
  t.deepEqual(meta('user.signed_up'), { email: '[redacted]', name: '[redacted]', plan: 'pro', referrer: '[redacted]' });
  t.deepEqual(meta('user.identified'), { email: '[redacted]', username: '[redacted]', company_size: 12 });

  // 1. stored rows (events and page views)
  const pageviews = await runtimeOf(app.telemetry).knex(TABLES.pageviewCounts).select('route');
  t.deepEqual(leaks(JSON.stringify(rows) + JSON.stringify(pageviews)), [], 'stored rows');

  // 2. the preview (the exact next payload) — with the events inside the reported week
  clock.offset = mondayOf(new Date()).getTime() + 7 * DAY + 3_600_000 - Date.now(); // next Monday: this week is whole
  const previewText = await (await app.request('/api/v1/usage-stats/preview', { user: 'admin' })).text();
  t.true(JSON.parse(previewText).payloads[0].event_counts['import.finished'] === 1, 'the planted events are counted');
  t.deepEqual(leaks(previewText), [], 'preview');

  // 3. what was sent, and the ledger
  await app.telemetry.consent.set({ usageStats: true });
  await receiver.waitFor(() => receiver.accepted.length === 1, 5_000, 'submission');
  await waitUntil(async () => (await (await app.request('/api/v1/usage-stats/submissions', { user: 'admin' })).json()).total === 1, 3_000, 'ledger');
  t.deepEqual(leaks(receiver.requests.map((r) => r.rawBody).join('\n')), [], 'what the collector received');
  const ledgerText = await (await app.request('/api/v1/usage-stats/submissions', { user: 'admin' })).text();
  t.deepEqual(leaks(ledgerText), [], 'ledger (API)');
  const ledgerRows = await runtimeOf(app.telemetry).knex(TABLES.submissions).select('*');
  t.deepEqual(leaks(JSON.stringify(ledgerRows)), [], 'ledger (table)');

  // 4. the export, as raw text
  const exportText = await (await app.request('/api/v1/usage-stats/export', { user: 'admin' })).text();
  t.true(exportText.includes('import.finished'), 'the export does contain the events');
  t.deepEqual(leaks(exportText), [], 'export');

  // 5. what the admin sees
  t.deepEqual(leaks(await (await app.request('/api/v1/usage-stats/local', { user: 'admin' })).text()), [], '/local');
  t.deepEqual(leaks(await (await app.request('/telemetry/stats', { user: 'admin' })).text()), [], 'statistics page');
});
