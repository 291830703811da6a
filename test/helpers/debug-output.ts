// Reads what debug mode (TELEMETRY_DEBUG) printed: `[koa-consent-telemetry] TELEMETRY_DEBUG: <title>`
// lines, each followed by one indented JSON payload.
export const DEBUG_HEADER = '[koa-consent-telemetry] TELEMETRY_DEBUG: ';

/** Each printed payload: its title line and the parsed JSON under it (other lines in between are skipped). */
export function printedPayloads(text: string): { title: string; payload: any }[] {
  return text
    .split(DEBUG_HEADER)
    .slice(1)
    .map((chunk) => {
      const newline = chunk.indexOf('\n');
      const body = chunk.slice(newline + 1);
      // The payload is the JSON up to its closing brace or bracket at column 0.
      const end = body.search(/^[}\]]$/m);
      return { title: chunk.slice(0, newline), payload: JSON.parse(body.slice(0, end + 1)) };
    });
}

/** A debugOutput that keeps what is printed. */
export function keptDebugOutput(): { output: (text: string) => void; text: () => string; payloads: () => { title: string; payload: any }[] } {
  const chunks: string[] = [];
  return { output: (text) => void chunks.push(text), text: () => chunks.join(''), payloads: () => printedPayloads(chunks.join('')) };
}
