// Weekly and monthly report e-mails: HTML (nunjucks, autoescaped) and plain text, built from the
// same numbers as /stats/overview, /stats/anomalies and the k-protected breakdowns.
import type { Overview } from '../analytics/stats.js';
import type { Anomaly } from '../analytics/anomalies.js';
import type { ErrorsByVersionMode } from '../analytics/insights.js';
import { EMAIL_TEMPLATES } from '../templates/pages.js';
import { templateEnvironment } from '../templates/environment.js';

export interface ReportRow {
  label: string;
  installations: number;
  percent: number | null;
}

export interface ReportSection {
  key: 'versions' | 'deployment' | 'geography' | 'features';
  title: string;
  column: string;
  rows: ReportRow[];
}

export interface ReportData {
  kind: 'weekly' | 'monthly';
  title: string;
  period: { start: string; end: string };
  overview: Overview;
  anomalies: Anomaly[];
  sections: ReportSection[];
  /** Error rate per version × deployment mode over the report's window (k-protected). */
  errorsByVersionMode: ErrorsByVersionMode;
  kThreshold: number;
}

export interface RenderedReport {
  subject: string;
  html: string;
  text: string;
}

const env = templateEnvironment(EMAIL_TEMPLATES);

export function reportCards(overview: Overview): { key: string; label: string; value: string }[] {
  return [
    { key: 'total', label: 'Installations', value: String(overview.total) },
    { key: 'active_7d', label: 'Active (7 days)', value: String(overview.active_7d) },
    { key: 'active_30d', label: 'Active (30 days)', value: String(overview.active_30d) },
    { key: 'growth', label: 'Growth (7 days)', value: overview.growth_7d_percent === null ? '–' : `${overview.growth_7d_percent} %` },
  ];
}

export function renderReport(data: ReportData): RenderedReport {
  const kindLabel = data.kind === 'weekly' ? 'Weekly' : 'Monthly';
  const periodLabel = `${data.period.start} – ${data.period.end}`;
  const subject = `${data.title}: ${kindLabel.toLowerCase()} report ${periodLabel}`;
  const cards = reportCards(data.overview);
  const html = env.render('report.njk', {
    subject,
    title: data.title,
    kindLabel,
    periodLabel,
    generatedAt: data.overview.generated_at,
    cards,
    anomalies: data.anomalies,
    sections: data.sections,
    errorsByVersionMode: data.errorsByVersionMode,
    kThreshold: data.kThreshold,
  });

  const lines: string[] = [];
  lines.push(`${data.title} — ${kindLabel} report`, periodLabel, `Generated ${data.overview.generated_at}`, '');
  for (const card of cards) lines.push(`${card.label}: ${card.value}`);
  lines.push('', 'Anomalies');
  if (data.anomalies.length === 0) lines.push('  No anomalies.');
  for (const a of data.anomalies) lines.push(`  [${a.severity}] ${a.title} — ${a.message}`);
  for (const section of data.sections) {
    lines.push('', section.title);
    if (section.rows.length === 0) lines.push('  No data.');
    for (const row of section.rows) lines.push(`  ${row.label}: ${row.installations}${row.percent === null ? '' : ` (${row.percent} %)`}`);
  }
  const matrix = data.errorsByVersionMode;
  lines.push('', `Errors by version and deployment mode (last ${matrix.window_days} days)`);
  if (matrix.rows.length === 0) lines.push('  No data.');
  for (const row of matrix.rows) {
    const rate = row.error_rate_percent === null ? '–' : `${row.error_rate_percent} %`;
    lines.push(`  ${row.version} / ${row.mode}: ${row.installations_with_errors} of ${row.installations} installations with errors (${rate})`);
  }
  lines.push('', `Counts only; groups under ${data.kThreshold} installations are shown as "other".`);
  return { subject, html, text: `${lines.join('\n')}\n` };
}
