// E-mail reports (docs/collector.md): weekly and monthly reports (HTML + text) sent over SMTP with nodemailer
// to a real SMTP server started here (smtp-server); the received mail is parsed (mailparser) and its
// numbers checked against /stats/overview. Plus the send-now, test and status endpoints, the
// schedule, and "exactly once" with two collector instances on one database.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import { ADMIN_TOKEN, registerAndSubmit, startCollector, type TestCollector } from '../helpers/collector.js';
import { createTestDatabase, testEachDatabase } from '../helpers/databases.js';
import { MONTHLY_REPORT_JOB, WEEKLY_REPORT_JOB, MAINTENANCE_JOB, weeklyRule, monthlyRule } from '../../src/collector/collector.js';
import { renderReport } from '../../src/collector/reports/render.js';
import { checkCollectorAnswers } from '../helpers/openapi.js';

interface Mailbox {
  port: number;
  mails: (ParsedMail & { envelopeTo: string[] })[];
  next(timeoutMs?: number): Promise<ParsedMail & { envelopeTo: string[] }>;
}

async function smtpServer(t: ExecutionContext): Promise<Mailbox> {
  const mails: Mailbox['mails'] = [];
  const waiters: (() => void)[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((mail) => {
          mails.push(Object.assign(mail, { envelopeTo: session.envelope.rcptTo.map((r) => r.address) }));
          waiters.splice(0).forEach((w) => w());
          callback();
        })
        .catch(callback);
    },
  });
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  t.teardown(() => new Promise<void>((done) => server.close(() => done())));
  let taken = 0;
  return {
    port: (server.server.address() as AddressInfo).port,
    mails,
    async next(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (mails.length <= taken) {
        if (Date.now() > deadline) throw new Error('no mail arrived');
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
      return mails[taken++]!;
    },
  };
}

async function seed(c: TestCollector) {
  c.clock.set('2026-03-10T10:00:00Z');
  for (let i = 0; i < 6; i++) await registerAndSubmit(c.url, c.clock, { app_version: '3.1.0', country: 'NL', deployment_type: 'native', feature_flags: { sso: true } });
  c.clock.set('2026-03-17T10:00:00Z');
  for (let i = 0; i < 5; i++) await registerAndSubmit(c.url, c.clock, { app_version: '3.2.0', country: 'NL', deployment_type: 'docker', error_count: 2 });
  c.clock.set('2026-03-23T08:00:00Z'); // a Monday morning
}

const smtpOptions = (port: number) => ({ host: '127.0.0.1', port, secure: false, from: 'Collector <collector@example.test>' });

testEachDatabase('the weekly report arrives as HTML + text with the same numbers as /stats/overview', async (t, db) => {
  const mailbox = await smtpServer(t);
  const c = await startCollector(t, db, { smtp: smtpOptions(mailbox.port), reportRecipients: ['ops@example.test', 'lead@example.test'], title: 'TimeTracker telemetry' });
  checkCollectorAnswers(t, c.url);
  await seed(c);
  const overview = await c.adminJson('/stats/overview');
  const anomalies = (await c.adminJson('/stats/anomalies')).anomalies;

  const response = await c.admin('/reports/weekly', { method: 'POST' });
  t.is(response.status, 200);
  const sent = await response.json();
  t.like(sent, { sent: true, kind: 'weekly', recipients: ['ops@example.test', 'lead@example.test'], period: { start: '2026-03-16', end: '2026-03-22' } });

  const mail = await mailbox.next();
  t.deepEqual(mail.envelopeTo.sort(), ['lead@example.test', 'ops@example.test']);
  t.is(mail.from?.value[0]?.address, 'collector@example.test');
  t.is(mail.subject, 'TimeTracker telemetry: weekly report 2026-03-16 – 2026-03-22');
  const text = mail.text ?? '';
  const html = String(mail.html);
  t.true(text.includes(`Installations: ${overview.total}`), text);
  t.true(text.includes(`Active (7 days): ${overview.active_7d}`));
  t.true(text.includes(`Active (30 days): ${overview.active_30d}`));
  t.true(text.includes(`Growth (7 days): ${overview.growth_7d_percent} %`));
  t.is(overview.total, 11);
  t.is(overview.active_7d, 5);
  // The HTML cards carry the same values.
  const card = (key: string) => new RegExp(`data-card="${key}">.*?<div[^>]*>[^<]*</div><div[^>]*>([^<]*)</div>`, 's').exec(html)?.[1];
  t.is(card('total'), String(overview.total));
  t.is(card('active_7d'), String(overview.active_7d));
  t.is(card('active_30d'), String(overview.active_30d));
  // Anomalies: the error rate of last week (5 of 5 installations) is high.
  t.true(anomalies.some((a: { rule: string }) => a.rule === 'high_error_rate'));
  for (const a of anomalies) {
    t.true(text.includes(a.title), a.title);
    t.true(html.includes(`data-anomaly="${a.rule}"`));
  }
  // Top versions of the week's active installations (k-protected), and no monthly sections.
  t.regex(text, /Top versions\n {2}3\.2\.0: 5 \(100 %\)\n\n/);
  t.deepEqual((await c.adminJson('/stats/versions?window=7')).versions, [{ version: '3.2.0', installations: 5, percent: 100 }]);
  t.false(text.includes('Geography'));
  // Errors by version × deployment mode over the week (HTML + text): all five 3.2.0 docker installs reported errors.
  t.regex(text, /Errors by version and deployment mode \(last 7 days\)\n {2}3\.2\.0 \/ docker: 5 of 5 installations with errors \(100 %\)\n\n/);
  t.regex(html, /data-version="3\.2\.0" data-mode="docker"><td>3\.2\.0<\/td><td>docker<\/td><td align="right">5<\/td><td align="right">5<\/td><td align="right">100 %<\/td>/);
  t.false(html.includes('<script'), 'no script in the e-mail');
});

