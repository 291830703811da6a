// koa-consent-telemetry: small helpers shared by the plugin's pages (no framework, no external requests).
(function () {
  'use strict';
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : '';
  }
  // The page's language: head.njk renders the translated texts as JSON into a meta tag.
  var texts = null;
  function uiText(name, fallback) {
    if (texts === null) {
      texts = {};
      var meta = document.querySelector('meta[name="kct-texts"]');
      try { texts = JSON.parse(meta ? meta.getAttribute('content') : '{}') || {}; } catch (e) { /* English */ }
    }
    return typeof texts[name] === 'string' && texts[name] ? texts[name] : fallback;
  }
  /** fetch with the CSRF header and JSON body; resolves { ok, status, data }. */
  function request(method, url, body) {
    var init = { method: method, credentials: 'same-origin', headers: { 'X-CSRF-Token': csrfToken(), Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        return { ok: response.ok, status: response.status, data: data };
      });
    });
  }
  /** A native <dialog> confirmation; resolves true when confirmed. */
  function confirmAction(message, confirmLabel) {
    return new Promise(function (resolve) {
      var dialog = document.createElement('dialog');
      dialog.className = 'kct-confirm';
      dialog.setAttribute('data-telemetry-confirm', '');
      var text = document.createElement('p');
      text.textContent = message;
      var actions = document.createElement('div');
      actions.className = 'kct-actions';
      var cancel = document.createElement('button');
      cancel.type = 'button';
      cancel.className = 'kct-btn kct-btn-secondary';
      cancel.textContent = uiText('cancel', 'Cancel');
      cancel.setAttribute('data-telemetry-confirm-cancel', '');
      var ok = document.createElement('button');
      ok.type = 'button';
      ok.className = 'kct-btn kct-btn-danger';
      ok.textContent = confirmLabel || uiText('confirm', 'Confirm');
      ok.setAttribute('data-telemetry-confirm-ok', '');
      actions.appendChild(cancel);
      actions.appendChild(ok);
      dialog.appendChild(text);
      dialog.appendChild(actions);
      document.body.appendChild(dialog);
      function done(value) {
        dialog.close();
        dialog.remove();
        resolve(value);
      }
      cancel.addEventListener('click', function () { done(false); });
      ok.addEventListener('click', function () { done(true); });
      dialog.addEventListener('cancel', function (event) { event.preventDefault(); done(false); });
      dialog.showModal();
      cancel.focus();
    });
  }
  /** What delete-all did, in words: local data, and whether the collector's copy was erased too. */
  function deletedMessage(data) {
    var remote = (data && data.remote) || {};
    if (!remote.requested) return uiText('deletedLocal', 'Everything stored here was deleted.');
    if (remote.deleted) return uiText('deletedRemote', 'Everything stored here was deleted, and the collector erased its copy.');
    return uiText('deletedRemoteFailed', 'Everything stored here was deleted, but the collector could not be reached to erase its copy ({reason}). Try again later.')
      .replace('{reason}', String(remote.status || remote.error || 'no answer'));
  }
  // A collector problem's way out (shown on the settings and statistics pages): a new identity, registered anew.
  document.addEventListener('click', function (event) {
    var button = event.target && event.target.closest ? event.target.closest('[data-telemetry-re-register]') : null;
    if (!button) return;
    var note = button.closest('[data-telemetry-collector-problem]');
    var say = function (text) {
      var out = note && note.querySelector('[data-telemetry-re-register-message]');
      if (out) out.textContent = text;
    };
    confirmAction(uiText('confirmReRegister', 'Start a new installation id and register it with the collector? Whatever the collector still holds under the old id can then only be erased by the collector\'s operator.'), uiText('reRegister', 'Re-register')).then(function (confirmed) {
      if (!confirmed) return;
      button.disabled = true;
      request('POST', button.getAttribute('data-api') + '/collector/re-register', {}).then(function (result) {
        if (result.ok && result.data && result.data.registered) {
          window.location.reload();
          return;
        }
        button.disabled = false;
        var data = result.data || {};
        say(uiText('reRegisterFailed', 'Re-registration did not go through: {reason}').replace('{reason}', String((data.error && data.error.message) || data.error || result.status)));
      });
    });
  });
  // "Submit now" on the statistics page: one submission run, reported week by week.
  document.addEventListener('click', function (event) {
    var button = event.target && event.target.closest ? event.target.closest('[data-telemetry-submit-now]') : null;
    if (!button) return;
    var out = document.querySelector('[data-telemetry-submit-now-message]');
    var say = function (text) {
      if (out) out.textContent = text;
    };
    var labels = { accepted: uiText('weekAccepted', 'accepted'), retry_later: uiText('weekRetryLater', 'retry later'), refused: uiText('weekRefused', 'refused') };
    var describe = function (weeks) {
      return weeks.map(function (week) {
        return week.period.start + ' – ' + week.period.end + ': ' + (labels[week.result] || week.result) + (week.collector_status ? ' (' + week.collector_status + ')' : '');
      }).join('; ');
    };
    button.disabled = true;
    request('POST', button.getAttribute('data-api') + '/submit-now', {}).then(function (result) {
      button.disabled = false;
      var data = result.data || {};
      if (result.ok && data.weeks && data.weeks.length === 0) say(data.status === 'skipped' ? uiText('submitNowNothing', 'Nothing to send: every whole week has been submitted.') : String(data.reason || data.status));
      else if (result.ok && data.weeks) say(uiText('submitNowDone', 'Submission run: {weeks}').replace('{weeks}', describe(data.weeks)));
      else if (result.status === 429) say(uiText('submitNowLimited', 'The collector asks to wait {seconds} s (one submission per installation per hour); the run continues by itself.').replace('{seconds}', String((data.error && data.error.details && data.error.details.retry_in_seconds) || '?')));
      else say(uiText('submitNowFailed', 'Submit now did not go through: {reason}').replace('{reason}', String((data.error && data.error.message) || result.status)));
    }, function (err) {
      button.disabled = false;
      say(uiText('submitNowFailed', 'Submit now did not go through: {reason}').replace('{reason}', String(err && err.message ? err.message : err)));
    });
  });
  window.KoaConsentTelemetry = { csrfToken: csrfToken, request: request, confirm: confirmAction, deletedMessage: deletedMessage };
})();
