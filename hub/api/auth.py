"""Who is asking: a server-side session (console) or HTTP Basic (scripts); CSRF defences;
device cookies for the login throttle.

Sessions: the `mz_session` cookie holds only a random session id; the session itself
(operator, CSRF token, expiry) lives in the registry's database and is looked up on
every request, so a logout, a removed or disabled operator, or a changed password ends
it at once, in every hub process, also for a copied cookie. Anonymous visitors (the
login page, acknowledgement pages) get a separate signed cookie, `mz_prefs`, holding only
their language and the login form's CSRF token: no authority.

CSRF: the session cookie is SameSite=Strict, so a cross-site request does not carry it;
on top, every state-changing request from the browser must come with the session's
CSRF token (form field `csrf` or header `X-CSRF-Token`), and a request whose Origin
header names another site is refused whatever its credentials (browsers may replay
cached Basic credentials cross-site; scripts send no Origin).

Device cookies (OWASP): a successful login through the form leaves a signed, long-lived
cookie for that username in the browser; see hub.api.throttle for what it changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeVar
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from hub.api.session_cookies import CookieSessions
from hub.api.throttle import Attempt, LoginLimiter
from hub.context import ConsoleSession, Operator, Registry

log = logging.getLogger(__name__)

# A coordinator works the console like an operator and also edits residents' cards.
CONSOLE_ROLES = frozenset({"operator", "coordinator", "admin"})

SESSION_COOKIE: Final = "mz_session"  # the server-side session's id, nothing else
PREFS_COOKIE: Final = "mz_prefs"  # signed (Starlette): language, the login form's CSRF token
DEVICE_COOKIE_PREFIX: Final = "mz_device_"
DEVICE_MAX_AGE_S: Final = 180 * 86400.0
_DEVICE_PURPOSE: Final = b"mz-device-cookie-v1"
# nonce (128 bits) "." expiry (UNIX s) "." HMAC-SHA256, all URL-safe ASCII.
_DEVICE_VALUE: Final = re.compile(r"([A-Za-z0-9_-]{22})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})")

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    max_age_s: float = 12 * 3600.0  # absolute: one shift
    idle_s: float = 2 * 3600.0
    secure: bool = False  # Secure cookies (the console is served over https)


class Sessions(CookieSessions[ConsoleSession]):
    """The console's server-side sessions, kept by the registry (shared by every hub
    process). Each request's session is looked up once and then cached on the request."""

    def __init__(
        self, registry: Registry, clock: Callable[[], float], policy: SessionPolicy
    ) -> None:
        super().__init__(
            cookie=SESSION_COOKIE, path="/", secure=policy.secure, scope_key="mz.session"
        )
        self.registry = registry
        self.clock = clock
        self.policy = policy

    def find(self, session_id: str) -> ConsoleSession | None:
        """The live session with a console role, or None."""
        found = self.registry.session(session_id, self.clock(), idle_s=self.policy.idle_s)
        if found is None or found.operator.role not in CONSOLE_ROLES:
            return None
        return found

    def forget(self, session_id: str) -> None:
        self.registry.end_session(session_id)

    def store_language(self, session_id: str, lang: str) -> None:
        self.registry.set_session_language(session_id, lang)

    def start(self, request: Request, response: Response, op: Operator) -> ConsoleSession:
        """A fresh session on login: nothing from before (a planted session) survives it.

        Raises hub.errors.NotFound if the operator was removed or disabled meanwhile."""

        def create(lang: str | None) -> tuple[str, ConsoleSession]:
            return self.registry.create_session(
                op.username,
                self.clock(),
                max_age_s=self.policy.max_age_s,
                idle_s=self.policy.idle_s,
                language=lang,
            )

        return self.begin(request, response, create, self.policy.max_age_s)


def sessions_of(conn: HTTPConnection) -> Sessions:
    sessions: Sessions = conn.app.state.sessions
    return sessions


def current_session(conn: HTTPConnection) -> ConsoleSession | None:
    return sessions_of(conn).current(conn)


def session_operator(conn: HTTPConnection) -> Operator | None:
    found = current_session(conn)
    return found.operator if found is not None else None


