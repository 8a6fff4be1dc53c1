"""Signing in and out of the console (`/login`, `/logout`)."""

from __future__ import annotations

import logging
import math

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from alerts.present import duration
from hub.api.auth import Throttled, safe_next, session_operator, throttled_verify
from hub.console.guard import Token, checked_form
from hub.console.texts import UI
from hub.console.views import Views
from hub.errors import NotFound

log = logging.getLogger(__name__)


def router(views: Views) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    console = views.console
    ctx = console.ctx
    templates = console.templates

    @r.get("/login")
    async def login_page(request: Request, next: str = "/") -> Response:
        lang = console.lang(request)
        if session_operator(request) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
        return templates.TemplateResponse(
            request,
            "login.html",
            {**views.base(request, lang), "next": safe_next(next), "error": ""},
        )

    @r.post("/login")
    async def login(request: Request) -> Response:
        lang = console.lang(request)
        form = await checked_form(request, ctx.console.public_url, Token.ANONYMOUS)
        fields = form if form is not None else await request.form()
        username = str(fields.get("username", ""))[:128]
        password = str(fields.get("password", ""))[:1024]
        target = safe_next(str(fields.get("next", "/")))
        status = 403
        headers: dict[str, str] = {}
        if form is None:
            error = UI[lang]["error_csrf"]
        else:
            found = await throttled_verify(
                ctx.registry,
                console.limiter,
                console.attempt(request, username, form=True),
                password,
                console.clock,
                console.sleep,
            )
            error = UI[lang]["login_failed"]
            status = 401
            if isinstance(found, Throttled):
                wait = math.ceil(found.wait_s)
                error = UI[lang]["login_throttled"].format(wait=duration(wait, lang))
                status = 429
                headers["Retry-After"] = str(wait)
            elif found is not None:
                response = RedirectResponse(target, status_code=303)
                try:
                    console.sessions.start(request, response, found)
                except NotFound:
                    pass  # removed or disabled while the password was being checked
                else:
                    console.devices.issue(response, found.username, console.clock())
                    log.info("operator %s logged in to the console", found.username)
                    return response
        return templates.TemplateResponse(
            request,
            "login.html",
            {**views.base(request, lang), "next": target, "error": error, "username": username},
            status_code=status,
            headers=headers,
        )

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        if await checked_form(request, ctx.console.public_url, Token.SESSION) is not None:
            # Ends the session in the registry: a copied cookie is dead too. The language
            # stays (anonymous cookie).
            console.sessions.end(request, response)
        return response

    return r
