// TimeTracker — tiny progressive enhancements (the app works without this file).
(function () {
  'use strict';
  // Keep the running timer's elapsed time current (server clock offset taken into account).
  var el = document.querySelector('[data-elapsed]');
  if (el) {
    var started = Number(el.getAttribute('data-started-at'));
    var offset = Number(el.getAttribute('data-now')) - Date.now();
    var tick = function () {
      var minutes = Math.max(0, Math.floor((Date.now() + offset - started) / 60000));
      el.textContent = Math.floor(minutes / 60) + ':' + String(minutes % 60).padStart(2, '0');
    };
    setInterval(tick, 15000);
  }
  // Close the user menu on outside click or Escape.
  var menu = document.querySelector('details.user-menu');
  if (menu) {
    document.addEventListener('click', function (e) {
      if (menu.open && !menu.contains(e.target)) menu.open = false;
    });
    document.addEventListener('keydown', function (e) {
      if (e.key === 'Escape' && menu.open) {
        menu.open = false;
        menu.querySelector('summary').focus();
      }
    });
  }
})();
