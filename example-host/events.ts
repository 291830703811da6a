// The example host's events, declared for the privacy guard (the `events` option): each property
// passes when it matches its declaration, and docs/events.md lists them beside the plugin's own.
import type { EventDeclarations } from '../src/index.js';

const SOURCE = ['web', 'api'];
const LOGIN_METHOD = ['password'];

/** How docs/events.md names them. */
export const EXAMPLE_HOST_EVENTS_LABEL = 'the example host (example-host/events.ts)';

export const EXAMPLE_HOST_EVENTS: EventDeclarations = {
  'auth.login': { method: LOGIN_METHOD },
  'auth.login_failed': { method: LOGIN_METHOD },
  'auth.logout': { method: LOGIN_METHOD },
  'project.created': { source: SOURCE },
  'timer.started': { source: SOURCE },
  'timer.stopped': { source: SOURCE, reason: ['switched'], duration_minutes: 'number' },
  'report.viewed': { range_days: 'number' },
  'report.exported': { format: ['csv'] },
  'settings.updated': { week_start: ['monday', 'sunday'], duration_format: ['hm', 'decimal'], language: ['auto', 'en', 'de'] },
  // A route template such as /projects/:id (never the raw path), or `unmatched`.
  'app.error': { status_code: 'number', route: { pattern: /unmatched|(\/[A-Za-z0-9_.:-]*)+/ } },
};
