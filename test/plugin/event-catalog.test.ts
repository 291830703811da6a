// docs/events.md is generated from the code's catalog, and the catalog matches what the code enforces.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { renderEventsMarkdown, EVENT_CATALOG, neverCollected, collected } from '../../src/plugin/telemetry/event-catalog.js';
import { BASE_SCHEMA_KEYS, BASE_EVENTS } from '../../src/plugin/telemetry/base-schema.js';
import { GUARD_REASONS, GUARD_REASON_LABELS } from '../../src/plugin/telemetry/privacy-guard.js';
import { EXAMPLE_HOST_EVENTS, EXAMPLE_HOST_EVENTS_LABEL } from '../../example-host/events.js';

test('docs/events.md is the generated catalog (run `npm run docs:events` after changing it)', async (t) => {
  const onDisk = await readFile(new URL('../../docs/events.md', import.meta.url), 'utf8');
  t.is(onDisk, renderEventsMarkdown(EXAMPLE_HOST_EVENTS, EXAMPLE_HOST_EVENTS_LABEL));
});

test('docs/events.md lists every event the example host declares, beside the plugin\'s own, with each property', async (t) => {
  const onDisk = await readFile(new URL('../../docs/events.md', import.meta.url), 'utf8');
  t.true(onDisk.includes(`## Events declared by ${EXAMPLE_HOST_EVENTS_LABEL}`));
  for (const [name, props] of Object.entries(EXAMPLE_HOST_EVENTS)) {
    t.true(onDisk.includes(`### \`${name}\``), name);
    for (const key of Object.keys(props)) t.true(onDisk.includes(`| \`${key}\` |`), `${name}.${key}`);
  }
  for (const event of EVENT_CATALOG) t.true(onDisk.includes(`### \`${event.name}\``), event.name);
});

test('the base events in the catalog list exactly the fixed schema keys', (t) => {
  const heartbeat = EVENT_CATALOG.find((e) => e.name === BASE_EVENTS.heartbeat)!;
  t.deepEqual(Object.keys(heartbeat.properties).sort(), [...BASE_SCHEMA_KEYS].sort());
  const firstSeen = EVENT_CATALOG.find((e) => e.name === BASE_EVENTS.firstSeen)!;
  t.deepEqual(Object.keys(firstSeen.properties).sort(), BASE_SCHEMA_KEYS.filter((k) => k !== 'heartbeat_at').sort());
});

test('"never collected" names every reason the guard removes something for', (t) => {
  const text = neverCollected().join('\n');
  for (const reason of GUARD_REASONS) t.true(text.includes(GUARD_REASON_LABELS[reason]) && text.includes(reason), reason);
  t.deepEqual(collected().map((c) => c.layer), ['base', 'detailed', 'weekly', 'local']);
});
