"""Lifecycle transitions: taking on, arriving, closing, the alarm centre; injected time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerts import lifecycle
from alerts.errors import InvalidTransitionError
from alerts.model import AlarmKind, AlarmRecord, AlarmState, Outcome, Response, Severity

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
