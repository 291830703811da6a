// E-mail reports: weekly and monthly summaries over SMTP (nodemailer), a test e-mail, and the
// status an admin sees. Scheduled runs claim their period in the report log first, so several
// collector processes on one database send each scheduled report once.
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from '../../core/logging.js';
import { describeError } from '../../core/logging.js';
import { HttpError } from '../../core/http-errors.js';
import type { FleetStatsService, BreakdownRows } from '../analytics/stats.js';
import type { InsightsService } from '../analytics/insights.js';
import type { ReportLogRepository, ReportLogEntry, ReportTrigger } from '../storage/report-log.js';
import { addDays, monthStart, weekStart } from '../analytics/time.js';
import { renderReport, type ReportData, type ReportRow, type ReportSection } from './render.js';
import type { CollectorMetrics } from '../metrics.js';

export type ReportKindName = 'weekly' | 'monthly';

export interface SmtpSettings {
  host: string | null;
  port: number;
  secure: boolean;
  user: string | null;
  pass: string | null;
  from: string;
  allowInvalidCertificates: boolean;
}

export interface SendResult {
  sent: true;
  kind: ReportKindName | 'test';
  recipients: string[];
  message_id: string | null;
  period?: { start: string; end: string };
}

export interface ReportServiceOptions {
  stats: FleetStatsService;
  insights: InsightsService;
  log: ReportLogRepository;
  smtp: SmtpSettings;
  recipients: string[];
  title: string;
  metrics: CollectorMetrics;
  logger: Logger;
  now: () => Date;
  nextRuns: () => { weekly: string | null; monthly: string | null };
}

const TOP_ROWS = 10;

function rows<K extends string>(list: BreakdownRows<K>, key: K): ReportRow[] {
  return list.slice(0, TOP_ROWS).map((r) => ({ label: r.other ? 'other' : String(r[key]), installations: r.installations, percent: r.percent }));
}

export class ReportService {
  #transport: Transporter | null = null;

  constructor(private readonly options: ReportServiceOptions) {}

  get configured(): boolean {
    return this.options.smtp.host !== null && this.options.recipients.length > 0;
  }

