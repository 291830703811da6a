// The time tracker's own pages and form handlers.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { HostRepository, HostUser, EntryRow } from './db.js';
import { HOST_LANGUAGES, toHostUser, type HostLanguage } from './db.js';
import { verifyPassword } from './security.js';
import {
  addDays,
  csvRow,
  daysBetween,
  formatDateInput,
  formatDateTime,
  formatDuration,
  parseDateInput,
  startOfDay,
  startOfWeek,
} from './time.js';
import {
  currentUser,
  field,
  requireAdmin,
  requireCsrf,
  requireUser,
  rotateCsrfToken,
  safeNext,
  sessionOf,
  setFlash,
  wantsJson,
  type Renderer,
} from './web.js';

export interface RouteDeps {
  repo: HostRepository;
  render: Renderer;
  now: () => Date;
}

const MAX_REPORT_DAYS = 366;

function user(ctx: Context): HostUser {
  const u = currentUser(ctx);
  if (!u) ctx.throw(401);
  return u;
}

function sourceOf(ctx: Context): 'web' | 'api' {
  return ctx.request.is('application/json') ? 'api' : 'web';
}

function durationMs(entry: EntryRow, now: Date): number {
  return (entry.ended_at ?? now.getTime()) - entry.started_at;
}

/** POST handlers answer JSON clients with JSON and browsers with a redirect (303 See Other). */
function done(ctx: Context, location: string, json: Record<string, unknown>, status = 200): void {
  if (wantsJson(ctx)) {
    ctx.status = status;
    ctx.body = json;
  } else {
    ctx.status = 303;
    ctx.redirect(location);
  }
}

function fail(ctx: Context, location: string, status: number, message: string): void {
  if (wantsJson(ctx)) {
    ctx.status = status;
    ctx.body = { error: { code: 'invalid', message } };
  } else {
    setFlash(ctx, 'error', message);
    ctx.status = 303;
    ctx.redirect(location);
  }
}

/**
 * SUPPORT HOOK — report generated.
 * Called whenever the user produces a report (CSV export, or a report page for a custom range):
 * bumps the per-user `reports_generated` counter and queues the `after_report` soft prompt.
 * It never rejects, so a telemetry problem cannot break the export.
 */
async function onReportGenerated(ctx: Context): Promise<void> {
  await ctx.telemetry.support.reportGenerated();
}

interface ReportRange {
  from: Date; // inclusive, local midnight
  to: Date; // inclusive calendar day, local midnight
  custom: boolean;
}

function reportRange(ctx: Context, u: HostUser, now: Date): ReportRange {
  const qFrom = ctx.query.from;
  const qTo = ctx.query.to;
  if (qFrom === undefined && qTo === undefined) {
    return { from: startOfWeek(now, u.weekStart), to: startOfDay(now), custom: false };
  }
  let from = parseDateInput(qFrom);
  let to = parseDateInput(qTo);
  if (!from || !to) ctx.throw(400, 'Dates must look like 2025-03-31.');
  if (to < from) [from, to] = [to, from];
  if (daysBetween(from, addDays(to, 1)) > MAX_REPORT_DAYS) ctx.throw(400, `A report covers at most ${MAX_REPORT_DAYS} days.`);
  return { from, to, custom: true };
}

