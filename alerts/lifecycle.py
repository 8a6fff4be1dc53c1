"""The alarm lifecycle and the re-notification schedule: pure rules, no I/O.

    raised ──▶ notified ──▶ acknowledged ──▶ resolved
       │           │                            ▲
       └───────────┴────────────────────────────┘  (resolve, or cancel at the edge)

Time comes in as an argument. Every step is idempotent: repeating a step that already
happened returns the record unchanged (`Step.changed` is False), so redelivered
messages and double clicks are harmless. A step that would go backwards raises
`InvalidTransitionError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from alerts.errors import InvalidTransitionError
from alerts.model import OPEN_STATES, AlarmRecord, AlarmState

# States in which nobody has taken the alarm on yet: these are (re-)notified.
UNACKNOWLEDGED = frozenset({AlarmState.RAISED, AlarmState.NOTIFIED})


@dataclass(frozen=True, slots=True)
class Step:
    record: AlarmRecord
    changed: bool
    what: str  # the AlarmChange.what for listeners


def _join(old: str, new: str) -> str:
    new = new.strip()
    if not new:
        return old
    return f"{old}\n{new}" if old else new


def notified(rec: AlarmRecord, now: float, round_: int) -> Step:
    """One notification was handed to a channel. Counts even after an ack (a mail in flight)."""
    what = "notified" if round_ == 0 else "renotified"
    state = AlarmState.NOTIFIED if rec.state is AlarmState.RAISED else rec.state
    return Step(
        replace(
            rec,
            state=state,
            notified_at=rec.notified_at if rec.notified_at is not None else now,
            notifications_sent=rec.notifications_sent + 1,
        ),
        True,
        what,
    )


def acknowledge(rec: AlarmRecord, by: str, note: str, now: float) -> Step:
    if rec.state is AlarmState.ACKNOWLEDGED:
        return Step(rec, False, "acknowledged")
    if rec.state not in UNACKNOWLEDGED:
        raise InvalidTransitionError(rec.id, rec.state.value, "acknowledge")
    return Step(
        replace(
            rec,
            state=AlarmState.ACKNOWLEDGED,
            acknowledged_at=now,
            acknowledged_by=by,
            note=_join(rec.note, note),
        ),
        True,
        "acknowledged",
    )


def acknowledge_if_open(rec: AlarmRecord, by: str, note: str, now: float) -> Step:
    """`acknowledge`, leaving a resolved alarm as it is instead of refusing: a folded mail's
    link acknowledges all its alarms at once, and some of them may be over by then."""
    if rec.state is AlarmState.RESOLVED:
        return Step(rec, False, "acknowledged")
    return acknowledge(rec, by, note, now)


def resolve(rec: AlarmRecord, by: str, note: str, now: float) -> Step:
    if rec.state is AlarmState.RESOLVED:
        return Step(rec, False, "resolved")
    return Step(
        replace(
            rec,
            state=AlarmState.RESOLVED,
            resolved_at=now,
            resolved_by=by,
            note=_join(rec.note, note),
        ),
        True,
        "resolved",
    )


def cancel(rec: AlarmRecord, now: float) -> Step:
    """The edge cancelled the alarm (the resident pressed 'cancel', the fall was not one)."""
    if rec.state is AlarmState.RESOLVED:
        return Step(rec, False, "cancelled")
    step = resolve(rec, "edge", "", now)
    return Step(step.record, True, "cancelled")


def is_open(rec: AlarmRecord) -> bool:
    return rec.state in OPEN_STATES


def due_round(rec: AlarmRecord, now: float, interval_s: float, max_rounds: int) -> int | None:
    """The notification round that should exist by `now`, or None when none is due.

    Round k is due at received_at + k * interval_s, for k < max_rounds, while nobody has
    acknowledged. The schedule hangs on the hub's receive time, not on when the last
    mail went out, so every hub process computes the same rounds and a slow mail
    server does not stretch the cadence. After a long outage only the latest round
    is due: missed rounds are not sent in a burst.
    """
    if rec.state not in UNACKNOWLEDGED:
        return None
    elapsed = max(0.0, now - rec.received_at)
    return min(math.floor(elapsed / interval_s), max_rounds - 1)


def next_due_at(rec: AlarmRecord, now: float, interval_s: float, max_rounds: int) -> float | None:
    """When the next round after the current one falls due (None: no more rounds)."""
    current = due_round(rec, now, interval_s, max_rounds)
    if current is None or current + 1 >= max_rounds:
        return None
    return rec.received_at + (current + 1) * interval_s
