"""Alarms and dwellings as the console shows them: pure view models, no I/O.

A record the console cannot format (a detail no formatter foresaw, a stored value from
before the strict contract) is shown as one placeholder with its id, never as an error
page: `guarded` builds a view or the placeholder, and `RenderFailures` logs each such
record once at WARNING.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from alerts.model import OPEN_STATES, AlarmRecord, AlarmState, Severity
from alerts.present import (
    DetailItem,
    clock_time,
    date_time,
    details,
)
from alerts.texts import (
    SEVERITY_LABELS,
    STATE_LABELS,
    kind_label,
)
from hub.console.texts import SENSOR_STATES, UI, relative
from hub.context import Dwelling, DwellingHealth, SensorState

log = logging.getLogger(__name__)

T = TypeVar("T")

# Most urgent first, for the summary bar.
SEVERITY_ORDER = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)
# How soon somebody should have taken an open alarm on, by severity: the queue's target
# time (a card turns red past it). Alarm receiving centres answer a critical call within
# a minute.
TARGET_S = {
    Severity.CRITICAL: 60.0,
    Severity.HIGH: 120.0,
    Severity.MEDIUM: 300.0,
    Severity.LOW: 900.0,
}


def queue_order(open_alarms: list[AlarmRecord]) -> list[AlarmRecord]:
    """The open alarms as an operator works them: most severe first, then the one that
    has waited longest (received first)."""
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    return sorted(open_alarms, key=lambda a: (rank.get(a.severity, len(rank)), a.received_at, a.id))


class RenderFailures:
    """Records that could not be formatted. The console re-renders every few seconds, so
    each record is logged once at WARNING (with the traceback), later at DEBUG; at most
    `limit` ids are remembered."""

    def __init__(self, limit: int = 1000) -> None:
        self._limit = limit
        self._seen: dict[str, None] = {}  # insertion-ordered: the oldest goes first

    def report(self, what: str, ident: str, exc: BaseException) -> None:
        if ident in self._seen:
            log.debug("%s %s still cannot be displayed: %r", what, ident, exc)
            return
        if len(self._seen) >= self._limit:
            del self._seen[next(iter(self._seen))]
        self._seen[ident] = None
        log.warning("%s %s cannot be displayed; shown as a placeholder", what, ident, exc_info=exc)


def guarded(
    failures: RenderFailures | None,
    what: str,
    ident: str,
    make: Callable[[], T],
    placeholder: Callable[[], T],
) -> T:
    """`make()`, or `placeholder()` when it raises (logged once per `ident`)."""
    try:
        return make()
    except Exception as exc:  # one record must never take the whole page down
        if failures is not None:
            failures.report(what, ident, exc)
        else:
            log.warning("%s %s cannot be displayed", what, ident, exc_info=exc)
        return placeholder()


def record_id(rec: object) -> str:
    """A record's id for a placeholder and the log, whatever else is wrong with it."""
    try:
        return str(getattr(rec, "id", "?"))[:80]
    except Exception:
        return "?"


# -- alarms --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlarmView:
    rec: AlarmRecord
    label: str  # the dwelling's label
    kind: str
    severity: str
    state: str
    is_open: bool
    acknowledged: bool
    version: str  # changes whenever what the card shows changes
    received: str
    # The card's age: since it came in, or for a resolved one since it was resolved.
    age_ts: float
    age: str
    age_title: str
    notified: str
    acknowledged_at: str
    resolved_at: str
    details: tuple[DetailItem, ...]
    # Waiting to be taken on: since when, against which target (0: not waiting).
    target_s: float = 0.0
    overdue: bool = False
    waited: str = ""
    centre_handed: str = ""  # when it went to the alarm centre ("" never)
    centre_acked: str = ""  # when the centre's receiver acknowledged it
    response: str = ""  # how far the mantelzorger who took it on got (a UI text key)
    outcome: str = ""  # how it ended (a UI text key)
    # The operator handling it ("in behandeling door Anja, 00:14"); "" nobody.
    claimed_by: str = ""  # username
    claimed_name: str = ""  # display name
    claimed_at: str = ""


