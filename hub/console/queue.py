"""The alarm queue (`/`): open alarms in the order an operator works them, the recently
resolved ones, and the dwelling board beside them; live over hub.console.events."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from hub.api.auth import csrf_token, session_operator
from hub.console.guard import login_redirect
from hub.console.views import Views


def router(views: Views) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    console = views.console

    @r.get("/")
    async def queue_page(request: Request) -> Response:
        op = session_operator(request)
        if op is None:
            return login_redirect(request)
        lang = console.lang(request)
        values = {
            **views.base(request, lang),
            **views.lists(lang, csrf_token(request), op.username),
            **views.board(lang),
            **views.filters(lang),
        }
        return console.templates.TemplateResponse(
            request, "console.html", {**values, "page": "alarms"}
        )

    return r
