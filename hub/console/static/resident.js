// The resident card's secrets on demand: "Sleutelkluiscode tonen" / "Zorgnotities tonen"
// fetch one through the JSON API (each fetch is audited in the operator's name), show it
// in place with a note that the view was logged, and hide it again after 60 s or on a
// click. Without JavaScript the same button posts its form to a no-store page.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const SHOWN_MS = 60 * 1000;
  // What is on screen now, by "dwelling/kind": kept here (never in storage) so that a live
  // update of the page, which replaces the panel, does not lose or resurrect it.
  const shown = new Map();

  function key(dwelling, kind) { return `${dwelling}/${kind}`; }
  function parts(dwelling, kind) {
    const panel = document.querySelector(`#resident[data-dwelling="${CSS.escape(dwelling)}"]`);
    if (!panel) return null;
    const sel = `[data-secret="${CSS.escape(kind)}"]`;
    return { form: panel.querySelector(`form.reveal${sel}`), box: panel.querySelector(`.revealed${sel}`) };
  }

  function render(dwelling, kind) {
    const p = parts(dwelling, kind);
    if (!p || !p.box) return;
    const entry = shown.get(key(dwelling, kind));
    const out = p.box.querySelector(".secret-value");
    if (entry) {
      out.textContent = entry.text;
      out.classList.toggle("none", entry.none);
      p.box.hidden = false;
      if (p.form) p.form.hidden = true;
    } else {
      out.textContent = "";  // the secret leaves the page, not only the screen
      p.box.hidden = true;
      if (p.form) p.form.hidden = false;
    }
  }

  function hide(dwelling, kind) {
    const entry = shown.get(key(dwelling, kind));
    if (entry) clearTimeout(entry.timer);
    shown.delete(key(dwelling, kind));
    render(dwelling, kind);
  }

  function show(dwelling, kind, text, none) {
    hide(dwelling, kind);
    const timer = setTimeout(() => hide(dwelling, kind), SHOWN_MS);
    shown.set(key(dwelling, kind), { text, none, timer });
    render(dwelling, kind);
    document.dispatchEvent(new CustomEvent("mz:revealed", { detail: { dwelling, kind } }));
  }

  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!form.classList || !form.classList.contains("reveal")) return;
    ev.preventDefault();
    const { dwelling, secret: kind } = form.dataset;
    const box = parts(dwelling, kind)?.box;
    const reason = form.querySelector('input[name="reason"]')?.value || "";
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const resp = await fetch(
        `/api/v1/dwellings/${encodeURIComponent(dwelling)}/resident/${kind}`, {
          method: "POST",
          credentials: "same-origin",
          headers: {
            "Content-Type": "application/json",
            "X-CSRF-Token": csrf,
            "X-Requested-With": "mz-console",
          },
          body: JSON.stringify({ reason }),
        });
      if (resp.status === 401) { window.location = "/login"; return; }
      const body = await resp.json().catch(() => ({}));
      if (!resp.ok) {
        const failed = (box?.dataset.failed || "{detail}").replace("{detail}", body.detail || resp.statusText);
        window.alert(failed);
        return;
      }
      const value = kind === "key-safe" ? body.key_safe_code : body.care_notes;
      show(dwelling, kind, value || box?.dataset.none || "", !value);
    } finally {
      button.disabled = false;
    }
  });

  // A click on the shown value (or its "Verbergen" button) hides it.
  document.addEventListener("click", (ev) => {
    const box = ev.target.closest && ev.target.closest(".revealed");
    if (!box) return;
    const panel = box.closest("#resident");
    if (panel) hide(panel.dataset.dwelling, box.dataset.secret);
  });

  // The page's live part was swapped in (console.js): show again what is still shown.
  document.addEventListener("mz:part", () => {
    for (const k of shown.keys()) {
      const cut = k.lastIndexOf("/");
      render(k.slice(0, cut), k.slice(cut + 1));
    }
  });
})();
