"""The alarm lifecycle: pure rules, no I/O.

    raised ──▶ notified ──▶ acknowledged ──▶ resolved
       │           │                            ▲
       └───────────┴────────────────────────────┘  (resolve, or cancel at the edge)

"Acknowledged" means a person took the alarm on: an operator, or a mantelzorger who said
"ik ga erheen" (`take_on`), "ik ben er" (`arrive`), and closes with an outcome (`close`).
An alarm the alarm centre holds (`hand_to_centre`: a severity shortcut, or escalation) is
closed by an operator only; a mantelzorger's close records their outcome and stops the
family escalation, and the alarm stays open for the centre (docs/alerts.md, "Taken on").

Time comes in as an argument. Every step is idempotent: repeating a step that already
happened returns the record unchanged (`Step.changed` is False), so redelivered
messages and double clicks are harmless. A step that would go backwards raises
`InvalidTransitionError`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from alerts.errors import InvalidTransitionError
from alerts.model import OPEN_STATES, AlarmKind, AlarmRecord, AlarmState, Outcome, Response

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


def notified(rec: AlarmRecord, now: float) -> Step:
    """One notification was handed to a channel (each contact's, at each escalation step).
    Counts even after an ack (a mail in flight)."""
    state = AlarmState.NOTIFIED if rec.state is AlarmState.RAISED else rec.state
    return Step(
        replace(
            rec,
            state=state,
            notified_at=rec.notified_at if rec.notified_at is not None else now,
            notifications_sent=rec.notifications_sent + 1,
        ),
        True,
        "notified",
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


def take_on(rec: AlarmRecord, by: str, contact_id: str, note: str, now: float) -> Step:
    """A mantelzorger says "ik ga erheen": the alarm is acknowledged (if nobody had yet) and
    the family escalation stops. Repeating it, or saying it after "ik ben er", is a no-op."""
    if rec.state is AlarmState.RESOLVED:
        raise InvalidTransitionError(rec.id, rec.state.value, "take on")
    if rec.response is not None:
        return Step(rec, False, "on_my_way")
    return Step(_taken(rec, by, contact_id, note, now, Response.ON_MY_WAY), True, "on_my_way")


def arrive(rec: AlarmRecord, by: str, contact_id: str, note: str, now: float) -> Step:
    """ "Ik ben er": the mantelzorger is with the resident (taking it on if not done yet)."""
    if rec.state is AlarmState.RESOLVED:
        raise InvalidTransitionError(rec.id, rec.state.value, "arrive")
    if rec.response in (Response.ARRIVED, Response.CLOSED):
        return Step(rec, False, "arrived")
    return Step(_taken(rec, by, contact_id, note, now, Response.ARRIVED), True, "arrived")


def close(
    rec: AlarmRecord,
    by: str,
    outcome: Outcome,
    note: str,
    now: float,
    *,
    operator: bool,
    contact_id: str | None = None,
) -> Step:
    """Close the alarm with an outcome. An operator's close resolves it; a mantelzorger's
    close resolves it only when the alarm centre does not hold it and it is no technical
    alarm: else it records their outcome and leaves the alarm open ("closed")."""
    if rec.state is AlarmState.RESOLVED:
        return Step(rec, False, "resolved")
    # Technical alarms (a dwelling offline) are the operators' to close: the family's
    # close must not hide a dwelling that is still offline from the console.
    if operator or not (rec.centre_required or rec.kind is AlarmKind.TECHNICAL):
        step = resolve(rec, by, note, now)
        record = replace(step.record, outcome=outcome)
        if not operator:
            record = replace(
                record,
                response=Response.CLOSED,
                responder=rec.responder or contact_id,
                acknowledged_at=rec.acknowledged_at if rec.acknowledged_at is not None else now,
                acknowledged_by=rec.acknowledged_by or by,
            )
        return Step(record, True, "resolved")
    if rec.response is Response.CLOSED:
        return Step(rec, False, "closed")
    record = _taken(rec, by, contact_id or rec.responder or "", note, now, Response.CLOSED)
    return Step(replace(record, outcome=outcome), True, "closed")


def _taken(
    rec: AlarmRecord, by: str, contact_id: str, note: str, now: float, response: Response
) -> AlarmRecord:
    return replace(
        rec,
        state=AlarmState.ACKNOWLEDGED,
        acknowledged_at=rec.acknowledged_at if rec.acknowledged_at is not None else now,
        acknowledged_by=rec.acknowledged_by or by,
        response=response,
        responder=rec.responder or contact_id or None,
        note=_join(rec.note, note),
    )


def hand_to_centre(rec: AlarmRecord, now: float) -> Step:
    """The alarm goes to the alarm centre (its queue, and DC-09 when a link is set up)."""
    if rec.centre_handed_at is not None or rec.state is AlarmState.RESOLVED:
        return Step(rec, False, "handed_to_centre")
    return Step(replace(rec, centre_required=True, centre_handed_at=now), True, "handed_to_centre")


def centre_acknowledged(rec: AlarmRecord, now: float) -> Step:
    """The alarm centre's receiver acknowledged the alarm's new event (DC-09 ACK)."""
    if rec.centre_acked_at is not None:
        return Step(rec, False, "centre_acknowledged")
    return Step(replace(rec, centre_acked_at=now), True, "centre_acknowledged")


def is_open(rec: AlarmRecord) -> bool:
    return rec.state in OPEN_STATES
