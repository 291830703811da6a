// A synthetic fleet for `collector seed-demo` (docs/collector.md): installations that join over the
// weeks, submit weekly (and sometimes miss a week or stop), roll out new versions with a lag, and
// report errors — one release (2.0.0) misbehaves on native installs, so the error insights have
// something to find, and an incident in the last complete week trips the error-spike anomaly.
// Pure and deterministic: the same seed, size and UTC day give the same fleet (nothing is dated today).
import { addDays, utcDay, weekStart } from '../analytics/time.js';
import { SUBMISSION_SCHEMA_VERSION, type SubmissionPayload } from '../../core/protocol.js';

export interface DemoFleetOptions {
  /** How many installations (default 3000). */
  installations: number;
  /** How many ISO weeks of history, ending with the current one (default 26). */
  weeks: number;
  /** PRNG seed (default 1). */
  seed: number;
  now: Date;
}

export const DEFAULT_DEMO_INSTALLATIONS = 3000;
export const DEFAULT_DEMO_WEEKS = 26;
export const DEFAULT_DEMO_SEED = 1;

export interface DemoSubmission {
  receivedAt: Date;
  payload: SubmissionPayload;
}

export interface DemoInstallation {
  installId: string;
  secret: string;
  registeredAt: Date;
  /** Oldest first; never empty. */
  submissions: DemoSubmission[];
}

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

type Weighted<T> = readonly (readonly [T, number])[];

function pick<T>(random: () => number, options: Weighted<T>): T {
  const total = options.reduce((sum, [, w]) => sum + w, 0);
  let r = random() * total;
  for (const [value, weight] of options) {
    r -= weight;
    if (r < 0) return value;
  }
  return options[options.length - 1]![0];
}

const COUNTRIES: Weighted<string> = [
  ['DE', 25], ['US', 20], ['FR', 8], ['GB', 8], ['NL', 5], ['AT', 4], ['CH', 4], ['SE', 3], ['PL', 3], ['ES', 3],
  ['IT', 3], ['CA', 3], ['BR', 2], ['JP', 2], ['IN', 2], ['AU', 2], ['XX', 1], ['LU', 0.15], ['IS', 0.1], ['MT', 0.1],
];
const PLATFORMS: Weighted<string> = [['linux', 72], ['win32', 14], ['darwin', 10], ['freebsd', 4]];
const MODES: Weighted<SubmissionPayload['deployment_type']> = [['docker', 65], ['native', 35]];
/** Releases and the fraction of the history after which each appears. */
const RELEASES = [
  { version: '1.0.0', at: 0 },
  { version: '1.1.0', at: 0.2 },
  { version: '1.2.0', at: 0.42 },
  { version: '2.0.0', at: 0.65 },
  { version: '2.1.0', at: 0.85 },
] as const;
/** Feature flags and how likely an installation has each on (sso grows over time). */
const FEATURES = [
  { name: 'dark_mode', share: 0.6 },
  { name: 'webhooks', share: 0.3 },
  { name: 'sso', share: 0.2 },
  { name: 'audit_log', share: 0.12 },
  { name: 'ldap', share: 0.04 },
  { name: 'beta_reports', share: 0.01 },
] as const;
const EVENTS = ['timer.started', 'timer.stopped', 'report.generated', 'project.created', 'export.downloaded'] as const;

function hex(random: () => number, chars: number): string {
  let out = '';
  for (let i = 0; i < chars; i++) out += Math.floor(random() * 16).toString(16);
  return out;
}

function uuid(random: () => number): string {
  const h = hex(random, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[Math.floor(random() * 4)]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const HOUR_MS = 3_600_000;

export function demoFleet(options: DemoFleetOptions): DemoInstallation[] {
  const random = seededRandom(options.seed);
  const { weeks, now } = options;
  const firstWeek = addDays(weekStart(now), -7 * (weeks - 1));
  const releaseWeek = RELEASES.map((r) => Math.floor(r.at * (weeks - 1)));
  // Nothing from today: the fleet depends on the day only, not on the time of day it is seeded.
  const cutoff = Date.parse(`${utcDay(now)}T00:00:00Z`);
  const fleet: DemoInstallation[] = [];
  for (let i = 0; i < options.installations; i++) {
    const installId = uuid(random);
    const secret = hex(random, 64);
    // 40 % were there from the start; the rest join evenly over the weeks (the fleet grows).
    const joinWeek = random() < 0.4 ? 0 : Math.floor(random() * weeks);
    // 12 % stop submitting at some point (uninstalled, or opted out).
    const stopWeek = random() < 0.12 ? joinWeek + 1 + Math.floor(random() * Math.max(1, weeks - joinWeek)) : weeks;
    const mode = pick(random, MODES);
    const platform = mode === 'docker' ? 'linux' : pick(random, PLATFORMS);
    const country = pick(random, COUNTRIES);
    // How many weeks after a release this installation upgrades; 5 % never do.
    const lag = random() < 0.05 ? Infinity : Math.floor(-Math.log(1 - random()) * 2.5);
    const features = new Map<string, number>(FEATURES.map((f) => [f.name, random()]));
    const submissions: DemoSubmission[] = [];
    let version: string = RELEASES[0].version;
    for (let w = joinWeek; w < Math.min(stopWeek, weeks); w++) {
      // Versions roll out: the newest release whose week + lag has come (never a downgrade).
      for (let r = 0; r < RELEASES.length; r++) if (releaseWeek[r]! + (w === joinWeek ? 0 : lag) <= w) version = RELEASES[r]!.version;
      if (w > joinWeek && random() < 0.08) continue; // a missed week
      const monday = addDays(firstWeek, 7 * w);
      const receivedAt = new Date(Date.parse(`${monday}T00:00:00Z`) + Math.floor(random() * 7 * 24) * HOUR_MS + Math.floor(random() * HOUR_MS));
      if (receivedAt.getTime() >= cutoff) continue;
      const progress = w / Math.max(1, weeks - 1);
      const featureFlags: Record<string, boolean> = {};
      for (const f of FEATURES) {
        const share = f.name === 'sso' ? f.share + 0.25 * progress : f.share;
        featureFlags[f.name] = features.get(f.name)! < share;
      }
      // An incident in the last complete week (errors triple for everyone), so the error-spike anomaly shows.
      const incident = w === weeks - 2 ? 3 : 1;
      const errorChance = incident * (version === '2.0.0' && mode === 'native' ? 0.45 : version === '2.0.0' ? 0.12 : 0.06);
      const errorCount = random() < errorChance ? 1 + Math.floor(random() * 20) : 0;
      const eventCounts: Record<string, number> = {};
      for (const e of EVENTS) {
        const n = Math.floor(random() * 60);
        if (n > 0) eventCounts[e] = n;
      }
      submissions.push({
        receivedAt,
        payload: {
          schema_version: SUBMISSION_SCHEMA_VERSION,
          install_id: installId,
          period: { start: addDays(monday, -7), end: monday },
          app_version: version,
          platform,
          deployment_type: mode,
          country,
          event_counts: eventCounts,
          feature_flags: featureFlags,
          error_count: errorCount,
          uptime_hours: Math.round(random() * 168 * 10) / 10,
        },
      });
    }
    if (submissions.length === 0) continue;
    fleet.push({ installId, secret, registeredAt: new Date(submissions[0]!.receivedAt.getTime() - Math.floor(random() * HOUR_MS)), submissions });
  }
  return fleet;
}
