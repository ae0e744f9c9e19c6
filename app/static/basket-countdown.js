/* The basket's countdown (moved out of basket.html: the parent area's CSP forbids inline scripts). */
(function () {
  // The timer is not read aloud every second (aria-live off); a polite message says when 5 and 1
  // minutes are left, and the end is an alert. At zero nothing can be paid any more: the buttons are
  // disabled at once, and the page reloads to show what was released.
  var el = document.getElementById("countdown");
  if (!el) { return; }
  var news = document.getElementById("countdown-news");
  var end = Date.now() + 1000 * parseInt(el.getAttribute("data-seconds-left"), 10);
  var warned = {};
  function tick() {
    var left = Math.max(0, Math.round((end - Date.now()) / 1000));
    if (left <= 0) {
      el.textContent = "Le délai est écoulé : vos places ont été libérées.";
      el.setAttribute("role", "alert");
      el.classList.add("countdown-over");
      var buttons = document.querySelectorAll("main form button[type=submit]");
      for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = true; }
      window.setTimeout(function () { window.location.reload(); }, 3000);
      return;
    }
    [300, 60].forEach(function (mark) {
      if (left <= mark && !warned[mark] && left > mark - 5) {
        warned[mark] = true;
        if (news) { news.textContent = "Il reste " + (mark / 60) + " minute" + (mark > 60 ? "s" : "") + " pour payer votre panier."; }
      }
    });
    var m = Math.floor(left / 60), s = left % 60;
    // No-break spaces: at 375 px the last « s » must not wrap alone onto a line of its own.
    el.textContent = "Temps restant\u00a0: " + m + "\u00a0min\u00a0" + (s < 10 ? "0" : "") + s + "\u00a0s";
    window.setTimeout(tick, 1000);
  }
  tick();
})();
