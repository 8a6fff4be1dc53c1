"""The mantelzorger's acknowledgement link (`/ack/{token}`): no login, the signed token is
the authority. GET shows the alarm and the steps left (ik ga erheen, ik ben er,
afsluiten with an outcome); POST takes one. Cross-site POSTs are refused."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from alerts.errors import (
    InvalidTransitionError,
    TokenError,
    TokenExpiredError,
    TokenRevokedError,
    UnknownAlarmError,
)
from alerts.model import AlarmRecord, AlarmState, Outcome
from alerts.model import Response as Response_
from alerts.present import date_time
from alerts.texts import language
from hub.console.guard import Token, checked_form
from hub.console.present import ack_view
from hub.console.texts import UI
from hub.console.views import NOTE_MAX, Views

# The token is in the URL: keep it out of caches and out of Referer headers to other
# sites. Not "no-referrer": Chromium then sends "Origin: null" with the form's POST,
# which the origin check must refuse.
ACK_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin"}


def router(views: Views) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    console = views.console
    alarms = console.alarms
    templates = console.templates

    def ack_page(request: Request, token: str, status: int, **values: Any) -> Response:
        lang = values.pop("lang", None) or console.lang(request)
        return templates.TemplateResponse(
            request,
            "ack.html",
            {"t": UI[lang], "lang": lang, "token": token, "message": "", "form": False, **values},
            status_code=status,
            headers=ACK_HEADERS,
        )

    def ack_state(request: Request, token: str) -> Response | tuple[Any, str]:
        """The alarm and page language for `token`, or the error page to show."""
        try:
            claim = alarms.verify_ack_token(token)
        except TokenExpiredError:
            return ack_page(request, token, 410, message=UI[console.lang(request)]["ack_expired"])
        except TokenRevokedError:
            # The contact was removed (or re-added): never acknowledges, whatever the state.
            return ack_page(request, token, 410, message=UI[console.lang(request)]["ack_revoked"])
        except TokenError:
            return ack_page(request, token, 400, message=UI[console.lang(request)]["ack_invalid"])
        rec = alarms.get(claim.alarm_id)
        if rec is None:
            return ack_page(request, token, 404, message=UI[console.lang(request)]["ack_unknown"])
        contact = alarms.contact(rec.dwelling, claim.contact_id)
        lang = language(contact.language if contact else None, console.lang(request))
        return rec, lang

    def alarm_facts(rec: Any, lang: str) -> dict[str, Any]:
        view = ack_view(rec, console.label(rec.dwelling), lang, console.tz, views.failures)
        return {"alarm": view, "when": view.when}

    def ack_status(rec: AlarmRecord, lang: str) -> str:
        """Who took the alarm on and how far they got (empty: nobody yet)."""
        t = UI[lang]
        by = rec.acknowledged_by or "?"
        if rec.response is Response_.CLOSED:
            return str(t["ack_status_closed"].format(by=by))
        if rec.response is Response_.ARRIVED:
            return str(t["ack_status_arrived"].format(by=by))
        if rec.state is AlarmState.ACKNOWLEDGED:
            when = date_time(rec.acknowledged_at, console.tz, lang)
            return str(t["ack_status_on_my_way"].format(by=by, when=when))
        return ""

    def ack_actions(rec: AlarmRecord) -> tuple[str, ...]:
        """The steps a mantelzorger can still take on this alarm, in order."""
        if rec.state is AlarmState.RESOLVED or rec.response is Response_.CLOSED:
            return ()
        if rec.response is Response_.ARRIVED:
            return ("closed",)
        if rec.response is Response_.ON_MY_WAY:
            return ("arrived", "closed")
        return ("on_my_way", "arrived")

    def ack_form(
        request: Request, token: str, status: int, rec: AlarmRecord, lang: str, **values: Any
    ) -> Response:
        t = UI[lang]
        actions = ack_actions(rec)
        values.setdefault(
            "message",
            ack_status(rec, lang)
            or (t["ack_resolved"] if rec.state is AlarmState.RESOLVED else ""),
        )
        return ack_page(
            request,
            token,
            status,
            lang=lang,
            form=bool(actions),
            actions=actions,
            outcomes=[(o.value, t[f"outcome_{o.value}"]) for o in Outcome],
            centre=rec.centre_required and rec.state is not AlarmState.RESOLVED,
            **alarm_facts(rec, lang),
            **values,
        )

    @r.get("/ack/{token}")
    async def ack_link_page(request: Request, token: str) -> Response:
        # GET never changes anything: mail scanners open links to check them.
        found = ack_state(request, token)
        if isinstance(found, Response):
            return found
        rec, lang = found
        return ack_form(request, token, 200, rec, lang)

    @r.post("/ack/{token}")
    async def ack_link(request: Request, token: str) -> Response:
        form = await checked_form(request, console.ctx.console.public_url, Token.NONE)
        if form is None:
            return Response("cross-site request refused", status_code=403)
        found = ack_state(request, token)
        if isinstance(found, Response):
            return found
        rec, lang = found
        t = UI[lang]
        note = str(form.get("note", ""))[:NOTE_MAX]
        try:
            action = Response_(str(form.get("action", Response_.ON_MY_WAY.value)))
            outcome = Outcome(str(form.get("outcome", ""))) if action is Response_.CLOSED else None
        except ValueError:
            return ack_form(request, token, 400, rec, lang, message=t["ack_pick_outcome"])
        try:
            rec = await alarms.respond_link(token, action, note, outcome)
        except InvalidTransitionError:
            return ack_page(
                request, token, 409, lang=lang, message=t["ack_resolved"], **alarm_facts(rec, lang)
            )
        except TokenExpiredError:
            return ack_page(request, token, 410, lang=lang, message=t["ack_expired"])
        except TokenRevokedError:
            return ack_page(request, token, 410, lang=lang, message=t["ack_revoked"])
        except TokenError:
            return ack_page(request, token, 400, lang=lang, message=t["ack_invalid"])
        except UnknownAlarmError:
            return ack_page(request, token, 404, lang=lang, message=t["ack_unknown"])
        if action is Response_.CLOSED:
            msg = t[
                "ack_done_closed" if rec.state is AlarmState.RESOLVED else "ack_done_closed_centre"
            ]
        else:
            msg = t[f"ack_done_{action.value}"]
        return ack_form(request, token, 200, rec, lang, message=msg, done=True)

    return r
