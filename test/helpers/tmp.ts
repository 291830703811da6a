import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';

/** A new, unique, empty directory under os.tmpdir(). */
export async function makeTempDir(prefix = 'kct-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Remove `dir` (recursively) when the ava test `t` ends, pass or fail. */
export function registerCleanup(t: ExecutionContext, dir: string): string {
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** makeTempDir + registerCleanup in one call. */
export async function tempDirFor(t: ExecutionContext, prefix?: string): Promise<string> {
  return registerCleanup(t, await makeTempDir(prefix));
}
