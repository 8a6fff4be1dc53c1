"""Acting on an alarm from a page without JavaScript (`POST /alarms/{id}/{action}`);
console.js uses the JSON API (hub.api.api) instead."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from alerts.errors import InvalidTransitionError, UnknownAlarmError
from hub.api.auth import session_operator
from hub.console.guard import Token, checked_form, login_redirect
from hub.console.texts import UI
from hub.console.views import NOTE_MAX, Views


def router(views: Views) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    console = views.console
    alarms = console.alarms

    @r.post("/alarms/{alarm_id}/{action}")
    async def alarm_form(request: Request, alarm_id: str, action: str) -> Response:
        op = session_operator(request)
        if op is None:
            return login_redirect(request)
        form = await checked_form(request, console.ctx.console.public_url, Token.SESSION)
        if form is None:
            return Response(UI[console.lang(request)]["error_csrf"], status_code=403)
        note = str(form.get("note", ""))[:NOTE_MAX]
        try:
            if action == "ack":
                await alarms.acknowledge(alarm_id, op.username, note, console.clock())
            elif action == "resolve":
                await alarms.resolve(alarm_id, op.username, note, console.clock())
            else:
                return Response("unknown action", status_code=404)
        except UnknownAlarmError:
            return Response("unknown alarm", status_code=404)
        except InvalidTransitionError as exc:
            return Response(str(exc), status_code=409)
        return RedirectResponse("/", status_code=303)

    return r
