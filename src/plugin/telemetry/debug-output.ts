// TELEMETRY_DEBUG output: each would-be payload printed whole, as indented JSON, to stderr (or the
// `debugOutput` option). Not through the logger: the default logger is quiet below `warn`, and a
// console logger shows nested objects as `[Object]`.
export type DebugOutput = (text: string) => void;

export const stderrDebugOutput: DebugOutput = (text) => {
  process.stderr.write(text);
};

/** Prints `[koa-consent-telemetry] TELEMETRY_DEBUG: <title>` and the payload; never throws. */
export function printDebugPayload(output: DebugOutput, title: string, payload: unknown): void {
  try {
    output(`[koa-consent-telemetry] TELEMETRY_DEBUG: ${title}\n${JSON.stringify(payload, null, 2)}\n`);
  } catch {
    // printing is best effort: a broken writer must not break the pipeline
  }
}
