"""The resident card's pages. The panel itself is part of the dwelling page and the alarm
page (`panel_for`, template `_resident.html`); here are

- `POST /dwellings/{id}/resident/key-safe` and `/care-notes`: a secret without
  JavaScript (resident.js uses the JSON API, hub.api.residents): a `no-store` page that
  shows it, after the registry has audited the view in the operator's name;
- `GET/POST /dwellings/{id}/resident/edit`: the card's form, for a coordinator or an admin
  (every field; a new key-safe code and new care notes, never pre-filled);
- `GET /audit?dwelling=`: the audit trail, for a coordinator or an admin.

Every page here names a person: `Cache-Control: no-store`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Final

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from alerts.present import moment
from hub.api.auth import session_operator
from hub.api.residents import AUDIT_READERS
from hub.commands import follow_card
from hub.console.guard import login_redirect, operator_form
from hub.console.resident_view import ResidentPanel, audit_rows, broken_panel, resident_panel
from hub.console.texts import UI
from hub.console.views import Views
from hub.context import Actor, Operator, ResidentCard
from hub.errors import AuditFailed, Forbidden, InvalidValue, NotFound
from hub.resident_card import CARD_FIELDS, EDITOR_ROLES, call_list, clean

log = logging.getLogger(__name__)

NO_STORE: Final = {"Cache-Control": "no-store"}
REVEAL_SHOWN_S: Final = 60  # the no-JavaScript page goes back to the dwelling after this
AUDIT_LIMIT: Final = 200
REASON_MAX: Final = 200
# The two secrets by their path: (the registry's field, the page's heading, "none" text).
SECRETS: Final = {
    "key-safe": ("key_safe_code", "rc_key_safe", "rc_none_key_safe"),
    "care-notes": ("care_notes", "rc_care_notes", "rc_none_care_notes"),
}
# The text fields of the edit form, as typed (the rest: scale, oxygen, the secrets).
TEXT_FIELDS: Final = tuple(f for f in CARD_FIELDS if f not in ("news2_scale", "on_oxygen"))
# Why a field's value is refused, in the operator's language (texts_resident).
ERROR_TEXTS: Final = {
    **{f: f"rc_err_{f}" for f in (*TEXT_FIELDS, "news2_scale", "on_oxygen", "care_notes")},
    "key_safe_code": "rc_err_key_safe_code",
    "gp_phone": "rc_err_phone",
    "phone": "rc_err_phone",
}


def is_editor(op: Operator | None) -> bool:
    return op is not None and op.role in EDITOR_ROLES


def panel_for(
    views: Views, dwelling_id: str, lang: str, op: Operator | None, *, reason: str = ""
) -> ResidentPanel | None:
    """The resident panel of a registered dwelling (None for one only presence knows);
    a card that cannot be read or shown is a placeholder, never the page's end.
    `reason` goes with a reveal into the audit row (e.g. "alarm 01J…")."""
    console = views.console
    registry = console.ctx.registry
    try:
        card = registry.resident_card(dwelling_id)
        if card is None:
            return None
        callees = call_list(registry.policy(dwelling_id), registry.contacts_for(dwelling_id))
        return resident_panel(
            card,
            callees,
            lang,
            console.clock(),
            console.tz,
            editor=is_editor(op),
            reason=reason[:REASON_MAX],
        )
    except Exception as exc:  # the rest of the page must still show
        views.failures.report("resident card", dwelling_id, exc)
        return broken_panel(dwelling_id, editor=is_editor(op))


def version_of(card: ResidentCard) -> str:
    """What the edit form carries to see whether the card changed meanwhile."""
    return "" if card.updated_at is None else repr(card.updated_at)


def form_values(card: ResidentCard) -> dict[str, str]:
    """The card as the form's fields hold it (never a secret)."""
    values = {f: str(getattr(card, f) or "") for f in TEXT_FIELDS}
    values["date_of_birth"] = card.date_of_birth.isoformat() if card.date_of_birth else ""
    values["news2_scale"] = str(card.news2_scale)
    values["on_oxygen"] = "1" if card.on_oxygen else ""
    for secret in ("key_safe_code", "care_notes"):  # a new one only: never the stored one
        values[secret] = values[f"clear_{secret}"] = ""
    return values


