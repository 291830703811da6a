import test from 'ava';
import { RingBuffer } from '../../src/core/resilience/ring-buffer.js';

test('keeps items in order up to its capacity', (t) => {
  const ring = new RingBuffer<number>(3);
  t.false(ring.push(1));
  t.false(ring.push(2));
  t.deepEqual([...ring], [1, 2]);
  t.is(ring.size, 2);
  t.is(ring.shift(), 1);
  t.is(ring.shift(), 2);
  t.is(ring.shift(), undefined);
  t.is(ring.dropped, 0);
});

test('when full, a push overwrites the oldest and counts it', (t) => {
  const ring = new RingBuffer<string>(3);
  for (const s of ['a', 'b', 'c']) ring.push(s);
  t.true(ring.push('d'));
  t.true(ring.push('e'));
  t.deepEqual([...ring], ['c', 'd', 'e']);
  t.is(ring.size, 3, 'never grows past its capacity');
  t.is(ring.dropped, 2);
});

test('memory stays bounded under a flood (size never exceeds capacity)', (t) => {
  const ring = new RingBuffer<number>(10);
  for (let i = 0; i < 100_000; i++) ring.push(i);
  t.is(ring.size, 10);
  t.is(ring.dropped, 100_000 - 10);
  t.deepEqual(ring.take(), [99_990, 99_991, 99_992, 99_993, 99_994, 99_995, 99_996, 99_997, 99_998, 99_999]);
});

test('take(n) returns the oldest n, oldest first; more than held returns what is held', (t) => {
  const ring = new RingBuffer<number>(4);
  for (let i = 1; i <= 6; i++) ring.push(i); // wraps around
  t.deepEqual(ring.take(2), [3, 4]);
  t.deepEqual(ring.take(10), [5, 6]);
  t.deepEqual(ring.take(1), []);
  t.deepEqual(ring.take(-3), []);
  t.deepEqual(ring.take(Number.NaN), []);
});

test('putBack puts a taken batch in front; what does not fit is dropped from its oldest end and counted', (t) => {
  const ring = new RingBuffer<string>(4);
  for (const s of ['a', 'b', 'c', 'd']) ring.push(s);
  const batch = ring.take(2); // a, b out
  ring.push('e');
  ring.push('f'); // full again: c d e f
  t.is(ring.putBack(batch), 2, 'no room: both dropped');
  t.deepEqual([...ring], ['c', 'd', 'e', 'f']);
  t.is(ring.dropped, 2);

  const again = ring.take(3); // c d e
  ring.push('g'); // f g
  t.is(ring.putBack(again), 1, 'room for two: the oldest (c) is dropped');
  t.deepEqual([...ring], ['d', 'e', 'f', 'g']);
  t.is(ring.dropped, 3);
});

test('removeWhere removes matches in place without counting them as dropped', (t) => {
  const ring = new RingBuffer<number>(5);
  for (let i = 1; i <= 7; i++) ring.push(i); // 3..7, two dropped
  t.is(ring.removeWhere((n) => n % 2 === 1), 3);
  t.deepEqual([...ring], [4, 6]);
  t.is(ring.dropped, 2);
  ring.push(8);
  t.deepEqual([...ring], [4, 6, 8]);
});

test('clear empties without counting', (t) => {
  const ring = new RingBuffer<number>(2);
  ring.push(1);
  ring.push(2);
  ring.clear();
  t.is(ring.size, 0);
  t.is(ring.dropped, 0);
  t.deepEqual([...ring], []);
});

test('a capacity that is not a positive integer is refused', (t) => {
  for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => new RingBuffer(bad), { instanceOf: RangeError }, String(bad));
  }
});
