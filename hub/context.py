"""What the hub's parts share at run time, and the interfaces the console relies on.

Built once in `hub.app` and passed down; no module-level state.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from alerts.model import Contact
from alerts.routing import Policy
from hub.storage.base import TimeSeriesStore
from sensors.contract import AlarmMessage, Command, DetailValue, Severity


@dataclass(frozen=True, slots=True)
class Dwelling:
    id: str  # pseudonymous id, the one on MQTT
    label: str  # what operators see, e.g. "Unit 3, Tuinstraat" (hub registry only)
    address: str = ""
    language: str = "nl"


@dataclass(frozen=True, slots=True)
class ResidentCard:
    """Who lives in a dwelling, for the operator handling its alarms (issue 11, item 4).

    In the hub's registry only: never on MQTT, in the time series or in a mail. The two
    secrets are not in it, only whether they are set: the key-safe code and the care notes
    (medical) are read one at a time, each read audited in the same transaction
    (Registry.reveal_key_safe / reveal_care_notes). A registered dwelling always has
    a card, empty until somebody fills it in."""

    dwelling: str
    name: str = ""  # full name, as the GP or an ambulance would ask for it
    first_name: str = ""  # what the operator calls them ("Goedemorgen Truus")
    date_of_birth: date | None = None
    # The dwelling's address (Dwelling.address): one copy; changing the card's changes it.
    address: str = ""
    access: str = ""  # how to get in: which door, where the key safe is, a dog
    gp_name: str = ""  # huisarts (practice or person)
    gp_phone: str | None = None
    phone: str | None = None  # the resident's own number
    news2_scale: int = 1  # the care plan's SpO2 scale: 2 only when prescribed (e.g. COPD)
    on_oxygen: bool = False  # supplemental oxygen at home
    institution_patient_id: str | None = None  # the care organisation's id (a FHIR link)
    has_key_safe: bool = False
    has_care_notes: bool = False
    updated_at: float | None = None
    updated_by: str | None = None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who reads or changes what the registry guards, as the audit trail records it."""

    name: str  # the operator's username; for `mz admin`, the OS user
    role: str  # operator, coordinator or admin
    source: str  # console, api, cli (or demo: the demo's seeding)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: float  # UNIX s
    actor: str
    role: str
    action: str  # e.g. resident.key_safe.view, resident.update
    dwelling: str | None
    detail: str  # what changed (field names), a reason; never a secret's value
    source: str


@dataclass(frozen=True, slots=True)
class Operator:
    username: str
    role: str  # "operator", "coordinator" or "admin"
    display_name: str = ""
    enabled: bool = True  # a disabled operator cannot log in and has no sessions


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in operator's server-side session. The browser holds only its random id
    (the registry keeps a hash of it); every request looks it up again."""

    operator: Operator
    csrf: str  # the token state-changing requests must carry
    created_at: float
    last_seen: float
    expires_at: float  # absolute: created_at + one shift, whatever the activity
    idle_expires_at: float  # last_seen + the idle limit (never past expires_at)
    language: str | None = None  # the operator's `?lang=` choice, if any


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
    def registered(self, dwelling_ids: Collection[str]) -> set[str]:
        """Which of `dwelling_ids` are registered dwellings (one lookup for them all)."""
        ...

    def contacts_for(self, dwelling_id: str) -> list[Contact]: ...
    def operator(self, username: str) -> Operator | None: ...
    def policy(self, dwelling_id: str) -> Policy:
        """The dwelling's routing policy (its own, or its contacts by priority)."""
        ...

    # The resident card and the audit trail (hub.registry documents the rules).
    def resident_card(self, dwelling_id: str) -> ResidentCard | None: ...
    def reveal_key_safe(
        self, dwelling_id: str, actor: Actor, now: float, *, reason: str = ""
    ) -> str: ...
    def reveal_care_notes(
        self, dwelling_id: str, actor: Actor, now: float, *, reason: str = ""
    ) -> str: ...
    def update_resident(
        self, dwelling_id: str, changes: Mapping[str, object], actor: Actor, now: float
    ) -> ResidentCard: ...
    def audit_log(
        self, dwelling: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[AuditEntry]: ...
    def audit(
        self,
        actor: Actor,
        action: str,
        now: float,
        *,
        dwelling: str | None = None,
        detail: str = "",
    ) -> None: ...
    def verify_operator(self, username: str, password: str) -> Operator | None:
        """The operator, if the password is theirs and they are enabled."""
        ...

    # Console sessions, in the registry's database: shared by every hub process and by
    # `mz admin`, so ending a session (or an operator) is seen by all of them at once.
    def create_session(
        self,
        username: str,
        now: float,
        *,
        max_age_s: float,
        idle_s: float,
        language: str | None = None,
    ) -> tuple[str, ConsoleSession]:
        """A new session for `username`: (the id for the cookie, the session)."""
        ...

    def session(self, session_id: str, now: float, *, idle_s: float) -> ConsoleSession | None:
        """The live session with this id (its last-seen time refreshed), or None when it is
        unknown, expired (absolute or idle), or its operator is gone or disabled."""
        ...

    def set_session_language(self, session_id: str, language: str) -> None: ...
    def end_session(self, session_id: str) -> bool:
        """Log out: True if there was such a session."""
        ...


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
    session_max_s: float = 12 * 3600.0  # absolute session lifetime: one shift
    session_idle_s: float = 2 * 3600.0  # a session unused this long ends
    # The family page (hub.family): when the daily "alles goed" message goes (local HH:MM).
    family_summary_time: str = "08:00"


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
    # Messages parked after failing over and over (hub.dead_letters), for /api/v1/stats.
    parked: ParkedMessages | None = None
    # Commands to the dwellings' edges (hub.commands.CommandSender); None: not wired.
    commands: CommandSending | None = None


class CommandSending(Protocol):
    async def send(
        self, dwelling: str, name: str, args: dict[str, DetailValue], actor: Actor
    ) -> Command: ...


class ParkedMessages(Protocol):
    def parked_count(self) -> int: ...


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
