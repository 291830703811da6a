// Local statistics viewer: draws the two charts from the page's JSON data attribute, and
// wires Delete everything (with a confirmation) to the API.
(function () {
  'use strict';
  var root = document.querySelector('[data-telemetry-stats]');
  if (!root) return;
  var holder = root.querySelector('[data-telemetry-chart-data]');
  var data = { byDay: [], byType: [] };
  try { data = JSON.parse(holder.getAttribute('data-telemetry-chart-data')); } catch (e) { /* keep empty */ }

  if (window.Chart) {
    var color = '#334e68';
    var byDay = root.querySelector('[data-telemetry-chart="by-day"]');
    if (byDay) {
      new window.Chart(byDay, {
        type: 'line',
        data: {
          labels: data.byDay.map(function (d) { return d.day.slice(5); }),
          datasets: [{ label: 'Events', data: data.byDay.map(function (d) { return d.count; }), borderColor: color, backgroundColor: 'rgba(51,78,104,0.15)', fill: true, tension: 0.25 }],
        },
        options: { animation: false, maintainAspectRatio: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }, plugins: { legend: { display: false } } },
      });
    }
    var byType = root.querySelector('[data-telemetry-chart="by-type"]');
    if (byType) {
      new window.Chart(byType, {
        type: 'bar',
        data: {
          labels: data.byType.map(function (d) { return d.event_type; }),
          datasets: [{ label: 'Events', data: data.byType.map(function (d) { return d.count; }), backgroundColor: color }],
        },
        options: { animation: false, maintainAspectRatio: false, indexAxis: 'y', scales: { x: { beginAtZero: true, ticks: { precision: 0 } } }, plugins: { legend: { display: false } } },
      });
    }
  }

  var api = root.getAttribute('data-api');
  var kct = window.KoaConsentTelemetry;
  var del = root.querySelector('[data-telemetry-delete]');
  var message = root.querySelector('[data-telemetry-message]');
  if (del && kct) {
    del.addEventListener('click', function () {
      kct.confirm('Delete all local usage statistics and the submission ledger, and ask the collector to erase this installation? This cannot be undone.', 'Delete everything').then(function (confirmed) {
        if (!confirmed) return;
        del.disabled = true;
        kct.request('DELETE', api + '/delete-all').then(function (result) {
          if (result.ok) {
            var remote = (result.data && result.data.remote) || {};
            if (remote.requested && !remote.deleted) {
              // Keep the page so the admin reads that the collector's copy is still there.
              del.disabled = false;
              if (message) message.textContent = kct.deletedMessage(result.data);
              return;
            }
            window.location.reload();
            return;
          }
          del.disabled = false;
          if (message) message.textContent = 'Deleting failed: ' + ((result.data && result.data.error && result.data.error.message) || result.status);
        });
      });
    });
  }
})();
