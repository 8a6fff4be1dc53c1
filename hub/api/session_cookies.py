"""A server-side session behind a cookie, as the console (hub.api.auth.Sessions, cookie
`mz_session`) and the family page (hub.family.sessions.FamilySessions, cookie
`mz_family`) keep theirs.

The cookie holds only the session's random id (HttpOnly, SameSite=Strict, Secure over
https); the session lives in the registry (hub.session_store) and is looked up once per
request, then kept on the request. A login starts a fresh session (nothing from before,
such as a planted session, survives it); a logout ends it in the registry, so a copied
cookie dies with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

S = TypeVar("S")


class CookieSessions(Generic[S]):
    """The cookie's side; a subclass says how its registry finds, ends and changes a
    session by the cookie's value."""

    def __init__(self, *, cookie: str, path: str, secure: bool, scope_key: str) -> None:
        self.cookie = cookie
        self.path = path
        self.secure = secure  # Secure cookie (served over https)
        self._scope_key = scope_key  # where the request keeps its session

    def find(self, session_id: str) -> S | None:
        """The live session with this cookie value, or None."""
        raise NotImplementedError

    def forget(self, session_id: str) -> None:
        """End the session with this cookie value in the registry."""
        raise NotImplementedError

    def store_language(self, session_id: str, lang: str) -> None:
        raise NotImplementedError

    def current(self, conn: HTTPConnection) -> S | None:
        """The request's live session, or None (looked up once per request)."""
        state = conn.scope.setdefault(self._scope_key, {})
        if "found" not in state:
            state["found"] = self.lookup(conn)
        found: S | None = state["found"]
        return found

    def lookup(self, conn: HTTPConnection) -> S | None:
        """Look the session up again (an open event stream does, to end with it)."""
        session_id = conn.cookies.get(self.cookie)
        return self.find(session_id) if session_id else None

    def begin(
        self,
        request: Request,
        response: Response,
        create: Callable[[str | None], tuple[str, S]],
        max_age_s: float,
    ) -> S:
        """A fresh session from `create` (given the visitor's language; it returns the id
        for the cookie and the session), in place of any the request had."""
        old = request.cookies.get(self.cookie)
        if old:
            self.forget(old)
        lang = request.session.get("lang")
        session_id, session = create(lang if isinstance(lang, str) else None)
        request.session.pop("csrf", None)  # the login form's token is used up
        request.scope[self._scope_key] = {"found": session}
        response.set_cookie(
            self.cookie,
            session_id,
            max_age=int(max_age_s),
            path=self.path,
            httponly=True,
            secure=self.secure,
            samesite="strict",  # never sent on cross-site requests: the first CSRF defence
        )
        return session

    def end(self, request: Request, response: Response) -> None:
        """Log out: the session ends in the registry (a copied cookie dies with it)."""
        session_id = request.cookies.get(self.cookie)
        if session_id:
            self.forget(session_id)
        request.scope[self._scope_key] = {"found": None}
        response.delete_cookie(
            self.cookie, path=self.path, httponly=True, secure=self.secure, samesite="strict"
        )

    def set_language(self, conn: HTTPConnection, lang: str) -> None:
        session_id = conn.cookies.get(self.cookie)
        if session_id and self.current(conn) is not None:
            self.store_language(session_id, lang)
