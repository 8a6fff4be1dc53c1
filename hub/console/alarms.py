"""One alarm: its page (`GET /alarms/{id}`: the whole timeline, what was measured, the
signals around it, the dwelling's last hour of readings), live over hub.console.events;
and acting on it from a page without JavaScript (`POST /alarms/{id}/{action}`; console.js
uses the JSON API, hub.api.api, instead)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from alerts.errors import ClaimedError, HandlingError, InvalidTransitionError, UnknownAlarmError
from alerts.handling import call_list, script
from alerts.model import AlarmRecord, HandlingAction, Outcome
from alerts.present import person_label
from hub.api import overview
from hub.api.auth import safe_next, session_operator
from hub.console.alarm_view import AlarmPage, alarm_page, handling
from hub.console.guard import login_redirect, operator_form
from hub.console.residents import panel_for
from hub.console.texts import UI
from hub.console.views import NOTE_MAX, Views
from hub.context import Operator
from hub.errors import StorageError

log = logging.getLogger(__name__)

# Who a timeline entry names that is not a person.
_SYSTEM = {
    "nl": {"edge": "de woning", "hub": "de hub", "centre": "alarmcentrale"},
    "en": {"edge": "the dwelling", "hub": "the hub", "centre": "alarm centre"},
}


async def load_page(views: Views, rec: AlarmRecord, lang: str, op: Operator) -> AlarmPage:
    """Everything the alarm page shows operator `op`, at this moment."""
    console = views.console
    now = console.clock()
    try:
        around = await overview.around(console.ctx.timeseries, rec.dwelling, rec.raised_at, now)
    except StorageError as exc:
        log.warning("alarm page %s: %s", rec.id, exc)
        around = await overview.around(None, rec.dwelling, rec.raised_at, now)

    def who(by: str | None) -> str:
        """A timeline's `by` as a reader names it: a contact by name and role (through
        whichever channel: "email:c-anna"), the system by what it is, an operator by
        their display name, else as logged."""
        if not by:
            return ""
        if by in _SYSTEM[lang]:
            return _SYSTEM[lang][by]
        channel, _, contact_id = by.rpartition(":")
        contact = console.alarms.contact(rec.dwelling, contact_id)
        if contact is None:
            return console.operator_name(by)  # an operator, or as logged
        name = person_label(contact.name, contact.role, lang)
        return f"{name} · {channel}" if channel else name

    view = views.alarm(rec, lang, now)
    registry = console.ctx.registry
    calls = call_list(
        registry.policy(rec.dwelling), registry.contacts_for(rec.dwelling), kind=rec.kind
    )
    work = handling(script(rec.kind), calls, op.username, rec.claimed_by, lang)
    timeline = console.alarms.timeline(rec.id)
    # A reveal of the key-safe code or care notes from here names the alarm in the audit.
    resident = panel_for(views, rec.dwelling, lang, op, reason=f"alarm {rec.id}")
    return alarm_page(
        view, work, timeline, around, who, lang, console.tz, now, views.failures, resident
    )


def router(views: Views) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    console = views.console
    alarms = console.alarms

    @r.get("/alarms/{alarm_id}")
    async def alarm_detail(request: Request, alarm_id: str) -> Response:
        op = session_operator(request)
        if op is None:
            return login_redirect(request)
        lang = console.lang(request)
        values = views.layout(request, lang, "alarms")
        rec = alarms.get(alarm_id)
        if rec is None:
            return console.templates.TemplateResponse(
                request, "alarm_not_found.html", {**values, "alarm_id": alarm_id}, status_code=404
            )
        page = await load_page(views, rec, lang, op)
        part, version = views.part("_alarm_page.html", {**values, "p": page, "me": op.username})
        return console.templates.TemplateResponse(
            request, "alarm.html", {**values, "p": page, "part": part, "part_v": version}
        )

    @r.post("/alarms/{alarm_id}/{action}")
    async def alarm_form(request: Request, alarm_id: str, action: str) -> Response:
        got = await operator_form(
            request,
            console.ctx.console.public_url,
            lambda: Response(UI[console.lang(request)]["error_csrf"], status_code=403),
        )
        if isinstance(got, Response):
            return got
        op, form = got
        note = str(form.get("note", ""))[:NOTE_MAX]
        by, now = op.username, console.clock()
        try:
            if action == "ack":
                await alarms.acknowledge(alarm_id, by, note, now)
            elif action == "resolve":
                await alarms.resolve(alarm_id, by, note, now)
            elif action in ("claim", "take_over"):
                await alarms.claim(alarm_id, by, now, take_over=action == "take_over")
            elif action == "release":
                await alarms.release(alarm_id, by, now)
            elif action == "note":
                await alarms.add_note(alarm_id, by, note, now)
            elif action == "action":
                done = HandlingAction(str(form.get("action", "")))
                contact = str(form.get("contact_id", "")) or None
                await alarms.record_action(alarm_id, by, done, now, contact_id=contact, note=note)
            elif action == "close":
                outcome = Outcome(str(form.get("outcome", "")))
                await alarms.close_alarm(alarm_id, by, outcome, note, now)
            else:
                return Response("unknown action", status_code=404)
        except UnknownAlarmError:
            return Response("unknown alarm", status_code=404)
        except ClaimedError as exc:
            holder = console.operator_name(exc.holder)
            text = UI[console.lang(request)]["claimed_conflict"].format(name=holder)
            return Response(text, status_code=409)
        except InvalidTransitionError as exc:
            return Response(str(exc), status_code=409)
        except (ValueError, HandlingError) as exc:  # an unknown action or outcome, a bad note
            return Response(str(exc), status_code=400)
        return RedirectResponse(safe_next(str(form.get("back", "/"))), status_code=303)

    return r
