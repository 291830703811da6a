// koa-consent-telemetry: the support modal, soft prompts and the support funnel (docs/support.md).
// No framework, no external request: it talks only to the plugin's own /donate endpoints, with the
// page's CSRF token. Markup hooks: data-support-open, data-support-modal, data-support-overlay,
// data-support-close, data-support-tier, data-support-license, data-support-share,
// data-support-offline, data-support-outbound, data-support-link, data-support-toasts,
// data-support-toast, data-support-dismiss, data-support-dashboard.
(function () {
  'use strict';
  if (window.KoaConsentTelemetrySupport) return;

  var QUEUE_KEY = 'kct-support-queue';
  var QUEUE_CAP = 20;
  var MAX_TIMEOUT = 2147483647;
  var FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

  var overlay = null;
  var dialog = null;
  var toasts = null;

  // The page's language: the server renders the translated texts onto the toast container.
  function text(name, fallback) {
    var value = toasts && toasts.getAttribute('data-support-text-' + name);
    return value || fallback;
  }
  var lastFocus = null;
  var modalSource = null;
  var modalVariant = null;
  var promptShown = false;
  var longSessionTimer = null;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') || '' : '';
  }

  function attr(el, name) {
    return el ? el.getAttribute(name) : null;
  }

  function endpoint(kind) {
    var name = kind === 'prompt' ? 'data-support-prompt-endpoint' : 'data-support-track-endpoint';
    return attr(toasts, name) || (kind === 'prompt' ? '/donate/request-soft-prompt' : '/donate/track-support-event');
  }

  function post(url, body, keepalive) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      keepalive: Boolean(keepalive),
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrfToken() },
      body: JSON.stringify(body),
    });
  }

  // ------------------------------------------------------------------ funnel (queued while offline)

  function readQueue() {
    try {
      var parsed = JSON.parse(window.sessionStorage.getItem(QUEUE_KEY) || '[]');
      return Array.isArray(parsed) ? parsed : [];
    } catch (e) {
      return [];
    }
  }

  function writeQueue(queue) {
    try {
      if (queue.length) window.sessionStorage.setItem(QUEUE_KEY, JSON.stringify(queue.slice(-QUEUE_CAP)));
      else window.sessionStorage.removeItem(QUEUE_KEY);
    } catch (e) {
      /* storage unavailable: events sent while offline are lost, nothing else is */
    }
  }

  function deliver(payload) {
    return post(endpoint('track'), payload, true).then(
      function (response) {
        // 4xx will not get better by retrying; 5xx and network failures are kept for later.
        if (response.status >= 500) throw new Error('server');
      }
    );
  }

  function track(event, variant, source) {
    var payload = { event: event, variant: variant || null, source: source || null };
    if (!navigator.onLine) {
      var queue = readQueue();
      queue.push(payload);
      writeQueue(queue);
      return;
    }
    deliver(payload).catch(function () {
      var queue = readQueue();
      queue.push(payload);
      writeQueue(queue);
    });
  }

  function flushQueue() {
    if (!navigator.onLine) return;
    var queue = readQueue();
    if (!queue.length) return;
    writeQueue([]);
    queue.forEach(function (payload) {
      deliver(payload).catch(function () {
        var rest = readQueue();
        rest.push(payload);
        writeQueue(rest);
      });
    });
  }

  // ------------------------------------------------------------------ offline-safe outbound links

  function applyOnlineState() {
    var online = navigator.onLine !== false;
    var notes = document.querySelectorAll('[data-support-offline]');
    for (var i = 0; i < notes.length; i++) notes[i].hidden = online;
    var links = document.querySelectorAll('[data-support-outbound]');
    for (var j = 0; j < links.length; j++) {
      var link = links[j];
      if (online) {
        link.removeAttribute('aria-disabled');
        link.removeAttribute('tabindex');
        link.classList.remove('kct-support-disabled');
      } else {
        link.setAttribute('aria-disabled', 'true');
        link.setAttribute('tabindex', '-1');
        link.classList.add('kct-support-disabled');
      }
    }
  }

  // ------------------------------------------------------------------ the modal

  function isOpen() {
    return Boolean(overlay && !overlay.hidden);
  }

  function focusables() {
    if (!dialog) return [];
    var all = dialog.querySelectorAll(FOCUSABLE);
    var list = [];
    for (var i = 0; i < all.length; i++) {
      var el = all[i];
      if (el.getAttribute('aria-disabled') === 'true') continue;
      if (!el.getClientRects().length) continue;
      list.push(el);
    }
    return list;
  }

  function open(source, variant, opener) {
    if (!overlay || !dialog) return false;
    if (isOpen()) return true;
    lastFocus = opener || document.activeElement;
    modalSource = source || null;
    modalVariant = variant || null;
    applyOnlineState();
    overlay.hidden = false;
    document.documentElement.classList.add('kct-support-noscroll');
    dialog.focus();
    track('modal_opened', modalVariant, modalSource);
    return true;
  }

  function close() {
    if (!isOpen()) return;
    overlay.hidden = true;
    document.documentElement.classList.remove('kct-support-noscroll');
    var target = lastFocus;
    lastFocus = null;
    if (target && typeof target.focus === 'function' && document.contains(target)) {
      // A control inside a closed <details> menu cannot take focus: fall back to its summary.
      var details = target.closest ? target.closest('details:not([open])') : null;
      if (details && details.querySelector('summary')) target = details.querySelector('summary');
      target.focus();
    }
  }

  function trapTab(event) {
    var list = focusables();
    if (!list.length) {
      event.preventDefault();
      dialog.focus();
      return;
    }
    var first = list[0];
    var last = list[list.length - 1];
    var active = document.activeElement;
    if (event.shiftKey && (active === first || active === dialog || !dialog.contains(active))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (active === last || !dialog.contains(active))) {
      event.preventDefault();
      first.focus();
    }
  }

  // ------------------------------------------------------------------ share

  function notice(message) {
    if (!toasts) return;
    var template = toasts.querySelector('template[data-support-notice-template]');
    if (!template) return;
    var node = template.content.firstElementChild.cloneNode(true);
    node.querySelector('[data-support-toast-message]').textContent = message;
    toasts.appendChild(node);
    setTimeout(function () {
      if (node.parentNode) node.parentNode.removeChild(node);
    }, 8000);
  }

  function copy(url) {
    if (navigator.clipboard && typeof navigator.clipboard.writeText === 'function') {
      return navigator.clipboard.writeText(url).then(function () {
        return 'copied';
      });
    }
    return Promise.reject(new Error('no clipboard'));
  }

  function share(button) {
    var url = attr(button, 'data-share-url') || window.location.origin;
    var data = { title: attr(button, 'data-share-title') || document.title, text: attr(button, 'data-share-text') || '', url: url };
    track('share_clicked', null, attr(button, 'data-support-source') || (dialog && dialog.contains(button) ? modalSource || 'modal' : null));
    var attempt;
    if (navigator.share) {
      attempt = navigator.share(data).then(
        function () {
          return 'shared';
        },
        function (err) {
          if (err && err.name === 'AbortError') return 'cancelled';
          return copy(url);
        }
      );
    } else {
      attempt = copy(url);
    }
    return attempt.then(
      function (result) {
        if (result === 'copied') notice(text('link-copied', 'Link copied to the clipboard — thanks for sharing!'));
        return result;
      },
      function () {
        notice(text('share-failed', 'Sharing did not work in this browser. You can copy this link instead: {url}').replace('{url}', url));
        return 'failed';
      }
    );
  }

  // ------------------------------------------------------------------ soft prompts

  function removeNode(node) {
    if (node && node.parentNode) node.parentNode.removeChild(node);
  }

  function showPrompt(variant, message) {
    if (promptShown || !toasts) return;
    var template = toasts.querySelector('template[data-support-toast-template]');
    if (!template) return;
    promptShown = true;
    if (longSessionTimer) clearTimeout(longSessionTimer);
    var node = template.content.firstElementChild.cloneNode(true);
    node.setAttribute('data-variant', variant);
    node.querySelector('[data-support-toast-message]').textContent = message || '';
    toasts.appendChild(node);
    track('prompt_shown', variant, 'toast');
  }

  function askForPrompt(kind) {
    if (promptShown || !toasts || !navigator.onLine) return;
    post(endpoint('prompt'), { kind: kind })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (answer) {
        if (answer && answer.show === true && typeof answer.variant === 'string') showPrompt(answer.variant, answer.message);
      })
      .catch(function () {
        /* no prompt: never an error for the user */
      });
  }

  function startPrompts() {
    if (!toasts) return;
    if (toasts.hasAttribute('data-support-prompt-dashboard') && document.querySelector('[data-support-dashboard]')) askForPrompt('dashboard');
    else if (toasts.hasAttribute('data-support-prompt-page')) askForPrompt('page');
    var ms = Number(attr(toasts, 'data-support-long-session-ms'));
    if (attr(toasts, 'data-support-long-session-ms') !== null && isFinite(ms)) {
      longSessionTimer = setTimeout(function () {
        askForPrompt('long_session');
      }, Math.min(Math.max(ms, 0) + 1000, MAX_TIMEOUT));
    }
  }

  // ------------------------------------------------------------------ wiring

  function onClick(event) {
    var target = event.target;
    if (!target || !target.closest) return;

    if (overlay && target === overlay) {
      close();
      return;
    }
    var closer = target.closest('[data-support-close]');
    if (closer) {
      close();
      return;
    }
    var outbound = target.closest('[data-support-outbound], [data-support-link]');
    if (outbound) {
      if (outbound.getAttribute('aria-disabled') === 'true') {
        event.preventDefault();
        return;
      }
      var tier = attr(outbound, 'data-support-tier');
      if (tier) track('donation_clicked', tier, modalSource || attr(outbound, 'data-support-source'));
      else if (outbound.hasAttribute('data-support-license')) track('license_clicked', modalVariant, modalSource || attr(outbound, 'data-support-source'));
      else track('link_clicked', attr(outbound, 'data-support-variant'), attr(outbound, 'data-support-source'));
      return; // the link itself opens in a new tab
    }
    var sharer = target.closest('[data-support-share]');
    if (sharer) {
      event.preventDefault();
      share(sharer);
      return;
    }
    var dismiss = target.closest('[data-support-dismiss]');
    if (dismiss) {
      var toast = dismiss.closest('[data-support-toast]');
      track('prompt_dismissed', attr(toast, 'data-variant'), 'toast');
      removeNode(toast);
      return;
    }
    var noticeClose = target.closest('[data-support-notice-close]');
    if (noticeClose) {
      removeNode(noticeClose.closest('[data-support-notice]'));
      return;
    }
    var opener = target.closest('[data-support-open]');
    if (opener) {
      event.preventDefault();
      var fromToast = opener.closest('[data-support-toast]');
      var details = opener.closest('details[open]');
      if (details) details.open = false; // a menu the opener sits in
      open(attr(opener, 'data-support-source') || 'link', fromToast ? attr(fromToast, 'data-variant') : attr(opener, 'data-support-variant'), opener);
      removeNode(fromToast);
    }
  }

  function onKeydown(event) {
    if (!isOpen()) return;
    if (event.key === 'Escape' || event.key === 'Esc') {
      event.preventDefault();
      event.stopPropagation();
      close();
    } else if (event.key === 'Tab') {
      trapTab(event);
    }
  }

  function onFocusIn(event) {
    if (isOpen() && dialog && !dialog.contains(event.target)) {
      var list = focusables();
      (list[0] || dialog).focus();
    }
  }

  function init() {
    overlay = document.querySelector('[data-support-overlay]');
    dialog = overlay ? overlay.querySelector('[data-support-modal]') : document.querySelector('[data-support-modal]');
    toasts = document.querySelector('[data-support-toasts]');
    document.addEventListener('click', onClick);
    document.addEventListener('keydown', onKeydown, true);
    document.addEventListener('focusin', onFocusIn);
    window.addEventListener('online', function () {
      applyOnlineState();
      flushQueue();
    });
    window.addEventListener('offline', applyOnlineState);
    applyOnlineState();
    flushQueue();
    startPrompts();
  }

  window.KoaConsentTelemetrySupport = {
    open: function (source) {
      return open(source || 'api', null, document.activeElement);
    },
    close: close,
    track: track,
  };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
