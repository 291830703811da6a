// Browser / OS / device class from the User-Agent, parsed by ua-parser-js once per distinct string.
// ua-parser-js 1.x (MIT): 2.x is AGPL-3.0, which an MIT package must not impose on its hosts. The
// family names are normalised to what 2.x reported, so exported series keep their names
// (test/plugin/user-agent-families.test.ts holds a corpus of real strings to that).
import { UAParser } from 'ua-parser-js';

export interface UserAgentSummary {
  browser: string;
  os: string;
  device: string;
}

const CACHE_LIMIT = 500;
/** Distinct (browser, OS, device) summaries kept; beyond it a new combination is reported as `other`. */
export const SUMMARY_LIMIT = 200;
const MAX_UA_LENGTH = 512;
const UNKNOWN: UserAgentSummary = { browser: 'unknown', os: 'unknown', device: 'unknown' };
const OTHER: UserAgentSummary = { browser: 'other', os: 'other', device: 'other' };
const BOT = /bot|crawl|spider|slurp|curl|wget|python-requests|httpclient|headless/i;

/**
 * What is kept of a User-Agent header: at most MAX_UA_LENGTH characters, copied. V8's slice of a long
 * string points into it, so a slice kept as a cache key or in a queue would hold the whole header
 * (up to Node's 16 KB header limit) alive.
 */
export function boundedUserAgent(userAgent: string): string {
  if (userAgent.length <= MAX_UA_LENGTH) return userAgent;
  return Buffer.from(userAgent.slice(0, MAX_UA_LENGTH), 'utf16le').toString('utf16le');
}

export class UserAgentCache {
  readonly #cache = new Map<string, UserAgentSummary>();
  // One object per distinct summary, kept across cache clears: callers key maps by these objects,
  // so a flood of distinct User-Agent strings must never mint new ones.
  readonly #summaries = new Map<string, UserAgentSummary>();

  summarize(userAgent: string | undefined): UserAgentSummary {
    if (!userAgent) return UNKNOWN;
    const key = boundedUserAgent(userAgent);
    let summary = this.#cache.get(key);
    if (summary === undefined) {
      summary = this.#intern(parse(key));
      // A flood of distinct user agents must not grow memory: start over when full.
      if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
      this.#cache.set(key, summary);
    }
    return summary;
  }

  get size(): number {
    return this.#cache.size;
  }

  /** Distinct summaries handed out so far (never above SUMMARY_LIMIT + 2). */
  get distinctSummaries(): number {
    return this.#summaries.size;
  }

  #intern(summary: UserAgentSummary): UserAgentSummary {
    const key = `${summary.browser}\u0000${summary.os}\u0000${summary.device}`;
    const known = this.#summaries.get(key);
    if (known !== undefined) return known;
    if (this.#summaries.size >= SUMMARY_LIMIT) return OTHER;
    this.#summaries.set(key, summary);
    return summary;
  }
}

const OS_NAMES: Record<string, string> = { 'Mac OS': 'macOS', 'Chromium OS': 'Chrome OS' };
const MOBILE_BROWSER_NAMES: Record<string, string> = { Chrome: 'Mobile Chrome', Firefox: 'Mobile Firefox' };

function parse(userAgent: string): UserAgentSummary {
  const result = new UAParser(userAgent).getResult();
  const device = BOT.test(userAgent) ? 'bot' : (result.device.type ?? 'desktop');
  const browser = result.browser.name ?? 'other';
  const os = result.os.name ?? 'other';
  return {
    browser: (device === 'mobile' ? MOBILE_BROWSER_NAMES[browser] : undefined) ?? browser,
    os: OS_NAMES[os] ?? os,
    device: ['mobile', 'tablet', 'desktop', 'bot', 'smarttv', 'console', 'wearable'].includes(device) ? device : 'other',
  };
}
