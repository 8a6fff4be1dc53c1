"""Who is asking: the session cookie (console) or HTTP Basic (scripts); CSRF defences.

CSRF: the session cookie is SameSite=Strict, so a cross-site request does not carry it;
on top, every state-changing request from the browser must come with the session's
CSRF token (form field `csrf` or header `X-CSRF-Token`), and a request whose Origin
header names another site is refused whatever its credentials (browsers may replay
cached Basic credentials cross-site; scripts send no Origin).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from hub.api.throttle import LoginThrottle
from hub.context import Operator, Registry

log = logging.getLogger(__name__)

CONSOLE_ROLES = frozenset({"operator", "admin"})


def session_operator(request: Request) -> Operator | None:
    user = request.session.get("user")
    if not isinstance(user, dict) or user.get("role") not in CONSOLE_ROLES:
        return None
    return Operator(str(user["username"]), str(user["role"]), str(user.get("name", "")))


def start_session(request: Request, op: Operator) -> None:
    # A fresh session on login: nothing from before (a planted session) survives it.
    lang = request.session.get("lang")
    request.session.clear()
    request.session["user"] = {"username": op.username, "role": op.role, "name": op.display_name}
    request.session["csrf"] = secrets.token_urlsafe(24)
    if lang:
        request.session["lang"] = lang


async def verify(registry: Registry, username: str, password: str) -> Operator | None:
    # verify_operator hashes the password (slow on purpose): keep it off the event loop.
    op = await run_in_threadpool(registry.verify_operator, username, password)
    if op is None or op.role not in CONSOLE_ROLES:
        log.warning("console login refused for user %r", username[:64])
        return None
    return op


@dataclass(frozen=True, slots=True)
class Throttled:
    """Refused without checking the password: too many failures; try after `wait_s`."""

    wait_s: float


async def throttled_verify(
    registry: Registry,
    throttle: LoginThrottle,
    keys: tuple[str, str],
    username: str,
    password: str,
    clock: Callable[[], float],
) -> Operator | Throttled | None:
    """`verify` behind the login throttle; `keys` are (username key, client IP key)."""
    wait = throttle.begin(keys, clock())
    if wait > 0:
        return Throttled(wait)
    try:
        op = await verify(registry, username, password)
    except BaseException:
        throttle.abandon(keys)
        raise
    if op is not None:
        throttle.succeeded(keys, clear=keys[0])
        return op
    locked = throttle.failed(keys, clock())
    if locked > 0:
        log.warning(
            "console logins for user %r or from %s refused for %.0f s after repeated failures",
            username[:64],
            keys[1].removeprefix("ip:"),
            locked,
        )
    return None


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """(username, password) from an `Authorization: Basic` header, if there is a valid one."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        username, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not sep:
        return None
    return username[:128], password[:1024]


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, supplied: str | None) -> bool:
    expected = request.session.get("csrf")
    return (
        isinstance(expected, str)
        and supplied is not None
        and hmac.compare_digest(expected, supplied)
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_ok(request: Request, public_url: str) -> bool:
    """False when the browser says the request comes from another site."""
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if referer is None:
            return True  # not a browser form/fetch (curl, scripts): nothing to forge
        origin = _origin(referer)
    allowed = {_origin(str(request.base_url)), _origin(public_url)}
    return origin.lower() in allowed


def safe_next(target: str | None) -> str:
    """Only local paths: no open redirect through ?next=."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
