// The family page's service worker: it caches the shell only (styles, script, icons and
// the offline page), never a page or an answer with the resident's status or alarms.
// Pages and /familie/api/ always go to the network; a page that cannot be loaded shows
// the cached offline page instead.
"use strict";

var CACHE = "mz-familie-shell-v1";
var SHELL = [
  "/familie/offline",
  "/familie/static/family.css",
  "/familie/static/family.js",
  "/familie/static/icon.svg",
  "/familie/static/icon-192.png",
  "/familie/static/icon-512.png",
];

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(CACHE).then(function (cache) {
      return cache.addAll(SHELL);
    }).then(function () {
      return self.skipWaiting();
    })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (n) {
        return n.indexOf("mz-familie-") === 0 && n !== CACHE;
      }).map(function (n) {
        return caches.delete(n);
      }));
    }).then(function () {
      return self.clients.claim();
    })
  );
});

self.addEventListener("fetch", function (event) {
  var req = event.request;
  if (req.method !== "GET") return;
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.indexOf("/familie/static/") === 0) {
    // The shell: from the network when it can (a new version), else the cached copy.
    event.respondWith(
      fetch(req).catch(function () {
        return caches.match(req).then(function (hit) {
          return hit || Response.error();
        });
      })
    );
    return;
  }
  if (req.mode === "navigate") {
    // Never cached: with no network, the offline page (no data in it).
    event.respondWith(
      fetch(req).catch(function () {
        return caches.match("/familie/offline").then(function (hit) {
          return hit || Response.error();
        });
      })
    );
  }
  // Everything else (the JSON API) is left to the network, uncached.
});
