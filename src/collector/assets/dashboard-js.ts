// The dashboard's script: draws the charts from the JSON the page carries and wires the report
// buttons (POST with the page's CSRF token). Plain ES5-ish browser code, no template literals.
import { CHART_COLORS_JS } from './chart-colors-js.js';

export const DASHBOARD_JS = String.raw`(function () {
  'use strict';
  var dataElement = document.getElementById('kct-collector-data');
  if (!dataElement) return;
  var data = JSON.parse(dataElement.textContent || '{}');
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute('content') : '';
  ${CHART_COLORS_JS}
  var charts = (window.kctCharts = {});
  function labelOf(row, key) { return row.other ? 'other' : String(row[key]); }
  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas || typeof window.Chart !== 'function') return;
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    charts[id] = new window.Chart(canvas, config);
  }
  function bar(id, rows, key, label, horizontal) {
    draw(id, {
      type: 'bar',
      data: { labels: rows.map(function (r) { return labelOf(r, key); }), datasets: [{ label: label, data: rows.map(function (r) { return horizontal ? r.percent : r.installations; }), backgroundColor: colors(rows.length) }] },
      options: { indexAxis: horizontal ? 'y' : 'x', plugins: { legend: { display: false } } }
    });
  }

  var trend = (data.installations && data.installations.trend) || [];
  draw('chart-installations', {
    type: 'line',
    data: {
      labels: trend.map(function (p) { return p.date; }),
      datasets: [
        { label: 'Registered', data: trend.map(function (p) { return p.total; }), borderColor: palette[0], backgroundColor: palette[0], tension: 0.2 },
        { label: 'Active (7 days)', data: trend.map(function (p) { return p.active; }), borderColor: palette[1], backgroundColor: palette[1], tension: 0.2 }
      ]
    }
  });
  var modes = (data.deployment && data.deployment.modes) || [];
  draw('chart-deployment', {
    type: 'doughnut',
    data: { labels: modes.map(function (r) { return labelOf(r, 'mode'); }), datasets: [{ data: modes.map(function (r) { return r.installations; }), backgroundColor: colors(modes.length) }] }
  });
  var adoption = data.adoption || {};
  bar('chart-versions', adoption.top_versions || [], 'version', 'Installations');
  bar('chart-countries', adoption.top_countries || [], 'country', 'Installations');
  var features = adoption.features || [];
  draw('chart-features', {
    type: 'bar',
    data: {
      labels: features.map(function (f) { return f.feature; }),
      datasets: [
        { label: 'Enabled', data: features.map(function (f) { return f.enabled; }), backgroundColor: palette[1] },
        { label: 'Disabled', data: features.map(function (f) { return f.disabled; }), backgroundColor: '#9ca3af' }
      ]
    },
    options: { indexAxis: 'y', scales: { x: { stacked: true }, y: { stacked: true } } }
  });
  // Error rate per version (x axis) with one bar per deployment mode.
  var errorRows = (data.errorsByVersionMode && data.errorsByVersionMode.rows) || [];
  var versionLabels = [];
  var modeLabels = [];
  errorRows.forEach(function (r) {
    if (versionLabels.indexOf(r.version) < 0) versionLabels.push(r.version);
    if (modeLabels.indexOf(r.mode) < 0) modeLabels.push(r.mode);
  });
  versionLabels.sort();
  draw('chart-errors-version-mode', {
    type: 'bar',
    data: {
      labels: versionLabels,
      datasets: modeLabels.map(function (mode, i) {
        return {
          label: mode,
          backgroundColor: palette[i % palette.length],
          data: versionLabels.map(function (version) {
            var row = errorRows.filter(function (r) { return r.version === version && r.mode === mode; })[0];
            return row ? row.error_rate_percent : null;
          })
        };
      })
    },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: '% of installations with errors' } } } }
  });

  var status = document.querySelector('[data-report-status]');
  var buttons = document.querySelectorAll('[data-send-report]');
  Array.prototype.forEach.call(buttons, function (button) {
    button.addEventListener('click', function () {
      var kind = button.getAttribute('data-send-report');
      button.disabled = true;
      if (status) status.textContent = 'Sending the ' + kind + ' report…';
      fetch(data.paths.reports + '/' + kind, { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf, 'Accept': 'application/json' } })
        .then(function (response) { return response.json().then(function (body) { return { ok: response.ok, body: body }; }); })
        .then(function (result) {
          if (!status) return;
          status.textContent = result.ok ? 'The ' + kind + ' report was sent to ' + result.body.recipients.join(', ') + '.' : 'Not sent: ' + (result.body.error ? result.body.error.message : 'unknown error');
        })
        .catch(function () { if (status) status.textContent = 'Not sent: the collector did not answer.'; })
        .then(function () { button.disabled = false; });
    });
  });
})();
`;
