// Sends the weekly count-only summary to the collector (see docs/collector.md): registers once
// (trust on first use), signs each request, and follows an explicit retry policy — 2xx: done,
// events marked submitted; a network error or a retryable answer (isRetryableStatus: 408, 429, 5xx
// but 501/505): retry with exponential backoff and jitter, honouring Retry-After; any other answer
// (401, 403, 404, 501, …): stop. Every attempt is written to the ledger the admin can read.
// When the collector refuses this installation itself (unknown, wrong secret, id taken or erased),
// the problem is kept in installation.json and nothing is sent until the admin re-registers.
import type { ConsentStore } from '../installation/consent.js';
import type { CollectorProblem, InstallationFile } from '../installation/installation-file.js';
import type { KillSwitchState, Logger } from '../types.js';
import type { NewLedgerEntry, UsageStatsRepository } from './repository.js';
import { buildWeeklySummary, isEmptySummary, pendingPeriods, type PayloadInputs, type WeeklySummary } from './aggregation.js';
import { HEADERS, PATHS, SIGNED, signedHeaders, type RegisterResponse } from '../../core/protocol.js';
import { describeError } from '../../core/logging.js';
import { describeNetworkCause } from '../../core/network-errors.js';
import { backoff, isRetryableStatus, parseRetryAfter } from '../../core/resilience/index.js';
import { credentialFreeUrl, type OutboundRecord } from './outbound-ledger.js';
import { printDebugPayload, type DebugOutput } from '../telemetry/debug-output.js';
import { ENGLISH, type Translator } from '../i18n/catalog.js';

const MAX_BACKOFF_MS = 6 * 3_600_000;
const MAX_LEDGER_BODY = 1_000;

export type SubmissionStatus = 'accepted' | 'rejected' | 'failed' | 'skipped' | 'debug';

/** What happened to one week in a run (the answer of POST {api}/submit-now lists these). */
export interface WeekOutcome {
  period: { start: string; end: string };
  /** accepted: stored by the collector; retry_later: 429, 5xx or unreachable — sent again later; refused: any other answer. */
  result: 'accepted' | 'retry_later' | 'refused';
  /** The collector's HTTP status, or null when it could not be reached. */
  collector_status: number | null;
  reason?: string;
  retry_after_seconds?: number;
}

export interface SubmissionOutcome {
  /** accepted: every week sent went through; otherwise the state of the week the run stopped at. */
  status: SubmissionStatus;
  reason?: string;
  responseCode?: number;
  /** When a retry was scheduled, in how many milliseconds. */
  retryInMs?: number;
  /** Each week the run sent, oldest first. */
  weeks: WeekOutcome[];
}

interface WeekResult {
  status: 'accepted' | 'rejected' | 'failed';
  responseCode?: number;
  reason?: string;
  retryAfterMs?: number;
  week: WeekOutcome;
}

/** The collector's answers refusing a week's content: that week is recorded and not sent again. */
export const REFUSED_CONTENT: readonly number[] = [400, 413, 422];
const NOTHING_PENDING = 'nothing to send: every whole week up to the last one has been submitted';
/** At start-up a run is due when the last accepted submission is older than this. */
const START_UP_AFTER_MS = 7 * 86_400_000;

export interface SubmissionClientDeps {
  repository: UsageStatsRepository;
  file: InstallationFile;
  consent: ConsentStore;
  killSwitch: KillSwitchState;
  collector: { url: string | null; registrationKey: string | null };
  policy: { retryBaseMs: number; maxAttempts: number; timeoutMs: number };
  summaryInputs: () => Promise<PayloadInputs>;
  logger: Logger;
  /** Where TELEMETRY_DEBUG prints the requests it does not send. */
  debugOutput: DebugOutput;
  now: () => Date;
  /** The outbound ledger: the registration and erasure requests are recorded there (never a secret). */
  outbound?: { record(entry: OutboundRecord): void };
}

