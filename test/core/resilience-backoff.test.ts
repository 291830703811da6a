import test from 'ava';
import { backoff } from '../../src/core/resilience/backoff.js';

const policy = backoff({ baseMs: 1000, factor: 2, jitter: 0.2, maxMs: 60_000 });
const middle = () => 0.5;

test('grows by the factor per attempt from baseMs (attempt 1 = base)', (t) => {
  t.is(policy.delay(1, middle), 1000);
  t.is(policy.delay(2, middle), 2000);
  t.is(policy.delay(3, middle), 4000);
  t.is(policy.delay(5, middle), 16_000);
  const triple = backoff({ baseMs: 10, factor: 3, jitter: 0, maxMs: 10_000 });
  t.is(triple.delay(3), 90);
});

test('jitter stays within ±jitter of the nominal delay, at both ends', (t) => {
  t.is(policy.delay(1, () => 0), 800);
  t.is(policy.delay(1, () => 0.999999), 1200);
  for (let attempt = 1; attempt <= 5; attempt++) {
    const nominal = 1000 * 2 ** (attempt - 1);
    for (let i = 0; i < 200; i++) {
      const d = policy.delay(attempt);
      t.true(d >= Math.floor(nominal * 0.8) && d <= Math.ceil(nominal * 1.2), `attempt ${attempt}: ${d}`);
    }
  }
});

test('no delay exceeds maxMs, jitter included, however many attempts', (t) => {
  for (const attempt of [7, 20, 1000, 1e9, Number.MAX_SAFE_INTEGER]) {
    t.is(policy.delay(attempt, () => 0.999999), 60_000, `attempt ${attempt}`);
    const low = policy.delay(attempt, () => 0);
    t.true(low >= 48_000 && low <= 60_000);
  }
  t.true(Number.isInteger(policy.delay(3, Math.random)));
});

test('an attempt below 1 or not a number counts as the first', (t) => {
  for (const attempt of [0, -3, Number.NaN, Number.NEGATIVE_INFINITY]) t.is(policy.delay(attempt, middle), 1000, String(attempt));
});

test('a random() outside [0, 1] cannot push the delay outside the jitter bounds', (t) => {
  t.is(policy.delay(1, () => 5), 1200);
  t.is(policy.delay(1, () => -5), 800);
  t.is(policy.delay(1, () => Number.NaN), 1000);
});

test('jitter 0 is exact; the policy is frozen and shows its numbers', (t) => {
  const exact = backoff({ baseMs: 50, factor: 2, jitter: 0, maxMs: 300 });
  t.deepEqual([1, 2, 3, 4, 5].map((n) => exact.delay(n)), [50, 100, 200, 300, 300]);
  t.like(exact, { baseMs: 50, factor: 2, jitter: 0, maxMs: 300 });
  t.true(Object.isFrozen(exact));
});

test('a bad policy is refused at construction', (t) => {
  const ok = { baseMs: 10, factor: 2, jitter: 0.2, maxMs: 100 };
  for (const bad of [{ baseMs: 0 }, { baseMs: -1 }, { baseMs: Number.NaN }, { factor: 0.5 }, { jitter: 1 }, { jitter: -0.1 }, { maxMs: 5 }, { maxMs: Number.POSITIVE_INFINITY }]) {
    t.throws(() => backoff({ ...ok, ...bad }), { instanceOf: RangeError }, JSON.stringify(bad));
  }
});
