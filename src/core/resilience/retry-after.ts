// Reads a Retry-After header (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Strict, because a
// lenient date parser reads "-5" or "1.5" as years: anything else is "no advice" (undefined), and
// the caller falls back to its back-off.

/** The longest wait it reports: setTimeout's limit (a longer one would fire after 1 ms). */
export const MAX_RETRY_AFTER_MS = 2 ** 31 - 1;

const DAYS = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAYS = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** Sun, 06 Nov 1994 08:49:37 GMT */
const IMF_FIXDATE = new RegExp(`^${DAYS}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** Sunday, 06-Nov-94 08:49:37 GMT (obsolete) */
const RFC_850 = new RegExp(`^${LONG_DAYS}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
/** Sun Nov  6 08:49:37 1994 (obsolete; GMT) */
const ASCTIME = new RegExp(`^${DAYS} ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

function utc(year: number, month: string, day: number, h: number, m: number, s: number): number | undefined {
  const monthIndex = MONTHS.indexOf(month);
  if (day < 1 || h > 23 || m > 59 || s > 60) return undefined;
  const at = Date.UTC(year, monthIndex, day, h, m, Math.min(s, 59));
  // 31 Feb and the like roll over into the next month: not a date.
  return new Date(at).getUTCDate() === day ? at : undefined;
}

function parseHttpDate(value: string, nowMs: number): number | undefined {
  let match = IMF_FIXDATE.exec(value);
  if (match) return utc(Number(match[3]), match[2]!, Number(match[1]), Number(match[4]), Number(match[5]), Number(match[6]));
  match = RFC_850.exec(value);
  if (match) {
    // A two-digit year more than 50 years ahead is in the past century (RFC 9110 §5.6.7).
    let year = 2000 + Number(match[3]);
    if (year > new Date(nowMs).getUTCFullYear() + 50) year -= 100;
    return utc(year, match[2]!, Number(match[1]), Number(match[4]), Number(match[5]), Number(match[6]));
  }
  match = ASCTIME.exec(value);
  if (match) return utc(Number(match[6]), match[1]!, Number(match[2]!.trim()), Number(match[3]), Number(match[4]), Number(match[5]));
  return undefined;
}

/**
 * How long the answer asks to wait, in ms, from `nowMs`: a whole number in [0, MAX_RETRY_AFTER_MS]
 * (a date in the past is 0, a huge value is capped); undefined when absent or not a valid value
 * (negative, fractional, garbage, an impossible date). Callers still apply their own limit.
 */
export function parseRetryAfter(header: string | null | undefined, nowMs: number): number | undefined {
  if (typeof header !== 'string') return undefined;
  const value = header.trim();
  if (value === '') return undefined;
  if (/^\d+$/.test(value)) return Math.min(Number(value) * 1000, MAX_RETRY_AFTER_MS);
  const at = parseHttpDate(value, nowMs);
  if (at === undefined) return undefined;
  return Math.min(Math.max(at - nowMs, 0), MAX_RETRY_AFTER_MS);
}