export function hostRoutes({ repo, render, now }: RouteDeps): Router {
  const router = new Router();

  // ---------------------------------------------------------------- auth
  router.get('/login', async (ctx) => {
    if (currentUser(ctx)) return ctx.redirect('/');
    await render(ctx, 'login.njk', { pageTitle: 'Sign in', next: safeNext(ctx.query.next) });
  });

  // Not CSRF-protected on purpose: there is no session to ride yet, and it is credential-checked.
  router.post('/login', async (ctx) => {
    const username = field(ctx, 'username');
    const password = field(ctx, 'password');
    const next = safeNext(field(ctx, 'next'));
    const row = username && username.length <= 64 ? await repo.userRowByName(username) : null;
    const ok = await verifyPassword(password, row?.password_hash);
    if (!row || !ok) {
      ctx.telemetry.track('auth.login_failed', { method: 'password' });
      ctx.status = 401;
      if (wantsJson(ctx)) {
        ctx.body = { error: { code: 'invalid_credentials', message: 'Wrong username or password.' } };
        return;
      }
      await render(ctx, 'login.njk', { pageTitle: 'Sign in', error: 'Wrong username or password.', username, next });
      ctx.status = 401;
      return;
    }
    const signedIn = toHostUser(row);
    const session = sessionOf(ctx);
    session.userId = signedIn.id;
    rotateCsrfToken(ctx);
    ctx.state.user = signedIn; // so the plugin's getUser sees who just signed in
    ctx.telemetry.track('auth.login', { method: 'password' });
    ctx.status = 303;
    ctx.redirect(next);
  });

  router.post('/logout', requireCsrf, async (ctx) => {
    if (currentUser(ctx)) ctx.telemetry.track('auth.logout', { method: 'password' });
    (ctx as unknown as { session: null }).session = null;
    ctx.status = 303;
    ctx.redirect('/login');
  });

  // ---------------------------------------------------------------- dashboard
  router.get('/', requireUser, async (ctx) => {
    const u = user(ctx);
    const at = now();
    const today = startOfDay(at);
    const weekFrom = startOfWeek(at, u.weekStart);
    const [running, recent, projects, todayEntries, weekEntries] = await Promise.all([
      repo.runningEntry(u.id),
      repo.recentEntries(u.id, 8),
      repo.listProjects(),
      repo.entriesBetween(u.id, today, addDays(today, 1)),
      repo.entriesBetween(u.id, weekFrom, addDays(today, 1)),
    ]);
    const sum = (list: EntryRow[]) => list.reduce((acc, e) => acc + durationMs(e, at), 0);
    await render(ctx, 'dashboard.njk', {
      pageTitle: 'Dashboard',
      running: running && {
        ...running,
        startedLabel: formatDateTime(running.started_at),
        elapsed: formatDuration(durationMs(running, at)),
      },
      projects,
      todayTotal: formatDuration(sum(todayEntries), u.durationFormat),
      weekTotal: formatDuration(sum(weekEntries), u.durationFormat),
      todayCount: todayEntries.length,
      recent: recent.map((e) => ({
        ...e,
        startedLabel: formatDateTime(e.started_at),
        isRunning: e.ended_at === null,
        duration: formatDuration(durationMs(e, at), u.durationFormat),
      })),
      nowMs: at.getTime(),
    });
  });

  // ---------------------------------------------------------------- projects
  router.get('/projects', requireUser, async (ctx) => {
    const u = user(ctx);
    const [projects, totals] = await Promise.all([repo.listProjects(), repo.projectTotals(u.id)]);
    await render(ctx, 'projects.njk', {
      pageTitle: 'Projects',
      projects: projects.map((p) => ({ ...p, total: formatDuration(totals.get(p.id) ?? 0, u.durationFormat) })),
    });
  });

  router.post('/projects', requireUser, requireCsrf, async (ctx) => {
    const u = user(ctx);
    const name = field(ctx, 'name').replace(/\s+/g, ' ');
    if (!name || name.length > 80) return fail(ctx, '/projects', 400, 'A project name has 1 to 80 characters.');
    if (await repo.projectByName(name)) return fail(ctx, '/projects', 409, `A project called “${name}” already exists.`);
    const id = await repo.createProject(name, u.id, now());
    ctx.telemetry.track('project.created', { source: sourceOf(ctx) });
    setFlash(ctx, 'success', `Project “${name}” created.`);
    done(ctx, '/projects', { project: { id, name } }, 201);
  });

  // ---------------------------------------------------------------- timer
  router.post('/timer/start', requireUser, requireCsrf, async (ctx) => {
    const u = user(ctx);
    const projectId = Number(field(ctx, 'project_id') || field(ctx, 'projectId'));
    const project = Number.isInteger(projectId) && projectId > 0 ? await repo.projectById(projectId) : null;
    if (!project) return fail(ctx, '/', 400, 'Choose a project to start the timer.');
    const at = now();
    const source = sourceOf(ctx);
    const running = await repo.runningEntry(u.id);
    if (running) {
      // Starting another timer switches: the running one stops now.
      await repo.stopEntry(running.id, at);
      ctx.telemetry.track('timer.stopped', {
        source,
        reason: 'switched',
        duration_minutes: Math.round((at.getTime() - running.started_at) / 60000),
      });
    }
    const id = await repo.startEntry(u.id, project.id, at);
    ctx.telemetry.track('timer.started', { source });
    done(ctx, '/', { entry: { id, project_id: project.id, started_at: at.toISOString() } }, 201);
  });

  router.post('/timer/stop', requireUser, requireCsrf, async (ctx) => {
    const u = user(ctx);
    const running = await repo.runningEntry(u.id);
    if (!running) return fail(ctx, '/', 409, 'No timer is running.');
    const at = now();
    await repo.stopEntry(running.id, at);
    const minutes = Math.round((at.getTime() - running.started_at) / 60000);
    ctx.telemetry.track('timer.stopped', { source: sourceOf(ctx), duration_minutes: minutes });
    setFlash(ctx, 'success', `Stopped “${running.project_name}” after ${formatDuration(at.getTime() - running.started_at)}.`);
    done(ctx, '/', { entry: { id: running.id, duration_minutes: minutes } });
  });

  // ---------------------------------------------------------------- reports
  router.get('/reports', requireUser, async (ctx) => {
    const u = user(ctx);
    const at = now();
    const range = reportRange(ctx, u, at);
    const entries = (await repo.entriesBetween(u.id, range.from, addDays(range.to, 1))).filter((e) => e.ended_at !== null);
    const byProject = new Map<number, { name: string; ms: number; count: number }>();
    for (const e of entries) {
      const row = byProject.get(e.project_id) ?? { name: e.project_name, ms: 0, count: 0 };
      row.ms += durationMs(e, at);
      row.count += 1;
      byProject.set(e.project_id, row);
    }
    const totalMs = entries.reduce((acc, e) => acc + durationMs(e, at), 0);
    const rows = [...byProject.values()]
      .sort((a, b) => b.ms - a.ms || a.name.localeCompare(b.name))
      .map((r) => ({
        name: r.name,
        count: r.count,
        total: formatDuration(r.ms, u.durationFormat),
        share: totalMs > 0 ? Math.round((r.ms / totalMs) * 100) : 0,
      }));
    const today = startOfDay(at);
    const thisWeek = startOfWeek(at, u.weekStart);
    const monthStart = new Date(today.getFullYear(), today.getMonth(), 1);
    const q = (from: Date, to: Date) => `?from=${formatDateInput(from)}&to=${formatDateInput(to)}`;
    const fromStr = formatDateInput(range.from);
    const toStr = formatDateInput(range.to);
    if (range.custom) await onReportGenerated(ctx);
    ctx.telemetry.track('report.viewed', { range_days: daysBetween(range.from, addDays(range.to, 1)) });
    await render(ctx, 'reports.njk', {
      pageTitle: 'Reports',
      from: fromStr,
      to: toStr,
      rows,
      entryCount: entries.length,
      total: formatDuration(totalMs, u.durationFormat),
      exportUrl: `/reports/export.csv?from=${fromStr}&to=${toStr}`,
      presets: [
        { label: 'This week', query: q(thisWeek, today) },
        { label: 'Last week', query: q(addDays(thisWeek, -7), addDays(thisWeek, -1)) },
        { label: 'This month', query: q(monthStart, today) },
        { label: 'Last 30 days', query: q(addDays(today, -29), today) },
      ],
    });
  });

  router.get('/reports/export.csv', requireUser, async (ctx) => {
    const u = user(ctx);
    const at = now();
    const range = reportRange(ctx, u, at);
    const entries = (await repo.entriesBetween(u.id, range.from, addDays(range.to, 1))).filter((e) => e.ended_at !== null);
    let csv = csvRow(['date', 'project', 'start', 'end', 'duration_minutes']);
    for (const e of entries) {
      const start = formatDateTime(e.started_at);
      const end = formatDateTime(e.ended_at ?? at.getTime());
      csv += csvRow([start.slice(0, 10), e.project_name, start.slice(11), end, Math.round(durationMs(e, at) / 60000)]);
    }
    ctx.telemetry.track('report.exported', { format: 'csv' });
    await onReportGenerated(ctx);
    ctx.type = 'text/csv; charset=utf-8';
    ctx.attachment(`timetracker-${formatDateInput(range.from)}-to-${formatDateInput(range.to)}.csv`);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = csv;
  });

  // ---------------------------------------------------------------- settings
  router.get('/settings', requireUser, async (ctx) => {
    const u = user(ctx);
    await render(ctx, 'settings.njk', { pageTitle: 'Settings', entryCount: await repo.countEntries(u.id) });
  });

  router.post('/settings', requireUser, requireCsrf, async (ctx) => {
    const u = user(ctx);
    const weekStart = field(ctx, 'week_start');
    const durationFormat = field(ctx, 'duration_format');
    const language = field(ctx, 'language') || 'auto';
    if (!['monday', 'sunday'].includes(weekStart) || !['hm', 'decimal'].includes(durationFormat) || !['auto', ...HOST_LANGUAGES].includes(language)) {
      return fail(ctx, '/settings', 400, 'Choose one of the offered options.');
    }
    await repo.updatePreferences(u.id, { weekStart, durationFormat, language: language === 'auto' ? null : (language as HostLanguage) });
    ctx.telemetry.track('settings.updated', { week_start: weekStart, duration_format: durationFormat, language });
    setFlash(ctx, 'success', 'Preferences saved.');
    done(ctx, '/settings', { ok: true });
  });

  router.get('/admin/settings', requireAdmin, async (ctx) => {
    const [users, projects] = await Promise.all([repo.listUsers(), repo.listProjects()]);
    await render(ctx, 'admin_settings.njk', {
      pageTitle: 'Administration',
      users: users.map((x) => ({ ...x, since: formatDateInput(x.createdAt) })),
      projectCount: projects.length,
      nodeVersion: process.version,
    });
  });

  return router;
}
