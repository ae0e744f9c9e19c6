/* The waiting room's self-refresh (parent queue page and staff's live screen): the element with
   data-waiting-room-refresh="N" reloads the page (or goes to its href) after N seconds. A file, not an inline script:
   the parent area's Content-Security-Policy forbids inline code. */
(function () {
  "use strict";
  var element = document.querySelector("[data-waiting-room-refresh]");
  if (!element) { return; }
  var seconds = parseInt(element.getAttribute("data-waiting-room-refresh"), 10);
  if (!(seconds > 0)) { return; }
  // A link names the page to come back to (a GET, even when the parent had posted a form).
  var target = element.getAttribute("href");
  window.setTimeout(function () {
    if (target) { window.location.replace(target); } else { window.location.reload(); }
  }, seconds * 1000);
})();
