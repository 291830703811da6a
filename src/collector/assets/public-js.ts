// The public insights page's script: draws its charts from the JSON the page carries. It fetches
// nothing. Plain ES5-ish browser code, no template literals.
export const PUBLIC_JS = String.raw`(function () {
  'use strict';
  var dataElement = document.getElementById('kct-public-data');
  if (!dataElement) return;
  var data = JSON.parse(dataElement.textContent || '{}');
  var palette = ['#2563eb', '#16a34a', '#f59e0b', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#ea580c', '#4b5563'];
  var charts = (window.kctCharts = {});
  function colors(n) {
    var out = [];
    for (var i = 0; i < n; i++) out.push(palette[i % palette.length]);
    return out;
  }
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
