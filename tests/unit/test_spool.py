"""The durable spool: order, bounds and drop policy, crash safety."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge.errors import SpoolError
from edge.spool import Spool


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
