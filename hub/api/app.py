"""The hub console and HTTP API: `create_app(ctx)` builds the FastAPI application.

Pages (session login, Dutch by default, `?lang=en`): `/` alarms + dwelling board, live
over SSE (`/events`); `/dwellings` the board alone; `/dwellings/{id}` one dwelling's
learned routine, NEWS2 and vital-sign charts; `/login`, `/logout`.
JSON API under `/api/v1/` (session cookie or HTTP Basic); `/api/v1/health` is open.
Acknowledgement links `/ack/{token}` need no login: the signed token is the authority.
See docs/console.md (pages, API, CSRF, login throttling, live updates, language).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import cast

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response

from hub.api import api, pages
from hub.api.console import STATIC, Console, ConsoleAlarms, make_templates
from hub.api.live import LiveHub
from hub.api.throttle import LoginThrottle, ThrottlePolicy
from hub.context import HubContext

log = logging.getLogger(__name__)

SESSION_MAX_AGE_S = 12 * 3600  # one shift in an alarm centre

# Everything is served from here: no inline script, no CDN, no framing (clickjacking).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def create_app(
    ctx: HubContext,
    *,
    clock: Callable[[], float] = time.time,
    board_refresh_s: float = 5.0,
    login_policy: ThrottlePolicy | None = None,
) -> FastAPI:
    """The console for `ctx`; `ctx.alarms` is an alerts.service.AlarmService.

    `clock` is read for alarm actions and login throttling (tests pass a fake one).
    """
    if len(ctx.console.secret_key) < 16:
        raise ValueError("ConsoleSettings.secret_key must have at least 16 characters")
    alarms = cast(ConsoleAlarms, ctx.alarms)
    console = Console(
        ctx=ctx,
        alarms=alarms,
        templates=make_templates(),
        clock=clock,
        tz=alarms.settings.timezone,
        board_refresh_s=board_refresh_s,
        throttle=LoginThrottle(login_policy),
    )
    live = LiveHub()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        alarms.add_listener(live.on_change)
        try:
            yield
        finally:
            alarms.remove_listener(live.on_change)
            live.close()

    app = FastAPI(
        title="Mobiele Zorg hub",
        version="1",
        lifespan=lifespan,
        docs_url="/api/v1/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.console = console
    app.state.live = live

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.add_middleware(
        SessionMiddleware,
        secret_key=ctx.console.secret_key,
        session_cookie="mz_session",
        max_age=SESSION_MAX_AGE_S,
        same_site="strict",  # never sent on cross-site requests: the first CSRF defence
        https_only=ctx.console.public_url.startswith("https://"),
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api.router(console))
    app.include_router(pages.router(console, live))
    return app
