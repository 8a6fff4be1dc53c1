"""The durable spool: order, priorities, receipts, bounds and drop policy, crash safety."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge.errors import SpoolError
from edge.outbox import Outbox
from edge.spool import Priority, ReceiptPolicy, Spool, SpoolItem
from sensors import contract


def open_spool(path: Path, max_messages: int = 1000, max_bytes: int = 1_000_000) -> Spool:
    return Spool(path, max_messages=max_messages, max_bytes=max_bytes)


def test_fifo_order_and_delete(tmp_path: Path) -> None:
    with open_spool(tmp_path / "s.sqlite") as spool:
        seqs = [spool.append(f"t/{i}", b"x" * i, droppable=True) for i in range(10)]
        assert [i.topic for i in spool.peek(100)] == [f"t/{i}" for i in range(10)]
        assert spool.depth == 10 and spool.size_bytes == sum(range(10))
        spool.delete([s for s in seqs[:4] if s is not None])
        assert [i.topic for i in spool.peek(3)] == ["t/4", "t/5", "t/6"]
        assert spool.depth == 6 and spool.size_bytes == sum(range(4, 10))
        # peek after a seq: the next window while the previous one is in flight
        assert [i.topic for i in spool.peek(2, after=seqs[5] or 0)] == ["t/6", "t/7"]
        spool.delete([10_000])  # unknown seqs are ignored
        assert spool.depth == 6


def test_seq_never_reused_after_emptying(tmp_path: Path) -> None:
    with open_spool(tmp_path / "s.sqlite") as spool:
        a = spool.append("t", b"1", droppable=False)
        spool.delete([a or 0])
        b = spool.append("t", b"2", droppable=False)
        assert a is not None and b is not None and b > a


def test_full_spool_drops_oldest_readings_and_counts(tmp_path: Path) -> None:
    with open_spool(tmp_path / "s.sqlite", max_messages=5) as spool:
        spool.append("alarm", b"a", droppable=False)
        for i in range(8):
            spool.append(f"r{i}", b"r", droppable=True)
        topics = [i.topic for i in spool.peek(100)]
        assert topics == ["alarm", "r4", "r5", "r6", "r7"]
        assert spool.dropped == 4


def test_alarms_and_events_are_never_dropped(tmp_path: Path) -> None:
    with open_spool(tmp_path / "s.sqlite", max_messages=3) as spool:
        for i in range(5):
            spool.append(f"alarm{i}", b"a", droppable=False)
        assert spool.depth == 5  # over the bound rather than lose an alarm
        assert spool.dropped == 0
        # A readings batch that finds nothing droppable to evict is itself dropped.
        assert spool.append("r", b"r", droppable=True) is None
        assert spool.dropped == 1
        assert [i.topic for i in spool.peek(10)] == [f"alarm{i}" for i in range(5)]


def test_byte_bound(tmp_path: Path) -> None:
    with open_spool(tmp_path / "s.sqlite", max_bytes=10_000) as spool:
        for i in range(5):
            spool.append(f"r{i}", b"x" * 3000, droppable=True)
        assert spool.size_bytes <= 10_000
        assert [i.topic for i in spool.peek(10)] == ["r2", "r3", "r4"]
        assert spool.dropped == 2


def test_reopen_keeps_messages_order_and_drop_count(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with open_spool(path, max_messages=3) as spool:
        for i in range(5):
            spool.append(f"r{i}", b"r", droppable=True)
    with open_spool(path, max_messages=3) as spool:
        assert [i.topic for i in spool.peek(10)] == ["r2", "r3", "r4"]
        assert spool.dropped == 2
        assert spool.depth == 3 and spool.size_bytes == 3


def test_survives_a_killed_process(tmp_path: Path) -> None:
    """A process that dies without closing (os._exit, as after SIGKILL) loses nothing."""
    path = tmp_path / "s.sqlite"
    code = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from edge.spool import Spool
        spool = Spool(Path({str(path)!r}), max_messages=1000, max_bytes=10**6)
        for i in range(50):
            spool.append(f"t/{{i}}", bytes([i]), droppable=i % 2 == 0)
        spool.delete([1, 2])
        os._exit(9)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2], check=False)
    assert proc.returncode == 9
    with open_spool(path) as spool:
        items = spool.peek(100)
    assert [i.topic for i in items] == [f"t/{i}" for i in range(2, 50)]
    assert [i.payload for i in items] == [bytes([i]) for i in range(2, 50)]
    assert [i.droppable for i in items] == [i % 2 == 0 for i in range(2, 50)]


def test_unwritable_path_is_a_spool_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SpoolError):
        open_spool(blocker / "s.sqlite")


def test_corrupt_file_is_a_spool_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(SpoolError):
        open_spool(path)


# -- priorities and end-to-end receipts ------------------------------------------------

POLICY = ReceiptPolicy(timeout_s=30.0, max_interval_s=600.0)


def alarm(spool: Spool, name: str) -> SpoolItem:
    seq = spool.append(
        f"mz/v1/dw-001/alarms/{name}",
        name.encode(),
        droppable=False,
        priority=Priority.ALARM,
        receipt_id=f"id-{name}",
    )
    assert seq is not None
    (item,) = spool.peek(1, after=seq - 1)
    return item


def topics(items: list[SpoolItem]) -> list[str]:
    return [i.topic.rsplit("/", 1)[-1] for i in items]


def test_ready_drains_alarms_then_events_then_readings_each_in_order(tmp_path: Path) -> None:
    with open_spool(tmp_path / "s.sqlite") as spool:
        spool.append("t/r1", b"r", droppable=True)
        spool.append("t/e1", b"e", droppable=False)
        spool.append("t/r2", b"r", droppable=True)
        alarm(spool, "a1")
        spool.append("t/e2", b"e", droppable=False)
        alarm(spool, "a2")
        spool.append("t/r3", b"r", droppable=True)
        assert topics(spool.ready(100, now=0.0)) == ["a1", "a2", "e1", "e2", "r1", "r2", "r3"]
        assert topics(spool.ready(3, now=0.0)) == ["a1", "a2", "e1"]
        # peek still shows the spool in the order it was made
        assert topics(spool.peek(100)) == ["r1", "e1", "r2", "a1", "e2", "a2", "r3"]


def test_acknowledged_alarm_awaits_its_receipt_and_other_rows_go(tmp_path: Path) -> None:
    with open_spool(tmp_path / "s.sqlite") as spool:
        a = alarm(spool, "a1")
        spool.append("t/e1", b"e", droppable=False)
        spool.append("t/r1", b"r", droppable=True)
        window = spool.ready(10, now=100.0)
        spool.acknowledged(window, now=100.0, receipts=POLICY)
        # The event and the readings batch are gone; the alarm waits, counted in depth.
        assert topics(spool.peek(10)) == ["a1"]
        assert (spool.depth, spool.awaiting, spool.unsent) == (1, 1, 0)
        assert spool.size_bytes == len(a.payload)
        assert spool.ready(10, now=100.0) == []
        assert spool.next_resend_at() == 130.0

        assert spool.receipt("id-a1") is True
        assert (spool.depth, spool.awaiting, spool.size_bytes) == (0, 0, 0)
        assert spool.receipt("id-a1") is False  # receipts repeat: harmless
        assert spool.receipt("never-ours") is False
        assert spool.next_resend_at() is None


def test_resend_schedule_doubles_up_to_the_cap(tmp_path: Path) -> None:
    assert [POLICY.resend_after(n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 600, 600]
    assert POLICY.resend_after(10_000) == 600  # no overflow after days of an old hub
    with open_spool(tmp_path / "s.sqlite") as spool:
        alarm(spool, "a1")
        now = 0.0
        sent_at: list[float] = []
        while len(sent_at) < 7:
            window = spool.ready(10, now)
            if window:
                (item,) = window
                assert item.sends == len(sent_at)  # sends acknowledged before this one
                sent_at.append(now)
                spool.acknowledged(window, now, POLICY)
            now += 1.0
        assert sent_at == [0, 30, 90, 210, 450, 930, 1530]
        assert spool.awaiting == 1


def test_awaiting_alarm_does_not_block_newer_rows(tmp_path: Path) -> None:
    with open_spool(tmp_path / "s.sqlite") as spool:
        alarm(spool, "a1")
        spool.acknowledged(spool.ready(10, 0.0), 0.0, POLICY)
        for i in range(5):
            spool.append(f"t/r{i}", b"r", droppable=True)
        assert topics(spool.ready(3, 1.0)) == ["r0", "r1", "r2"]
        # ...and once due, the alarm goes before them again.
        assert topics(spool.ready(3, 30.0)) == ["a1", "r0", "r1"]


def test_receipt_while_in_flight_wins_over_the_puback(tmp_path: Path) -> None:
    with open_spool(tmp_path / "s.sqlite") as spool:
        alarm(spool, "a1")
        window = spool.ready(10, 0.0)
        assert spool.receipt("id-a1")  # the hub answered before our PUBACK was handled
        spool.acknowledged(window, 0.0, POLICY)
        assert (spool.depth, spool.awaiting, spool.unsent) == (0, 0, 0)


def test_without_receipts_alarms_go_at_puback(tmp_path: Path) -> None:
    with open_spool(tmp_path / "s.sqlite") as spool:
        alarm(spool, "a1")
        alarm(spool, "a2")
        spool.acknowledged(spool.ready(1, 0.0), 0.0, POLICY)  # a1 awaits
        # receipt_timeout_s = 0 (an older hub): a2 and, when resent, a1 are deleted.
        spool.acknowledged(spool.ready(10, 0.0), 0.0, None)
        assert topics(spool.peek(10)) == ["a1"]
        spool.resend_all(1.0)
        spool.acknowledged(spool.ready(10, 1.0), 1.0, None)
        assert (spool.depth, spool.awaiting) == (0, 0)


def test_reconnect_makes_every_awaiting_alarm_due(tmp_path: Path) -> None:
    with open_spool(tmp_path / "s.sqlite") as spool:
        alarm(spool, "a1")
        alarm(spool, "a2")
        spool.acknowledged(spool.ready(10, 0.0), 0.0, POLICY)
        assert spool.ready(10, 5.0) == []
        assert spool.resend_all(5.0) == 2
        assert topics(spool.ready(10, 5.0)) == ["a1", "a2"]


def test_awaiting_alarms_are_never_dropped_by_the_bound(tmp_path: Path) -> None:
    with open_spool(tmp_path / "s.sqlite", max_messages=3) as spool:
        for i in range(3):
            alarm(spool, f"a{i}")
        spool.acknowledged(spool.ready(10, 0.0), 0.0, POLICY)
        assert spool.append("t/r", b"r", droppable=True) is None  # readings give way
        alarm(spool, "a3")  # over the bound rather than lose an alarm
        assert (spool.depth, spool.awaiting, spool.dropped) == (4, 3, 1)


def test_awaiting_state_survives_reopening_and_is_due_at_once(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with open_spool(path) as spool:
        alarm(spool, "a1")
        spool.append("t/e1", b"e", droppable=False)
        spool.acknowledged(spool.ready(1, 1000.0), 1000.0, POLICY)
        assert spool.ready(10, 1000.0)[0].topic == "t/e1"
    # A new process: its monotonic clock may read anything (here: less than before).
    with open_spool(path) as spool:
        assert (spool.depth, spool.awaiting, spool.unsent) == (2, 1, 1)
        items = spool.ready(10, 3.0)
        assert topics(items) == ["a1", "e1"]
        assert items[0].sends == 1  # the backoff goes on where it was
        spool.acknowledged(items, 3.0, POLICY)
        assert spool.next_resend_at() == 63.0


def test_overdue_alarms_are_reported_once_then_every_interval(tmp_path: Path) -> None:
    with open_spool(tmp_path / "s.sqlite") as spool:
        alarm(spool, "a1")
        spool.acknowledged(spool.ready(10, 0.0), 0.0, POLICY)

        def report(now: float) -> list[str]:
            return [o.receipt_id for o in spool.overdue(now, after_s=300, every_s=3600)]

        assert report(299.0) == []
        assert report(301.0) == ["id-a1"]
        assert report(302.0) == [] and report(3800.0) == []
        late = spool.overdue(3901.0, after_s=300, every_s=3600)
        assert [(o.receipt_id, o.waited_s) for o in late] == [("id-a1", 3901.0)]
        # Resends do not restart the wait: it counts from the first PUBACK.
        spool.resend_all(4000.0)
        spool.acknowledged(spool.ready(10, 4000.0), 4000.0, POLICY)
        assert spool.overdue(7502.0, after_s=300, every_s=3600)[0].waited_s == 7502.0


def test_a_spool_from_before_receipts_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,
            payload BLOB NOT NULL, retain INTEGER NOT NULL DEFAULT 0,
            droppable INTEGER NOT NULL, created REAL NOT NULL);
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO counters VALUES ('dropped', 7);
        """
    )
    rows = [
        ("mz/v1/dw-001/readings", b'{"id": "r1"}', 1),
        ("mz/v1/dw-001/events", b'{"id": "e1"}', 0),
        ("mz/v1/dw-001/alarms", b'{"v": 1, "id": "alarm-message-1"}', 0),
    ]
    db.executemany(
        "INSERT INTO messages (topic, payload, droppable, created) VALUES (?, ?, ?, 0)", rows
    )
    db.commit()
    db.close()
    with open_spool(path) as spool:
        assert spool.dropped == 7 and spool.depth == 3
        items = spool.ready(10, 0.0)
        assert [i.topic.rsplit("/", 1)[-1] for i in items] == ["alarms", "events", "readings"]
        assert [i.receipt_id for i in items] == ["alarm-message-1", None, None]
        spool.acknowledged(items, 0.0, POLICY)
        assert spool.receipt("alarm-message-1") and spool.depth == 0


