// The dashboard's nunjucks templates. They live in a module (not loose .njk files) so the compiled
// package carries them without a copy step; the environment autoescapes everything.
export const PAGE_TEMPLATES: Record<string, string> = {
  'layout.njk': `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{{ csrfToken }}">
<meta name="robots" content="noindex">
<title>{% block title %}{{ title }}{% endblock %}</title>
<link rel="stylesheet" href="{{ assets.css }}">
</head>
<body>
<header class="kct-header">
  <h1>{{ title }}</h1>
  {% block actions %}{% endblock %}
</header>
<main class="kct-main">
{% block content %}{% endblock %}
</main>
<footer class="kct-footer">koa-consent-telemetry collector · counts only, no IP addresses · groups under {{ kThreshold }} installations are shown as “other”</footer>
{% block scripts %}{% endblock %}
</body>
</html>
`,
  'sign-in.njk': `{% extends "layout.njk" %}
{% block title %}Sign in · {{ title }}{% endblock %}
{% block content %}
<section class="kct-card kct-sign-in">
  <h2>Sign in</h2>
  {% if not tokenConfigured %}
  <p class="kct-error" role="alert">No admin token is configured: set COLLECTOR_ADMIN_TOKEN to use the dashboard.</p>
  {% else %}
  {% if error %}<p class="kct-error" role="alert" data-sign-in-error>{{ error }}</p>{% endif %}
  <form method="post" action="{{ paths.signIn }}" data-sign-in-form>
    <input type="hidden" name="_csrf" value="{{ csrfToken }}">
    <label for="kct-token">Admin token</label>
    <input id="kct-token" name="token" type="password" autocomplete="current-password" required autofocus>
    <button type="submit">Sign in</button>
  </form>
  {% endif %}
</section>
{% endblock %}
`,
  'dashboard.njk': `{% extends "layout.njk" %}
{% block actions %}
<nav class="kct-actions">
  <a class="kct-button" href="{{ paths.export }}" download data-export-json>Export JSON</a>
  <button type="button" class="kct-button kct-secondary" data-send-report="weekly">Send weekly report</button>
  <button type="button" class="kct-button kct-secondary" data-send-report="monthly">Send monthly report</button>
  {% if signedInWithCookie %}
  <form method="post" action="{{ paths.signOut }}" class="kct-inline">
    <input type="hidden" name="_csrf" value="{{ csrfToken }}">
    <button type="submit" class="kct-button kct-secondary" data-sign-out>Sign out</button>
  </form>
  {% endif %}
</nav>
{% endblock %}
{% block content %}
<p class="kct-status" data-report-status role="status" aria-live="polite"></p>
<section class="kct-cards" aria-label="Overview">
  <div class="kct-card" data-card="total"><span class="kct-label">Installations</span><span class="kct-value">{{ overview.total }}</span></div>
  <div class="kct-card" data-card="active_7d"><span class="kct-label">Active (7 days)</span><span class="kct-value">{{ overview.active_7d }}</span></div>
  <div class="kct-card" data-card="active_30d"><span class="kct-label">Active (30 days)</span><span class="kct-value">{{ overview.active_30d }}</span></div>
  <div class="kct-card" data-card="growth"><span class="kct-label">Growth (7 days)</span><span class="kct-value">{% if overview.growth_7d_percent === null %}–{% else %}{{ overview.growth_7d_percent }} %{% endif %}</span></div>
</section>

<section class="kct-card kct-anomalies" aria-label="Anomalies">
  <h2>Anomalies</h2>
  {% if anomalies.length %}
  <ul>
    {% for a in anomalies %}
    <li class="kct-anomaly kct-{{ a.severity }}" data-anomaly="{{ a.rule }}"><span class="kct-severity">{{ a.severity }}</span> <strong>{{ a.title }}</strong> — {{ a.message }} <span class="kct-muted">({{ a.period.start }} – {{ a.period.end }})</span></li>
    {% endfor %}
  </ul>
  {% else %}
  <p class="kct-muted" data-no-anomalies>No anomalies.</p>
  {% endif %}
</section>

<section class="kct-charts">
  <figure class="kct-card kct-wide"><figcaption>Installations over time</figcaption><div class="kct-chart"><canvas id="chart-installations" aria-label="Installations over time" role="img"></canvas></div></figure>
  <figure class="kct-card"><figcaption>Deployment modes</figcaption><div class="kct-chart"><canvas id="chart-deployment" aria-label="Deployment modes" role="img"></canvas></div></figure>
  <figure class="kct-card"><figcaption>Top 5 versions</figcaption><div class="kct-chart"><canvas id="chart-versions" aria-label="Top 5 versions" role="img"></canvas></div></figure>
  <figure class="kct-card"><figcaption>Top 10 countries</figcaption><div class="kct-chart"><canvas id="chart-countries" aria-label="Top 10 countries" role="img"></canvas></div></figure>
  <figure class="kct-card kct-wide"><figcaption>Feature adoption (enabled / disabled, active installations, 30 days)</figcaption><div class="kct-chart"><canvas id="chart-features" aria-label="Feature adoption, enabled and disabled" role="img"></canvas></div></figure>
  <section class="kct-card" aria-label="Least-used features" data-least-used>
    <h2>Least-used features</h2>
    {% if adoption.least_used.length %}
    <ol>
      {% for f in adoption.least_used %}
      <li data-feature="{{ f.feature }}"><strong>{{ f.feature }}</strong> — {{ f.enabled }} of {{ adoption.active }} ({% if f.enabled_percent === null %}–{% else %}{{ f.enabled_percent }} %{% endif %})</li>
      {% endfor %}
    </ol>
    {% else %}
    <p class="kct-muted">No feature is enabled by {{ kThreshold }} or more installations yet.</p>
    {% endif %}
    {% if adoption.rare_features %}<p class="kct-muted" data-rare-features>{{ adoption.rare_features }} more feature(s) used by fewer than {{ kThreshold }} installations.</p>{% endif %}
  </section>
  <figure class="kct-card kct-wide"><figcaption>Error rate by version × deployment mode (installations whose latest report had errors, 30 days)</figcaption><div class="kct-chart"><canvas id="chart-errors-version-mode" aria-label="Error rate by version and deployment mode" role="img"></canvas></div>
    <table class="kct-table" data-errors-version-mode>
      <thead><tr><th>Version</th><th>Mode</th><th>Installations</th><th>With errors</th><th>Error rate</th></tr></thead>
      <tbody>
      {% for r in errorsByVersionMode.rows %}
      <tr data-version="{{ r.version }}" data-mode="{{ r.mode }}"><td>{{ r.version }}</td><td>{{ r.mode }}</td><td>{{ r.installations }}</td><td>{{ r.installations_with_errors }}</td><td>{% if r.error_rate_percent === null %}–{% else %}{{ r.error_rate_percent }} %{% endif %}</td></tr>
      {% else %}
      <tr><td colspan="5" class="kct-muted">No data.</td></tr>
      {% endfor %}
      </tbody>
    </table>
  </figure>
</section>
<script type="application/json" id="kct-collector-data">{{ dataJson | safe }}</script>
{% endblock %}
{% block scripts %}
<script src="{{ assets.chart }}"></script>
<script src="{{ assets.js }}"></script>
{% endblock %}
`,
  'public.njk': `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · public insights</title>
<link rel="stylesheet" href="{{ assets.css }}">
</head>
<body>
<header class="kct-header">
  <h1>{{ title }} · public insights</h1>
  <nav class="kct-actions"><a class="kct-button kct-secondary" href="{{ jsonPath }}" data-public-json>JSON</a></nav>
</header>
<main class="kct-main">
<p class="kct-muted" data-public-method>Anonymous counts from the installations that chose to share usage statistics, as of {{ insights.generated_at }}. Every count is rounded to the nearest {{ rounding }}; groups under {{ kThreshold }} installations are shown as “other” or left out.</p>
{% for w in insights.windows %}
<section class="kct-public-window" data-window="{{ w.window_days }}">
  <h2>Last {{ w.window_days }} days · about {{ w.active }} active installations</h2>
  <div class="kct-charts">
    <figure class="kct-card"><figcaption>Versions</figcaption><div class="kct-chart"><canvas id="public-{{ w.window_days }}-versions" aria-label="Versions, last {{ w.window_days }} days" role="img"></canvas></div></figure>
    <figure class="kct-card"><figcaption>Deployment modes</figcaption><div class="kct-chart"><canvas id="public-{{ w.window_days }}-modes" aria-label="Deployment modes, last {{ w.window_days }} days" role="img"></canvas></div></figure>
    <figure class="kct-card"><figcaption>Countries</figcaption><div class="kct-chart"><canvas id="public-{{ w.window_days }}-countries" aria-label="Countries, last {{ w.window_days }} days" role="img"></canvas></div></figure>
    <figure class="kct-card"><figcaption>Feature adoption</figcaption><div class="kct-chart"><canvas id="public-{{ w.window_days }}-features" aria-label="Feature adoption, last {{ w.window_days }} days" role="img"></canvas></div></figure>
  </div>
</section>
{% endfor %}
<script type="application/json" id="kct-public-data">{{ dataJson | safe }}</script>
</main>
<footer class="kct-footer">koa-consent-telemetry collector · counts only, rounded, no IP addresses, no cookies</footer>
<script src="{{ assets.chart }}"></script>
<script src="{{ assets.js }}"></script>
</body>
</html>
`,
};

