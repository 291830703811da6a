// Shared by the callgrind benches (request-instructions.ts, middleware-instructions.ts): is valgrind
// here, and what each dump of one run counted.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { report } from './common.js';

/** The libc function a measured process calls to mark a window boundary (callgrind `--dump-before=getpriority`). */
export const MARK_FUNCTION = 'getpriority';

/** `valgrind --version`, or null when valgrind is not installed. */
function valgrindVersion(): string | null {
  try {
    return execFileSync('valgrind', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

/** valgrind's version; without valgrind, says the bench is skipped, reports no ratios and exits. */
export function valgrindOrSkip(bench: string): string {
  const version = valgrindVersion();
  if (version !== null) return version;
  console.log(`${bench}: skipped, valgrind is not installed (Debian: apt-get install valgrind)`);
  report(bench, [], { skipped: 'valgrind not installed' });
  process.exit(0);
}

/** Callgrind's parts of one run (`--callgrind-out-file=base`): the instruction total of each dump and what triggered it, in order. */
export function partsOf(base: string): { part: number; trigger: string; total: number }[] {
  const files = readdirSync(dirname(base)).filter((name) => name.startsWith(`${basename(base)}.`));
  return files
    .map((name) => {
      const text = readFileSync(join(dirname(base), name), 'utf8');
      return { part: Number(/^part:\s+(\d+)/m.exec(text)?.[1]), trigger: /^desc: Trigger: (.*)$/m.exec(text)?.[1] ?? '', total: Number(/^totals:\s+(\d+)/m.exec(text)?.[1]) };
    })
    .sort((a, b) => a.part - b.part);
}
