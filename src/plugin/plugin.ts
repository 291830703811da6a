// telemetryPlugin(options): validates options once, wires the parts, and returns the handle —
// a Koa middleware that also carries the plugin's public API (ready, stop, track, consent, stats,
// status…). Each router gets a narrow port built here from the runtime (the composition root).
import { fileURLToPath } from 'node:url';
import type Koa from 'koa';
import type { Context, Next } from 'koa';
import { resolveOptions, type TelemetryOptions } from './options.js';
import { TelemetryRuntime } from './runtime.js';
import type { StatusReport } from './status.js';
import type { LocalStatistics, StatsDeletion } from './stats/views.js';
import type { SubmissionPayload } from '../core/protocol.js';
import { bindRuntime } from './internal.js';
import { PageRenderer } from './routes/page-renderer.js';
import type { ConsentListener, ConsentPatch, ConsentStore } from './installation/consent.js';
import type { ConsentState, RequestTelemetry, TelemetryUser, TrackOptions } from './types.js';
import { migrationSource } from './db/migration-source.js';
import { MIGRATIONS_TABLE } from './db/tables.js';
import { currentUser } from './middleware/auth.js';
import { jsonErrors, sendError } from '../core/http-errors.js';
import { trackRequest } from './middleware/request-tracking.js';
import { SessionOrderCheck } from './middleware/session-order.js';
import { usageStatsRouter } from './routes/usage-stats.js';
import { pagesRouter } from './routes/pages.js';
import { assetsRouter } from './routes/assets.js';
import { TemplateState, type TemplateContext, type UserPrivacyView } from './middleware/template-state.js';
import { hasPrivacySignal } from './middleware/privacy-signals.js';
import { pathPrefixTest } from './middleware/path-prefixes.js';
import { userPrivacyRouter } from './routes/user-privacy.js';
import { supportRouter } from './routes/support.js';
import { supportRequestApi, supportTemplateState, wantsHtml } from './middleware/support.js';
import type { SupportApi } from './support/service.js';
import { PACKAGE_VERSION } from '../core/version.js';
import { ENGLISH, MessageCatalog, RequestLocalizer, localizedError, messageRenderer } from './i18n/index.js';

export const TEMPLATES_PATH = fileURLToPath(new URL('./templates/', import.meta.url));

export interface TelemetryHandle {
  (ctx: Context, next: Next): Promise<void>;
  /** Runs migrations, loads the install identity, starts the sink and jobs. Idempotent. */
  ready(): Promise<void>;
  /** Flushes with a hard cap (stopTimeoutMs), cancels jobs, closes the plugin's own database. */
  stop(): Promise<void>;
  /** Writes buffered local statistics and exports whatever is queued now; true when the sink accepted all of it. */
  flush(): Promise<boolean>;
  track(event: string, props?: Record<string, unknown>, options?: TrackOptions): boolean;
  identify(user: TelemetryUser, traits?: Record<string, unknown>): boolean;
  consent: {
    get(): ConsentState;
    set(patch: ConsentPatch): Promise<ConsentState>;
    onChange(listener: ConsentListener): () => void;
  };
  status(): StatusReport;
  /** The local usage statistics: what the admin sees, takes away and erases (docs/configuration.md, "The handle"). */
  readonly stats: TelemetryStats;
  readonly migrationSource: typeof migrationSource;
  readonly migrationsTableName: string;
  readonly templatesPath: string;
  /** The support counter and the local support funnel, outside a request (docs/support.md). */
  readonly support: SupportApi;
  /** Each signed-in user's own choice about detailed analytics (stored in the plugin's tables). */
  readonly users: {
    optOut(userId: string | number): Promise<void>;
    optIn(userId: string | number): Promise<void>;
    isOptedOut(userId: string | number): Promise<boolean>;
  };
}

/** `telemetry.stats`: each call first waits for ready() (and rejects when the plugin cannot start). */
export interface TelemetryStats {
  /** The local statistics: installation, totals, this week, by type and day, the submission state. */
  local(): Promise<LocalStatistics>;
  /** Exactly the payloads the next submission run would send, oldest first: one per pending whole week (empty when none is pending). */
  preview(): Promise<SubmissionPayload[]>;
  /**
   * Everything stored locally as one JSON document (installation, settings, every event, both
   * ledgers, every consent receipt), in text chunks: the events are read page by page, so a large
   * record never sits in memory at once. Join the chunks, or pipe `Readable.from(export())`.
   */
  export(): AsyncIterable<string>;
  /**
   * Erases the local statistics, both ledgers and the support funnel, and asks the collector to erase
   * this installation; one consent receipt of the deletion (actor `api`) stays. Resolves what happened.
   */
  deleteAll(): Promise<StatsDeletion>;
}

const EXTENDED = Symbol.for('koa-consent-telemetry.context');
const REQUEST_API = Symbol('koa-consent-telemetry.request');

export const SESSION_MISSING_MESSAGE = ENGLISH.t('error.api.session_missing');
export const SESSION_MISSING_CODE = 'session_missing';

