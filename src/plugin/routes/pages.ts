// GET /telemetry/settings (Privacy & Analytics) and GET /telemetry/stats (local statistics viewer):
// admin pages rendered inside the host's layout when it gives one, the plugin's own otherwise.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { ResolvedOptions } from '../options.js';
import type { StatusReport } from '../status.js';
import type { StatsService } from '../stats/service.js';
import type { ConsentStore } from '../installation/consent.js';
import type { UserPrivacyStore } from '../installation/user-privacy.js';
import { currentUser, requireAdmin, requireUser } from '../middleware/auth.js';
import { TemplateState, type UserPrivacyView } from '../middleware/template-state.js';
import { ENGLISH, type Translator } from '../i18n/catalog.js';
import { HttpError } from '../../core/http-errors.js';
import { localizedError } from '../i18n/errors.js';
import { collected, neverCollected } from '../telemetry/event-catalog.js';
import { GUARD_REASONS, guardReasonLabel } from '../telemetry/privacy-guard.js';
import { killSwitchExplanation } from '../installation/kill-switch.js';
import { collectorProblemExplanation } from '../stats/submission-client.js';
import type { KillSwitchReason } from '../types.js';
import { describeError } from '../../core/logging.js';

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** The bundled privacy-policy template: docs/ sits two levels above src/routes and three above dist/src/routes. */
const POLICY_CANDIDATES = [new URL('../../../docs/privacy-policy.md', import.meta.url), new URL('../../../../docs/privacy-policy.md', import.meta.url)];
/** The request's translator (set up by the plugin's middleware; English when a test mounts the router alone). */
const translatorOf = (ctx: Context): Translator => (ctx.state.telemetry instanceof TemplateState ? ctx.state.telemetry.translator : ENGLISH);

/** The error page's sentence for a person: translated for the codes pages raise, else the error's own message. */
function pageErrorMessage(err: HttpError, onUserPage: boolean, tr: Translator): string {
  switch (err.code) {
    case 'unauthorized':
      return tr.t(onUserPage ? 'error.unauthorized' : 'error.unauthorized_admin');
    case 'forbidden':
      return tr.t('error.forbidden');
    case 'storage_unavailable':
      return tr.t('error.storage_unavailable');
    default:
      return err.message;
  }
}

export async function readPolicyTemplate(): Promise<string> {
  const found = POLICY_CANDIDATES.find((url) => existsSync(url));
  return found ? readFile(found, 'utf8') : 'The privacy policy template is not installed with this copy of the package.';
}

/** The settings page shows this many of the latest consent receipts; GET {api}/receipts pages through all. */
export const SETTINGS_HISTORY_LIMIT = 50;
/** Outbound ledger entries on the stats page at first, and per "Show more". */
export const OUTBOUND_PAGE_SIZE = 25;

/** What the pages need: storage readiness, the status, the statistics, receipts and a renderer. */
export interface PagesPort {
  ready(): Promise<void>;
  status(): StatusReport;
  stats: Pick<StatsService, 'local' | 'ledger' | 'outboundLedger'>;
  /** The installation's consent receipts. */
  receipts: ConsentStore['receipts'];
  /** A signed-in user's own consent receipts, newest first. */
  userHistory: UserPrivacyStore['history'];
  /** The request's view of the signed-in user's own choice (null when signed out). */
  privacyView(ctx: Context): UserPrivacyView | null;
  render(template: string, context: Record<string, unknown>): Promise<string>;
}

