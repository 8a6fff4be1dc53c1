"""The alarm book: conditions on/off -> alarm messages with stable ids, persisted with the
spool (one commit per change), escalation, and silencing technical alarms."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.alarm_book import AlarmBook, AlarmKey
from edge.errors import SpoolError
from edge.outbox import Outbox
from edge.spool import Spool
from sensors import contract
from sensors.contract import AlarmKind, Severity

T0 = 1_780_000_000.0
VITALS = AlarmKey("vitals", "news2")
SILENT = AlarmKey("supervision", "sensor_silent", "pir-1")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "spool.sqlite"


@pytest.fixture
def spool(path: Path) -> Iterator[Spool]:
    with Spool(path, max_messages=1000, max_bytes=10**7) as s:
        yield s


def alarms(spool: Spool) -> list[contract.AlarmMessage]:
    out = []
    for item in spool.peek(1000):
        msg = contract.decode(item.topic, item.payload)[1]
        if isinstance(msg, contract.AlarmMessage):
            out.append(msg)
    return out


def test_on_raises_once_escalates_and_off_cancels_each_with_its_id(spool: Spool) -> None:
    book = AlarmBook(Outbox(spool), "dw-001")
    (first,) = book.on(VITALS, AlarmKind.VITALS, Severity.HIGH, T0, {"score": 6})
    assert book.on(VITALS, AlarmKind.VITALS, Severity.HIGH, T0 + 1, {"score": 6}) == []
    assert book.on(VITALS, AlarmKind.VITALS, Severity.HIGH, T0 + 2, {"score": 5}) == []
    (worse,) = book.on(VITALS, AlarmKind.VITALS, Severity.CRITICAL, T0 + 3, {"score": 8})
    assert worse.alarm_id != first.alarm_id and worse.severity is Severity.CRITICAL
    assert book.off(AlarmKey("vitals", "other"), T0 + 4, {}) == []  # nothing open there
    cancels = book.off(VITALS, T0 + 5, {"score": 1})
    assert {(c.alarm_id, c.severity, c.action) for c in cancels} == {
        (first.alarm_id, Severity.HIGH, "cancel"),
        (worse.alarm_id, Severity.CRITICAL, "cancel"),
    }
    assert book.off(VITALS, T0 + 6, {}) == [] and not book.open_alarms()
    assert [m.id for m in alarms(spool)] == [first.id, worse.id, *(c.id for c in cancels)]


def test_a_restarted_book_cancels_and_escalates_what_an_earlier_run_raised(path: Path) -> None:
    with Spool(path, max_messages=1000, max_bytes=10**7) as spool:
        book = AlarmBook(Outbox(spool), "dw-001")
        (raised,) = book.on(SILENT, AlarmKind.TECHNICAL, Severity.MEDIUM, T0, {"key": "x"})
    with Spool(path, max_messages=1000, max_bytes=10**7) as spool:
        again = AlarmBook(Outbox(spool), "dw-001")
        (entry,) = again.open_alarms()
        assert (entry.alarm_id, entry.key, entry.kind) == (raised.alarm_id, SILENT, raised.kind)
        # The condition is still on after the restart: no second alarm.
        assert again.on(SILENT, AlarmKind.TECHNICAL, Severity.MEDIUM, T0 + 9, {}) == []
        (cancel,) = again.off(SILENT, T0 + 10, {})
        assert cancel.alarm_id == raised.alarm_id and cancel.sensor == "pir-1"
        (vitals,) = again.on(VITALS, AlarmKind.VITALS, Severity.HIGH, T0 + 11, {})
    # ... and escalate one: a third run raises the critical alarm beside the high one, and
    # the end of the condition cancels both.
    with Spool(path, max_messages=1000, max_bytes=10**7) as spool:
        third = AlarmBook(Outbox(spool), "dw-001")
        assert third.on(VITALS, AlarmKind.VITALS, Severity.HIGH, T0 + 20, {}) == []
        (worse,) = third.on(VITALS, AlarmKind.VITALS, Severity.CRITICAL, T0 + 21, {})
        cancels = third.off(VITALS, T0 + 30, {})
        assert {c.alarm_id for c in cancels} == {vitals.alarm_id, worse.alarm_id}


def test_message_and_entry_commit_together_or_not_at_all(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = Outbox(spool)
    book = AlarmBook(outbox, "dw-001")
    book.on(VITALS, AlarmKind.VITALS, Severity.HIGH, T0, {})
    book.on(VITALS, AlarmKind.VITALS, Severity.CRITICAL, T0 + 1, {})
    depth = spool.depth
    put, calls = outbox.put, []

    def failing_second(msg: contract.AlarmMessage) -> int | None:
        calls.append(msg)
        if len(calls) == 2:
            raise SpoolError("spool", "disk full")
        return put(msg)

    monkeypatch.setattr(outbox, "put", failing_second)
    with pytest.raises(SpoolError):
        book.off(VITALS, T0 + 2, {})
    # The first cancel was rolled back with the failed one; both alarms are still open,
    # in memory and on disk.
    assert spool.depth == depth == len(alarms(spool)) == 2
    assert len(book.open_alarms()) == 2
    assert len(AlarmBook(outbox, "dw-001").open_alarms()) == 2
    monkeypatch.setattr(outbox, "put", put)
    assert len(book.off(VITALS, T0 + 3, {})) == 2


def test_silence_quiets_a_technical_alarm_until_then_and_never_a_care_alarm(
    path: Path,
) -> None:
    with Spool(path, max_messages=1000, max_bytes=10**7) as spool:
        book = AlarmBook(Outbox(spool), "dw-001")
        (tech,) = book.on(SILENT, AlarmKind.TECHNICAL, Severity.MEDIUM, T0, {"key": "s"})
        book.on(VITALS, AlarmKind.VITALS, Severity.HIGH, T0, {})
        assert book.silence(T0 + 3600, T0 + 10, sensor="nobody") == []
        assert book.silence(T0 + 3600, T0 + 10) == [tech.alarm_id]  # the vitals alarm stays
        (cancel,) = [m for m in alarms(spool) if m.action == "cancel"]
        assert cancel.alarm_id == tech.alarm_id and cancel.detail["silenced_until"] == T0 + 3600
        assert [e.key for e in book.open_alarms()] == [VITALS]
        # Still silent within the hour: nothing; across a restart too.
        assert book.on(SILENT, AlarmKind.TECHNICAL, Severity.MEDIUM, T0 + 60, {}) == []
    with Spool(path, max_messages=1000, max_bytes=10**7) as spool:
        book = AlarmBook(Outbox(spool), "dw-001")
        assert book.on(SILENT, AlarmKind.TECHNICAL, Severity.MEDIUM, T0 + 1800, {}) == []
        # After the hour, the condition still holding is a new alarm.
        (again,) = book.on(SILENT, AlarmKind.TECHNICAL, Severity.MEDIUM, T0 + 3601, {})
        assert again.alarm_id != tech.alarm_id
        assert len(book.off(SILENT, T0 + 3700, {})) == 1  # recovered: cancelled
        # Recovered while silenced: the silence ends, without a message (nothing is open).
        (t2,) = book.on(SILENT, AlarmKind.TECHNICAL, Severity.MEDIUM, T0 + 3800, {})
        assert book.silence(T0 + 7200, T0 + 3801, alarm_id=t2.alarm_id) == [t2.alarm_id]
        assert book.off(SILENT, T0 + 3900, {}) == []
        assert book.entries() == [e for e in book.entries() if e.key == VITALS]
        (fresh,) = book.on(SILENT, AlarmKind.TECHNICAL, Severity.MEDIUM, T0 + 4000, {})
        assert fresh.alarm_id not in {tech.alarm_id, again.alarm_id, t2.alarm_id}