  #transporter(): Transporter {
    const { smtp } = this.options;
    if (!smtp.host) throw new HttpError(409, 'email_not_configured', 'No SMTP server is configured (SMTP_HOST).');
    this.#transport ??= nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure,
      auth: smtp.user && smtp.pass ? { user: smtp.user, pass: smtp.pass } : undefined,
      tls: { rejectUnauthorized: !smtp.allowInvalidCertificates },
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    });
    return this.#transport;
  }

  /** The data of a report as of now: the same numbers as the /stats endpoints. */
  async build(kind: ReportKindName): Promise<ReportData> {
    const { stats } = this.options;
    const now = this.options.now();
    const windowDays = kind === 'weekly' ? 7 : 30;
    // The period a report covers: the last complete ISO week, or the last complete calendar month.
    const previousMonthEnd = addDays(monthStart(now), -1);
    const period =
      kind === 'weekly'
        ? { start: addDays(weekStart(now), -7), end: addDays(weekStart(now), -1) }
        : { start: `${previousMonthEnd.slice(0, 7)}-01`, end: previousMonthEnd };
    const [overview, anomalies, versions, errorsByVersionMode] = await Promise.all([
      stats.overview(),
      stats.anomalies(),
      stats.versions(windowDays),
      this.options.insights.errorsByVersionMode(windowDays),
    ]);
    const sections: ReportSection[] = [{ key: 'versions', title: 'Top versions', column: 'Version', rows: rows(versions.versions, 'version') }];
    if (kind === 'monthly') {
      const [deployment, geography, features] = await Promise.all([stats.deploymentModes(windowDays), stats.geography(windowDays), stats.features(windowDays)]);
      sections.push(
        { key: 'deployment', title: 'Deployment modes', column: 'Mode', rows: rows(deployment.modes, 'mode') },
        { key: 'geography', title: 'Geography', column: 'Country', rows: rows(geography.countries, 'country') },
        { key: 'features', title: 'Feature adoption', column: 'Feature', rows: rows(features.features, 'feature') },
      );
    }
    return { kind, title: this.options.title, period, overview, anomalies: anomalies.anomalies, sections, errorsByVersionMode, kThreshold: stats.kThreshold };
  }

  async send(kind: ReportKindName, trigger: ReportTrigger = 'manual', periodKey: string | null = null): Promise<SendResult | null> {
    const recipients = this.options.recipients;
    if (recipients.length === 0) throw new HttpError(409, 'email_not_configured', 'No report recipients are configured (COLLECTOR_REPORT_RECIPIENTS).');
    const transport = this.#transporter();
    const logId = await this.options.log.start(kind, trigger, recipients, this.options.now(), periodKey);
    if (logId === null) return null; // another process claimed this scheduled run
    try {
      const data = await this.build(kind);
      const rendered = renderReport(data);
      const info = await transport.sendMail({ from: this.options.smtp.from, to: recipients, subject: rendered.subject, text: rendered.text, html: rendered.html });
      await this.options.log.finish(logId, 'sent', this.options.now(), { messageId: info.messageId ?? null });
      this.options.metrics.reports.inc({ kind, outcome: 'sent' });
      return { sent: true, kind, recipients, message_id: info.messageId ?? null, period: data.period };
    } catch (err) {
      const message = describeError(err);
      await this.options.log.finish(logId, 'failed', this.options.now(), { error: message }).catch(() => undefined);
      this.options.metrics.reports.inc({ kind, outcome: 'failed' });
      if (err instanceof HttpError) throw err;
      throw new HttpError(502, 'email_failed', `The report could not be sent: ${message}`);
    }
  }

  /** A short test message to `to` (or the configured recipients). */
  async sendTest(to?: string[]): Promise<SendResult> {
    const recipients = to && to.length > 0 ? to : this.options.recipients;
    if (recipients.length === 0) throw new HttpError(409, 'email_not_configured', 'No recipients: configure COLLECTOR_REPORT_RECIPIENTS or pass {"to": ["…"]}.');
    const transport = this.#transporter();
    const now = this.options.now();
    const logId = (await this.options.log.start('test', 'manual', recipients, now))!;
    try {
      const info = await transport.sendMail({
        from: this.options.smtp.from,
        to: recipients,
        subject: `${this.options.title}: test e-mail`,
        text: `This is a test e-mail from the koa-consent-telemetry collector, sent ${now.toISOString()}.\nReports will reach this address.\n`,
        html: `<p>This is a test e-mail from the koa-consent-telemetry collector, sent ${now.toISOString()}.</p><p>Reports will reach this address.</p>`,
      });
      await this.options.log.finish(logId, 'sent', this.options.now(), { messageId: info.messageId ?? null });
      this.options.metrics.reports.inc({ kind: 'test', outcome: 'sent' });
      return { sent: true, kind: 'test', recipients, message_id: info.messageId ?? null };
    } catch (err) {
      const message = describeError(err);
      await this.options.log.finish(logId, 'failed', this.options.now(), { error: message }).catch(() => undefined);
      this.options.metrics.reports.inc({ kind: 'test', outcome: 'failed' });
      throw new HttpError(502, 'email_failed', `The test e-mail could not be sent: ${message}`);
    }
  }

  /** The scheduled job: sends once per period across all processes; skips quietly when unconfigured. */
  async scheduled(kind: ReportKindName): Promise<void> {
    if (!this.configured) {
      this.options.logger.debug(`collector ${kind} report skipped: SMTP or recipients not configured`);
      return;
    }
    const now = this.options.now();
    const periodKey = kind === 'weekly' ? `weekly:${weekStart(now)}` : `monthly:${monthStart(now)}`;
    const result = await this.send(kind, 'schedule', periodKey);
    if (result) this.options.logger.info(`collector ${kind} report sent to ${result.recipients.length} recipient(s)`);
  }

  async status(): Promise<{
    configured: boolean;
    smtp: { host: string | null; port: number; secure: boolean; auth: boolean; from: string };
    recipients: string[];
    schedule: { weekly: string | null; monthly: string | null };
    recent: ReportLogEntry[];
    last_error: string | null;
  }> {
    const { smtp } = this.options;
    const recent = await this.options.log.recent(10);
    return {
      configured: this.configured,
      smtp: { host: smtp.host, port: smtp.port, secure: smtp.secure, auth: smtp.user !== null, from: smtp.from },
      recipients: this.options.recipients,
      schedule: this.options.nextRuns(),
      recent,
      last_error: recent.find((r) => r.status === 'failed')?.error ?? null,
    };
  }

  close(): void {
    this.#transport?.close();
    this.#transport = null;
  }
}