export function pagesRouter(options: ResolvedOptions, port: PagesPort): Router {
  const router = new Router({ prefix: options.mountPath.pages });

  const render = async (ctx: Context, template: string, data: Record<string, unknown>, status = 200) => {
    let hostContext: Record<string, unknown> = {};
    try {
      hostContext = (await options.pages.context(ctx)) ?? {};
    } catch (err) {
      options.logger.warn({ err: describeError(err) }, 'pages.context(ctx) failed; rendering without it');
    }
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await port.render(template, { ...ctx.state, ...hostContext, ...data });
  };

  const mePath = `${options.mountPath.pages}/me`;
  // A browser asking for a page gets an HTML error page (its text in the reader's language; the
  // code stays as it is); API clients keep the JSON error.
  router.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (!(err instanceof HttpError) || !ctx.accepts('html') || ctx.accepts('json', 'html') === 'json') throw err;
      const tr = translatorOf(ctx);
      await render(ctx, 'telemetry/error.njk', { pageTitle: tr.t('error.page_title'), error: err, message: pageErrorMessage(err, ctx.path === mePath, tr) }, err.status);
    }
  });
  // Deny by default: every page names its guard; only /me is open to any signed-in user.
  const admin = requireAdmin(options.getUser, options.isAdmin);

  // The signed-in user's own privacy page: their choice about detailed analytics, and what stays local.
  router.get('/me', requireUser(options.getUser), async (ctx) => {
    try {
      await port.ready();
    } catch {
      throw localizedError(503, 'storage_unavailable', 'error.storage_unavailable');
    }
    const user = currentUser(ctx, options.getUser)!;
    const history = await port.userHistory(user.id, SETTINGS_HISTORY_LIMIT).catch(() => null);
    await render(ctx, 'telemetry/me.njk', { pageTitle: translatorOf(ctx).t('privacy.title'), me: port.privacyView(ctx), history, appName: ctx.state.appName ?? options.appName });
  });

  router.get('/settings', admin, async (ctx) => {
    const started = await port.ready().then(() => true, () => false);
    const status = port.status();
    const history = started ? await port.receipts({ scope: 'installation', limit: SETTINGS_HISTORY_LIMIT }).catch(() => null) : null;
    const tr = translatorOf(ctx);
    const problem = status.collector.problem;
    await render(ctx, 'telemetry/settings.njk', {
      pageTitle: tr.t('admin.settings_title'),
      status,
      appName: ctx.state.appName ?? options.appName,
      killSwitchExplanation: status.kill_switch.reason ? killSwitchExplanation(status.kill_switch.reason as KillSwitchReason, tr) : null,
      // The stored explanation is English (installation.json, /status); the page shows the reader's.
      collectorProblemExplanation: problem ? (collectorProblemExplanation(problem.code, tr) ?? problem.explanation) : null,
      collected: collected(tr),
      neverCollected: neverCollected(tr),
      // Only the reasons that happened, most frequent first.
      guardReasons: GUARD_REASONS.map((reason) => ({ reason, count: status.privacy_guard.by_reason[reason] ?? 0, label: guardReasonLabel(reason, tr) }))
        .filter((row) => row.count > 0)
        .sort((a, b) => b.count - a.count),
      privacyPolicyUrl: options.privacyPolicyUrl ?? `${options.mountPath.pages}/privacy-policy`,
      privacyPolicyIsTemplate: options.privacyPolicyUrl === null,
      collectorConfigured: options.collector.url !== null,
      otlpConfigured: options.otlp.endpoint !== null,
      history,
    });
  });

  // The bundled template, shown to admins until the host publishes its own (privacyPolicyUrl).
  router.get('/privacy-policy', admin, async (ctx) => {
    const tr = translatorOf(ctx);
    await render(ctx, 'telemetry/privacy-policy.njk', {
      pageTitle: tr.t('policy.title'),
      policy: await readPolicyTemplate(),
      policyInOtherLanguage: tr.locale !== 'en',
      publicInsightsUrl: options.collector.publicInsightsUrl,
    });
  });

  router.get('/stats', admin, async (ctx) => {
    try {
      await port.ready();
    } catch {
      throw localizedError(503, 'storage_unavailable', 'error.storage_unavailable');
    }
    const [local, ledger, outbound] = await Promise.all([port.stats.local(), port.stats.ledger(50, 0), port.stats.outboundLedger(OUTBOUND_PAGE_SIZE, 0)]);
    const tr = translatorOf(ctx);
    const problem = local.installation.collector_problem;
    await render(ctx, 'telemetry/stats.njk', {
      pageTitle: tr.t('stats.title'),
      collectorProblemExplanation: problem ? (collectorProblemExplanation(problem.code, tr) ?? problem.explanation) : null,
      local,
      ledger,
      outbound,
      outboundPageSize: OUTBOUND_PAGE_SIZE,
      outboundBounds: options.outboundLedger,
      // The chart data travels as JSON in a data attribute: autoescaped, never inline script.
      chartData: JSON.stringify({ byDay: local.by_day, byType: local.by_type.slice(0, 20) }),
    });
  });

  return router;
}
