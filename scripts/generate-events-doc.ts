// Writes docs/events.md from the code's event catalog and the example host's declared events
// (test/event-catalog.test.ts checks it is current).
import { writeFileSync } from 'node:fs';
import { renderEventsMarkdown } from '../src/plugin/telemetry/event-catalog.js';
import { EXAMPLE_HOST_EVENTS, EXAMPLE_HOST_EVENTS_LABEL } from '../example-host/events.js';

writeFileSync(new URL('../docs/events.md', import.meta.url), renderEventsMarkdown(EXAMPLE_HOST_EVENTS, EXAMPLE_HOST_EVENTS_LABEL));
console.log('docs/events.md written');
