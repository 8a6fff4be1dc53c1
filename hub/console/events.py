"""The console's live stream (`/events`, Server-Sent Events): the alarm lists and the
board, re-rendered when an alarm changes (hub.api.live.LiveHub) or on the refresh timer,
and sent only when what they show changed. It ends with the operator's session.

A page with a live part of its own asks for it: `?alarm=ID` adds the alarm page's part,
`?dwelling=ID` the dwelling page's (event `part`: the element id, its version and HTML,
swapped in by console.js when the version differs from the page's).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response

from hub.api.auth import csrf_token, session_operator
from hub.api.live import LiveHub
from hub.console.alarms import load_page as load_alarm
from hub.console.dwellings import part_values as dwelling_part
from hub.console.texts import UI
from hub.console.views import Views
from hub.context import Operator


@dataclass(frozen=True, slots=True)
class Part:
    """One thing the stream keeps up to date: `make` gives (what it shows, the event's
    data); the event is sent when what it shows differs from what was sent last."""

    event: str
    make: Callable[[], Awaitable[tuple[object, dict[str, Any]]]]


def router(views: Views, live: LiveHub) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    console = views.console

    def parts(request: Request, lang: str, csrf: str, op: Operator) -> list[Part]:
        t = UI[lang]
        me = op.username

        async def lists() -> tuple[object, dict[str, Any]]:
            values = views.lists(lang, csrf, me)
            # Only what the cards show; relative times tick in the browser.
            sig = [(c.id, c.version) for c in values["open_cards"] + values["recent_cards"]]
            common = {**values, "t": t, "csrf": csrf, "lang": lang, "me": me}
            return sig, {
                "open": views.render("_open.html", common),
                "recent": views.render("_recent.html", common),
                "summary": views.render("_summary.html", common),
                "open_count": values["summary"].open,
            }

        async def board() -> tuple[object, dict[str, Any]]:
            b = views.board(lang)
            return b["board"], {"html": views.render("_board.html", {**b, "t": t, "lang": lang})}

        out = [Part("alarms", lists), Part("board", board)]
        alarm_id = request.query_params.get("alarm")
        if alarm_id:

            async def alarm_page() -> tuple[object, dict[str, Any]]:
                rec = console.alarms.get(alarm_id)
                if rec is None:
                    return None, {}
                page = await load_alarm(views, rec, lang, op)
                values = {"p": page, "t": t, "lang": lang, "csrf": csrf, "me": me}
                html, v = views.part("_alarm_page.html", values)
                return v, {"id": "alarm-live", "v": v, "html": str(html)}

            out.append(Part("part", alarm_page))
        dwelling_id = request.query_params.get("dwelling")
        if dwelling_id:

            async def dwelling_page() -> tuple[object, dict[str, Any]]:
                found = console.find_dwelling(dwelling_id)
                if found is None:
                    return None, {}
                values = await dwelling_part(views, dwelling_id, found, lang, op, csrf)
                html, v = views.part("_dwelling_page.html", {**values, "t": t, "lang": lang})
                return v, {"id": "dwelling-live", "v": v, "html": str(html)}

            out.append(Part("part", dwelling_page))
        return out

    @r.get("/events")
    async def events(request: Request) -> Response:
        op = session_operator(request)
        if op is None:
            return Response("login required", status_code=401)
        lang = console.lang(request)
        live_parts = parts(request, lang, csrf_token(request), op)
        queue = live.subscribe()

        async def stream() -> AsyncIterator[dict[str, str]]:
            sent: dict[int, object] = {}
            try:
                while True:
                    if console.sessions.lookup(request) is None:
                        return  # logged out, removed or disabled: the stream ends with it
                    out: list[dict[str, str]] = []
                    for i, part in enumerate(live_parts):
                        try:
                            shown, data = await part.make()
                            if data and (i not in sent or sent[i] != shown):
                                out.append({"event": part.event, "data": json.dumps(data)})
                                sent[i] = shown
                        except Exception as exc:
                            # The stream stays up (a closed one would be reopened into the
                            # same failure); the next change or refresh tries again.
                            views.failures.report("live update", f"/events {part.event}", exc)
                    for item in out:
                        yield item
                    try:
                        change = await asyncio.wait_for(
                            queue.get(), timeout=console.board_refresh_s
                        )
                    except TimeoutError:
                        continue
                    if change is None:
                        return  # the app is shutting down
                    while not queue.empty():  # a burst of changes: render once
                        if queue.get_nowait() is None:
                            return
            finally:
                live.unsubscribe(queue)

        return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store"})

    return r
