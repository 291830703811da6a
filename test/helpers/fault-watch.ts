// Shared bits of the fault suites (test/faults-*.test.ts): a process-level watch for anything that
// escapes the plugin (unhandledRejection / uncaughtException), a silent logger that keeps what it
// was told, and a background "host probe" that keeps requesting GET /hello while a fault is active.
import type { ExecutionContext } from 'ava';
import type { Logger } from '../../src/plugin/types.js';

export interface ProcessFailure {
  kind: 'unhandledRejection' | 'uncaughtException';
  error: string;
}

const failures: ProcessFailure[] = [];
let installed = false;
const describe = (value: unknown): string => (value instanceof Error ? `${value.name}: ${value.message}\n${value.stack ?? ''}` : String(value));

/** Installs the process-level listeners (once per test process); returns the shared list. */
export function watchProcess(): ProcessFailure[] {
  if (!installed) {
    installed = true;
    process.on('unhandledRejection', (reason) => void failures.push({ kind: 'unhandledRejection', error: describe(reason) }));
    process.on('uncaughtException', (error) => void failures.push({ kind: 'uncaughtException', error: describe(error) }));
  }
  return failures;
}

export function assertNothingEscaped(t: ExecutionContext, from = 0): void {
  const escaped = failures.slice(from);
  t.deepEqual(escaped, [], `errors escaped to the process:\n${escaped.map((f) => `${f.kind}: ${f.error}`).join('\n')}`);
}

export interface KeptLogger extends Logger {
  lines: { level: string; msg: string }[];
}

export function keptLogger(): KeptLogger {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (...args: unknown[]) => void lines.push({ level, msg: args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ').slice(0, 500) });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), lines };
}

export interface HostProbe {
  /** Stops probing; resolves with every answer seen. */
  stop(): Promise<{ statuses: number[]; maxLatencyMs: number; errors: string[] }>;
}

/** Requests `GET path` every `everyMs` until stop(); a request that throws is recorded as an error. */
export function probeHost(request: (path: string) => Promise<Response>, path = '/hello', everyMs = 40): HostProbe {
  const statuses: number[] = [];
  const errors: string[] = [];
  let maxLatencyMs = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      try {
        const response = await request(path);
        await response.arrayBuffer();
        statuses.push(response.status);
      } catch (err) {
        errors.push(describe(err));
      }
      maxLatencyMs = Math.max(maxLatencyMs, Date.now() - started);
      await new Promise((done) => setTimeout(done, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { statuses, maxLatencyMs, errors };
    },
  };
}

/** Polls until `predicate` holds; rejects with `what` after `timeoutMs`. */
export async function until(predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 10));
  }
}
