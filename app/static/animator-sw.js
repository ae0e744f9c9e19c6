/* Service worker of the animators' pages (served at /animateur/sw.js, scope /animateur/): pages and
   their assets from the network when there is one (and kept), from the cache when there is none.
   The sync API is never cached: ticks wait in the page's queue instead. */
"use strict";
var CACHE = "pf-animateur-v1";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || url.pathname.indexOf("/api/") === 0) {
    return;
  }
  if (url.pathname.indexOf("/animateur/") !== 0 && url.pathname.indexOf("/static/") !== 0) { return; }
  event.respondWith(
    fetch(request).then(function (response) {
      if (response.ok && !response.redirected) {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
      }
      return response;
    }).catch(function () {
      return caches.match(request, { ignoreSearch: true }).then(function (cached) {
        return cached || new Response("<!doctype html><html lang=\"fr\"><meta charset=\"utf-8\"><title>Hors connexion"
          + "</title><p>Hors connexion : cette page n'a pas encore été ouverte sur ce téléphone.</p></html>",
          { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
      });
    })
  );
});
