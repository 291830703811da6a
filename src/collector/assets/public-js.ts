// The public insights page's script: draws its charts from the JSON the page carries. It fetches
// nothing. Plain ES5-ish browser code, no template literals.
import { CHART_COLORS_JS } from './chart-colors-js.js';

export const PUBLIC_JS = String.raw`(function () {
  'use strict';
  var dataElement = document.getElementById('kct-public-data');
  if (!dataElement) return;
  var data = JSON.parse(dataElement.textContent || '{}');
  ${CHART_COLORS_JS}
  var charts = (window.kctCharts = {});
  function draw(id, type, rows, options) {
    var canvas = document.getElementById(id);
    if (!canvas || typeof window.Chart !== 'function') return;
    charts[id] = new window.Chart(canvas, {
      type: type,
      data: { labels: rows.map(function (r) { return r.label; }), datasets: [{ label: 'Installations (rounded)', data: rows.map(function (r) { return r.installations; }), backgroundColor: colors(rows.length) }] },
      options: Object.assign({ responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { display: type === 'doughnut' } } }, options || {})
    });
  }
  (data.windows || []).forEach(function (w) {
    var id = 'public-' + w.window_days + '-';
    draw(id + 'versions', 'bar', w.versions || []);
    draw(id + 'modes', 'doughnut', w.deployment_modes || []);
    draw(id + 'countries', 'bar', w.countries || []);
    draw(id + 'features', 'bar', w.features || [], { indexAxis: 'y' });
  });
})();
`;
