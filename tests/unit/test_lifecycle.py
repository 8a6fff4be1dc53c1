"""Lifecycle transitions and the re-notify schedule, with injected time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerts import lifecycle
from alerts.errors import InvalidTransitionError
from alerts.model import AlarmKind, AlarmRecord, AlarmState, Severity

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
    a = lifecycle.notified(alarm(), T0 + 1, 0)
    assert (a.record.state, a.record.notified_at, a.what) == (
        AlarmState.NOTIFIED,
        T0 + 1,
        "notified",
    )
    r = lifecycle.notified(a.record, T0 + 31, 1)
    assert r.record.notified_at == T0 + 1  # the first notification counts for latency
    assert r.record.notifications_sent == 2 and r.what == "renotified"
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
    c = lifecycle.cancel(lifecycle.notified(alarm(), T0, 0).record, T0 + 3)
    assert c.what == "cancelled"
    assert (c.record.state, c.record.resolved_by, c.record.resolved_at) == (
        AlarmState.RESOLVED,
        "edge",
        T0 + 3,
    )


def test_a_late_notification_after_ack_counts_but_keeps_the_state() -> None:
    k = lifecycle.acknowledge(alarm(), "op", "", T0).record
    n = lifecycle.notified(k, T0 + 1, 0).record
    assert n.state is AlarmState.ACKNOWLEDGED and n.notifications_sent == 1


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [(0, 0), (29.9, 0), (30, 1), (59, 1), (60, 2), (10_000, 3)],  # capped at max_rounds - 1
)
def test_due_round_follows_the_interval_from_receipt(elapsed: float, expected: int) -> None:
    assert lifecycle.due_round(alarm(), T0 + elapsed, 30.0, 4) == expected


def test_clock_behind_receipt_means_round_zero() -> None:
    assert lifecycle.due_round(alarm(), T0 - 100, 30.0, 4) == 0


@pytest.mark.parametrize("state", [AlarmState.ACKNOWLEDGED, AlarmState.RESOLVED])
def test_no_rounds_once_taken_on(state: AlarmState) -> None:
    a = replace(alarm(), state=state)
    assert lifecycle.due_round(a, T0 + 100, 30.0, 4) is None
    assert lifecycle.next_due_at(a, T0 + 100, 30.0, 4) is None


def test_next_due_at() -> None:
    assert lifecycle.next_due_at(alarm(), T0 + 10, 30.0, 4) == T0 + 30
    assert lifecycle.next_due_at(alarm(), T0 + 95, 30.0, 4) is None  # round 3 was the last
