import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { DeadlineExceededError, withDeadline } from '../../src/core/resilience/deadline.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);
const later = <T>(ms: number, value: T): Promise<T> => new Promise((done) => setTimeout(() => done(value), ms));

test('answers with the work when it settles first', async (t) => {
  t.is(await withDeadline(Promise.resolve(7), 1000), 7);
  t.is(await withDeadline(later(5, 'x'), 1000, { onTimeout: 'late' }), 'x');
  await t.throwsAsync(withDeadline(Promise.reject(new Error('boom')), 1000), { message: 'boom' });
});

test('rejects with DeadlineExceededError at the deadline', async (t) => {
  const error = await t.throwsAsync(withDeadline(never(), 20), { instanceOf: DeadlineExceededError });
  t.is(error?.ms, 20);
  t.is((error as unknown as { code: string }).code, 'ETIMEDOUT');
});

test('resolves with onTimeout at the deadline when one is given (undefined and false included)', async (t) => {
  t.is(await withDeadline(never<number>(), 10, { onTimeout: false }), false);
  t.is(await withDeadline(never<number>(), 10, { onTimeout: undefined }), undefined);
});

test('a negative, NaN or infinite deadline counts as zero', async (t) => {
  for (const ms of [-5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.is(await withDeadline(never<string>(), ms, { onTimeout: 'now' }), 'now', String(ms));
  }
});

test('a deadline beyond the timer limit does not fire at once (no timer overflow)', async (t) => {
  const answer = await Promise.race([withDeadline(never<string>(), 2 ** 40, { onTimeout: 'fired' }), later(50, 'still waiting')]);
  t.is(answer, 'still waiting');
});

test('a rejection after the deadline never becomes an unhandled rejection', async (t) => {
  const late = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('late failure')), 30));
  t.is(await withDeadline(late, 5, { onTimeout: 'gave up' }), 'gave up');
  await t.throwsAsync(withDeadline(new Promise<never>((_, reject) => setTimeout(() => reject(new Error('late 2')), 30)), 5), {
    instanceOf: DeadlineExceededError,
  });
  await later(80, null);
  t.deepEqual(unhandled, []);
});

test('the deadline timer never keeps the process alive', (t) => {
  // A child whose only pending work is a long deadline must exit at once.
  const script = `import { withDeadline } from ${JSON.stringify(path.join(repoRoot, 'src/core/resilience/deadline.ts'))};
withDeadline(new Promise(() => {}), 60_000, { onTimeout: 0 }); withDeadline(new Promise(() => {}), 60_000).catch(() => {});`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, timeout: 20_000 });
  t.is(child.status, 0, child.stderr.toString());
  t.is(child.signal, null, 'exited by itself, not killed at the timeout');
});
