"""What every console route shares: the hub context, the alarm service, templates, time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi.templating import Jinja2Templates
from starlette.requests import Request

from alerts.handling import Call
from alerts.model import (
    AlarmChange,
    AlarmKind,
    AlarmRecord,
    Contact,
    HandlingAction,
    Outcome,
    Response,
    TimelineEntry,
)
from alerts.settings import AlertSettings
from alerts.tokens import AckClaim
from hub.api.auth import DeviceCookies, Sessions, Sleep, current_session
from hub.api.throttle import Attempt, LoginLimiter
from hub.console.texts import UI
from hub.context import Dwelling, DwellingHealth, HubContext


class ConsoleAlarms(Protocol):
    """The part of alerts.service.AlarmService the console uses."""

    settings: AlertSettings

    def get(self, alarm_id: str) -> AlarmRecord | None: ...
    def open_alarms(self) -> list[AlarmRecord]: ...
    def recent(self, limit: int = 50) -> list[AlarmRecord]: ...
    def stats(self) -> Any: ...
    def contact(self, dwelling: str, contact_id: str) -> Contact | None: ...
    def verify_ack_token(self, token: str, alarm_id: str | None = None) -> AckClaim: ...
    def add_listener(self, cb: Callable[[AlarmChange], None]) -> None: ...
    def remove_listener(self, cb: Callable[[AlarmChange], None]) -> None: ...
    async def acknowledge(self, alarm_id: str, by: str, note: str, now: float) -> AlarmRecord: ...
    async def resolve(self, alarm_id: str, by: str, note: str, now: float) -> AlarmRecord: ...
    async def acknowledge_link(self, token: str, note: str) -> AlarmRecord: ...
    async def respond_link(
        self, token: str, response: Response, note: str, outcome: Outcome | None = None
    ) -> AlarmRecord: ...
    async def close_alarm(
        self, alarm_id: str, by: str, outcome: Outcome, note: str, now: float
    ) -> AlarmRecord: ...
    def timeline(self, alarm_id: str) -> list[TimelineEntry]: ...
    def active_between(self, since: float, until: float) -> list[AlarmRecord]: ...
    def centre_state(self) -> Any: ...
    async def claim(
        self, alarm_id: str, by: str, now: float, *, take_over: bool = False
    ) -> AlarmRecord: ...
    async def release(self, alarm_id: str, by: str, now: float) -> AlarmRecord: ...
    async def add_note(self, alarm_id: str, by: str, note: str, now: float) -> AlarmRecord: ...
    async def record_action(
        self,
        alarm_id: str,
        by: str,
        action: HandlingAction | str,
        now: float,
        *,
        contact_id: str | None = None,
        note: str = "",
    ) -> AlarmRecord: ...
    def call_list(self, dwelling: str, kind: AlarmKind | None = None) -> list[Call]: ...


@dataclass(frozen=True, slots=True)
class Console:
    ctx: HubContext
    alarms: ConsoleAlarms
    templates: Jinja2Templates
    clock: Callable[[], float]
    tz: str
    board_refresh_s: float
    limiter: LoginLimiter  # failed logins: per device, username and client IP
    sessions: Sessions  # server-side, in the registry
    devices: DeviceCookies
    sleep: Sleep  # sits out a login slow-down (tests pass a fake)

    def lang(self, request: Request) -> str:
        """?lang= (remembered in the session and in the anonymous cookie, so it survives
        login and logout), else the session's, else the anonymous cookie's, else the
        setting."""
        asked = request.query_params.get("lang")
        if asked in UI:
            if "session" in request.scope:
                request.session["lang"] = asked
            self.sessions.set_language(request, asked)
            return asked
        found = current_session(request)
        if found is not None and found.language in UI:
            return str(found.language)
        if "session" in request.scope:
            kept = request.session.get("lang")
            if kept in UI:
                return str(kept)
        return self.ctx.console.language if self.ctx.console.language in UI else "nl"

    def attempt(self, request: Request, username: str, *, form: bool) -> Attempt:
        """A login to throttle: the username, the client's address (as uvicorn sees it:
        behind a proxy only when `console.trusted_proxies` names it) and, for the form,
        the device cookie the browser holds for this username if it is valid."""
        host = request.client.host if request.client else "unknown"
        device = self.devices.device(request, username, self.clock()) if form else None
        return Attempt(username, host, device)

    def label(self, dwelling: str) -> str:
        d = self.ctx.registry.dwelling(dwelling)
        return d.label if d is not None else dwelling

    def operator_name(self, username: str) -> str:
        """How an operator is named to others: the display name, else the username."""
        op = self.ctx.registry.operator(username)
        return op.display_name if op is not None and op.display_name else username

    def find_dwelling(
        self, dwelling_id: str
    ) -> tuple[Dwelling | None, DwellingHealth | None] | None:
        """Its registry entry and presence, or None when neither knows it (the board
        also lists an unregistered dwelling that reports, so its page exists too)."""
        d = self.ctx.registry.dwelling(dwelling_id)
        h = next((h for h in self.ctx.presence.board() if h.dwelling == dwelling_id), None)
        return None if d is None and h is None else (d, h)
