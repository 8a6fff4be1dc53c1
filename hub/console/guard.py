"""The one check of a browser's state-changing request to a page: the Origin (or
Referer) must be this hub, and a form must carry the CSRF token of the session (or, for
the login form, of the anonymous cookie). Acknowledgement links carry no CSRF token —
the signed token in the URL is the authority — and are checked for origin only.

The JSON API checks the same two things in its own dependency (hub.api.api); both use
hub.api.auth's `origin_ok` and `csrf_ok`.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hub.api.auth import csrf_ok, origin_ok, session_operator
from hub.context import Operator


class Token(Enum):
    SESSION = "session"  # the signed-in operator's CSRF token
    ANONYMOUS = "anonymous"  # the login form's, from the anonymous cookie
    NONE = "none"  # origin only (the acknowledgement link's token is the authority)


async def checked_form(request: Request, public_url: str, token: Token) -> FormData | None:
    """The request's form, or None when it must be refused as cross-site."""
    if not origin_ok(request, public_url):
        return None
    form = await request.form()
    if token is Token.NONE:
        return form
    if not csrf_ok(request, str(form.get("csrf", "")), anonymous=token is Token.ANONYMOUS):
        return None
    return form


def login_redirect(request: Request) -> RedirectResponse:
    """To the login page, coming back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)


async def operator_form(
    request: Request, public_url: str, refused: Callable[[], Response]
) -> tuple[Operator, FormData] | Response:
    """A signed-in operator's form: (who, the form); else the answer instead: to the
    login page without a session, `refused()` for a cross-site form or one without the
    session's CSRF token."""
    op = session_operator(request)
    if op is None:
        return login_redirect(request)
    form = await checked_form(request, public_url, Token.SESSION)
    if form is None:
        return refused()
    return op, form
