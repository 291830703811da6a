// Anomaly rules (docs/collector.md), evaluated on rollup numbers. Pure: the stats service gathers the numbers.
//
// - Active installations, last complete ISO week vs the week before: drop > 20 % medium, > 50 % high;
//   spike > 50 % info.
// - Submission volume, the last complete UTC day vs the mean of the 30 days before it: spike when
//   above 3 × the mean (medium), drop when below 0.2 × the mean while the mean is above 5 (high).
// - Reported errors, last complete week vs the week before: increase > 50 % medium, > 100 % high.
// - Error rate, share of the last complete week's active installations that reported errors:
//   > 30 % medium, > 50 % high.
// Comparisons are done in integers (× 100), so a value exactly at a threshold never triggers.

export type Severity = 'info' | 'medium' | 'high';

export type AnomalyRule =
  | 'active_installs_drop'
  | 'active_installs_spike'
  | 'submission_volume_spike'
  | 'submission_volume_drop'
  | 'error_spike'
  | 'high_error_rate';

export interface Anomaly {
  rule: AnomalyRule;
  severity: Severity;
  title: string;
  message: string;
  current: number;
  baseline: number;
  /** Change against the baseline in percent (or, for the error rate, the rate itself). */
  change_percent: number;
  period: { start: string; end: string };
}

export interface AnomalyInput {
  lastWeek: { start: string; end: string; activeInstalls: number; errors: number; errorInstallations: number };
  previousWeek: { start: string; end: string; activeInstalls: number; errors: number };
  /** Submissions of the last complete day, and per day of the 30 days before it (missing days = 0). */
  day: { date: string; submissions: number };
  previousDays: { start: string; end: string; submissions: number[] };
}

const round1 = (value: number) => Math.round(value * 10) / 10;
const changePercent = (current: number, baseline: number) => round1(((current - baseline) / baseline) * 100);
const SEVERITY_ORDER: Record<Severity, number> = { high: 0, medium: 1, info: 2 };

export function evaluateAnomalies(input: AnomalyInput): Anomaly[] {
  const found: Anomaly[] = [];
  const { lastWeek, previousWeek, day, previousDays } = input;
  const weekPeriod = { start: lastWeek.start, end: lastWeek.end };

  // Active installations week over week.
  const cur = lastWeek.activeInstalls;
  const prev = previousWeek.activeInstalls;
  if (prev > 0) {
    const dropTimes100 = (prev - cur) * 100;
    if (dropTimes100 > 50 * prev || dropTimes100 > 20 * prev) {
      const severity: Severity = dropTimes100 > 50 * prev ? 'high' : 'medium';
      found.push({
        rule: 'active_installs_drop',
        severity,
        title: 'Active installations dropped',
        message: `Active installations fell from ${prev} to ${cur} (${changePercent(cur, prev)} %) week over week.`,
        current: cur,
        baseline: prev,
        change_percent: changePercent(cur, prev),
        period: weekPeriod,
      });
    } else if ((cur - prev) * 100 > 50 * prev) {
      found.push({
        rule: 'active_installs_spike',
        severity: 'info',
        title: 'Active installations jumped',
        message: `Active installations rose from ${prev} to ${cur} (+${changePercent(cur, prev)} %) week over week.`,
        current: cur,
        baseline: prev,
        change_percent: changePercent(cur, prev),
        period: weekPeriod,
      });
    }
  }

  // Submission volume against the 30-day daily mean (computed as sum / 30 without rounding).
  const days = previousDays.submissions.length || 1;
  const sum = previousDays.submissions.reduce((a, b) => a + b, 0);
  const mean = sum / days;
  const dayPeriod = { start: day.date, end: day.date };
  if (sum > 0 && day.submissions * days > 3 * sum) {
    found.push({
      rule: 'submission_volume_spike',
      severity: 'medium',
      title: 'Submission volume spike',
      message: `${day.submissions} submissions on ${day.date}, more than 3 × the 30-day daily mean of ${round1(mean)}.`,
      current: day.submissions,
      baseline: round1(mean),
      change_percent: changePercent(day.submissions, mean),
      period: dayPeriod,
    });
  } else if (sum > 5 * days && day.submissions * days * 10 < 2 * sum) {
    found.push({
      rule: 'submission_volume_drop',
      severity: 'high',
      title: 'Submission volume drop',
      message: `${day.submissions} submissions on ${day.date}, less than 0.2 × the 30-day daily mean of ${round1(mean)}.`,
      current: day.submissions,
      baseline: round1(mean),
      change_percent: changePercent(day.submissions, mean),
      period: dayPeriod,
    });
  }

  // Reported errors week over week.
  if (previousWeek.errors > 0) {
    const rise = (lastWeek.errors - previousWeek.errors) * 100;
    if (rise > 50 * previousWeek.errors) {
      found.push({
        rule: 'error_spike',
        severity: rise > 100 * previousWeek.errors ? 'high' : 'medium',
        title: 'Error spike',
        message: `Reported errors rose from ${previousWeek.errors} to ${lastWeek.errors} (+${changePercent(lastWeek.errors, previousWeek.errors)} %) week over week.`,
        current: lastWeek.errors,
        baseline: previousWeek.errors,
        change_percent: changePercent(lastWeek.errors, previousWeek.errors),
        period: weekPeriod,
      });
    }
  }

  // Share of active installations reporting errors.
  if (lastWeek.activeInstalls > 0) {
    const shareTimes100 = lastWeek.errorInstallations * 100;
    if (shareTimes100 > 30 * lastWeek.activeInstalls) {
      const rate = round1((lastWeek.errorInstallations / lastWeek.activeInstalls) * 100);
      found.push({
        rule: 'high_error_rate',
        severity: shareTimes100 > 50 * lastWeek.activeInstalls ? 'high' : 'medium',
        title: 'High error rate',
        message: `${lastWeek.errorInstallations} of ${lastWeek.activeInstalls} active installations (${rate} %) reported errors.`,
        current: lastWeek.errorInstallations,
        baseline: lastWeek.activeInstalls,
        change_percent: rate,
        period: weekPeriod,
      });
    }
  }

  return found.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
}
