"""The alarm lifecycle: pure rules, no I/O.

    raised ──▶ notified ──▶ acknowledged ──▶ resolved
       │           │                            ▲
       └───────────┴────────────────────────────┘  (resolve, or cancel at the edge)

"Acknowledged" means a person took the alarm on: an operator, or a mantelzorger who said
"ik ga erheen" (`take_on`), "ik ben er" (`arrive`), and closes with an outcome (`close`).
An alarm the alarm centre holds (`hand_to_centre`: a severity shortcut, or escalation) is
closed by an operator only; a mantelzorger's close records their outcome and stops the
family escalation, and the alarm stays open for the centre (docs/alerts.md, "Taken on").

Operators claim the alarm they handle (`claim`, `release`): every operator step goes
through `as_operator`, which refuses it (`ClaimedError`) while another operator holds the
claim and takes the claim for the operator when nobody holds it. A mantelzorger's steps
and the edge's cancel never look at the claim (docs/alerts.md, "Claiming and handling").

Time comes in as an argument. Every step is idempotent: repeating a step that already
happened returns the record unchanged (`Step.changed` is False), so redelivered
messages and double clicks are harmless. A step that would go backwards raises
`InvalidTransitionError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from alerts.errors import ClaimedError, InvalidTransitionError
from alerts.model import (
    OPEN_STATES,
    AlarmKind,
    AlarmRecord,
    AlarmState,
    HandlingAction,
    Outcome,
    Response,
)

# States in which nobody has taken the alarm on yet: these are (re-)notified.
UNACKNOWLEDGED = frozenset({AlarmState.RAISED, AlarmState.NOTIFIED})


@dataclass(frozen=True, slots=True)
class Step:
    record: AlarmRecord
    changed: bool
    what: str  # the AlarmChange.what for listeners
    # The step also took the operator's claim (nobody held it): the store logs "claimed"
    # before the step itself.
    claimed: bool = False
    # What the timeline entry's note says, when the step knows better than its caller
    # (a take-over names who held the claim: only known inside the transaction).
    note: str | None = None


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


def claim(rec: AlarmRecord, by: str, now: float, *, take_over: bool = False) -> Step:
    """Operator `by` claims the alarm ("in behandeling"). Claiming one you hold is a no-op;
    one another operator holds raises `ClaimedError`, unless `take_over`: then the claim
    moves, and the timeline says from whom. A resolved alarm cannot be claimed."""
    if rec.state is AlarmState.RESOLVED:
        raise InvalidTransitionError(rec.id, rec.state.value, "claim")
    if rec.claimed_by == by:
        return Step(rec, False, "claimed")
    taken = replace(rec, claimed_by=by, claimed_at=now)
    if rec.claimed_by is None:
        return Step(taken, True, "claimed")
    if not take_over:
        raise ClaimedError(rec.id, "claim", rec.claimed_by, _since(rec))
    # The audit trail is in Dutch, like its other notes.
    return Step(taken, True, "taken_over", note=f"overgenomen van {rec.claimed_by}")


def release(rec: AlarmRecord, by: str) -> Step:
    """The holder lets go of the claim (another operator may then act without taking it
    over). Releasing an unclaimed alarm is a no-op; another's claim raises ClaimedError."""
    if rec.state is AlarmState.RESOLVED:
        raise InvalidTransitionError(rec.id, rec.state.value, "release")
    if rec.claimed_by is None:
        return Step(rec, False, "released")
    if rec.claimed_by != by:
        raise ClaimedError(rec.id, "release", rec.claimed_by, _since(rec))
    return Step(replace(rec, claimed_by=None, claimed_at=None), True, "released")


def hold(rec: AlarmRecord, by: str, action: str, now: float) -> AlarmRecord:
    """The record with operator `by` holding its claim: as it is when they hold it
    already, claimed for them when nobody does; `ClaimedError` when another operator
    does. A resolved alarm is left as it is (its claim says who handled it): the step
    itself decides whether acting on it is a no-op or refused."""
    if rec.state is AlarmState.RESOLVED or rec.claimed_by == by:
        return rec
    if rec.claimed_by is None:
        return replace(rec, claimed_by=by, claimed_at=now)
    raise ClaimedError(rec.id, action, rec.claimed_by, _since(rec))


def as_operator(
    rec: AlarmRecord, by: str, action: str, now: float, step: Callable[[AlarmRecord], Step]
) -> Step:
    """Operator `by`'s `step` under the claim rule (`hold`): refused while another operator
    holds the claim; on an unclaimed alarm it claims it too, even when the step itself
    changes nothing (acknowledging twice still leaves the claim taken)."""
    held = hold(rec, by, action, now)
    result = step(held)
    if held.claimed_by == rec.claimed_by:
        return result
    if result.changed:
        return replace(result, claimed=True)
    return Step(held, True, "claimed", note="")  # the step's own note had no effect


def add_note(rec: AlarmRecord, text: str) -> Step:
    """A note on the alarm (appended to `note`; the timeline entry keeps author and time).
    A resolved alarm takes no more notes: its record is closed."""
    if rec.state is AlarmState.RESOLVED:
        raise InvalidTransitionError(rec.id, rec.state.value, "add a note")
    return Step(replace(rec, note=_join(rec.note, text)), True, "note")


def handling_action(rec: AlarmRecord, action: HandlingAction) -> Step:
    """Something the operator did (called the resident, sent a care provider): only the
    timeline changes. Not on a resolved alarm."""
    if rec.state is AlarmState.RESOLVED:
        raise InvalidTransitionError(rec.id, rec.state.value, "record an action")
    return Step(rec, True, action.value)


def _since(rec: AlarmRecord) -> float:
    return rec.claimed_at if rec.claimed_at is not None else 0.0


def is_open(rec: AlarmRecord) -> bool:
    return rec.state in OPEN_STATES
