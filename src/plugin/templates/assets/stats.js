// Local statistics viewer: draws the two charts from the page's JSON data attribute, and
// wires Delete everything (with a confirmation) to the API.
(function () {
  'use strict';
  var root = document.querySelector('[data-telemetry-stats]');
  if (!root) return;
  // The page's language: the server renders the translated texts onto the root element.
  function text(name, fallback) { return root.getAttribute('data-text-' + name) || fallback; }
  // Numbers and times added by "Show more" in the page's locale, like the rows rendered on the server.
  var locale = root.getAttribute('data-locale') || undefined;
  function num(n) { try { return new Intl.NumberFormat(locale, { maximumFractionDigits: 1 }).format(n); } catch (e) { return String(n); } }
  function when(iso) { var d = new Date(iso); if (isNaN(d.getTime())) return iso; try { return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(d); } catch (e) { return iso; } }
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

  // Outbound ledger: "Show more" appends the next page from GET {api}/ledger, built with
  // textContent only (never HTML from the server).
  var outbound = root.querySelector('[data-telemetry-outbound]');
  var more = outbound && outbound.querySelector('[data-telemetry-outbound-more]');
  if (more && kct) {
    var rows = outbound.querySelector('[data-telemetry-outbound-rows]');
    var countLabel = outbound.querySelector('[data-telemetry-outbound-count]');
    var pageSize = Number(outbound.getAttribute('data-page-size')) || 25;
    var cell = function (tr, text, note) {
      var td = document.createElement('td');
      td.textContent = text;
      if (note) {
        var div = document.createElement('div');
        div.className = 'kct-muted';
        div.textContent = note;
        td.appendChild(div);
      }
      tr.appendChild(td);
    };
    more.addEventListener('click', function () {
      more.disabled = true;
      var shown = rows.querySelectorAll('tr').length;
      kct.request('GET', api + '/ledger?limit=' + pageSize + '&offset=' + shown).then(function (result) {
        if (!result.ok || !result.data) { more.disabled = false; return; }
        result.data.entries.forEach(function (e) {
          var tr = document.createElement('tr');
          cell(tr, when(e.sent_at));
          cell(tr, e.kind);
          cell(tr, e.method + ' ' + e.endpoint, e.request_body);
          var counts = e.counts ? Object.keys(e.counts).map(function (k) { return k + ' ' + e.counts[k]; }).join(', ') : '';
          cell(tr, e.record_count === null ? '' : num(e.record_count), counts);
          cell(tr, e.bytes === null ? '' : num(e.bytes));
          var answer = text('outcome-' + e.outcome, e.outcome) + (e.response_code ? ' (' + e.response_code + ')' : '') + (e.attempts > 1 ? ' · ' + text('attempts', '{count} attempts').replace('{count}', num(e.attempts)) : '');
          var notes = [e.error, e.details && e.details.secret_received ? text('secret-received', 'secret received (kept in installation.json, not here)') : null, e.details && e.details.retry].filter(Boolean).join(' · ');
          cell(tr, answer, notes);
          rows.appendChild(tr);
        });
        var now = rows.querySelectorAll('tr').length;
        if (countLabel) countLabel.textContent = text('shown-of-total', '{shown} of {total}').replace('{shown}', now).replace('{total}', result.data.total);
        // .kct-btn sets display, which would win over the hidden attribute alone.
        if (now >= result.data.total || result.data.entries.length === 0) { more.hidden = true; more.style.display = 'none'; }
        else more.disabled = false;
      });
    });
  }
  var del = root.querySelector('[data-telemetry-delete]');
  var message = root.querySelector('[data-telemetry-message]');
  if (del && kct) {
    del.addEventListener('click', function () {
      kct.confirm(text('confirm-delete', 'Delete all local usage statistics and the submission ledger, and ask the collector to erase this installation? This cannot be undone.'), text('delete-all', 'Delete everything')).then(function (confirmed) {
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
          if (message) message.textContent = text('delete-failed', 'Deleting failed: {reason}').replace('{reason}', (result.data && result.data.error && result.data.error.message) || result.status);
        });
      });
    });
  }
})();
