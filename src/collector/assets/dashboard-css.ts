// The dashboard's stylesheet, served by the collector (no CDN, no web fonts).
export const DASHBOARD_CSS = `
:root { color-scheme: light dark; --bg: #f4f5f7; --fg: #1f2933; --muted: #616e7c; --card: #fff; --line: #e4e7eb; --accent: #2563eb; --high: #b91c1c; --medium: #b45309; --info: #1d4ed8; }
@media (prefers-color-scheme: dark) { :root { --bg: #111827; --fg: #e5e7eb; --muted: #9ca3af; --card: #1f2937; --line: #374151; --accent: #60a5fa; --high: #f87171; --medium: #fbbf24; --info: #93c5fd; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
.kct-header { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; justify-content: space-between; padding: 16px 24px; background: var(--card); border-bottom: 1px solid var(--line); }
.kct-header h1 { margin: 0; font-size: 20px; }
.kct-actions { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
.kct-inline { display: inline; margin: 0; }
.kct-main { padding: 24px; max-width: 1280px; margin: 0 auto; }
.kct-footer { padding: 16px 24px 32px; color: var(--muted); font-size: 12px; text-align: center; }
.kct-card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px; margin: 0; }
.kct-cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 16px; margin-bottom: 16px; }
.kct-cards .kct-card { display: flex; flex-direction: column; gap: 4px; }
.kct-label { color: var(--muted); font-size: 13px; }
.kct-value { font-size: 28px; font-weight: 600; }
.kct-anomalies { margin-bottom: 16px; }
.kct-anomalies h2 { margin: 0 0 8px; font-size: 16px; }
.kct-anomalies ul { margin: 0; padding-left: 0; list-style: none; }
.kct-anomaly { padding: 6px 0; border-top: 1px solid var(--line); }
.kct-anomaly:first-child { border-top: 0; }
.kct-severity { display: inline-block; min-width: 64px; text-align: center; border-radius: 999px; padding: 1px 8px; font-size: 12px; font-weight: 600; text-transform: uppercase; color: #fff; }
.kct-high .kct-severity { background: var(--high); }
.kct-medium .kct-severity { background: var(--medium); }
.kct-info .kct-severity { background: var(--info); }
.kct-charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 16px; }
.kct-charts .kct-wide { grid-column: 1 / -1; }
.kct-charts figcaption { font-weight: 600; margin-bottom: 8px; }
.kct-chart { position: relative; height: 280px; }
.kct-wide .kct-chart { height: 320px; }
.kct-muted { color: var(--muted); }
.kct-error { color: var(--high); }
.kct-status { min-height: 1.4em; margin: 0 0 8px; color: var(--muted); }
.kct-button, button { display: inline-block; font: inherit; padding: 6px 14px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; text-decoration: none; cursor: pointer; }
.kct-secondary { background: transparent; color: var(--accent); }
.kct-table { width: 100%; border-collapse: collapse; margin-top: 12px; font-size: 13px; }
.kct-table th, .kct-table td { text-align: left; padding: 4px 6px; border-top: 1px solid var(--line); }
[data-least-used] h2 { margin: 0 0 8px; font-size: 16px; }
.kct-public-window { margin-bottom: 24px; }
.kct-public-window h2 { font-size: 17px; }
.kct-sign-in { max-width: 420px; margin: 48px auto; }
.kct-sign-in form { display: flex; flex-direction: column; gap: 8px; }
.kct-sign-in input { font: inherit; padding: 8px; border-radius: 6px; border: 1px solid var(--line); background: var(--bg); color: var(--fg); }
`;
