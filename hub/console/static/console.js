// Live console: Server-Sent Events from /events patch the alarm lists in place,
// relative times tick, and acknowledge/resolve go through the JSON API.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const me = document.querySelector('meta[name="mz-user"]')?.content || "";
  const rel = JSON.parse(document.body.dataset.relative || "{}");
  const conn = document.getElementById("conn");
  const baseTitle = document.title;

  function relative(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 5) return rel.now;
    if (s < 60) return rel.s.replace("{n}", s);
    if (s < 3600) return rel.m.replace("{n}", Math.floor(s / 60));
    if (s < 86400) return rel.h.replace("{n}", Math.floor(s / 3600));
    return rel.d.replace("{n}", Math.floor(s / 86400));
  }
  function tick() {
    const now = Date.now() / 1000;
    document.querySelectorAll("time.rel[data-ts]").forEach((el) => {
      el.textContent = relative(now - parseFloat(el.dataset.ts));
    });
    // Waiting to be taken on, against the target: red (the whole card) once past it.
    document.querySelectorAll(".wait[data-since]").forEach((el) => {
      const waited = Math.max(0, Math.floor(now - parseFloat(el.dataset.since)));
      const b = el.querySelector("b");
      const mm = String(Math.floor((waited % 3600) / 60)), ss = String(waited % 60).padStart(2, "0");
      const h = Math.floor(waited / 3600);
      if (b) b.textContent = h ? h + ":" + mm.padStart(2, "0") + ":" + ss : mm + ":" + ss;
      const over = waited > parseFloat(el.dataset.target);
      el.classList.toggle("overdue", over);
      el.closest(".alarm")?.classList.toggle("overdue", over);
    });
  }

  // Replace a list's children by the server's, keeping unchanged cards (and what the
  // operator is typing in a card's note field) so nothing flickers or gets lost.
  function patchList(container, html, markNew) {
    if (!container) return [];
    const added = [];
    const tpl = document.createElement("template");
    tpl.innerHTML = html;
    const next = [];
    for (const node of Array.from(tpl.content.children)) {
      const old = node.id ? document.getElementById(node.id) : null;
      if (old && old.dataset.v === node.dataset.v) {
        next.push(old);
        continue;
      }
      if (old) {
        const typed = old.querySelector('input[name="note"]');
        const field = node.querySelector('input[name="note"]');
        if (typed && field) field.value = typed.value;
      } else if (markNew && node.classList.contains("alarm")) {
        node.classList.add("fresh");
        added.push(node);
      }
      next.push(node);
    }
    container.replaceChildren(...next);
    return added;
  }

  // -- the queue's filters: severity, kind, free text (dwelling label or id, kind) --------
  const filters = document.getElementById("filters");
  function applyFilters() {
    if (!filters) return;
    const sev = filters.elements.sev.value;
    const kind = filters.elements.kind.value;
    const dw = filters.elements.dw.value;
    const mine = filters.elements.mine.checked;
    const q = filters.elements.q.value.trim().toLowerCase();
    let hidden = 0;
    document.querySelectorAll("#open-list .alarm").forEach((card) => {
      const show = (!sev || card.dataset.sev === sev) && (!kind || card.dataset.kind === kind) &&
        (!dw || card.dataset.dw === dw) && (!mine || card.dataset.claimed === me) &&
        (!q || (card.dataset.text || "").includes(q));
      card.hidden = !show;
      if (!show) hidden += 1;
    });
    const note = document.getElementById("filtered");
    if (note) note.hidden = hidden === 0;
  }
  if (filters) {
    filters.addEventListener("input", applyFilters);
    filters.addEventListener("submit", (ev) => ev.preventDefault());
  }

  // -- a new alarm: a sound (unless muted; a critical one always) and a desktop
  // notification (when the operator allowed them). `mz:alarm` events are the hook.
  const mute = document.getElementById("mute");
  let muted = localStorage.getItem("mz-muted") === "1";
  function showMute() {
    if (!mute) return;
    mute.setAttribute("aria-pressed", String(muted));
    mute.textContent = muted ? mute.dataset.off : mute.dataset.on;
  }
  if (mute) {
    mute.addEventListener("click", () => {
      muted = !muted;
      localStorage.setItem("mz-muted", muted ? "1" : "0");
      showMute();
    });
    showMute();
  }
  const notify = document.getElementById("notify");
  if (notify) {
    if (!("Notification" in window) || Notification.permission === "granted") notify.hidden = true;
    notify.addEventListener("click", async () => {
      if ("Notification" in window && (await Notification.requestPermission()) === "granted") {
        notify.hidden = true;
      }
    });
  }
  let audio = null;
  function beep(critical) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const times = critical ? [0, 0.35, 0.7] : [0];
      for (const t of times) {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.frequency.value = critical ? 880 : 660;
        gain.gain.setValueAtTime(0.2, audio.currentTime + t);
        gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + t + 0.3);
        osc.connect(gain).connect(audio.destination);
        osc.start(audio.currentTime + t);
        osc.stop(audio.currentTime + t + 0.3);
      }
      return true;
    } catch (e) {
      return false; // no audio here (or not yet allowed): the notification still goes
    }
  }
  function announce(card) {
    const critical = card.dataset.sev === "critical";
    const sound = critical || !muted;
    if (sound) beep(critical);
    const title = card.querySelector(".kind")?.textContent.trim() || "Alarm";
    const where = card.querySelector(".where strong")?.textContent.trim() || "";
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        new Notification(title, { body: where, tag: card.dataset.id, requireInteraction: critical });
      } catch (e) { /* some browsers allow notifications from a service worker only */ }
    }
    document.dispatchEvent(new CustomEvent("mz:alarm", {
      detail: { id: card.dataset.id, severity: card.dataset.sev, sound },
    }));
  }

  // New open alarms, on every page (the alarm page has no queue but must still sound).
  let seen = null;
  function newcomers(html) {
    const tpl = document.createElement("template");
    tpl.innerHTML = html;
    const cards = Array.from(tpl.content.querySelectorAll("article.alarm[data-id]"));
    const fresh = seen === null ? [] : cards.filter((c) => !seen.has(c.dataset.id));
    seen = new Set(cards.map((c) => c.dataset.id));
    return fresh;
  }

  // A page's own live part (the alarm page): swapped in whole when it changed.
  const livePart = document.querySelector("[data-part][data-id]");
  function streamUrl() {
    if (!livePart) return "/events";
    return `/events?${livePart.dataset.part}=${encodeURIComponent(livePart.dataset.id)}`;
  }

  let first = true;
  function connect() {
    const es = new EventSource(streamUrl());
    es.onopen = () => { conn.textContent = conn.dataset.live; conn.classList.add("live"); };
    es.onerror = () => { conn.textContent = conn.dataset.lost; conn.classList.remove("live"); };
    es.addEventListener("alarms", (ev) => {
      const d = JSON.parse(ev.data);
      patchList(document.getElementById("open-list"), d.open, !first);
      patchList(document.getElementById("recent-list"), d.recent, false);
      applyFilters();
      newcomers(d.open).forEach(announce);
      const summary = document.getElementById("summary");
      if (summary) summary.innerHTML = d.summary;
      document.title = d.open_count ? `(${d.open_count}) ${baseTitle}` : baseTitle;
      first = false;
      tick();
    });
    es.addEventListener("part", (ev) => {
      const d = JSON.parse(ev.data);
      const el = document.getElementById(d.id);
      if (el && el.dataset.v !== d.v) {
        // What the operator is typing or picking survives the swap.
        const kept = new Map();
        el.querySelectorAll("[data-keep][id]").forEach((f) => kept.set(f.id, f.value));
        const focused = document.activeElement && document.activeElement.id;
        el.innerHTML = d.html;
        kept.forEach((value, id) => { const f = document.getElementById(id); if (f) f.value = value; });
        if (focused) document.getElementById(focused)?.focus();
        el.dataset.v = d.v;
        tick();
        document.dispatchEvent(new CustomEvent("mz:part", { detail: { id: d.id, v: d.v } }));
      }
    });
    es.addEventListener("board", (ev) => {
      const board = document.getElementById("board");
      if (board) board.innerHTML = JSON.parse(ev.data).html;
      tick();
    });
  }

  // POST `body` as JSON to the API with the session's CSRF token, the form's buttons
  // disabled meanwhile. True when it was done; otherwise the operator is told why (a
  // claim by someone else in words) or, logged out, sent to the login.
  async function post(form, url, body) {
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      const resp = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "X-Requested-With": "mz-console" },
        body: JSON.stringify(body),
      });
      if (resp.status === 401) { window.location = "/login"; return false; }
      if (!resp.ok) {
        const err = await resp.json().catch(() => ({}));
        const detail = typeof err.detail === "string" ? err.detail : resp.statusText;
        const claimed = document.body.dataset.msgClaimed;
        window.alert(err.claimed_by_name && claimed ? claimed.replace("{name}", err.claimed_by_name) : detail);
        return false;
      }
      return true;
    } finally {
      form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
  }

  // A card's acknowledge / close without leaving the page; the form posts normally
  // without JS.
  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!form.classList || !form.classList.contains("act")) return;
    ev.preventDefault();
    // Closing takes an outcome code (the card's picker); acknowledging only the note.
    const closing = ev.submitter && ev.submitter.value === "close";
    const note = form.querySelector('input[name="note"]').value;
    const picked = form.querySelector('select[name="outcome"]');
    const body = closing ? { note, outcome: picked ? picked.value : "" } : { note };
    if (closing && !body.outcome) {
      window.alert(picked ? picked.dataset.required : "");
      picked?.focus();
      return;
    }
    const url = `/api/v1/alarms/${encodeURIComponent(form.dataset.id)}/${closing ? "close" : "ack"}`;
    if (!await post(form, url, body)) return;
    // The live update may already have replaced this card: clear the note wherever it is.
    const card = document.getElementById(`alarm-${form.dataset.id}`);
    for (const f of [form, card]) {
      const field = f && f.querySelector('input[name="note"]');
      if (field) field.value = "";
    }
  });

  // Claim, release, take over, notes, handling actions, close: forms with data-api post
  // their fields as JSON to that API path (without JavaScript they post to the page).
  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!form.dataset || !form.dataset.api) return;
    ev.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const body = {};
    for (const [k, v] of new FormData(form, ev.submitter)) {
      if (k !== "csrf" && k !== "back") body[k] = v;
    }
    if ("take_over" in body) body.take_over = body.take_over === "true";
    if (body.contact_id === "") delete body.contact_id;
    if (!await post(form, form.dataset.api, body)) return;
    form.querySelectorAll("textarea, input[type=text]").forEach((f) => { f.value = ""; });
    document.dispatchEvent(new CustomEvent("mz:acted", { detail: { api: form.dataset.api, body } }));
  });

  tick();
  setInterval(tick, 1000);
  connect();
})();
