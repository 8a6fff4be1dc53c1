"""The dwelling board (`/dwellings`) and one dwelling's page (`/dwellings/{id}`): its
learned routine, NEWS2 and vital-sign charts."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from hub.api import overview
from hub.api.auth import csrf_token, session_operator
from hub.console.commands import command_panel, notice
from hub.console.dwelling_view import DwellingPage, dwelling_page
from hub.console.guard import login_redirect
from hub.console.residents import NO_STORE, panel_for
from hub.console.views import Views
from hub.context import Dwelling, DwellingHealth, Operator
from hub.errors import StorageError

log = logging.getLogger(__name__)


async def load_page(
    views: Views,
    dwelling_id: str,
    found: tuple[Dwelling | None, DwellingHealth | None],
    lang: str,
) -> tuple[DwellingPage, bool]:
    """The dwelling page's view at this moment, and whether the history store failed."""
    console = views.console
    registered, health = found
    now = console.clock()
    store_error = False
    try:
        ov = await overview.load(console.ctx.timeseries, dwelling_id, now)
    except StorageError as exc:
        log.warning("dwelling page %s: %s", dwelling_id, exc)
        store_error = True
        ov = await overview.load(None, dwelling_id, now)
    open_here = sum(1 for a in console.alarms.open_alarms() if a.dwelling == dwelling_id)
    view = dwelling_page(ov, registered, health, open_here, lang, console.tz, views.failures)
    return view, store_error


async def part_values(
    views: Views,
    dwelling_id: str,
    found: tuple[Dwelling | None, DwellingHealth | None],
    lang: str,
    op: Operator | None,
    csrf: str,
) -> dict[str, Any]:
    """What the page's live part (`_dwelling_page.html`) renders, for the page and the
    stream alike: the page's view and the resident panel (hub.console.residents)."""
    view, store_error = await load_page(views, dwelling_id, found, lang)
    return {
        "dw": view,
        "store_error": store_error,
        "resident": panel_for(views, dwelling_id, lang, op),
        "commands": await command_panel(views, dwelling_id, lang),
        "csrf": csrf,
    }


def router(views: Views) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    console = views.console
    templates = console.templates

    @r.get("/dwellings")
    async def dwellings_page(request: Request) -> Response:
        op = session_operator(request)
        if op is None:
            return login_redirect(request)
        lang = console.lang(request)
        values = {
            **views.base(request, lang),
            **views.lists(lang, csrf_token(request), op.username),
            **views.board(lang),
        }
        return templates.TemplateResponse(
            request, "dwellings.html", {**values, "page": "dwellings"}
        )

    @r.get("/dwellings/{dwelling_id}")
    async def dwelling_detail(request: Request, dwelling_id: str) -> Response:
        if session_operator(request) is None:
            return login_redirect(request)
        lang = console.lang(request)
        values = views.layout(request, lang, "dwellings")
        found = console.find_dwelling(dwelling_id)
        if found is None:
            return templates.TemplateResponse(
                request, "not_found.html", {**values, "dwelling_id": dwelling_id}, status_code=404
            )
        op = session_operator(request)
        page = {
            **values,
            **await part_values(views, dwelling_id, found, lang, op, csrf_token(request)),
            "cmd_notice": notice(request, lang),
        }
        part, version = views.part("_dwelling_page.html", page)
        # The resident card names a person: not for the browser's cache.
        return templates.TemplateResponse(
            request, "dwelling.html", {**page, "part": part, "part_v": version}, headers=NO_STORE
        )

    return r