export const EMAIL_TEMPLATES: Record<string, string> = {
  'report.njk': `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="margin:0;padding:24px;background:#f4f5f7;font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;color:#1f2933;">
<table role="presentation" width="100%" style="max-width:640px;margin:0 auto;background:#ffffff;border-radius:8px;padding:24px;">
<tr><td>
<h1 style="font-size:20px;margin:0 0 4px;">{{ title }} — {{ kindLabel }} report</h1>
<p style="margin:0 0 16px;color:#616e7c;">{{ periodLabel }} · generated {{ generatedAt }}</p>
<table role="presentation" width="100%" style="border-collapse:collapse;margin-bottom:16px;">
<tr>
{% for card in cards %}
<td style="padding:8px;border:1px solid #e4e7eb;text-align:center;" data-card="{{ card.key }}"><div style="font-size:12px;color:#616e7c;">{{ card.label }}</div><div style="font-size:22px;font-weight:600;">{{ card.value }}</div></td>
{% endfor %}
</tr>
</table>
<h2 style="font-size:16px;">Anomalies</h2>
{% if anomalies.length %}
<ul>{% for a in anomalies %}<li data-anomaly="{{ a.rule }}"><strong>[{{ a.severity }}] {{ a.title }}</strong> — {{ a.message }}</li>{% endfor %}</ul>
{% else %}<p>No anomalies.</p>{% endif %}
{% for section in sections %}
<h2 style="font-size:16px;">{{ section.title }}</h2>
<table role="presentation" width="100%" style="border-collapse:collapse;">
<tr><th align="left" style="border-bottom:1px solid #e4e7eb;">{{ section.column }}</th><th align="right" style="border-bottom:1px solid #e4e7eb;">Installations</th><th align="right" style="border-bottom:1px solid #e4e7eb;">Share</th></tr>
{% for row in section.rows %}
<tr><td>{{ row.label }}</td><td align="right">{{ row.installations }}</td><td align="right">{% if row.percent === null %}–{% else %}{{ row.percent }} %{% endif %}</td></tr>
{% else %}
<tr><td colspan="3" style="color:#616e7c;">No data.</td></tr>
{% endfor %}
</table>
{% endfor %}
{% if errorsByVersionMode %}
<h2 style="font-size:16px;" data-section="errors-by-version-mode">Errors by version and deployment mode (last {{ errorsByVersionMode.window_days }} days)</h2>
<table role="presentation" width="100%" style="border-collapse:collapse;">
<tr><th align="left" style="border-bottom:1px solid #e4e7eb;">Version</th><th align="left" style="border-bottom:1px solid #e4e7eb;">Mode</th><th align="right" style="border-bottom:1px solid #e4e7eb;">Installations</th><th align="right" style="border-bottom:1px solid #e4e7eb;">With errors</th><th align="right" style="border-bottom:1px solid #e4e7eb;">Error rate</th></tr>
{% for row in errorsByVersionMode.rows %}
<tr data-version="{{ row.version }}" data-mode="{{ row.mode }}"><td>{{ row.version }}</td><td>{{ row.mode }}</td><td align="right">{{ row.installations }}</td><td align="right">{{ row.installations_with_errors }}</td><td align="right">{% if row.error_rate_percent === null %}–{% else %}{{ row.error_rate_percent }} %{% endif %}</td></tr>
{% else %}
<tr><td colspan="5" style="color:#616e7c;">No data.</td></tr>
{% endfor %}
</table>
{% endif %}
<p style="margin-top:24px;font-size:12px;color:#616e7c;">Counts only; groups under {{ kThreshold }} installations are shown as “other”. Sent by the koa-consent-telemetry collector.</p>
</td></tr>
</table>
</body></html>
`,
};
