"""The alarm as the hub knows it: in-process values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sensors.contract import AlarmKind, Severity

__all__ = ["AlarmChange", "AlarmKind", "AlarmRecord", "AlarmState", "Contact", "Severity"]


class AlarmState(StrEnum):
    RAISED = "raised"  # known to the hub, nobody told yet
    NOTIFIED = "notified"  # at least one notification delivered
    ACKNOWLEDGED = "acknowledged"  # somebody took it on
    RESOLVED = "resolved"  # over (resolved by a person, or cancelled at the edge)


OPEN_STATES = frozenset({AlarmState.RAISED, AlarmState.NOTIFIED, AlarmState.ACKNOWLEDGED})


@dataclass(frozen=True, slots=True)
class Contact:
    """A person to notify for a dwelling (mantelzorger). Lives in the hub's registry."""

    id: str
    dwelling: str
    name: str
    email: str | None
    language: str = "nl"  # "nl" or "en"
    priority: int = 1  # 1 is asked first
    # Random, given by the registry when the contact is added; acknowledgement links bind
    # it, so a link dies with its contact (also when the contact is removed and re-added).
    link_key: str = ""
    # Where to reach the contact, in fallback order: apprise URLs or our own targets
    # (alerts.channels.targets). Empty: the contact's e-mail address, if any.
    channels: tuple[str, ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        """The channel targets to try, in order: `channels`, else "mailto:" + `email`."""
        if self.channels:
            return self.channels
        return (f"mailto:{self.email}",) if self.email else ()


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    """One alarm with its lifecycle timestamps (UNIX seconds, UTC)."""

    id: str  # the hub's alarm id (the edge's alarm_id for edge alarms)
    dwelling: str
    kind: AlarmKind
    severity: Severity
    state: AlarmState
    source: str  # "edge" or "hub" (technical alarms the hub raises itself)
    raised_at: float  # time made at the source
    received_at: float
    notified_at: float | None = None
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    note: str = ""
    sensor: str | None = None
    detail: dict[str, float | int | bool | str | None] = field(default_factory=dict)
    notifications_sent: int = 0


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """Emitted to listeners (the console's live list) whenever an alarm changes."""

    alarm: AlarmRecord
    what: str  # "raised", "notified", "acknowledged", "resolved", "cancelled", "renotified"
