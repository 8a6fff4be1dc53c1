"""The console's live stream (`/events`, Server-Sent Events): the alarm lists and the
board, re-rendered when an alarm changes (hub.api.live.LiveHub) or on the refresh timer,
and sent only when what they show changed. It ends with the operator's session."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response

from hub.api.auth import csrf_token, session_operator
from hub.api.live import LiveHub
from hub.console.texts import UI
from hub.console.views import Views


def router(views: Views, live: LiveHub) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    console = views.console

    @r.get("/events")
    async def events(request: Request) -> Response:
        if session_operator(request) is None:
            return Response("login required", status_code=401)
        lang = console.lang(request)
        csrf = csrf_token(request)
        queue = live.subscribe()

        async def stream() -> AsyncIterator[dict[str, str]]:
            sent_lists: object = None
            sent_board: object = None
            try:
                while True:
                    if console.sessions.lookup(request) is None:
                        return  # logged out, removed or disabled: the stream ends with it
                    out: list[dict[str, str]] = []
                    try:
                        values = views.lists(lang, csrf)
                        # Only what the cards show; relative times tick in the browser.
                        sig = [
                            (c.id, c.version) for c in values["open_cards"] + values["recent_cards"]
                        ]
                        if sig != sent_lists:
                            common = {**values, "t": UI[lang], "csrf": csrf, "lang": lang}
                            data = {
                                "open": views.render("_open.html", common),
                                "recent": views.render("_recent.html", common),
                                "summary": views.render("_summary.html", common),
                                "open_count": values["summary"].open,
                            }
                            out.append({"event": "alarms", "data": json.dumps(data)})
                            sent_lists = sig
                        b = views.board(lang)
                        if b["board"] != sent_board:
                            html = views.render("_board.html", {**b, "t": UI[lang], "lang": lang})
                            out.append({"event": "board", "data": json.dumps({"html": html})})
                            sent_board = b["board"]
                    except Exception as exc:
                        # The stream stays up (a closed one would be reopened into the
                        # same failure); the next change or refresh tries again.
                        views.failures.report("live update", "/events", exc)
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