def wait_clock(seconds: float) -> str:
    """A waiting time as m:ss (h:mm:ss past an hour)."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def alarm_view(
    rec: AlarmRecord, label: str, lang: str, tz: str, now: float, holder: str = ""
) -> AlarmView:
    """`holder`: the display name of the operator holding the claim (else the username)."""
    resolved = rec.state is AlarmState.RESOLVED and rec.resolved_at is not None
    # Waiting until a person takes it on: a mantelzorger, or an operator claiming it.
    waiting = rec.state in (AlarmState.RAISED, AlarmState.NOTIFIED) and not rec.claimed_by
    target = TARGET_S.get(rec.severity, 900.0)
    age_ts = rec.resolved_at if resolved and rec.resolved_at is not None else rec.received_at
    return AlarmView(
        rec=rec,
        label=label,
        kind=kind_label(rec, lang),
        severity=SEVERITY_LABELS[lang][rec.severity],
        state=STATE_LABELS[lang][rec.state],
        is_open=rec.state in OPEN_STATES,
        acknowledged=rec.state is AlarmState.ACKNOWLEDGED,
        version=(
            f"{rec.state.value}.{rec.notifications_sent}.{len(rec.note)}."
            f"{rec.response}.{rec.centre_handed_at}.{rec.centre_acked_at}.{rec.claimed_by}"
        ),
        received=clock_time(rec.received_at, tz, lang),
        age_ts=age_ts,
        age=relative(now - age_ts, lang),
        age_title=date_time(age_ts, tz, lang),
        notified=clock_time(rec.notified_at, tz, lang),
        acknowledged_at=clock_time(rec.acknowledged_at, tz, lang),
        resolved_at=clock_time(rec.resolved_at, tz, lang),
        details=details(rec.detail, lang, tz, now),
        target_s=target if waiting else 0.0,
        overdue=waiting and now - rec.received_at > target,
        waited=wait_clock(now - rec.received_at) if waiting else "",
        centre_handed=clock_time(rec.centre_handed_at, tz, lang) if rec.centre_handed_at else "",
        centre_acked=clock_time(rec.centre_acked_at, tz, lang) if rec.centre_acked_at else "",
        response=f"response_{rec.response.value}" if rec.response else "",
        outcome=f"outcome_{rec.outcome.value}" if rec.outcome else "",
        claimed_by=rec.claimed_by or "",
        claimed_name=(holder or rec.claimed_by or "") if rec.claimed_by else "",
        claimed_at=clock_time(rec.claimed_at, tz, lang) if rec.claimed_by else "",
    )


@dataclass(frozen=True, slots=True)
class BrokenAlarm:
    """What the console still knows of an alarm it cannot format: enough for a
    placeholder card that an operator can acknowledge or resolve."""

    id: str
    is_open: bool
    acknowledged: bool
    severity: str  # the severity's code for the card's colour, "unknown" if not even that
    version: str


def broken_alarm(rec: AlarmRecord) -> BrokenAlarm:
    def code(get: Callable[[], object]) -> str:
        try:
            return str(get())
        except Exception:
            return "unknown"

    state = code(lambda: rec.state.value)
    return BrokenAlarm(
        id=record_id(rec),
        is_open=state in {s.value for s in OPEN_STATES},
        acknowledged=state == AlarmState.ACKNOWLEDGED.value,
        severity=code(lambda: rec.severity.value),
        version=f"broken.{state}",
    )


@dataclass(frozen=True, slots=True)
class AckView:
    """The alarm on a mantelzorger's acknowledgement page."""

    id: str
    severity: str  # code, for the colour
    kind: str
    label: str
    state: str
    when: str
    broken: bool  # True: shown as "niet weer te geven" with the id


def ack_view(
    rec: AlarmRecord, label: str, lang: str, tz: str, failures: RenderFailures | None = None
) -> AckView:
    def make() -> AckView:
        return AckView(
            id=rec.id,
            severity=rec.severity.value,
            kind=kind_label(rec, lang),
            label=label,
            state=STATE_LABELS[lang][rec.state],
            when=date_time(rec.raised_at, tz, lang),
            broken=False,
        )

    def placeholder() -> AckView:
        return AckView(record_id(rec), "unknown", "", label, "", "", broken=True)

    return guarded(failures, "alarm", record_id(rec), make, placeholder)


