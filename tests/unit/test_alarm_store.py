"""The SQLite alarm store: nothing is lost across close and reopen."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from alerts import lifecycle
from alerts.model import AlarmKind, AlarmRecord, AlarmState, Severity
from alerts.store import AlarmStore, OutboxStatus

T0 = 1_000_000.0


def alarm(alarm_id: str, received_at: float = T0) -> AlarmRecord:
    return AlarmRecord(
        id=alarm_id,
        dwelling="dw-001",
        kind=AlarmKind.PERSONAL,
        severity=Severity.HIGH,
        state=AlarmState.RAISED,
        source="edge",
        raised_at=received_at - 1,
        received_at=received_at,
        sensor="pendant-1",
        detail={"button": 1, "ok": True, "where": "badkamer", "x": None},
    )


def test_reopen_after_close_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "alarms.db"
    store = AlarmStore(db)
    assert store.insert_alarm(alarm("alarm-0001"))
    assert not store.insert_alarm(alarm("alarm-0001"))  # idempotent on the id
    assert store.insert_alarm(alarm("alarm-0002", T0 + 5))
    store.update(
        "alarm-0002",
        lambda r: lifecycle.acknowledge(r, "anna", "onderweg", T0 + 9),
        at=T0 + 9,
        by="anna",
    )
    assert store.enqueue("alarm-0001", "c-anna", "email", 0, T0)
    assert not store.enqueue("alarm-0001", "c-anna", "email", 0, T0)
    store.close()

    store = AlarmStore(db)
    assert store.get("alarm-0001") == alarm("alarm-0001")  # every field, detail included
    acked = store.get("alarm-0002")
    assert acked is not None and acked.state is AlarmState.ACKNOWLEDGED
    assert (acked.acknowledged_at, acked.acknowledged_by, acked.note) == (
        T0 + 9,
        "anna",
        "onderweg",
    )
    assert [a.id for a in store.open_alarms()] == ["alarm-0002", "alarm-0001"]  # newest first
    assert [a.id for a in store.unacknowledged()] == ["alarm-0001"]
    assert [(r.alarm_id, r.status) for r in store.outbox()] == [
        ("alarm-0001", OutboxStatus.PENDING)
    ]
    assert [w for _, w, _, _ in store.log("alarm-0002")] == ["raised", "acknowledged"]
    store.close()


def test_claim_is_exclusive_and_leases_expire_to_unknown(tmp_path: Path) -> None:
    db = tmp_path / "alarms.db"
    a, b = AlarmStore(db), AlarmStore(db)  # two hub processes on one file
    a.insert_alarm(alarm("alarm-0001"))
    a.enqueue("alarm-0001", "c-anna", "email", 0, T0)
    row = a.claim("hub-a", T0)
    assert row is not None and row.status is OutboxStatus.SENDING and row.attempts == 1
    assert b.claim("hub-b", T0) is None
    assert b.expire_leases(older_than=T0 - 1, now=T0 + 1) == []  # lease still fresh
    expired = b.expire_leases(older_than=T0 + 1, now=T0 + 200)
    assert [(r.id, r.status, r.claimed_by) for r in expired] == [
        (row.id, OutboxStatus.UNKNOWN, "hub-a")
    ]
    a.finish(row.id, OutboxStatus.SENT, T0 + 201)  # too late: the row is no longer 'sending'
    assert [r.status for r in b.outbox()] == [OutboxStatus.UNKNOWN]
    a.close()
    b.close()


def test_one_open_technical_alarm_per_key(tmp_path: Path) -> None:
    store = AlarmStore(tmp_path / "alarms.db")
    first = AlarmRecord(
        id="t-1", dwelling="dw-001", kind=AlarmKind.TECHNICAL, severity=Severity.LOW,
        state=AlarmState.RAISED, source="hub", raised_at=T0, received_at=T0,
    )  # fmt: skip
    assert store.insert_alarm(first, tech_key="offline")
    second = replace(first, id="t-2")
    assert not store.insert_alarm(second, tech_key="offline")
    store.update("t-1", lambda r: lifecycle.resolve(r, "hub", "", T0 + 1), at=T0 + 1, by="hub")
    assert store.insert_alarm(second, tech_key="offline")  # the old one is closed
    store.close()