export type RemoteDeletion = { requested: boolean; deleted: boolean; status?: number; error?: string };

/** A request that never got an answer: names the endpoint (without credentials) and the cause. */
class CollectorUnreachable extends Error {
  override name = 'CollectorUnreachable';
  constructor(
    readonly endpoint: string,
    readonly reason: string,
  ) {
    super(`could not reach the collector at ${endpoint}: ${reason}`);
  }
}

/** fetch() rejects with a bare "fetch failed"; this names where and why (ECONNREFUSED, DNS, TLS, timeout). */
async function fetchCollector(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    throw new CollectorUnreachable(credentialFreeUrl(url), describeNetworkCause(err));
  }
}

/** The cause of a failed request for the ledger, whose entry already names the endpoint. */
function failureCause(err: unknown): string {
  return err instanceof CollectorUnreachable ? err.reason : describeNetworkCause(err);
}

/** A ledger entry for one of the small collector requests (registration, erasure). */
function collectorRequest(kind: 'registration' | 'erasure', method: string, url: string, body: string | null): Omit<OutboundRecord, 'outcome' | 'response_code' | 'error' | 'details'> {
  return { kind, method, endpoint: credentialFreeUrl(url), request_body: body, record_count: null, counts: null, bytes: null, attempts: 1 };
}

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

function errorCode(body: string): string | null {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : null;
  } catch {
    return null;
  }
}

/** The retry policy of the submission: submission.retryBaseMs, doubling, ±20 %, at most 6 hours (jitter included). */
export function submissionBackoff(retryBaseMs: number) {
  return backoff({ baseMs: retryBaseMs, factor: 2, jitter: 0.2, maxMs: Math.max(retryBaseMs, MAX_BACKOFF_MS) });
}

/**
 * The collector's answers that mean it will not take anything from this installation identity
 * again, whatever is retried: only a new identity (re-registration) helps.
 */
const COLLECTOR_PROBLEM_CODES = ['unknown_installation', 'invalid_signature', 'already_registered', 'installation_erased'] as const;
type CollectorProblemCode = (typeof COLLECTOR_PROBLEM_CODES)[number];
const isCollectorProblemCode = (code: string): code is CollectorProblemCode => (COLLECTOR_PROBLEM_CODES as readonly string[]).includes(code);

/** What a collector refusal means for the admin, in the translator's language; null for an unknown code. */
export function collectorProblemExplanation(code: string, tr: Translator = ENGLISH): string | null {
  return isCollectorProblemCode(code) ? tr.t(`collector_problem.${code}`) : null;
}

/** The English explanations, as stored with the problem in installation.json and shown by /status. */
export const COLLECTOR_PROBLEMS: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries(COLLECTOR_PROBLEM_CODES.map((code) => [code, collectorProblemExplanation(code)!])),
);

export type CollectorProblemView = Pick<CollectorProblem, 'code' | 'explanation' | 'since'>;

/** A Retry-After longer than this is not waited out in-process: the next weekly run tries again. */
export const MAX_RETRY_DELAY_MS = MAX_BACKOFF_MS;

