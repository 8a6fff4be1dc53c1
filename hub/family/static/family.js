// The family page: live refresh of the status and alarms (a JSON endpoint every few
// seconds, scoped to the session's dwelling), the alarm buttons without a reload, and the
// service worker that makes the page installable. Without JavaScript every form still
// works (a normal POST and a redirect back).
"use strict";

(function () {
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register("/familie/sw.js", { scope: "/familie/" }).catch(function () {
      /* the page works without it */
    });
  }

  var root = document.getElementById("family");
  if (!root) return;

  var api = root.dataset.api;
  var csrf = root.dataset.csrf;
  var every = Math.max(1000, parseInt(root.dataset.refresh || "5000", 10));
  var flash = document.getElementById("flash");
  var stale = document.getElementById("stale");
  var statusBox = document.getElementById("status");
  var list = document.getElementById("alarms");
  var none = document.getElementById("no-alarms");
  var history = document.getElementById("history");
  var updated = document.getElementById("updated");
  var timer = null;
  var busy = false;
  var shown = { status: null, history: null };

  function say(text, ok) {
    flash.textContent = text;
    flash.className = "flash " + (ok ? "ok" : "error");
    flash.hidden = !text;
  }

  function fromHtml(html) {
    var box = document.createElement("div");
    box.innerHTML = html;
    return box.firstElementChild;
  }

  // Keep cards whose version did not change (a note being typed survives a refresh).
  function reconcile(alarms) {
    var old = {};
    Array.prototype.forEach.call(list.querySelectorAll("article.alarm"), function (el) {
      old[el.dataset.id] = el;
    });
    var before = null;
    for (var i = alarms.length - 1; i >= 0; i--) {
      var a = alarms[i];
      var el = old[a.id];
      delete old[a.id];
      if (!el || el.dataset.version !== a.version) {
        var fresh = fromHtml(a.html);
        if (el) el.replaceWith(fresh);
        el = fresh;
      }
      if (el.nextElementSibling !== before || el.parentNode !== list) {
        list.insertBefore(el, before);
      }
      before = el;
    }
    Object.keys(old).forEach(function (id) {
      old[id].remove();
    });
    none.hidden = alarms.length > 0;
  }

  function apply(data) {
    if (data.status.version !== shown.status) {
      statusBox.innerHTML = data.status.html;
      shown.status = data.status.version;
    }
    reconcile(data.alarms);
    if (data.history !== shown.history) {
      history.innerHTML = data.history;
      shown.history = data.history;
    }
    updated.textContent = data.updated;
    document.title = (data.open ? "(" + data.open + ") " : "") + document.title.replace(/^\(\d+\) /, "");
  }

  function refresh() {
    clearTimeout(timer);
    return fetch(api, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) {
          window.location.assign("/familie/login?m=verlopen");
          return null;
        }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (data) {
        if (data) {
          apply(data);
          stale.hidden = true;
        }
      })
      .catch(function () {
        stale.hidden = false;
      })
      .then(function () {
        timer = setTimeout(refresh, every);
      });
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("act")) return;
    ev.preventDefault();
    if (busy) return;
    var button = ev.submitter;
    var action = button && button.value;
    var outcome = form.querySelector("select[name=outcome]");
    var note = form.querySelector("textarea[name=note]");
    if (action === "closed" && outcome && !outcome.value) {
      say(root.dataset.pickOutcome, false);
      outcome.focus();
      return;
    }
    var body = { action: action, note: note ? note.value : "" };
    if (action === "closed" && outcome) body.outcome = outcome.value;
    busy = true;
    var buttons = form.querySelectorAll("button");
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    // Not form.action: the buttons are named "action" and shadow it.
    fetch(form.getAttribute("action"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    })
      .then(function (r) {
        return r.json().then(function (data) {
          say(data.message || "", r.ok);
        }, function () {
          say(root.dataset.errorNetwork, false);
        });
      })
      .catch(function () {
        say(root.dataset.errorNetwork, false);
      })
      .then(function () {
        busy = false;
        Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
        return refresh();
      });
  });

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") refresh();
  });

  timer = setTimeout(refresh, every);
})();
