// The first start of an installation (installation.json just created) logs one short notice, at
// `warn` so the quiet default logger shows it: what is collected, that detailed analytics wait for an
// admin, where the settings page is, and how to turn everything off. Not under a kill switch: the
// operator has already turned telemetry off, and nothing leaves (docs/configuration.md).
export function firstRunNotice(settingsPath: string): string {
  return [
    'koa-consent-telemetry: first start of this installation.',
    'It keeps local usage statistics (event counts, page views per route) in your own database, and',
    'exports an anonymous installation footprint (app version, platform) only to an OTLP endpoint you configure.',
    `Detailed analytics and the weekly summary stay off until an admin opts in at ${settingsPath}.`,
    'To turn everything off, set DO_NOT_TRACK=1 (or TELEMETRY_DISABLED=1).',
  ].join(' ');
}