def submitted(form: FormData, card: ResidentCard) -> tuple[dict[str, str], dict[str, object]]:
    """The form as typed (to show it again) and the changes it asks for: each card field
    it carries (the registry stores only those that differ; one it does not carry stays
    as it is), and a secret only when a new one is typed or its "clear" box is ticked.
    The oxygen box comes with a hidden "0" before it, so an unticked box is a change too."""
    typed = form_values(card)
    changes: dict[str, object] = {}
    for f in TEXT_FIELDS:
        if f in form:
            typed[f] = changes[f] = str(form.get(f, ""))
    if "news2_scale" in form:
        typed["news2_scale"] = scale = str(form.get("news2_scale", "")).strip()
        changes["news2_scale"] = int(scale) if scale.isdigit() and len(scale) < 3 else scale
    oxygen = form.getlist("on_oxygen")
    if oxygen:
        changes["on_oxygen"] = "1" in oxygen
        typed["on_oxygen"] = "1" if changes["on_oxygen"] else ""
    for secret in ("key_safe_code", "care_notes"):
        typed[secret] = str(form.get(secret, ""))
        typed[f"clear_{secret}"] = "1" if form.get(f"clear_{secret}") else ""
        if typed[f"clear_{secret}"]:
            changes[secret] = ""
        elif typed[secret].strip():
            changes[secret] = typed[secret]
    return typed, changes


def field_errors(changes: Mapping[str, object], today: date, lang: str) -> dict[str, str]:
    """Every refused field with why, in the operator's language (not only the first, as
    the registry's check stops at)."""
    t = UI[lang]
    errors: dict[str, str] = {}
    for name, value in changes.items():
        try:
            clean({name: value}, today)
        except InvalidValue as exc:
            errors[exc.field] = t[ERROR_TEXTS.get(exc.field, "rc_errors")]
    return errors


