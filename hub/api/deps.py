"""What the JSON API's routers share: who is asking (`operator_dependency`), and from
where (`source_of`).

No `from __future__ import annotations`: FastAPI reads the signatures at run time.
"""

import math
from collections.abc import Awaitable, Callable

from fastapi import HTTPException
from starlette.requests import Request

from hub.api.auth import (
    Throttled,
    basic_credentials,
    csrf_ok,
    origin_ok,
    session_operator,
    throttled_verify,
)
from hub.api.console import Console
from hub.context import Operator

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def operator_dependency(console: Console) -> Callable[[Request], Awaitable[Operator]]:
    """A FastAPI dependency: the operator of the request's session, or of its HTTP Basic
    credentials (throttled like the login form); 401 without either. A state-changing
    request must come from our own origin, and with a session also carry its CSRF token
    (403 otherwise)."""
    ctx = console.ctx

    async def operator(request: Request) -> Operator:
        op = session_operator(request)
        via_session = op is not None
        creds = basic_credentials(request) if op is None else None
        if creds is not None:
            # Basic is a login too: the same throttle as the login form, or it is a way round.
            # Checked on every request: a removed or disabled operator is refused at once.
            found = await throttled_verify(
                ctx.registry,
                console.limiter,
                console.attempt(request, creds[0], form=False),
                creds[1],
                console.clock,
                console.sleep,
            )
            if isinstance(found, Throttled):
                wait = math.ceil(found.wait_s)
                raise HTTPException(
                    429,
                    f"too many failed logins; try again in {wait} s",
                    headers={"Retry-After": str(wait)},
                )
            op = found
        if op is None:
            # The console's own fetches say so: no Basic prompt in the browser for them.
            console_js = request.headers.get("x-requested-with") == "mz-console"
            headers = {} if console_js else {"WWW-Authenticate": 'Basic realm="mz-hub"'}
            raise HTTPException(401, "login required", headers=headers)
        if request.method not in SAFE_METHODS:
            if not origin_ok(request, ctx.console.public_url):
                raise HTTPException(403, "cross-site request refused")
            if via_session and not csrf_ok(request, request.headers.get("x-csrf-token")):
                raise HTTPException(403, "missing or wrong CSRF token")
        return op

    return operator


def source_of(request: Request) -> str:
    """For the audit trail: `console` when the request came with a console session,
    `api` with HTTP Basic (a script)."""
    return "console" if session_operator(request) is not None else "api"
