"""What the hub's parts share at run time, and the interfaces the console relies on.

Built once in `hub.app` and passed down; no module-level state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from alerts.model import Contact
from hub.storage.base import TimeSeriesStore
from sensors.contract import AlarmMessage, Severity


@dataclass(frozen=True, slots=True)
class Dwelling:
    id: str  # pseudonymous id, the one on MQTT
    label: str  # what operators see, e.g. "Unit 3, Tuinstraat" (hub registry only)
    address: str = ""
    language: str = "nl"


@dataclass(frozen=True, slots=True)
class Operator:
    username: str
    role: str  # "operator" or "admin"
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class SensorState:
    sensor: str
    kind: str
    state: str
    last_seen: float | None
    battery: float | None


@dataclass(frozen=True, slots=True)
class DwellingHealth:
    dwelling: str
    online: bool
    last_seen: float | None  # last message of any kind (hub receive time)
    since: float | None  # when `online` last changed
    uptime_s: float | None = None
    spool_depth: int | None = None
    spool_dropped: int | None = None
    sensors: tuple[SensorState, ...] = field(default_factory=tuple)


class Registry(Protocol):
    """Dwellings, contacts (mantelzorgers) and console operators."""

    def dwellings(self) -> list[Dwelling]: ...
    def dwelling(self, dwelling_id: str) -> Dwelling | None: ...
    def contacts_for(self, dwelling_id: str) -> list[Contact]: ...
    def verify_operator(self, username: str, password: str) -> Operator | None: ...


class Presence(Protocol):
    """Online/offline and health per dwelling, from status messages and heartbeats."""

    def board(self) -> list[DwellingHealth]: ...


class IngestStats(Protocol):
    def counters(self) -> Mapping[str, int]:
        """Counts: `accepted.<channel>`, `duplicate`, `rejected.<reason>`."""
        ...

    def refused(self) -> Mapping[str, Mapping[str, int]]:
        """Refused messages and readings per registered dwelling and reason."""
        ...


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """What the console (hub.api) needs from the hub's settings."""

    secret_key: str  # signs session cookies and acknowledgement links
    public_url: str  # base of links in mails, e.g. "http://127.0.0.1:8080"
    language: str = "nl"
    ack_link_ttl_s: float = 24 * 3600.0
    demo: bool = False  # the demo shows its login on the login page
    # Shown on the login page when `demo` is set, e.g. "Log in as demo / <password>".
    demo_login_hint: str = ""


@dataclass(frozen=True, slots=True)
class HubContext:
    """Everything the console and API read or act on. `alarms` is an alerts.service.AlarmService."""

    console: ConsoleSettings
    registry: Registry
    presence: Presence
    ingest_stats: IngestStats
    alarms: object  # alerts.service.AlarmService (typed as object to keep this module import-light)
    # Added by the hub: readings and events history; None where no store is wired.
    timeseries: TimeSeriesStore | None = None


class AlarmSink(Protocol):
    """What ingest and presence need from alerts.service.AlarmService (all idempotent)."""

    async def on_edge_alarm(self, msg: AlarmMessage, received_at: float) -> None: ...
    async def raise_technical(
        self,
        dwelling: str,
        key: str,
        severity: Severity,
        detail: dict[str, float | int | bool | str | None],
        now: float,
    ) -> None: ...
    async def clear_technical(self, dwelling: str, key: str, now: float) -> None: ...
