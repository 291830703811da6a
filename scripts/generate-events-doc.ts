// Writes docs/events.md from the code's event catalog (test/event-catalog.test.ts checks it is current).
import { writeFileSync } from 'node:fs';
import { renderEventsMarkdown } from '../src/telemetry/event-catalog.js';

writeFileSync(new URL('../docs/events.md', import.meta.url), renderEventsMarkdown());
console.log('docs/events.md written');