testEachDatabase('the monthly report adds deployment, geography and features', async (t, db) => {
  const mailbox = await smtpServer(t);
  const c = await startCollector(t, db, { smtp: smtpOptions(mailbox.port), reportRecipients: ['ops@example.test'] });
  checkCollectorAnswers(t, c.url);
  await seed(c);
  c.clock.set('2026-04-01T08:00:00Z');
  const sent = await (await c.admin('/reports/monthly', { method: 'POST' })).json();
  t.like(sent, { sent: true, kind: 'monthly', period: { start: '2026-03-01', end: '2026-03-31' } });
  const mail = await mailbox.next();
  const text = mail.text ?? '';
  t.regex(mail.subject ?? '', /monthly report 2026-03-01 – 2026-03-31/);
  for (const section of ['Top versions', 'Deployment modes', 'Geography', 'Feature adoption']) {
    t.true(text.includes(section), section);
    t.true(String(mail.html).includes(section), section);
  }
  t.regex(text, /Deployment modes\n {2}native: 6 \(54\.5 %\)\n {2}docker: 5 \(45\.5 %\)/);
  t.regex(text, /Geography\n {2}NL: 11 \(100 %\)/);
  t.regex(text, /Feature adoption\n {2}sso: 6 \(54\.5 %\)/);
  t.regex(text, /Errors by version and deployment mode \(last 30 days\)\n {2}3\.1\.0 \/ native: 0 of 6 installations with errors \(0 %\)\n {2}3\.2\.0 \/ docker: 5 of 5 installations with errors \(100 %\)/);
  const overview = await c.adminJson('/stats/overview');
  t.true(text.includes(`Installations: ${overview.total}`));
});

testEachDatabase('test e-mail, email-status, and clear errors when SMTP is missing or down', async (t, db) => {
  const mailbox = await smtpServer(t);
  const c = await startCollector(t, db, { smtp: smtpOptions(mailbox.port), reportRecipients: ['ops@example.test'] });
  checkCollectorAnswers(t, c.url);
  const tested = await c.admin('/reports/test-email', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: 'someone@example.test' }) });
  t.is(tested.status, 200);
  t.like(await tested.json(), { sent: true, kind: 'test', recipients: ['someone@example.test'] });
  const mail = await mailbox.next();
  t.regex(mail.subject ?? '', /test e-mail/);
  t.deepEqual(mail.envelopeTo, ['someone@example.test']);
  t.is((await c.admin('/reports/test-email', { method: 'POST' })).status, 200, 'no body: the configured recipients');
  t.deepEqual((await mailbox.next()).envelopeTo, ['ops@example.test']);
  const invalid = await c.admin('/reports/test-email', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: 'not an address' }) });
  t.is(invalid.status, 422);

  const status = await c.adminJson('/reports/email-status');
  t.like(status, { configured: true, recipients: ['ops@example.test'], smtp: { host: '127.0.0.1', port: mailbox.port, secure: false, auth: false }, last_error: null });
  t.is(status.recent.length, 2);
  t.like(status.recent[0], { kind: 'test', trigger: 'manual', status: 'sent' });
  t.false(JSON.stringify(status).includes('pass'), 'no password field at all');

  // SMTP down: 502 with the reason, logged as failed.
  const down = await startCollector(t, await fresh(t, db.kind), { smtp: { host: '127.0.0.1', port: 1 }, reportRecipients: ['ops@example.test'] });
  checkCollectorAnswers(t, down.url);
  const failed = await down.admin('/reports/weekly', { method: 'POST' });
  t.is(failed.status, 502);
  t.is((await failed.json()).error.code, 'email_failed');
  const downStatus = await down.adminJson('/reports/email-status');
  t.like(downStatus.recent[0], { kind: 'weekly', status: 'failed' });
  t.truthy(downStatus.last_error);

  // Not configured: 409, and the status says so.
  const none = await startCollector(t, await fresh(t, db.kind));
  checkCollectorAnswers(t, none.url);
  const notConfigured = await none.admin('/reports/weekly', { method: 'POST' });
  t.is(notConfigured.status, 409);
  t.is((await notConfigured.json()).error.code, 'email_not_configured');
  t.like(await none.adminJson('/reports/email-status'), { configured: false, smtp: { host: null } });
  t.is((await fetch(`${none.url}/reports/email-status`)).status, 401, 'admin only');
});

