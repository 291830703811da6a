// Unknown option keys: both products parse their options with strict objects, and a key zod does not
// recognise is reported with the nearest known key of the same level ("did you mean retentionDays?"),
// so a typo fails at construction instead of being ignored.
import type { z } from 'zod';

/** Levenshtein distance (insertions, deletions, substitutions), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[y.length]!;
}

/** The known key closest to `key`, when it is close enough to be a typo (else null). */
export function nearestKey(key: string, known: readonly string[]): string | null {
  const limit = Math.max(2, Math.floor(key.length / 3));
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(key, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= limit ? best : null;
}

type AnySchema = z.core.$ZodType;
interface Def {
  type: string;
  innerType?: AnySchema;
  in?: AnySchema;
  shape?: Record<string, AnySchema>;
  element?: AnySchema;
  valueType?: AnySchema;
}
const defOf = (schema: AnySchema): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

function unwrap(schema: AnySchema): AnySchema {
  let current = schema;
  for (let depth = 0; depth < 20; depth++) {
    const def = defOf(current);
    const next = def.innerType ?? (def.type === 'pipe' ? def.in : undefined);
    if (!next) return current;
    current = next;
  }
  return current;
}

/** The keys an object schema accepts at `path` (array indexes and record keys step inside). */
export function knownKeysAt(schema: AnySchema, path: readonly PropertyKey[]): string[] {
  let current: AnySchema | undefined = unwrap(schema);
  for (const segment of path) {
    const def: Def = defOf(current);
    if (def.type === 'object') current = def.shape?.[String(segment)];
    else if (def.type === 'array') current = def.element;
    else if (def.type === 'record') current = def.valueType;
    else current = undefined;
    if (!current) return [];
    current = unwrap(current);
  }
  const def = defOf(current);
  return def.type === 'object' ? Object.keys(def.shape ?? {}) : [];
}

/**
 * The message for a parse failure: an unknown key first (a typo often also explains a "required"
 * issue), naming the key and the nearest known one; otherwise the first issue with its field.
 */
export function describeOptionIssues(prefix: string, schema: AnySchema, issues: readonly z.core.$ZodIssue[]): string {
  const unknown = issues.find((issue) => issue.code === 'unrecognized_keys');
  if (unknown && unknown.code === 'unrecognized_keys') {
    const key = unknown.keys[0]!;
    const at = unknown.path.map(String);
    const field = [...at, key].join('.');
    const suggestion = nearestKey(key, knownKeysAt(schema, unknown.path));
    const hint = suggestion ? ` (did you mean ${[...at, suggestion].join('.')}?)` : '';
    return `${prefix}: unknown option \`${field}\`${hint}`;
  }
  const issue = issues[0]!;
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(options)';
  return `${prefix}: invalid option \`${field}\`: ${issue.message}`;
}
