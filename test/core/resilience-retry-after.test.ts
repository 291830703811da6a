import test from 'ava';
import { MAX_RETRY_AFTER_MS, parseRetryAfter } from '../../src/core/resilience/retry-after.js';

const now = Date.parse('2026-03-02T10:00:00Z');

test('reads delay-seconds', (t) => {
  t.is(parseRetryAfter('120', now), 120_000);
  t.is(parseRetryAfter(' 5 ', now), 5_000);
  t.is(parseRetryAfter('0', now), 0);
  t.is(parseRetryAfter('007', now), 7_000);
});

test('reads the three HTTP-date forms as GMT', (t) => {
  t.is(parseRetryAfter('Mon, 02 Mar 2026 10:00:30 GMT', now), 30_000, 'IMF-fixdate');
  t.is(parseRetryAfter('Monday, 02-Mar-26 10:01:00 GMT', now), 60_000, 'RFC 850');
  t.is(parseRetryAfter('Mon Mar  2 10:00:10 2026', now), 10_000, 'asctime, read as GMT whatever the local zone');
  t.is(parseRetryAfter(new Date(now + 2_000).toUTCString(), now), 2_000);
});

test('a date in the past means now', (t) => {
  t.is(parseRetryAfter('Mon, 02 Mar 2026 09:00:00 GMT', now), 0);
  t.is(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', now), 0, 'a two-digit year far ahead is in the past century');
});

test('negative, fractional and exponent values are not advice', (t) => {
  for (const value of ['-5', '-0', '1.5', '1e3', '+10', '0x10', '5s', '5 5']) t.is(parseRetryAfter(value, now), undefined, value);
});

test('garbage, empty and absent values are not advice', (t) => {
  for (const value of ['soon', '', '   ', '2026-03-02T10:00:30Z', 'Mon, 32 Mar 2026 10:00:00 GMT', 'Mon, 31 Feb 2026 10:00:00 GMT', 'Mon, 02 Mar 2026 25:00:00 GMT', 'Mon, 02 Foo 2026 10:00:00 GMT', 'Mon, 02 Mar 2026 10:00:30 PST', '3 May']) {
    t.is(parseRetryAfter(value, now), undefined, JSON.stringify(value));
  }
  t.is(parseRetryAfter(null, now), undefined);
  t.is(parseRetryAfter(undefined, now), undefined);
});

test('a huge value is capped at what a timer can wait (never Infinity, never overflows setTimeout)', (t) => {
  t.is(parseRetryAfter('3000000', now), MAX_RETRY_AFTER_MS, '~35 days');
  t.is(parseRetryAfter('9'.repeat(400), now), MAX_RETRY_AFTER_MS);
  t.is(parseRetryAfter('Fri, 31 Dec 9999 23:59:59 GMT', now), MAX_RETRY_AFTER_MS);
  t.is(MAX_RETRY_AFTER_MS, 2 ** 31 - 1);
});