def test_outbox_keeps_an_alarms_message_id_and_class(tmp_path: Path) -> None:
    with open_spool(tmp_path / "s.sqlite") as spool:
        outbox = Outbox(spool)
        raised = contract.AlarmMessage(
            id=contract.new_id(),
            dwelling="dw-001",
            ts=1e9,
            action="raise",
            alarm_id=contract.new_id(),
            kind=contract.AlarmKind.PERSONAL,
            severity=contract.Severity.HIGH,
        )
        batch = contract.ReadingsBatch(id=contract.new_id(), dwelling="dw-001", ts=1e9, readings=[])
        event = contract.Event(id=contract.new_id(), dwelling="dw-001", ts=1e9, kind="button")
        for msg in (batch, event, raised):
            outbox.put(msg)
        items = spool.ready(10, 0.0)
        assert [(i.priority, i.receipt_id) for i in items] == [
            (Priority.ALARM, raised.id),
            (Priority.EVENT, None),
            (Priority.READINGS, None),
        ]
        assert not outbox.drained.is_set()
        spool.acknowledged(items, 0.0, POLICY)
        assert spool.unsent == 0 and spool.awaiting == 1
        # A new outbox on this spool (the next start) has nothing unsent: drained.
        assert Outbox(spool).drained.is_set()