@dataclass(frozen=True, slots=True)
class Summary:
    open: int
    by_severity: tuple[tuple[str, str, int], ...]  # (severity value, label, count) if > 0
    unacknowledged: int
    # The SIA DC-09 link to the alarm centre: "up", "down", or "" (no link configured).
    centre_link: str = ""


def summary(
    open_alarms: list[AlarmRecord], lang: str, centre_reachable: bool | None = None
) -> Summary:
    counts = {s: 0 for s in SEVERITY_ORDER}
    for a in open_alarms:
        if a.severity in counts:
            counts[a.severity] += 1
    return Summary(
        open=len(open_alarms),
        by_severity=tuple(
            (s.value, SEVERITY_LABELS[lang][s], n) for s, n in counts.items() if n > 0
        ),
        unacknowledged=sum(1 for a in open_alarms if a.state is not AlarmState.ACKNOWLEDGED),
        centre_link="" if centre_reachable is None else ("up" if centre_reachable else "down"),
    )


@dataclass(frozen=True, slots=True)
class SensorView:
    sensor: str
    kind: str
    state: str  # as the edge says it (the API's value)
    state_label: str  # in the operator's language
    battery: str
    ok: bool


@dataclass(frozen=True, slots=True)
class DwellingView:
    id: str
    label: str
    online: bool
    last_seen: str
    last_seen_ts: float | None
    spool_depth: int | None
    uptime: str
    sensors: tuple[SensorView, ...]
    open_alarms: int
    broken: bool = False  # True: shown as "niet weer te geven" with the id


def _uptime(seconds: float | None, lang: str) -> str:
    if seconds is None:
        return ""
    hour = "u" if lang == "nl" else "h"
    try:
        s = int(seconds)
    except (ValueError, OverflowError):
        return UI[lang]["undisplayable"]
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} {hour} {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} {hour}"


def _sensor(s: SensorState, lang: str) -> SensorView:
    battery = f"{s.battery:.0f}%" if s.battery is not None else ""
    label = SENSOR_STATES[lang].get(s.state, s.state)
    return SensorView(s.sensor, s.kind, s.state, label, battery, s.state == "ok")


def board_view(
    dwellings: list[Dwelling],
    health: list[DwellingHealth],
    open_alarms: list[AlarmRecord],
    lang: str,
    now: float,
    failures: RenderFailures | None = None,
) -> list[DwellingView]:
    """Every registered dwelling (and any unregistered one that reports), offline first."""
    by_id = {h.dwelling: h for h in health}
    labels = {d.id: d.label for d in dwellings}
    ids = list(labels) + [h.dwelling for h in health if h.dwelling not in labels]
    alarms: dict[str, int] = {}
    for a in open_alarms:
        alarms[a.dwelling] = alarms.get(a.dwelling, 0) + 1
    views = []
    for dw in ids:
        h = by_id.get(dw)

        def make(dw: str = dw, h: DwellingHealth | None = h) -> DwellingView:
            return DwellingView(
                id=dw,
                label=labels.get(dw, dw),
                online=bool(h and h.online),
                last_seen=relative(now - h.last_seen, lang) if h and h.last_seen else "",
                last_seen_ts=h.last_seen if h else None,
                spool_depth=h.spool_depth if h else None,
                uptime=_uptime(h.uptime_s, lang) if h and h.online else "",
                sensors=tuple(_sensor(s, lang) for s in h.sensors) if h else (),
                open_alarms=alarms.get(dw, 0),
            )

        def placeholder(dw: str = dw) -> DwellingView:
            label = labels.get(dw, dw)
            return DwellingView(dw, label, False, "", None, None, "", (), alarms.get(dw, 0), True)

        views.append(guarded(failures, "dwelling", dw, make, placeholder))
    # Offline first: that is what an operator must notice; then by label.
    return sorted(views, key=lambda v: (v.online, v.label))