testEachDatabase('a scheduled report is sent once per period even by two collector instances on one database', async (t, db) => {
  const mailbox = await smtpServer(t);
  const options = { smtp: smtpOptions(mailbox.port), reportRecipients: ['ops@example.test'] };
  const a = await startCollector(t, db, options);
  checkCollectorAnswers(t, a.url);
  await seed(a);
  const b = await startCollector(t, db, { ...options, clock: a.clock });
  checkCollectorAnswers(t, b.url);
  await Promise.all([a.handle.collector.reports.scheduled('weekly'), b.handle.collector.reports.scheduled('weekly'), a.handle.collector.reports.scheduled('weekly')]);
  await mailbox.next();
  await new Promise((r) => setTimeout(r, 300));
  t.is(mailbox.mails.length, 1);
  const log = await db.knex('collector_report_log').select('kind', 'trigger', 'period_key', 'status');
  t.deepEqual(log, [{ kind: 'weekly', trigger: 'schedule', period_key: 'weekly:2026-03-23', status: 'sent' }]);
  // Unconfigured collectors skip quietly.
  const quiet = await startCollector(t, await fresh(t, db.kind));
  checkCollectorAnswers(t, quiet.url);
  await quiet.handle.collector.reports.scheduled('monthly');
  t.is((await quiet.adminJson('/reports/email-status')).recent.length, 0);
});

test('jobs: maintenance daily, weekly report Monday 08:00, monthly the 1st 08:00; stop() cancels them', async (t) => {
  const db = await createTestDatabase('sqlite');
  t.teardown(() => db.cleanup());
  const c = await startCollector(t, db, { jobs: true });
  checkCollectorAnswers(t, c.url);
  const jobs = c.handle.collector.scheduler.list();
  t.deepEqual(jobs.map((j) => j.name).sort(), [MAINTENANCE_JOB, MONTHLY_REPORT_JOB, WEEKLY_REPORT_JOB].sort());
  const weekly = new Date(jobs.find((j) => j.name === WEEKLY_REPORT_JOB)!.nextRunAt!);
  t.is(weekly.getDay(), 1);
  t.is(weekly.getHours(), 8);
  t.is(weekly.getMinutes(), 0);
  const monthly = new Date(jobs.find((j) => j.name === MONTHLY_REPORT_JOB)!.nextRunAt!);
  t.is(monthly.getDate(), 1);
  t.is(monthly.getHours(), 8);
  t.is(weeklyRule().nextInvocationDate(new Date(2026, 2, 18, 12))?.toString(), new Date(2026, 2, 23, 8).toString());
  t.is(monthlyRule().nextInvocationDate(new Date(2026, 2, 18, 12))?.toString(), new Date(2026, 3, 1, 8).toString());
  const status = await c.adminJson('/reports/email-status');
  t.is(status.schedule.weekly, weekly.toISOString());
  await c.close();
  t.deepEqual(c.handle.collector.scheduler.list(), []);
});

test('renderReport escapes everything it prints into the HTML', (t) => {
  const rendered = renderReport({
    kind: 'weekly',
    title: '<script>alert(1)</script>',
    period: { start: '2026-03-16', end: '2026-03-22' },
    overview: { generated_at: 'x', total: 1, active_7d: 1, active_30d: 1, growth_7d_percent: null, new_7d: 0, submissions_today: 0, submissions_7d: 0 },
    anomalies: [],
    sections: [{ key: 'versions', title: 'Top versions', column: 'Version', rows: [{ label: '<img src=x onerror=alert(1)>', installations: 5, percent: 100 }] }],
    errorsByVersionMode: {
      window_days: 7,
      active: 5,
      k_threshold: 5,
      installations_with_errors: 1,
      error_rate_percent: 20,
      rows: [{ version: '<b>1.0</b>', mode: 'docker', installations: 5, installations_with_errors: 1, errors: 3, error_rate_percent: 20 }],
    },
    kThreshold: 5,
  });
  t.false(rendered.html.includes('<b>1.0</b>'));
  t.false(rendered.html.includes('<script>alert'));
  t.false(rendered.html.includes('<img src=x'));
  t.true(rendered.html.includes('&lt;img src=x'));
  t.true(rendered.text.includes('Growth (7 days): –'));
});

async function fresh(t: ExecutionContext, kind: 'sqlite' | 'postgres') {
  const db = await createTestDatabase(kind);
  t.teardown(() => db.cleanup());
  return db;
}

void ADMIN_TOKEN;
