// docs/events.md is generated from the code's catalog, and the catalog matches what the code enforces.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { renderEventsMarkdown, EVENT_CATALOG, neverCollected, collected } from '../src/telemetry/event-catalog.js';
import { BASE_SCHEMA_KEYS, BASE_EVENTS } from '../src/telemetry/base-schema.js';
import { DENIED_KEYS, REDACTION_RULES } from '../src/telemetry/privacy-guard.js';

test('docs/events.md is the generated catalog (run `npm run docs:events` after changing it)', async (t) => {
  const onDisk = await readFile(new URL('../docs/events.md', import.meta.url), 'utf8');
  t.is(onDisk, renderEventsMarkdown());
});

test('the base events in the catalog list exactly the fixed schema keys', (t) => {
  const heartbeat = EVENT_CATALOG.find((e) => e.name === BASE_EVENTS.heartbeat)!;
  t.deepEqual(Object.keys(heartbeat.properties).sort(), [...BASE_SCHEMA_KEYS].sort());
  const firstSeen = EVENT_CATALOG.find((e) => e.name === BASE_EVENTS.firstSeen)!;
  t.deepEqual(Object.keys(firstSeen.properties).sort(), BASE_SCHEMA_KEYS.filter((k) => k !== 'heartbeat_at').sort());
});

test('"never collected" names every redaction rule and every denied key the guard enforces', (t) => {
  const text = neverCollected().join('\n');
  for (const rule of REDACTION_RULES) t.true(text.includes(rule.label), rule.id);
  for (const key of DENIED_KEYS) t.true(text.includes(key), key);
  t.deepEqual(collected().map((c) => c.layer), ['base', 'detailed', 'weekly', 'local']);
});
