// The user privacy partial: turns the signed-in user's own analytics choice off or back on.
(function () {
  'use strict';
  var kct = window.KoaConsentTelemetry;
  if (!kct) return;
  document.querySelectorAll('[data-telemetry-user-privacy]').forEach(function (root) {
    var api = root.getAttribute('data-api');
    var button = root.querySelector('[data-telemetry-user-toggle]');
    var message = root.querySelector('[data-telemetry-user-message]');
    if (!button || button.hasAttribute('data-telemetry-bound')) return;
    button.setAttribute('data-telemetry-bound', '');
    button.addEventListener('click', function () {
      var on = button.getAttribute('data-telemetry-on') === 'true';
      button.disabled = true;
      kct.request('POST', api + (on ? '/me/opt-out' : '/me/opt-in'), {}).then(function (result) {
        if (!result.ok) {
          button.disabled = false;
          if (message) message.textContent = (result.data && result.data.error && result.data.error.message) || root.getAttribute('data-text-save-failed') || 'The change could not be saved.';
          return;
        }
        window.location.reload();
      });
    });
  });
})();
