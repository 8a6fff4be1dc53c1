"""The SQLite alarm store: nothing is lost across close and reopen."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from alerts import lifecycle
from alerts.errors import ClaimedError, UnknownAlarmError
from alerts.model import AlarmKind, AlarmRecord, AlarmState, HandlingAction, Severity
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


def test_a_claim_and_the_handling_are_kept_with_author_contact_and_time(tmp_path: Path) -> None:
    db = tmp_path / "alarms.db"
    store = AlarmStore(db)
    store.insert_alarm(alarm("alarm-0001"))
    store.update(
        "alarm-0001",
        lambda r: lifecycle.as_operator(
            r,
            "jan",
            "record an action",
            T0 + 5,
            lambda h: lifecycle.handling_action(h, HandlingAction.CALLED_CONTACT),
        ),
        at=T0 + 5,
        by="jan",
        note="voicemail ingesproken",
        contact="c-anna",
    )
    store.update(
        "alarm-0001",
        lambda r: lifecycle.claim(r, "anja", T0 + 9, take_over=True),
        at=T0 + 9,
        by="anja",
    )
    store.close()

    store = AlarmStore(db)
    rec = store.get("alarm-0001")
    assert rec is not None and (rec.claimed_by, rec.claimed_at) == ("anja", T0 + 9)
    assert [(e.at, e.what, e.by, e.note, e.contact) for e in store.timeline("alarm-0001")] == [
        (T0 - 1, "raised_at_source", "edge", "", None),
        (T0, "received", "edge", "", None),
        (T0 + 5, "claimed", "jan", "", None),  # taken implicitly by the action
        (T0 + 5, "called_contact", "jan", "voicemail ingesproken", "c-anna"),
        (T0 + 9, "taken_over", "anja", "overgenomen van jan", None),
    ]
    store.close()


def test_an_older_file_gets_the_claim_and_contact_columns(tmp_path: Path) -> None:
    db = tmp_path / "alarms.db"
    con = sqlite3.connect(db)
    con.executescript(
        """
        CREATE TABLE alarms (
            id TEXT PRIMARY KEY, dwelling TEXT NOT NULL, kind TEXT NOT NULL,
            severity TEXT NOT NULL, state TEXT NOT NULL, source TEXT NOT NULL,
            raised_at REAL NOT NULL, received_at REAL NOT NULL, notified_at REAL,
            acknowledged_at REAL, acknowledged_by TEXT, resolved_at REAL, resolved_by TEXT,
            note TEXT NOT NULL DEFAULT '', sensor TEXT, detail TEXT NOT NULL DEFAULT '{}',
            notifications_sent INTEGER NOT NULL DEFAULT 0, tech_key TEXT
        );
        CREATE TABLE alarm_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, alarm_id TEXT NOT NULL, at REAL NOT NULL,
            what TEXT NOT NULL, by TEXT, note TEXT NOT NULL DEFAULT ''
        );
        INSERT INTO alarms (id, dwelling, kind, severity, state, source, raised_at,
            received_at) VALUES ('old-1', 'dw-001', 'fall', 'high', 'raised', 'edge', 1, 2);
        INSERT INTO alarm_log (alarm_id, at, what, by) VALUES ('old-1', 2, 'raised', 'edge');
        """
    )
    con.close()
    store = AlarmStore(db)
    old = store.get("old-1")
    assert old is not None and (old.claimed_by, old.claimed_at) == (None, None)
    step = store.update("old-1", lambda r: lifecycle.claim(r, "jan", 3.0), at=3.0, by="jan")
    assert step.record.claimed_by == "jan"
    assert [(e.what, e.contact) for e in store.timeline("old-1")][1:] == [
        ("received", None),
        ("claimed", None),
    ]
    store.close()


def race(stores: tuple[AlarmStore, AlarmStore], alarm_id: str) -> tuple[str, ClaimedError]:
    """ "jan" (through the first store) and "anja" (the second) claim at the same moment;
    returns the winner and the loser's error (fails unless exactly one wins)."""
    start = threading.Barrier(2)
    won: list[str] = []
    lost: list[ClaimedError] = []

    def claim(store: AlarmStore, who: str) -> None:
        start.wait(timeout=10)
        try:
            store.update(alarm_id, lambda r: lifecycle.claim(r, who, T0 + 1), at=T0 + 1, by=who)
            won.append(who)
        except ClaimedError as exc:
            lost.append(exc)

    threads = [
        threading.Thread(target=claim, args=(store, who))
        for store, who in zip(stores, ("jan", "anja"), strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert len(won) == 1 and len(lost) == 1, (won, lost)
    return won[0], lost[0]


def test_two_processes_claiming_at_once_exactly_one_wins(tmp_path: Path) -> None:
    db = tmp_path / "alarms.db"
    a, b = AlarmStore(db), AlarmStore(db)  # two hub processes: a connection each
    for n in range(25):
        alarm_id = f"alarm-{n:04d}"
        a.insert_alarm(alarm(alarm_id))
        winner, error = race((a, b), alarm_id)
        assert error.holder == winner
        rec = b.get(alarm_id)
        assert rec is not None and rec.claimed_by == winner
        assert [e.what for e in a.timeline(alarm_id)].count("claimed") == 1
    a.close()
    b.close()


def test_a_claim_needs_the_alarm(tmp_path: Path) -> None:
    store = AlarmStore(tmp_path / "alarms.db")
    with pytest.raises(UnknownAlarmError):
        store.update("nope", lambda r: lifecycle.claim(r, "jan", T0), at=T0, by="jan")
    store.close()
