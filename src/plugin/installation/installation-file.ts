// installation.json: the install identity (id, pseudonym salt, collector registration) and a copy of
// consent (the database holds the truth; the copy seeds a database that has none, see consent.ts).
// Written atomically (temp file + rename, mode 0600) and always merged with what is on disk,
// so a key written by another process (the CLI, a newer version) is never dropped.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, unlink, chmod, open, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ConsentState } from '../types.js';

export const INSTALLATION_FILE_NAME = 'installation.json';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const SALT_HEX = /^[0-9a-f]{64}$/;

export interface CollectorRegistration {
  url: string;
  secret: string;
  registered_at: string;
}

/** Why the collector refuses this installation, kept until the admin re-registers (see docs/faq.md). */
export interface CollectorProblem {
  /** The collector's error code, e.g. unknown_installation or invalid_signature. */
  code: string;
  explanation: string;
  since: string;
  /** The collector URL that answered so; another configured collector is not blocked by it. */
  url: string;
}

export interface InstallationData {
  install_id: string;
  salt: string;
  consent: ConsentState;
  first_seen_at: string;
  first_seen_sent_at: string | null;
  last_seen_at: string | null;
  collector: CollectorRegistration | null;
  collector_problem: CollectorProblem | null;
  /** Keys this version does not know are kept as they are. */
  [key: string]: unknown;
}

/** A lock older than this is from a crashed writer and is taken over. */
const STALE_LOCK_MS = 10_000;
const LOCK_RETRY_MS = 15;

/** One write queue per file path in this process, shared by every InstallationFile on that path. */
const queues = new Map<string, Promise<unknown>>();

/** Cross-process mutual exclusion around read-merge-write (the CLI may write while the app runs). */
async function withFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const lockPath = `${path}.lock`;
  await mkdir(dirname(path), { recursive: true });
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(lockPath).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > STALE_LOCK_MS) await unlink(lockPath).catch(() => undefined);
      else await new Promise((done) => setTimeout(done, LOCK_RETRY_MS));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}

export const DEFAULT_CONSENT: ConsentState = { analytics: false, usageStats: false, version: 0, updated_at: null };

function normalizeConsent(value: unknown): ConsentState {
  const raw = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  return {
    analytics: raw.analytics === true,
    usageStats: raw.usageStats === true,
    version: typeof raw.version === 'number' && Number.isInteger(raw.version) ? raw.version : 0,
    updated_at: typeof raw.updated_at === 'string' ? raw.updated_at : null,
  };
}

/** Fills in whatever is missing or malformed, keeping every other key. */
function complete(raw: Record<string, unknown>, now: Date): InstallationData {
  const nowIso = now.toISOString();
  const collector = raw.collector as Partial<CollectorRegistration> | null | undefined;
  const problem = raw.collector_problem as Partial<CollectorProblem> | null | undefined;
  return {
    ...raw,
    install_id: typeof raw.install_id === 'string' && UUID_V4.test(raw.install_id) ? raw.install_id : randomUUID(),
    salt: typeof raw.salt === 'string' && SALT_HEX.test(raw.salt) ? raw.salt : randomBytes(32).toString('hex'),
    consent: normalizeConsent(raw.consent),
    first_seen_at: typeof raw.first_seen_at === 'string' ? raw.first_seen_at : nowIso,
    first_seen_sent_at: typeof raw.first_seen_sent_at === 'string' ? raw.first_seen_sent_at : null,
    last_seen_at: typeof raw.last_seen_at === 'string' ? raw.last_seen_at : null,
    collector:
      collector && typeof collector.url === 'string' && typeof collector.secret === 'string'
        ? { url: collector.url, secret: collector.secret, registered_at: String(collector.registered_at ?? nowIso) }
        : null,
    collector_problem:
      problem && typeof problem.code === 'string' && typeof problem.url === 'string'
        ? { code: problem.code, explanation: String(problem.explanation ?? ''), since: String(problem.since ?? nowIso), url: problem.url }
        : null,
  };
}

export class InstallationFile {
  readonly path: string;
  #cached: InstallationData | null = null;
  #created = false;

  constructor(dataDir: string, private readonly now: () => Date = () => new Date()) {
    this.path = join(dataDir, INSTALLATION_FILE_NAME);
  }

  /** The last loaded or written state; throws if load() has not run yet. */
  get current(): InstallationData {
    if (!this.#cached) throw new Error('installation.json has not been loaded yet (call ready() first)');
    return this.#cached;
  }

  get loaded(): boolean {
    return this.#cached !== null;
  }

  /** This object wrote installation.json where there was none (a first start, or a corrupt file set aside). */
  get created(): boolean {
    return this.#created;
  }

  /** Reads the file, creating or completing it on disk when anything is missing. */
  load(): Promise<InstallationData> {
    return this.update(() => ({}));
  }

  /**
   * A new installation identity: a new install id and salt, no collector secret, no collector
   * problem, and first-seen dates starting now — nothing of it links to the previous identity.
   * Consent and keys this version does not know stay.
   */
  startNewIdentity(): Promise<InstallationData> {
    return this.update(() => ({
      install_id: randomUUID(),
      salt: randomBytes(32).toString('hex'),
      collector: null,
      collector_problem: null,
      first_seen_at: this.now().toISOString(),
      first_seen_sent_at: null,
      last_seen_at: null,
    }));
  }

  /** Read-merge-write: `patch` sees the freshest state on disk and returns only the keys to change. */
  update(patch: (current: InstallationData) => Partial<InstallationData>): Promise<InstallationData> {
    const previous = queues.get(this.path) ?? Promise.resolve();
    const run = previous.then(() =>
      withFileLock(this.path, async () => {
        const onDisk = await this.#read();
        const base = complete(onDisk ?? {}, this.now());
        const next = { ...base, ...patch(base) } as InstallationData;
        if (!onDisk || JSON.stringify(onDisk) !== JSON.stringify(next)) await this.#write(next);
        if (!onDisk) this.#created = true;
        this.#cached = next;
        return next;
      }),
    );
    const settled = run.catch(() => undefined);
    queues.set(this.path, settled);
    void settled.then(() => {
      if (queues.get(this.path) === settled) queues.delete(this.path);
    });
    return run;
  }

  async #read(): Promise<Record<string, unknown> | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch {
      // fall through: keep the unreadable file aside instead of silently losing it
    }
    await rename(this.path, `${this.path}.corrupt-${Date.now()}`).catch(() => undefined);
    return null;
  }

  async #write(data: InstallationData): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const temp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(temp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
      await chmod(temp, 0o600);
      await rename(temp, this.path);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    }
  }
}
