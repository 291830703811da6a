// The package's own back door to a plugin instance's parts, for its CLI, tests and benchmarks.
// Not published: src/index.ts does not export it and package.json "exports" does not reach it.
import { runtimeInternals, type RuntimeInternals, type TelemetryRuntime } from './runtime.js';

export type { RuntimeInternals } from './runtime.js';

const RUNTIMES = new WeakMap<object, TelemetryRuntime>();

/** Called once by telemetryPlugin() for the handle it returns. */
export function bindRuntime(handle: object, runtime: TelemetryRuntime): void {
  RUNTIMES.set(handle, runtime);
}

/** The wired parts behind a handle returned by telemetryPlugin(). */
export function runtimeOf(handle: object): RuntimeInternals {
  const runtime = RUNTIMES.get(handle);
  if (!runtime) throw new TypeError('runtimeOf(): not a handle returned by telemetryPlugin()');
  return runtimeInternals(runtime);
}
