"""The hub console and HTTP API: `create_app(ctx)` builds the FastAPI application.

Pages (session login, Dutch by default, `?lang=en`): `/` alarms + dwelling board, live
over SSE (`/events`); `/dwellings` the board alone; `/dwellings/{id}` one dwelling's
learned routine, NEWS2 and vital-sign charts; `/login`, `/logout`.
JSON API under `/api/v1/` (session cookie or HTTP Basic); `/api/v1/health` is open.
Acknowledgement links `/ack/{token}` need no login: the signed token is the authority.
Sessions are server-side (in the registry); see hub.api.auth.
See docs/console.md (pages, API, sessions, CSRF, login throttling, live updates, language).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import cast

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response

from alerts.errors import ClaimedError
from hub.api import api, commands, handling, reports, residents
from hub.api.auth import PREFS_COOKIE, DeviceCookies, SessionPolicy, Sessions, Sleep
from hub.api.console import Console, ConsoleAlarms
from hub.api.live import LiveHub
from hub.api.throttle import LoginLimiter, LoginPolicy, MemoryLoginLimiter
from hub.console import routes
from hub.console.views import STATIC, make_templates
from hub.context import HubContext
from hub.family import routes as family
from hub.fhir import api as fhir_api
from hub.watch import WATCH_INTERVAL_S, ChangeFeed, Watcher

log = logging.getLogger(__name__)

# The anonymous cookie (language, the login form's CSRF token) may outlive a shift.
PREFS_MAX_AGE_S = 30 * 86400

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
    login_policy: LoginPolicy | None = None,
    limiter: LoginLimiter | None = None,
    sleep: Sleep = asyncio.sleep,
    watch: Sequence[ChangeFeed] = (),
    watch_interval_s: float = WATCH_INTERVAL_S,
) -> FastAPI:
    """The console for `ctx`; `ctx.alarms` is an alerts.service.AlarmService.

    `clock` is read for sessions, alarm actions and login throttling, `sleep` sits out a
    login slow-down (tests pass fakes). `limiter` replaces the in-memory login limiter
    (built from `login_policy`). `watch`: the shared stores' change feeds (hub.watch),
    looked at every `watch_interval_s` while the app runs, so that what other hub
    processes and `mz admin` commit reaches the live streams too.
    """
    if len(ctx.console.secret_key) < 16:
        raise ValueError("ConsoleSettings.secret_key must have at least 16 characters")
    alarms = cast(ConsoleAlarms, ctx.alarms)
    https = ctx.console.public_url.startswith("https://")
    sessions = Sessions(
        ctx.registry,
        clock,
        SessionPolicy(
            max_age_s=ctx.console.session_max_s, idle_s=ctx.console.session_idle_s, secure=https
        ),
    )
    console = Console(
        ctx=ctx,
        alarms=alarms,
        templates=make_templates(),
        clock=clock,
        tz=alarms.settings.timezone,
        board_refresh_s=board_refresh_s,
        limiter=limiter or MemoryLoginLimiter(login_policy),
        sessions=sessions,
        devices=DeviceCookies(ctx.console.secret_key, secure=https),
        sleep=sleep,
    )
    live = LiveHub()
    watcher = Watcher(watch, live.on_store_change, interval_s=watch_interval_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        alarms.add_listener(live.on_change)
        watcher.start()
        try:
            yield
        finally:
            await watcher.stop()
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
    app.state.watcher = watcher
    app.state.sessions = sessions

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    # Anonymous preferences only (language, the login form's CSRF token): no authority.
    # The operator's session is server-side (hub.api.auth.Sessions, cookie mz_session).
    app.add_middleware(
        SessionMiddleware,
        secret_key=ctx.console.secret_key,
        session_cookie=PREFS_COOKIE,
        max_age=PREFS_MAX_AGE_S,
        same_site="strict",
        https_only=https,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api.router(console))
    app.include_router(reports.router(console))
    app.include_router(handling.router(console))
    app.include_router(residents.router(console))
    app.include_router(fhir_api.router(console))  # /fhir: the read-only FHIR search API
    app.include_router(commands.router(console))
    app.add_exception_handler(ClaimedError, handling.claimed_handler(console))
    app.include_router(routes.router(console, live))
    app.mount(family.STATIC_PATH, family.static_files(), name="family-static")
    app.include_router(family.router(console))  # the mantelzorger's page, /familie
    return app
