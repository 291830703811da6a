// Privacy & Analytics page: consent toggles (opt-out asks first) and delete-everything.
(function () {
  'use strict';
  var root = document.querySelector('[data-telemetry-settings]');
  if (!root || !window.KoaConsentTelemetry) return;
  var api = root.getAttribute('data-api');
  var kct = window.KoaConsentTelemetry;
  var message = root.querySelector('[data-telemetry-message]');
  function say(text) { if (message) message.textContent = text; }
  // The page's language: the server renders the translated texts onto the root element.
  function text(name, fallback) { return root.getAttribute('data-text-' + name) || fallback; }

  root.querySelectorAll('[data-telemetry-toggle]').forEach(function (button) {
    button.addEventListener('click', function () {
      var category = button.getAttribute('data-telemetry-toggle');
      var on = button.getAttribute('data-telemetry-on') === 'true';
      var ask = on
        ? kct.confirm(text('confirm-turn-off', 'Stop sharing this category? Data already sent stays with its recipient; nothing more is sent.'), text('turn-off', 'Turn off'))
        : Promise.resolve(true);
      ask.then(function (confirmed) {
        if (!confirmed) return;
        button.disabled = true;
        kct.request('POST', api + (on ? '/opt-out' : '/opt-in'), { categories: [category] }).then(function (result) {
          if (!result.ok) {
            button.disabled = false;
            say((result.data && result.data.error && result.data.error.message) || text('save-failed', 'The change could not be saved.'));
            return;
          }
          window.location.reload();
        });
      });
    });
  });

  var del = root.querySelector('[data-telemetry-delete]');
  if (del) {
    del.addEventListener('click', function () {
      kct.confirm(text('confirm-delete', 'Delete all local usage statistics and the submission ledger, and ask the collector to erase this installation? This cannot be undone.'), text('delete-all', 'Delete everything')).then(function (confirmed) {
        if (!confirmed) return;
        del.disabled = true;
        kct.request('DELETE', api + '/delete-all').then(function (result) {
          del.disabled = false;
          say(result.ok ? kct.deletedMessage(result.data) : text('delete-failed', 'Deleting failed: {reason}').replace('{reason}', (result.data && result.data.error && result.data.error.message) || result.status));
        });
      });
    });
  }
})();
