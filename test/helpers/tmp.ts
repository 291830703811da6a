import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';

/** A new, unique, empty directory under os.tmpdir(). */
export async function makeTempDir(prefix = 'kct-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * Removes `dir` recursively. A process that is still closing (a SQLite journal being deleted, a
 * final flush writing installation.json) can add or remove an entry while rm walks the tree:
 * that is ENOTEMPTY / EBUSY / EPERM for a moment, not a failure, so rm retries (Node's own
 * back-off: maxRetries × retryDelay, growing linearly).
 */
export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
}

/** Remove `dir` (recursively, with retries) when the ava test `t` ends, pass or fail. */
export function registerCleanup(t: ExecutionContext, dir: string): string {
  t.teardown(() => removeDir(dir));
  return dir;
}

/** makeTempDir + registerCleanup in one call. */
export async function tempDirFor(t: ExecutionContext, prefix?: string): Promise<string> {
  return registerCleanup(t, await makeTempDir(prefix));
}
