"""Lifecycle transitions: taking on, arriving, closing, the alarm centre, operators'
claims; injected time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerts import lifecycle
from alerts.errors import ClaimedError, InvalidTransitionError
from alerts.model import (
    AlarmKind,
    AlarmRecord,
    AlarmState,
    HandlingAction,
    Outcome,
    Response,
    Severity,
)

T0 = 1_000_000.0


def alarm(state: AlarmState = AlarmState.RAISED) -> AlarmRecord:
    return AlarmRecord(
        id="a1234567",
        dwelling="dw-001",
        kind=AlarmKind.FALL,
        severity=Severity.HIGH,
        state=state,
        source="edge",
        raised_at=T0 - 2,
        received_at=T0,
    )


def test_full_lifecycle_keeps_every_timestamp() -> None:
    a = lifecycle.notified(alarm(), T0 + 1)
    assert (a.record.state, a.record.notified_at, a.what) == (
        AlarmState.NOTIFIED,
        T0 + 1,
        "notified",
    )
    r = lifecycle.notified(a.record, T0 + 31)
    assert r.record.notified_at == T0 + 1  # the first notification counts for latency
    assert r.record.notifications_sent == 2 and r.what == "notified"
    k = lifecycle.acknowledge(r.record, "anna", "onderweg", T0 + 40)
    assert k.record.state is AlarmState.ACKNOWLEDGED
    assert (k.record.acknowledged_at, k.record.acknowledged_by, k.record.note) == (
        T0 + 40,
        "anna",
        "onderweg",
    )
    d = lifecycle.resolve(k.record, "op-1", "loos alarm", T0 + 100)
    assert d.record.state is AlarmState.RESOLVED
    assert (d.record.resolved_at, d.record.resolved_by) == (T0 + 100, "op-1")
    assert d.record.note == "onderweg\nloos alarm"


def test_acknowledge_straight_from_raised() -> None:
    assert lifecycle.acknowledge(alarm(), "op", "", T0).record.state is AlarmState.ACKNOWLEDGED


def test_steps_are_idempotent() -> None:
    k = lifecycle.acknowledge(alarm(), "anna", "", T0 + 5).record
    again = lifecycle.acknowledge(k, "bob", "", T0 + 9)
    assert not again.changed and again.record == k  # the first one wins
    d = lifecycle.resolve(k, "op", "", T0 + 10).record
    assert not lifecycle.resolve(d, "op2", "x", T0 + 11).changed
    assert not lifecycle.cancel(d, T0 + 12).changed


def test_cannot_acknowledge_a_resolved_alarm() -> None:
    d = lifecycle.resolve(alarm(), "op", "", T0).record
    with pytest.raises(InvalidTransitionError) as err:
        lifecycle.acknowledge(d, "anna", "", T0 + 1)
    assert (err.value.state, err.value.action) == ("resolved", "acknowledge")


def test_cancel_resolves_by_edge() -> None:
    c = lifecycle.cancel(lifecycle.notified(alarm(), T0).record, T0 + 3)
    assert c.what == "cancelled"
    assert (c.record.state, c.record.resolved_by, c.record.resolved_at) == (
        AlarmState.RESOLVED,
        "edge",
        T0 + 3,
    )


def test_a_late_notification_after_ack_counts_but_keeps_the_state() -> None:
    k = lifecycle.acknowledge(alarm(), "op", "", T0).record
    n = lifecycle.notified(k, T0 + 1).record
    assert n.state is AlarmState.ACKNOWLEDGED and n.notifications_sent == 1


def test_on_my_way_takes_it_on_and_arrival_and_repeats_change_nothing_more() -> None:
    a = lifecycle.notified(alarm(), T0 + 1).record
    on = lifecycle.take_on(a, "Anna (mantelzorger)", "c-anna", "", T0 + 10)
    assert on.changed and on.what == "on_my_way"
    assert on.record.state is AlarmState.ACKNOWLEDGED and on.record.acknowledged_at == T0 + 10
    assert (on.record.response, on.record.responder) == (Response.ON_MY_WAY, "c-anna")
    assert not lifecycle.take_on(on.record, "Piet", "c-piet", "", T0 + 11).changed
    there = lifecycle.arrive(on.record, "Piet", "c-piet", "", T0 + 20)
    assert there.changed and there.record.response is Response.ARRIVED
    # The first to take it on stays the one who did.
    assert there.record.acknowledged_at == T0 + 10 and there.record.responder == "c-anna"
    assert not lifecycle.arrive(there.record, "Anna", "c-anna", "", T0 + 21).changed
    assert not lifecycle.take_on(there.record, "Anna", "c-anna", "", T0 + 22).changed


def test_a_family_close_resolves_an_alarm_the_centre_does_not_hold() -> None:
    on = lifecycle.take_on(alarm(), "Anna", "c-anna", "", T0 + 10).record
    done = lifecycle.close(on, "Anna", Outcome.FAMILY_HELP, "", T0 + 30, operator=False)
    assert done.record.state is AlarmState.RESOLVED and done.record.outcome is Outcome.FAMILY_HELP
    assert done.record.response is Response.CLOSED


def test_a_family_close_never_ends_the_centres_handling() -> None:
    held = lifecycle.hand_to_centre(alarm(), T0).record
    assert held.centre_required and held.centre_handed_at == T0
    assert not lifecycle.hand_to_centre(held, T0 + 5).changed
    closed = lifecycle.close(
        held, "Anna", Outcome.FALSE_ALARM, "", T0 + 30, operator=False, contact_id="c-anna"
    )
    assert closed.changed and closed.what == "closed"
    assert closed.record.state is AlarmState.ACKNOWLEDGED  # still open for the centre
    assert (closed.record.response, closed.record.outcome) == (Response.CLOSED, Outcome.FALSE_ALARM)
    over = lifecycle.close(closed.record, "op", Outcome.FAMILY_HELP, "", T0 + 60, operator=True)
    assert over.record.state is AlarmState.RESOLVED and over.record.resolved_by == "op"
    assert over.record.outcome is Outcome.FAMILY_HELP
    assert not lifecycle.close(over.record, "op", Outcome.OTHER, "", T0 + 61, operator=True).changed


def test_nothing_takes_on_or_hands_over_a_resolved_alarm() -> None:
    over = lifecycle.resolve(alarm(), "op", "", T0 + 5).record
    with pytest.raises(InvalidTransitionError):
        lifecycle.take_on(over, "Anna", "c-anna", "", T0 + 6)
    with pytest.raises(InvalidTransitionError):
        lifecycle.arrive(over, "Anna", "c-anna", "", T0 + 6)
    assert not lifecycle.hand_to_centre(over, T0 + 6).changed


def test_the_centres_ack_is_kept_once() -> None:
    first = lifecycle.centre_acknowledged(alarm(), T0 + 1)
    assert first.changed and first.record.centre_acked_at == T0 + 1
    assert not lifecycle.centre_acknowledged(first.record, T0 + 9).changed


def test_a_family_close_leaves_a_technical_alarm_to_the_operators() -> None:
    offline = replace(alarm(), kind=AlarmKind.TECHNICAL, detail={"key": "offline"})
    closed = lifecycle.close(offline, "Anna", Outcome.OTHER, "", T0 + 5, operator=False)
    assert closed.record.state is AlarmState.ACKNOWLEDGED and closed.what == "closed"


# -- claims ------------------------------------------------------------------------------


def claimed(by: str = "jan", at: float = T0 + 14) -> AlarmRecord:
    return lifecycle.claim(alarm(), by, at).record


def test_a_claim_takes_an_unclaimed_alarm_and_repeating_it_changes_nothing() -> None:
    first = lifecycle.claim(alarm(), "jan", T0 + 14)
    assert first.changed and first.what == "claimed"
    assert (first.record.claimed_by, first.record.claimed_at) == ("jan", T0 + 14)
    again = lifecycle.claim(first.record, "jan", T0 + 30)
    assert not again.changed and again.record.claimed_at == T0 + 14


def test_another_operators_claim_is_refused_naming_the_holder_unless_taken_over() -> None:
    held = claimed()
    with pytest.raises(ClaimedError) as err:
        lifecycle.claim(held, "anja", T0 + 20)
    assert (err.value.holder, err.value.since, err.value.action) == ("jan", T0 + 14, "claim")
    assert isinstance(err.value, InvalidTransitionError)  # the no-JS forms answer 409 too
    over = lifecycle.claim(held, "anja", T0 + 20, take_over=True)
    assert over.changed and over.what == "taken_over" and over.note == "overgenomen van jan"
    assert (over.record.claimed_by, over.record.claimed_at) == ("anja", T0 + 20)
    # Taking over an unclaimed alarm is an ordinary claim.
    plain = lifecycle.claim(alarm(), "anja", T0 + 20, take_over=True)
    assert plain.what == "claimed" and plain.note is None


def test_only_the_holder_releases() -> None:
    held = claimed()
    with pytest.raises(ClaimedError):
        lifecycle.release(held, "anja")
    free = lifecycle.release(held, "jan")
    assert free.changed and free.what == "released"
    assert (free.record.claimed_by, free.record.claimed_at) == (None, None)
    assert not lifecycle.release(free.record, "jan").changed


def test_an_operator_step_on_an_unclaimed_alarm_claims_it() -> None:
    step = lifecycle.as_operator(
        alarm(), "jan", "acknowledge", T0 + 5, lambda r: lifecycle.acknowledge(r, "jan", "", T0 + 5)
    )
    assert step.changed and step.claimed and step.what == "acknowledged"
    assert (step.record.claimed_by, step.record.claimed_at) == ("jan", T0 + 5)
    assert step.record.state is AlarmState.ACKNOWLEDGED
    # Taken on by the family already: acknowledging changes nothing, but the claim is taken.
    taken = lifecycle.take_on(alarm(), "Anna", "c-anna", "", T0 + 1).record
    step = lifecycle.as_operator(
        taken, "jan", "acknowledge", T0 + 5, lambda r: lifecycle.acknowledge(r, "jan", "", T0 + 5)
    )
    assert step.changed and step.what == "claimed" and step.record.claimed_by == "jan"
    assert step.record.acknowledged_by == "Anna" and step.note == ""


def test_an_operator_step_on_another_operators_alarm_is_refused() -> None:
    held = claimed()
    for action, step in (
        ("acknowledge", lambda r: lifecycle.acknowledge(r, "anja", "", T0 + 20)),
        ("resolve", lambda r: lifecycle.resolve(r, "anja", "", T0 + 20)),
        ("add a note", lambda r: lifecycle.add_note(r, "gebeld")),
        ("record an action", lambda r: lifecycle.handling_action(r, HandlingAction.CALLED_GP)),
    ):
        with pytest.raises(ClaimedError) as err:
            lifecycle.as_operator(held, "anja", action, T0 + 20, step)
        assert (err.value.holder, err.value.action) == ("jan", action)
    mine = lifecycle.as_operator(
        held, "jan", "resolve", T0 + 20, lambda r: lifecycle.resolve(r, "jan", "", T0 + 20)
    )
    assert mine.changed and not mine.claimed and mine.record.claimed_at == T0 + 14


def test_a_resolved_alarm_keeps_who_held_it() -> None:
    done = lifecycle.as_operator(
        claimed(), "jan", "resolve", T0 + 60, lambda r: lifecycle.resolve(r, "jan", "", T0 + 60)
    ).record
    assert done.state is AlarmState.RESOLVED and done.claimed_by == "jan"
    with pytest.raises(InvalidTransitionError):
        lifecycle.claim(done, "anja", T0 + 61, take_over=True)
    with pytest.raises(InvalidTransitionError):
        lifecycle.release(done, "jan")
    # Resolving again (a double click, another operator) is a no-op, not a refusal.
    again = lifecycle.as_operator(
        done, "anja", "resolve", T0 + 62, lambda r: lifecycle.resolve(r, "anja", "", T0 + 62)
    )
    assert not again.changed and again.record.claimed_by == "jan"
    with pytest.raises(InvalidTransitionError):
        lifecycle.add_note(done, "achteraf")
    with pytest.raises(InvalidTransitionError):
        lifecycle.handling_action(done, HandlingAction.CALLED_RESIDENT)


def test_the_family_and_the_edge_are_never_blocked_by_a_claim() -> None:
    held = claimed()
    on = lifecycle.take_on(held, "Anna", "c-anna", "", T0 + 20)
    assert on.changed and on.record.claimed_by == "jan"
    there = lifecycle.arrive(on.record, "Anna", "c-anna", "", T0 + 30)
    closed = lifecycle.close(there.record, "Anna", Outcome.FAMILY_HELP, "", T0 + 40, operator=False)
    assert closed.record.state is AlarmState.RESOLVED and closed.record.claimed_by == "jan"
    cancelled = lifecycle.cancel(held, T0 + 20)
    assert cancelled.changed and cancelled.record.state is AlarmState.RESOLVED


def test_a_note_is_appended_and_an_action_changes_only_the_timeline() -> None:
    noted = lifecycle.add_note(alarm(), "  bewoner gebeld, geen gehoor ")
    assert (
        noted.changed
        and noted.what == "note"
        and noted.record.note == ("bewoner gebeld, geen gehoor")
    )
    step = lifecycle.handling_action(noted.record, HandlingAction.CALLED_CONTACT)
    assert step.changed and step.what == "called_contact" and step.record == noted.record
