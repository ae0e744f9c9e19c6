/* The animators' phone pages: ticks are queued on the phone (localStorage), each with an id the
   phone makes up, and sent to /api/v1/animator/sync whenever the network is there. The server
   applies an id once, so sending the queue again after a lost answer is harmless. The page and
   its assets are cached for offline reloads (service worker: /animateur/sw.js). No inline script:
   the pages run under the strict Content-Security-Policy. */
(function () {
  "use strict";
  var QUEUE_KEY = "pf-animateur-ticks";
  var CACHE = "pf-animateur-v1";
  var SYNC_URL = "/api/v1/animator/sync";
  var LOGIN_URL = "/login/";
  var SESSION_EXPIRED = "Votre session a expiré : reconnectez-vous pour envoyer les pointages.";
  var REFUSED = "Le serveur a refusé l'envoi des pointages : ils restent sur ce téléphone.";
  var sending = false;
  /* Why the server would not take the queue (session expired, request refused): shown until a
     sync goes through; the queue itself is kept, nothing ticked is lost. */
  var blocked = null;

  function queue() {
    try { return JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]"); } catch (e) { return []; }
  }
  function saveQueue(items) { localStorage.setItem(QUEUE_KEY, JSON.stringify(items)); }

  function newId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function rowKey(tick) {
    return tick.kind === "boarding"
      ? ["b", tick.circuit_id, tick.stop_id, tick.child_id, tick.day, tick.leg].join(":")
      : ["a", tick.establishment_id, tick.child_id, tick.day].join(":");
  }
  function rowOf(el) { return rowKey(tickBase(el)); }

  function tickBase(row) {
    var d = row.dataset;
    if (d.kind === "boarding") {
      return { kind: "boarding", circuit_id: +d.circuitId, stop_id: +d.stopId, child_id: +d.childId, day: d.day,
               leg: d.leg };
    }
    return { kind: "attendance", establishment_id: +d.establishmentId, child_id: +d.childId, day: d.day };
  }

  function field(row, name) {
    var input = row.querySelector('[name="' + name + '"]');
    return input ? input.value : "";
  }

  /* The child's whole state as this phone shows it: the latest tick wins on the server. */
  function buildTick(row) {
    var tick = tickBase(row);
    tick.client_id = newId();
    tick.ticked_at = new Date().toISOString();
    if (tick.kind === "boarding") {
      tick.boarded = row.dataset.boarded === "true";
      tick.got_off = row.dataset.gotOff === "true";
    } else {
      tick.status = row.dataset.status || "present";
      tick.arrived_at = field(row, "arrived_at");
      tick.left_at = field(row, "left_at");
      tick.picked_up_by = field(row, "picked_up_other").trim() || field(row, "picked_up_by");
      tick.absence_reason = tick.status === "absent" ? field(row, "absence_reason") : "";
    }
    return tick;
  }

  function showRow(row) {
    var d = row.dataset;
    row.querySelectorAll("[data-set-status]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.setStatus === d.status));
    });
    row.querySelectorAll("[data-toggle]").forEach(function (button) {
      var key = button.dataset.toggle === "boarded" ? "boarded" : "gotOff";
      button.setAttribute("aria-pressed", String(d[key] === "true"));
    });
  }

  function applyToRow(row, tick) {
    if (tick.kind === "boarding") {
      row.dataset.boarded = String(!!tick.boarded);
      row.dataset.gotOff = String(!!tick.got_off);
    } else {
      row.dataset.status = tick.status;
      ["arrived_at", "left_at", "absence_reason"].forEach(function (name) {
        var input = row.querySelector('[name="' + name + '"]');
        if (input && tick[name] !== undefined) { input.value = tick[name] || ""; }
      });
    }
    showRow(row);
  }

  function rows() { return Array.prototype.slice.call(document.querySelectorAll(".tick-row")); }

  function refreshPending() {
    var pending = {};
    queue().forEach(function (tick) { pending[rowKey(tick)] = true; });
    rows().forEach(function (row) {
      row.querySelector("[data-pending]").hidden = !pending[rowOf(row)];
    });
    var count = queue().length;
    var state = document.querySelector("[data-pending-count]");
    if (state) {
      var unsent = count === 1 ? "1 pointage non envoyé" : count + " pointages non envoyés";
      if (count > 0 && blocked && navigator.onLine) {
        state.textContent = unsent + ". " + blocked.message;
        if (blocked.login) {
          var link = document.createElement("a");
          link.href = LOGIN_URL + "?next=" + encodeURIComponent(location.pathname);
          link.textContent = "Se reconnecter";
          state.appendChild(document.createTextNode(" "));
          state.appendChild(link);
        }
      } else {
        state.textContent = count === 0 ? "Tous les pointages sont envoyés."
          : unsent + (navigator.onLine ? " : envoi en cours…" : " : hors connexion, ils partiront au retour du réseau.");
      }
      state.classList.toggle("sync-pending", count > 0);
    }
  }

  /* A refusal of the whole batch: 401/403 (or a stale CSRF token: the session is gone) asks to log
     in again; another 400 shows the server's reason. Either way the queue stays on the phone. */
  function refusal(response) {
    return response.json().catch(function () { return {}; }).then(function (body) {
      if (response.status === 401 || response.status === 403 || body.code === "csrf") {
        return { message: SESSION_EXPIRED, login: true };
      }
      return { message: body.message || REFUSED, login: false };
    });
  }

  function showError(clientId, message) {
    rows().forEach(function (row) {
      if (row.dataset.lastClientId === clientId) {
        var error = row.querySelector("[data-error]");
        error.textContent = message;
        error.hidden = false;
      }
    });
  }

  function flush() {
    var items = queue();
    if (sending || items.length === 0 || !navigator.onLine) { refreshPending(); return; }
    sending = true;
    fetch(SYNC_URL, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ ticks: items })
    }).then(function (response) {
      if (response.status === 400 || response.status === 401 || response.status === 403) {
        return refusal(response).then(function (reason) { blocked = reason; return null; });
      }
      if (!response.ok) { throw new Error("sync " + response.status); }
      return response.json();
    }).then(function (body) {
      if (body === null) { return; }
      blocked = null;
      var done = {};
      body.results.forEach(function (result) {
        done[result.client_id] = true;
        if (result.outcome === "refused") { showError(result.client_id, result.message); }
      });
      saveQueue(queue().filter(function (tick) { return !done[tick.client_id]; }));
    }).catch(function () { /* offline or server away: the queue waits for the next chance */ })
      .then(function () { sending = false; refreshPending(); });
  }

  function record(row) {
    var tick = buildTick(row);
    row.dataset.lastClientId = tick.client_id;
    row.querySelector("[data-error]").hidden = true;
    var items = queue();
    items.push(tick);
    saveQueue(items);
    refreshPending();
    flush();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button || button.disabled) { return; }
    var row = button.closest(".tick-row");
    if (!row) { return; }
    if (button.dataset.setStatus) {
      row.dataset.status = button.dataset.setStatus;
    } else if (button.dataset.toggle) {
      var key = button.dataset.toggle === "boarded" ? "boarded" : "gotOff";
      row.dataset[key] = String(row.dataset[key] !== "true");
    } else if (!("save" in button.dataset)) {
      return;
    }
    showRow(row);
    record(row);
  });

  /* What this phone ticked and has not sent yet is shown over the cached page. */
  function replayQueue() {
    var byRow = {};
    rows().forEach(function (row) { byRow[rowOf(row)] = row; });
    queue().forEach(function (tick) {
      var row = byRow[rowKey(tick)];
      if (row) { applyToRow(row, tick); row.dataset.lastClientId = tick.client_id; }
    });
  }

  function cachePage() {
    if (!("caches" in window)) { return; }
    var assets = Array.prototype.map.call(document.querySelectorAll('link[rel="stylesheet"], script[src]'),
      function (el) { return el.href || el.src; });
    caches.open(CACHE).then(function (cache) {
      return cache.addAll([location.pathname].concat(assets));
    }).catch(function () { /* offline already: the cached copy stays */ });
  }

  if ("serviceWorker" in navigator && document.body.dataset.sw) {
    navigator.serviceWorker.register(document.body.dataset.sw, { scope: "/animateur/" }).catch(function () {});
  }
  window.addEventListener("online", flush);
  window.addEventListener("offline", refreshPending);
  replayQueue();
  refreshPending();
  if (navigator.onLine) { cachePage(); }
  flush();
  window.setInterval(flush, 15000);
}());