class DeviceCookies:
    """Signed per-username device cookies: `mz_device_<tag>` = nonce.expiry.signature,
    where the tag is derived from the username (several operators may share a
    workstation) and the nonce is the device's id for the throttle."""

    def __init__(
        self,
        secret_key: str,
        *,
        secure: bool,
        max_age_s: float = DEVICE_MAX_AGE_S,
        path: str = "/login",
    ) -> None:
        self._key = hmac.new(secret_key.encode(), _DEVICE_PURPOSE, hashlib.sha256).digest()
        self.secure = secure
        self.max_age_s = max_age_s
        self.path = path  # only the login form there reads it

    def _mac(self, text: str) -> bytes:
        return hmac.new(self._key, text.encode(), hashlib.sha256).digest()

    def name(self, username: str) -> str:
        return DEVICE_COOKIE_PREFIX + self._mac("name\n" + _fold(username)).hex()[:16]

    def _signature(self, username: str, nonce: str, expires: int) -> str:
        mac = self._mac(f"device\n{_fold(username)}\n{nonce}\n{expires}")
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def issue(self, response: Response, username: str, now: float) -> None:
        nonce = secrets.token_urlsafe(16)
        expires = int(now + self.max_age_s)
        response.set_cookie(
            self.name(username),
            f"{nonce}.{expires}.{self._signature(username, nonce, expires)}",
            max_age=int(self.max_age_s),
            path=self.path,  # only the login form reads it
            httponly=True,
            secure=self.secure,
            samesite="strict",
        )

    def device(self, conn: HTTPConnection, username: str, now: float) -> str | None:
        """The device id of a valid device cookie for `username` in the request, or None."""
        value = conn.cookies.get(self.name(username))
        match = _DEVICE_VALUE.fullmatch(value) if value else None
        if match is None:
            return None
        nonce, expires, signature = match.group(1), int(match.group(2)), match.group(3)
        expected = self._signature(username, nonce, expires)
        if not hmac.compare_digest(expected.encode(), signature.encode()) or now > expires:
            return None
        return nonce


def _fold(username: str) -> str:
    return username.strip().casefold()


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
    limiter: LoginLimiter,
    attempt: Attempt,
    password: str,
    clock: Callable[[], float],
    sleep: Sleep,
) -> Operator | Throttled | None:
    """`verify` behind the login limiter: refused, or slowed down, then checked."""
    return await throttled(
        limiter, attempt, lambda: verify(registry, attempt.username, password), clock, sleep
    )


async def throttled(
    limiter: LoginLimiter,
    attempt: Attempt,
    check: Callable[[], Awaitable[T | None]],
    clock: Callable[[], float],
    sleep: Sleep,
    *,
    what: str = "console logins",
) -> T | Throttled | None:
    """`check` (a password check: who, or None) behind the login limiter: refused
    (Throttled), or slowed down, then checked; the outcome is counted. `what` names the
    logins in the log ("console logins", "family logins")."""
    admission = limiter.admit(attempt, clock())
    if admission.refused_s > 0:
        return Throttled(admission.refused_s)
    try:
        if admission.delay_s > 0:
            await sleep(admission.delay_s)
        found = await check()
    except BaseException:
        limiter.abandon(attempt)
        raise
    if found is not None:
        limiter.succeeded(attempt)
        return found
    caused = limiter.failed(attempt, clock())
    user = attempt.username[:64]
    if caused.refused_s > 0 and attempt.device is not None:
        log.warning(
            "%s from a trusted device of user %r refused for %.0f s after repeated failures",
            what,
            user,
            caused.refused_s,
        )
    elif caused.refused_s > 0:
        log.warning(
            "%s from %s refused for %.0f s after repeated failures (last for %r)",
            what,
            attempt.address,
            caused.refused_s,
            user,
        )
    if caused.delay_s > 0:
        log.warning(
            "%s for user %r from clients without its device cookie are slowed"
            " down by %.0f s after repeated failures",
            what,
            user,
            caused.delay_s,
        )
    return None


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """(username, password) from an `Authorization: Basic` header, if there is a valid one.

    Junk (not base64, not UTF-8, non-ASCII, no colon) is no credentials, never an error."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value or len(value) > 4096:
        return None
    try:
        # binascii.Error, UnicodeDecodeError and "only ASCII" are all ValueErrors.
        username, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except ValueError:
        return None
    if not sep:
        return None
    return username[:128], password[:1024]


def anonymous_csrf_token(request: Request) -> str:
    """The login form's CSRF token, kept in the anonymous `mz_prefs` cookie."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def csrf_token(request: Request) -> str:
    """The token to put in forms: the session's, or (signed out) the login form's."""
    found = current_session(request)
    return found.csrf if found is not None else anonymous_csrf_token(request)


def csrf_ok(request: Request, supplied: str | None, *, anonymous: bool = False) -> bool:
    """`supplied` is the session's CSRF token (with `anonymous`: the login form's)."""
    found = None if anonymous else current_session(request)
    expected = found.csrf if found is not None else request.session.get("csrf")
    return (
        isinstance(expected, str)
        and supplied is not None
        # As bytes: compare_digest raises TypeError on a non-ASCII str.
        and hmac.compare_digest(expected.encode(), supplied.encode())
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
        try:
            origin = _origin(referer)
        except ValueError:  # not a URL (urlsplit refuses e.g. a bad IPv6 netloc)
            return False
    allowed = {_origin(str(request.base_url)), _origin(public_url)}
    return origin.lower() in allowed


def safe_next(target: str | None) -> str:
    """Only local paths: no open redirect through ?next=."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