export function telemetryPlugin(input: TelemetryOptions): TelemetryHandle {
  const options = resolveOptions(input);
  const runtime = new TelemetryRuntime(options);
  const { mountPath } = options;
  const ownsRequest = pathPrefixTest([mountPath.api, mountPath.pages, mountPath.donate, mountPath.assets]);

  const honorDnt = options.honorDnt;
  const privacyView = (ctx: Context): UserPrivacyView | null => {
    const user = currentUser(ctx, options.getUser);
    if (!user) return null;
    return { analytics: !runtime.userPrivacy.isOptedOut(user.id), gpc: hasPrivacySignal(ctx, honorDnt), installationAnalytics: runtime.consent.isGranted('analytics') };
  };
  // Asked only when a page view would be exported: the request's signal, then the user's own choice.
  const mayExportRequest = (ctx: Context): boolean => {
    if (hasPrivacySignal(ctx, honorDnt)) return false;
    const user = currentUser(ctx, options.getUser);
    return user === null || !runtime.userPrivacy.isOptedOut(user.id);
  };

  const localizer = new RequestLocalizer(new MessageCatalog(options.messages), options.locale);
  const translatorFor = (ctx: Context) => localizer.translatorFor(ctx);

  const renderer = new PageRenderer({ hostEnv: options.nunjucks, layout: options.pages.layout, logger: options.logger });
  const ready = () => runtime.ready();
  const status = () => runtime.status();
  const receipts: ConsentStore['receipts'] = (query) => runtime.consent.receipts(query);
  const routers = [
    assetsRouter(mountPath.assets),
    userPrivacyRouter(options, { ready, setUserOptOut: (id, out) => runtime.setUserOptOut(id, out, true), privacyView }),
    usageStatsRouter(options, {
      ready,
      status,
      stats: runtime.stats,
      receipts,
      setConsent: (patch, actor) => runtime.setConsent(patch, actor),
      adminActor: (adminId) => runtime.adminActor(adminId),
      registrationBlockedReason: () => runtime.registrationBlockedReason(),
      submissionBlockedReason: () => runtime.submissionBlockedReason(),
    }),
    pagesRouter(options, {
      ready,
      status,
      stats: runtime.stats,
      receipts,
      userHistory: (userId, limit) => runtime.userPrivacy.history(userId, limit),
      privacyView,
      render: (template, context) => renderer.render(template, context),
    }),
    supportRouter(options, { service: runtime.support, translatorFor }),
  ];
  const supportDeps = { options, service: runtime.support, translatorFor };
  const { fallback: supportFallback, prepareSupportState: prepareSupport } = supportTemplateState(supportDeps);
  // What every request's ctx.state.telemetry shares: one object for the plugin's lifetime.
  const templateContext: TemplateContext = { paths: mountPath, assetVersion: PACKAGE_VERSION, getUser: options.getUser, privacyOf: privacyView, translatorOf: translatorFor, supportFallback };
  const errors = jsonErrors(options.logger, messageRenderer(translatorFor));
  // Paths under the plugin's prefixes are the plugin's: a known path with another method is a JSON
  // 405, anything else a JSON 404 — never handed to the host (nor @koa/router's 501).
  const methodNotAllowed = () => localizedError(405, 'method_not_allowed', 'error.api.method_not_allowed');
  const dispatchers = routers.flatMap((router) => [router.routes(), router.allowedMethods({ throw: true, methodNotAllowed, notImplemented: methodNotAllowed })]);
  const routePlugin = async (ctx: Context, next: Next): Promise<void> => {
    let index = 0;
    const step = async (): Promise<void> => {
      const dispatch = dispatchers[index++];
      if (dispatch) await dispatch(ctx as never, step);
      else if (ctx.status === 404 && ctx.body == null) throw localizedError(404, 'not_found', 'error.api.not_found');
    };
    await errors(ctx, step);
  };

  // ctx.telemetry is defined once per app, lazily per request: routes that never use it pay nothing.
  const extendContext = (app: Koa): void => {
    const proto = app.context as unknown as Record<symbol, unknown>;
    if (proto[EXTENDED]) return;
    proto[EXTENDED] = true;
    Object.defineProperty(app.context, 'telemetry', {
      configurable: true,
      get(this: Context & Record<symbol, RequestTelemetry | undefined>): RequestTelemetry {
        let api = this[REQUEST_API];
        if (!api) {
          const ctx = this;
          api = {
            track: (event: string, props?: Record<string, unknown>) =>
              runtime.track(event, props, currentUser(ctx, options.getUser), ctx.header['user-agent'], hasPrivacySignal(ctx, honorDnt)),
            identify: (traits?: Record<string, unknown>) =>
              runtime.track('user.identified', traits, currentUser(ctx, options.getUser), ctx.header['user-agent'], hasPrivacySignal(ctx, honorDnt)),
            support: supportRequestApi(ctx, supportDeps),
          };
          this[REQUEST_API] = api;
        }
        return api;
      },
    });
  };

  const sessionOrder = new SessionOrderCheck(options.logger);
  // Without koa-session the plugin's pages cannot keep a CSRF token or a prompt state: say so once,
  // answer the plugin's own routes with a 503 that names the fix, and leave the host's routes alone.
  let sessionMissingLogged = false;
  const withoutSession = (ctx: Context, next: Next): Promise<void> => {
    if (!sessionMissingLogged) {
      sessionMissingLogged = true;
      try {
        options.logger.error(SESSION_MISSING_MESSAGE);
      } catch {
        // a throwing logger must not fail the host's request
      }
    }
    extendContext(ctx.app);
    if (!ownsRequest(ctx)) return next();
    sendError(ctx, 503, SESSION_MISSING_CODE, translatorFor(ctx).t('error.api.session_missing'));
    return Promise.resolve();
  };
  // Once per Koa app (one plugin may serve several, e.g. under koa-mount): the mounting order and the
  // app's context do not change between its requests.
  let preparedApp: Koa | null = null;
  let preparedAppHasSession = false;
  const prepareApp = (ctx: Context): void => {
    preparedApp = ctx.app;
    // koa-session defines ctx.session on the app's context, once, at session(app): then no request of
    // this app needs the per-request check. Another session middleware may set it per request.
    preparedAppHasSession = 'session' in ctx.app.context;
    if (preparedAppHasSession) sessionOrder.observe(ctx);
    extendContext(ctx.app);
  };
  // True until the runtime has started (or stopped): then no request needs to ask it.
  let startPending = true;
  // Runs on every host request, as one async frame: the constant work, the host, then the page view
  // (no separate hook function, no closures and no second promise per request).
  const { analytics } = runtime;
  const middleware = async function telemetryMiddleware(ctx: Context, next: Next): Promise<void> {
    if (ctx.app !== preparedApp) prepareApp(ctx);
    if (!preparedAppHasSession && !('session' in ctx)) return withoutSession(ctx, next);
    if (startPending) startPending = runtime.autoStart();
    const state = new TemplateState(ctx, templateContext);
    ctx.state.telemetry = state;
    // Only a page (a GET that accepts HTML) may have a support state to prepare: asked here, without a call.
    if (wantsHtml(ctx.req)) {
      const pending = prepareSupport(ctx, state);
      if (pending !== null) await pending;
    }
    if (ownsRequest(ctx)) return routePlugin(ctx, next);
    // Nobody counts page views (local statistics off, not exporting): nothing after the host.
    if (!analytics.wantsPageViews) return next();
    try {
      await next();
    } catch (err) {
      trackRequest(analytics, ctx, mayExportRequest, err ?? new Error('non-error thrown'));
      throw err;
    }
    trackRequest(analytics, ctx, mayExportRequest);
  };

  const started = async <T>(read: () => Promise<T>): Promise<T> => {
    await runtime.ready();
    return read();
  };
  async function* exportJson(): AsyncGenerator<string> {
    await runtime.ready();
    yield* runtime.stats.exportJson();
  }

  const { support } = runtime;
  const handle: TelemetryHandle = Object.assign(middleware, {
    ready: () => runtime.ready(),
    stop: () => runtime.stop(),
    flush: () => runtime.flush(),
    track: (event: string, props?: Record<string, unknown>, trackOptions?: TrackOptions) => runtime.track(event, props, trackOptions?.user ?? null),
    identify: (user: TelemetryUser, traits?: Record<string, unknown>) => runtime.track('user.identified', traits, user),
    consent: {
      get: () => runtime.consent.get(),
      set: (patch: ConsentPatch) => runtime.setConsent(patch),
      onChange: (listener: ConsentListener) => runtime.consent.onChange(listener),
    },
    status,
    stats: {
      local: () => started(() => runtime.stats.local()),
      preview: () => started(() => runtime.stats.preview()),
      export: exportJson,
      deleteAll: () => started(() => runtime.stats.deleteAll('api')),
    },
    migrationSource,
    migrationsTableName: MIGRATIONS_TABLE,
    templatesPath: TEMPLATES_PATH,
    // The documented methods only, not the service behind them.
    support: {
      reportGenerated: (user: TelemetryUser) => support.reportGenerated(user),
      reportsGenerated: (user: TelemetryUser) => support.reportsGenerated(user),
      hasRecentDonationClick: (user: TelemetryUser, days?: number) => support.hasRecentDonationClick(user, days),
      funnel: (since?: Date) => support.funnel(since),
      interactions: (query?: Parameters<SupportApi['interactions']>[0]) => support.interactions(query),
      deleteUser: (user: TelemetryUser) => support.deleteUser(user),
      deleteAll: () => support.deleteAll(),
    },
    users: {
      optOut: async (userId: string | number) => void (await runtime.setUserOptOut(userId, true)),
      optIn: async (userId: string | number) => void (await runtime.setUserOptOut(userId, false)),
      isOptedOut: (userId: string | number) => runtime.isUserOptedOut(userId),
    },
  });
  bindRuntime(handle, runtime);
  return handle;
}
