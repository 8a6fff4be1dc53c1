"""Who is asking on the family page: a mantelzorger's server-side session.

Separate from the operators' console sessions: its own cookie (`mz_family`, path
`/familie`, HttpOnly, SameSite=Strict, Secure over https) holding only a random id; the
session (contact, dwelling, CSRF token, expiry) lives in the registry
(hub.family_access) and is looked up on every request. It grants the contact's own
dwelling and nothing else.

Two ways in: the contact's own login (e-mail address and password: long-lived, for the
phone's home screen), or a valid acknowledgement link from an alarm message (short-lived:
whoever holds a mail for a day should not hold the page for a month).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from starlette.requests import Request
from starlette.responses import Response

from alerts.model import Contact
from hub.api.session_cookies import CookieSessions
from hub.context import Dwelling
from hub.family_access import FamilySession, Via

FAMILY_COOKIE: Final = "mz_family"
BASE: Final = "/familie"


@dataclass(frozen=True, slots=True)
class FamilyPolicy:
    login_max_s: float = 30 * 86400.0  # a login lasts a month on the phone...
    login_idle_s: float = 14 * 86400.0  # ...or two weeks unused
    link_max_s: float = 2 * 3600.0  # started from an alarm message's link
    link_idle_s: float = 3600.0
    secure: bool = False  # Secure cookie (served over https)


class FamilyDirectory(Protocol):
    """What the family page needs from the registry (hub.registry.Registry)."""

    def dwelling(self, dwelling_id: str) -> Dwelling | None: ...
    def verify_contact(self, email: str, password: str) -> Contact | None: ...
    def create_family_session(
        self,
        contact_id: str,
        via: Via,
        now: float,
        *,
        max_age_s: float,
        idle_s: float,
        language: str | None = None,
    ) -> tuple[str, FamilySession]: ...
    def family_session(self, session_id: str, now: float) -> FamilySession | None: ...
    def set_family_session_language(self, session_id: str, language: str) -> None: ...
    def end_family_session(self, session_id: str) -> bool: ...
    def daily_summary(self, contact_id: str) -> bool: ...
    def set_daily_summary(self, contact_id: str, on: bool, now: float) -> None: ...


class FamilySessions(CookieSessions[FamilySession]):
    """Each request's session is looked up once and then kept on the request."""

    def __init__(
        self, registry: FamilyDirectory, clock: Callable[[], float], policy: FamilyPolicy
    ) -> None:
        super().__init__(
            cookie=FAMILY_COOKIE, path=BASE, secure=policy.secure, scope_key="mz.family"
        )
        self.registry = registry
        self.clock = clock
        self.policy = policy

    def find(self, session_id: str) -> FamilySession | None:
        return self.registry.family_session(session_id, self.clock())

    def forget(self, session_id: str) -> None:
        self.registry.end_family_session(session_id)

    def store_language(self, session_id: str, lang: str) -> None:
        self.registry.set_family_session_language(session_id, lang)

    def start(
        self, request: Request, response: Response, contact_id: str, via: Via
    ) -> FamilySession:
        """A fresh session (nothing from before survives it). Raises hub.errors.NotFound
        when the contact is gone (or has no login any more, for a password session)."""
        p = self.policy
        max_age, idle = (
            (p.login_max_s, p.login_idle_s) if via == "password" else (p.link_max_s, p.link_idle_s)
        )

        def create(lang: str | None) -> tuple[str, FamilySession]:
            return self.registry.create_family_session(
                contact_id, via, self.clock(), max_age_s=max_age, idle_s=idle, language=lang
            )

        return self.begin(request, response, create, max_age)
