"""The alarm as the hub knows it: in-process values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from alerts.routing import Window
from sensors.contract import AlarmKind, Severity

__all__ = [
    "CONTACT_ACTIONS",
    "CONTACT_ROLES",
    "NOTE_MAX",
    "AlarmChange",
    "AlarmKind",
    "AlarmRecord",
    "AlarmState",
    "Contact",
    "HandlingAction",
    "Outcome",
    "Response",
    "Severity",
    "TimelineEntry",
]


class AlarmState(StrEnum):
    RAISED = "raised"  # known to the hub, nobody told yet
    NOTIFIED = "notified"  # at least one notification delivered
    ACKNOWLEDGED = "acknowledged"  # somebody took it on
    RESOLVED = "resolved"  # over (resolved by a person, or cancelled at the edge)


OPEN_STATES = frozenset({AlarmState.RAISED, AlarmState.NOTIFIED, AlarmState.ACKNOWLEDGED})


CONTACT_ROLES = ("family", "neighbour", "installer", "care")


class Response(StrEnum):
    """How far the person who took an alarm on has got (docs/alerts.md, "Taken on")."""

    ON_MY_WAY = "on_my_way"  # "ik ga erheen": taken on, family escalation stops
    ARRIVED = "arrived"  # "ik ben er"
    CLOSED = "closed"  # closed with an outcome by the mantelzorger


class Outcome(StrEnum):
    """How an alarm ended: the closing code family and operators choose from."""

    FALSE_ALARM = "false_alarm"
    FAMILY_HELP = "family_help"  # help given by family (or a neighbour)
    CARE_PROVIDER = "care_provider"  # a care provider was sent
    AMBULANCE = "ambulance"
    OTHER = "other"


#: The outbox round (and `Notification.round`) of an all-clear: the message to a contact
#: who was told of an alarm that it is over (alerts.all_clear). Negative, like the alarm
#: centre's restore (-1) and trouble (-2) rounds: no escalation step, never folded with an
#: alarm's message nor holding one back, and claimed after every alarm's message.
ALL_CLEAR_ROUND = -3

# The longest note an operator may put on an alarm (the console's note field).
NOTE_MAX = 2000


class HandlingAction(StrEnum):
    """What an operator did while handling an alarm (docs/alerts.md, "Claiming and
    handling"): a closed set, each on the alarm's timeline with who and when. The three
    `*_contact*` ones name the contact (CONTACT_ACTIONS)."""

    CALLED_RESIDENT = "called_resident"
    SPOKE_VIA_INTERCOM = "spoke_via_intercom"  # the pendant's speech link (spreek-luister)
    RESIDENT_ANSWERED = "resident_answered"
    RESIDENT_NO_ANSWER = "resident_no_answer"
    CALLED_CONTACT = "called_contact"
    CONTACT_REACHED = "contact_reached"
    CONTACT_NOT_REACHED = "contact_not_reached"
    CALLED_GP = "called_gp"  # the GP or the out-of-hours GP service (huisartsenpost)
    SENT_CARE_PROVIDER = "sent_care_provider"
    CALLED_AMBULANCE = "called_ambulance"  # 112
    REPORTED_FAULT = "reported_fault"  # a technical fault reported to installer or supplier


CONTACT_ACTIONS = frozenset(
    {
        HandlingAction.CALLED_CONTACT,
        HandlingAction.CONTACT_REACHED,
        HandlingAction.CONTACT_NOT_REACHED,
    }
)


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
    phone: str | None = None
    # Where to reach them, in fallback order: apprise URLs or our own targets. Empty: the
    # e-mail address (see `targets`).
    channels: tuple[str, ...] = ()
    role: str = "family"  # one of CONTACT_ROLES
    # When they can be asked (a neighbour not at night); empty: always.
    windows: tuple[Window, ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        """Where notifications go, in fallback order: the channels if any are set, else
        the e-mail address as "mailto:<address>" (the address as stored, the same string
        the e-mail channel puts in its `to=`), else nowhere."""
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
    # Taken on by a mantelzorger: how far they got, and which contact it is.
    response: Response | None = None
    responder: str | None = None
    outcome: Outcome | None = None
    # The alarm centre (alarmmeldpunt): once it holds the alarm (a severity shortcut, or
    # escalation), only an operator closes it; a family close records their outcome only.
    centre_required: bool = False
    centre_handed_at: float | None = None
    centre_acked_at: float | None = None  # the receiver's DC-09 ACK of the new event
    # The operator handling it ("in behandeling door"): their username, and since when.
    # Kept when the alarm is resolved: who handled it.
    claimed_by: str | None = None
    claimed_at: float | None = None


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """Emitted to listeners (the console's live list) whenever an alarm changes."""

    alarm: AlarmRecord
    # "raised", "notified", "acknowledged", "on_my_way", "arrived", "closed",
    # "resolved", "cancelled", "handed_to_centre", "centre_acknowledged", "claimed",
    # "taken_over", "released", "note", or a HandlingAction's value
    what: str


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One moment of an alarm's timeline. `what` is a lifecycle step ("received",
    "notified", "on_my_way", "handed_to_centre", "centre_acknowledged", "resolved", ...) or
    a delivery outcome ("failed", "unknown", "centre_retrying", "centre_failed",
    "centre_restored"), an operator's claim ("claimed", "taken_over", "released"), a
    "note", or a `HandlingAction` ("called_contact"); `by` says who or which channel
    ("email:c-anna", "centre", an operator's username); `contact` the contact a handling
    action was about."""

    at: float
    what: str
    by: str | None
    note: str
    contact: str | None = None