/** The collector may be mounted below a path prefix: keep it when adding a protocol path. */
export function collectorEndpoint(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

export class SubmissionClient {
  #retryTimer: NodeJS.Timeout | null = null;
  readonly #backoff;
  #inFlight: Promise<SubmissionOutcome> | null = null;
  #stopped = false;

  constructor(private readonly deps: SubmissionClientDeps) {
    this.#backoff = submissionBackoff(deps.policy.retryBaseMs);
  }

  /** Why nothing would be sent right now, or null when a submission may go out. */
  blockedReason(): string | null {
    if (this.deps.killSwitch.disabled) return `kill switch ${this.deps.killSwitch.reason} is set`;
    if (!this.deps.consent.isGranted('usageStats')) return 'usage statistics sharing is off';
    if (!this.deps.collector.url) return 'no collector URL is configured';
    const problem = this.problem();
    if (problem) return `the collector refused this installation (${problem.code}); re-register to send again`;
    return null;
  }

  /** The collector's standing refusal of this installation, if any (shown to the admin until re-registration). */
  problem(): CollectorProblemView | null {
    const stored = this.deps.file.loaded ? this.deps.file.current.collector_problem : null;
    if (!stored || stored.url !== this.deps.collector.url) return null;
    return { code: stored.code, explanation: stored.explanation, since: stored.since };
  }

  /** Whether a registration with the configured collector is kept here (so an erasure can still be asked for). */
  get holdsRegistration(): boolean {
    return this.#registration() !== null;
  }

  /** Why no registration request could be sent now (kill switch, debug, no collector), or null. */
  registrationBlockedReason(): string | null {
    if (this.deps.killSwitch.disabled) return `kill switch ${this.deps.killSwitch.reason} is set`;
    if (this.deps.killSwitch.debug) return 'TELEMETRY_DEBUG is set: nothing is sent';
    if (!this.deps.collector.url) return 'no collector URL is configured';
    return null;
  }

  /** Registers the current installation id now (after the admin started a new identity). */
  async registerNow(): Promise<{ registered: boolean; status?: number; error?: string }> {
    const blocked = this.registrationBlockedReason();
    if (blocked) return { registered: false, error: blocked };
    try {
      await this.#ensureRegistered();
      return { registered: true };
    } catch (err) {
      return { registered: false, status: err instanceof HttpFailure ? err.status : undefined, error: describeError(err) };
    }
  }

  /** Keeps the collector's refusal when it is one only a new identity cures; true when it was. */
  async #noteProblem(status: number, code: string | null, url: string): Promise<boolean> {
    if (status !== 401 && status !== 409) return false;
    const explanation = code ? COLLECTOR_PROBLEMS[code] : undefined;
    if (!code || !explanation) return false;
    const since = this.deps.now().toISOString();
    await this.deps.file.update((current) => ({
      collector_problem: current.collector_problem?.code === code && current.collector_problem.url === url ? current.collector_problem : { code, explanation, since, url },
    }));
    this.deps.logger.warn({ code }, 'the collector refuses this installation: usage statistics are not sent until an admin re-registers');
    return true;
  }

  /**
   * What the next run sends, oldest first (see pendingPeriods): a week older than the newest in
   * which nothing happened (no event, no uptime: the host was down) is left out; the newest is
   * always sent, as the installation's sign of life.
   */
  async summaries(overrideInputs?: PayloadInputs): Promise<WeeklySummary[]> {
    const now = this.deps.now();
    const [history, oldest] = await Promise.all([this.deps.repository.submissionHistory(REFUSED_CONTENT), this.deps.repository.oldestUnsubmittedData()]);
    const periods = pendingPeriods(now, history, oldest);
    if (periods.length === 0) return [];
    const inputs = overrideInputs ?? (await this.deps.summaryInputs());
    const summaries: WeeklySummary[] = [];
    for (const [index, period] of periods.entries()) {
      const summary = await buildWeeklySummary(this.deps.repository, inputs, period);
      if (index === periods.length - 1 || !isEmptySummary(summary)) summaries.push(summary);
    }
    return summaries;
  }

  /**
   * Whether a run is due at start-up: the last accepted submission is more than 7 days old, or
   * none was ever accepted and there is data older than a week.
   */
  async dueAtStart(): Promise<boolean> {
    if (this.blockedReason()) return false;
    const now = this.deps.now().getTime();
    const history = await this.deps.repository.submissionHistory(REFUSED_CONTENT);
    if (history.lastAcceptedAt) return now - Date.parse(history.lastAcceptedAt) > START_UP_AFTER_MS;
    const oldest = await this.deps.repository.oldestUnsubmittedData();
    return oldest !== null && now - oldest.getTime() > START_UP_AFTER_MS;
  }

  /** One submission run now (a pending retry is replaced); a run under way is joined, not doubled. */
  submitNow(): Promise<SubmissionOutcome> {
    if (this.#inFlight) return this.#inFlight;
    this.#cancelRetry();
    this.#inFlight = this.#run(1).finally(() => {
      this.#inFlight = null;
    });
    return this.#inFlight;
  }

  /** Cancels a scheduled retry and waits for an attempt under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancelRetry();
    await this.#inFlight?.catch(() => undefined);
  }

  get retryScheduled(): boolean {
    return this.#retryTimer !== null;
  }

  /**
   * Right to erasure: asks the collector to delete this installation's data (signed, empty body).
   * The request and its answer go to `receipt` (by default the outbound ledger); delete-all passes
   * its own, so the receipt is written after the local deletion and survives it.
   */
  async deleteRemote(receipt: (entry: OutboundRecord) => void = (entry) => this.#record(entry)): Promise<RemoteDeletion> {
    const registration = this.#registration();
    if (this.deps.killSwitch.disabled || !registration) return { requested: false, deleted: false };
    const installId = this.deps.file.current.install_id;
    if (this.deps.killSwitch.debug) {
      printDebugPayload(this.deps.debugOutput, 'the erasure request would be sent (nothing sent)', { method: 'DELETE', url: collectorEndpoint(registration.url, PATHS.installation(installId)) });
      return { requested: false, deleted: false };
    }
    const request = collectorRequest('erasure', 'DELETE', collectorEndpoint(registration.url, PATHS.installation(installId)), null);
    try {
      const response = await fetchCollector(collectorEndpoint(registration.url, PATHS.installation(installId)), {
        method: 'DELETE',
        headers: signedHeaders(SIGNED.erase(installId), installId, registration.secret, '', this.deps.now().getTime() / 1000),
        signal: AbortSignal.timeout(this.deps.policy.timeoutMs),
      });
      const text = await response.text().catch(() => '');
      // Gone means the collector holds nothing for us; a 401 for clock skew or a bad signature is not that.
      const code = errorCode(text);
      const gone = response.ok || response.status === 404 || (response.status === 401 && code === 'unknown_installation');
      receipt({
        ...request,
        outcome: response.ok ? 'accepted' : isRetryableStatus(response.status) ? 'failed' : 'rejected',
        response_code: response.status,
        error: response.ok ? null : (code ?? `collector answered ${response.status}`),
        details: null,
      });
      if (gone) await this.deps.file.update(() => ({ collector: null }));
      else if (code === 'invalid_signature') await this.#noteProblem(response.status, code, registration.url);
      return { requested: true, deleted: response.ok, status: response.status };
    } catch (err) {
      receipt({ ...request, outcome: 'failed', response_code: null, error: failureCause(err), details: null });
      return { requested: true, deleted: false, error: describeError(err) };
    }
  }

  /**
   * One submission run: every pending week (pendingPeriods), oldest first, each signed with its
   * own period and Idempotency-Key. A 2xx moves on to the next week; an answer refusing the week's
   * content (400/413/422) is kept in the ledger, that week is not sent again, and the run moves on;
   * a retryable answer (429, 5xx, network) ends the run and the whole run is retried later
   * (Retry-After or backoff); any other refusal (401, 403, 404…) ends the run until the next one.
   */
  async #run(attempt: number): Promise<SubmissionOutcome> {
    const blocked = this.blockedReason();
    if (blocked) return { status: 'skipped', reason: blocked, weeks: [] };
    const summaries = await this.summaries();
    if (this.deps.killSwitch.debug) {
      for (const summary of summaries) printDebugPayload(this.deps.debugOutput, 'the weekly usage statistics submission would send this (nothing sent)', summary.payload);
      return { status: 'debug', weeks: [] };
    }
    if (summaries.length === 0) return { status: 'skipped', reason: NOTHING_PENDING, weeks: [] };

    const weeks: WeekOutcome[] = [];
    let last: WeekResult | null = null;
    for (const [index, summary] of summaries.entries()) {
      // The week that failed before is the one retried: its ledger entry counts the attempts.
      last = await this.#sendWeek(summary, index === 0 ? attempt : 1);
      weeks.push(last.week);
      const settled = last.status === 'accepted' || (last.status === 'rejected' && REFUSED_CONTENT.includes(last.responseCode ?? 0));
      // A week that could not go through ends the run: the weeks after it wait, so they arrive in order.
      if (!settled || this.blockedReason()) break;
    }
    const end = last!;
    const outcome: SubmissionOutcome =
      end.status === 'accepted' ? { status: 'accepted', responseCode: end.responseCode, weeks } : { status: end.status, responseCode: end.responseCode, reason: end.reason, weeks };

    if (outcome.status === 'failed' && attempt < this.deps.policy.maxAttempts && !this.#stopped) {
      const delay = end.retryAfterMs ?? this.#backoff.delay(attempt);
      if (delay <= MAX_RETRY_DELAY_MS) {
        this.#scheduleRetry(attempt + 1, delay);
        outcome.retryInMs = delay;
      } else {
        outcome.reason = `${outcome.reason ?? 'failed'}; the collector asked to wait longer than ${MAX_RETRY_DELAY_MS / 3_600_000} h, so the next run tries again`;
      }
    }
    if (outcome.status !== 'accepted') this.deps.logger.warn({ outcome: { ...outcome, weeks: weeks.length } }, `usage statistics submission did not go through: ${outcome.reason ?? outcome.status}`);
    return outcome;
  }

  async #sendWeek(summary: WeeklySummary, attempt: number): Promise<WeekResult> {
    const body = JSON.stringify(summary.payload);
    const ledger = {
      period_start: summary.period.startDay,
      period_end: summary.period.endDay,
      idempotency_key: '',
      payload: body,
      attempts: attempt,
    };
    let result: Omit<WeekResult, 'week'>;
    try {
      const { url, secret } = await this.#ensureRegistered();
      const installId = this.deps.file.current.install_id;
      const headers = signedHeaders(SIGNED.submit, installId, secret, body, this.deps.now().getTime() / 1000, summary.period.startDay);
      ledger.idempotency_key = headers[HEADERS.idempotencyKey]!;
      const response = await fetchCollector(collectorEndpoint(url, PATHS.submit), {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(this.deps.policy.timeoutMs),
      });
      const text = (await response.text().catch(() => '')).slice(0, MAX_LEDGER_BODY);
      if (response.ok) {
        await this.deps.repository.markSubmitted(summary.period.start, summary.period.end, summary.maxEventId, this.deps.now());
        result = { status: 'accepted', responseCode: response.status };
      } else {
        const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), Date.now());
        // Unknown installation or a refused signature: kept as a problem for the admin, and nothing is
        // retried. A 401 for clock skew is not that: the secret stays and the next run tries again.
        await this.#noteProblem(response.status, errorCode(text), url);
        result = { status: isRetryableStatus(response.status) ? 'failed' : 'rejected', responseCode: response.status, reason: `collector answered ${response.status}`, retryAfterMs };
      }
      await this.#writeLedger({ ...ledger, status: result.status, response_code: response.status, response_body: text || null, error: null });
    } catch (err) {
      const status = err instanceof HttpFailure ? err.status : undefined;
      const retryAfterMs = err instanceof HttpFailure ? err.retryAfterMs : undefined;
      result = { status: status !== undefined && !isRetryableStatus(status) ? 'rejected' : 'failed', responseCode: status, reason: describeError(err), retryAfterMs };
      await this.#writeLedger({ ...ledger, status: result.status, response_code: status ?? null, response_body: null, error: result.reason ?? null });
    }
    const week: WeekOutcome = {
      period: { start: summary.period.startDay, end: summary.period.endDay },
      result: result.status === 'accepted' ? 'accepted' : result.status === 'failed' ? 'retry_later' : 'refused',
      collector_status: result.responseCode ?? null,
      ...(result.reason ? { reason: result.reason } : {}),
      ...(result.retryAfterMs !== undefined ? { retry_after_seconds: Math.ceil(result.retryAfterMs / 1000) } : {}),
    };
    return { ...result, week };
  }

  async #writeLedger(entry: Omit<NewLedgerEntry, 'sent_at'>): Promise<void> {
    try {
      await this.deps.repository.insertLedger({ ...entry, sent_at: this.deps.now() });
    } catch (err) {
      this.deps.logger.warn({ err: describeError(err) }, 'could not write the submission ledger');
    }
  }

  #record(entry: OutboundRecord): void {
    try {
      this.deps.outbound?.record(entry);
    } catch {
      // the ledger must never break the request it describes
    }
  }

  #registration(): { url: string; secret: string } | null {
    const stored = this.deps.file.loaded ? this.deps.file.current.collector : null;
    return stored && stored.url === this.deps.collector.url ? { url: stored.url, secret: stored.secret } : null;
  }

  /** Trust on first use: register this install once and keep the secret in installation.json. */
  async #ensureRegistered(): Promise<{ url: string; secret: string }> {
    const existing = this.#registration();
    if (existing) return existing;
    const url = this.deps.collector.url!;
    const installId = this.deps.file.current.install_id;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.deps.collector.registrationKey) headers[HEADERS.registrationKey] = this.deps.collector.registrationKey;
    const body = JSON.stringify({ install_id: installId });
    // The ledger keeps the request and the answer's status, never the secret the answer carries.
    const request = collectorRequest('registration', 'POST', collectorEndpoint(url, PATHS.register), body);
    let response: Response;
    let text: string;
    try {
      response = await fetchCollector(collectorEndpoint(url, PATHS.register), {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(this.deps.policy.timeoutMs),
      });
      text = await response.text().catch(() => '');
    } catch (err) {
      this.#record({ ...request, outcome: 'failed', response_code: null, error: failureCause(err), details: null });
      throw err;
    }
    if (response.status !== 201) {
      await this.#noteProblem(response.status, errorCode(text), url);
      const why = response.status === 409 ? `the collector refuses to register this installation id (${errorCode(text) ?? 'conflict'})` : `registration answered ${response.status}`;
      this.#record({ ...request, outcome: isRetryableStatus(response.status) ? 'failed' : 'rejected', response_code: response.status, error: errorCode(text) ?? why, details: null });
      throw new HttpFailure(response.status, parseRetryAfter(response.headers.get('retry-after'), Date.now()), why);
    }
    let registered: RegisterResponse | null = null;
    try {
      registered = JSON.parse(text) as RegisterResponse;
    } catch {
      // judged below
    }
    const valid = registered !== null && registered.install_id === installId && typeof registered.secret === 'string' && /^[0-9a-f]{32,128}$/i.test(registered.secret);
    this.#record({
      ...request,
      outcome: valid ? 'accepted' : 'rejected',
      response_code: response.status,
      error: valid ? null : 'unexpected answer body',
      details: { secret_received: valid },
    });
    if (!valid || !registered) throw new Error('the collector answered registration with an unexpected body');
    await this.deps.file.update(() => ({ collector: { url, secret: registered.secret, registered_at: this.deps.now().toISOString() } }));
    return { url, secret: registered.secret };
  }

  #scheduleRetry(attempt: number, delayMs: number): void {
    this.#cancelRetry();
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#inFlight ??= this.#run(attempt)
        .catch((err): SubmissionOutcome => ({ status: 'failed', reason: describeError(err), weeks: [] }))
        .finally(() => {
          this.#inFlight = null;
        });
    }, delayMs);
    this.#retryTimer.unref();
  }

  #cancelRetry(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }
}