def router(views: Views) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    console = views.console
    templates = console.templates
    registry = console.ctx.registry
    public_url = console.ctx.console.public_url

    def page(
        request: Request, name: str, values: dict[str, Any], status_code: int = 200
    ) -> Response:
        return templates.TemplateResponse(
            request, name, values, status_code=status_code, headers=NO_STORE
        )

    def not_found(request: Request, values: dict[str, Any], dwelling_id: str) -> Response:
        return page(request, "not_found.html", {**values, "dwelling_id": dwelling_id}, 404)

    def forbidden(request: Request, values: dict[str, Any], message: str) -> Response:
        return page(request, "resident_forbidden.html", {**values, "message": message}, 403)

    def refused(request: Request) -> Response:
        return Response(UI[console.lang(request)]["error_csrf"], status_code=403, headers=NO_STORE)

    # -- a secret without JavaScript ----------------------------------------------------

    async def reveal(request: Request, dwelling_id: str, what: str) -> Response:
        got = await operator_form(request, public_url, lambda: refused(request))
        if isinstance(got, Response):
            return got
        op, form = got
        lang = console.lang(request)
        values = views.layout(request, lang, "dwellings")
        t = UI[lang]
        field, heading, none = SECRETS[what]
        read: Callable[..., str] = (
            registry.reveal_key_safe if field == "key_safe_code" else registry.reveal_care_notes
        )
        reason = " ".join(str(form.get("reason", "")).split())[:REASON_MAX]
        who, now = Actor(op.username, op.role, "console"), console.clock()
        try:
            secret = await run_in_threadpool(lambda: read(dwelling_id, who, now, reason=reason))
        except NotFound:
            return not_found(request, values, dwelling_id)
        except Forbidden:
            return forbidden(request, values, t["rc_forbidden_title"])
        except AuditFailed as exc:
            log.error("resident %s of %s not shown: %s", field, dwelling_id, exc)
            return Response(t["rc_audit_failed"], status_code=503, headers=NO_STORE)
        except InvalidValue:
            return Response("reason: one line of text", status_code=400, headers=NO_STORE)
        back = f"/dwellings/{dwelling_id}"
        shown = page(
            request,
            "resident_secret.html",
            {
                **values,
                "dwelling_id": dwelling_id,
                "dwelling_label": console.label(dwelling_id),
                "kind": what,
                "heading": t[heading],
                "secret": secret,
                "nothing": t[none],
                "logged": t["rc_logged_by"].format(
                    who=op.display_name or op.username, when=moment(now, console.tz, now, lang)
                ),
                "back": back,
            },
        )
        # Without JavaScript too, the secret leaves the screen: back to the dwelling page.
        shown.headers["Refresh"] = f"{REVEAL_SHOWN_S}; url={back}"
        return shown

    @r.post("/dwellings/{dwelling_id}/resident/key-safe")
    async def reveal_key_safe(request: Request, dwelling_id: str) -> Response:
        return await reveal(request, dwelling_id, "key-safe")

    @r.post("/dwellings/{dwelling_id}/resident/care-notes")
    async def reveal_care_notes(request: Request, dwelling_id: str) -> Response:
        return await reveal(request, dwelling_id, "care-notes")

    # -- editing the card -------------------------------------------------------------

    def edit_page(
        request: Request,
        values: dict[str, Any],
        card: ResidentCard,
        typed: dict[str, str],
        *,
        errors: dict[str, str] | None = None,
        notice: str = "",
        status_code: int = 200,
    ) -> Response:
        return page(
            request,
            "resident_edit.html",
            {
                **values,
                "dwelling_id": card.dwelling,
                "dwelling_label": console.label(card.dwelling),
                "card": card,
                "f": typed,
                "errors": errors or {},
                "notice": notice,
                "version": version_of(card),
            },
            status_code,
        )

    @r.get("/dwellings/{dwelling_id}/resident/edit")
    async def edit_form(request: Request, dwelling_id: str) -> Response:
        op = session_operator(request)
        if op is None:
            return login_redirect(request)
        lang = console.lang(request)
        values = views.layout(request, lang, "dwellings")
        if not is_editor(op):
            return forbidden(request, values, UI[lang]["rc_forbidden_edit"])
        card = registry.resident_card(dwelling_id)
        if card is None:
            return not_found(request, values, dwelling_id)
        return edit_page(request, values, card, form_values(card))

    @r.post("/dwellings/{dwelling_id}/resident/edit")
    async def edit_save(request: Request, dwelling_id: str) -> Response:
        got = await operator_form(request, public_url, lambda: refused(request))
        if isinstance(got, Response):
            return got
        op, form = got
        lang = console.lang(request)
        t = UI[lang]
        values = views.layout(request, lang, "dwellings")
        if not is_editor(op):
            return forbidden(request, values, t["rc_forbidden_edit"])
        card = registry.resident_card(dwelling_id)
        if card is None:
            return not_found(request, values, dwelling_id)
        typed, changes = submitted(form, card)
        now = console.clock()
        # The registry's own check dates a birth against the UTC day: so does this one.
        errors = field_errors(changes, datetime.fromtimestamp(now, UTC).date(), lang)
        if errors:
            notice = t["rc_errors"]
            return edit_page(
                request, values, card, typed, errors=errors, notice=notice, status_code=422
            )
        if str(form.get("version", "")) != version_of(card):
            when = moment(card.updated_at or now, console.tz, now, lang)
            notice = t["rc_changed_meanwhile"].format(who=card.updated_by or "?", when=when)
            return edit_page(request, values, card, typed, notice=notice, status_code=409)
        who = Actor(op.username, op.role, "console")
        try:
            saved = await run_in_threadpool(
                lambda: registry.update_resident(dwelling_id, changes, who, now)
            )
        except NotFound:
            return not_found(request, values, dwelling_id)
        except Forbidden:
            return forbidden(request, values, t["rc_forbidden_edit"])
        except InvalidValue as exc:  # what field_errors did not foresee
            errors = {exc.field: t[ERROR_TEXTS.get(exc.field, "rc_errors")]}
            return edit_page(
                request, values, card, typed, errors=errors, notice=t["rc_errors"], status_code=422
            )
        except AuditFailed as exc:
            log.error("resident card of %s not changed: %s", dwelling_id, exc)
            return edit_page(
                request, values, card, typed, notice=t["rc_audit_failed"], status_code=503
            )
        await follow_card(console.ctx.commands, card, saved, who)  # the edge's care plan
        return RedirectResponse(f"/dwellings/{dwelling_id}", status_code=303)

    # -- the audit trail --------------------------------------------------------------

    @r.get("/audit")
    async def audit_page(request: Request, dwelling: str | None = None) -> Response:
        op = session_operator(request)
        if op is None:
            return login_redirect(request)
        lang = console.lang(request)
        values = views.layout(request, lang, "dwellings")
        t = UI[lang]
        if op.role not in AUDIT_READERS:
            return forbidden(request, values, t["rc_forbidden_audit"])
        dwelling = dwelling or None
        entries = await run_in_threadpool(lambda: registry.audit_log(dwelling, None, AUDIT_LIMIT))
        labels = {d.id: d.label for d in registry.dwellings()}
        now = console.clock()
        return page(
            request,
            "audit.html",
            {
                **values,
                "dwelling_id": dwelling,
                "dwelling_label": labels.get(dwelling, dwelling) if dwelling else "",
                "registered": dwelling in labels if dwelling else False,
                "rows": audit_rows(entries, labels, lang, now, console.tz),
                "limit": AUDIT_LIMIT,
            },
        )

    return r
