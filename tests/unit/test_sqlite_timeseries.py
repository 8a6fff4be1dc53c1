"""The SQLite store's own behaviour: events, reopening. The readings' contract, shared with
InfluxDB, is tests/integration/test_timeseries_contract.py."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.errors import StorageError
from hub.storage.base import Point, StoredEvent, TimeSeriesStore
from hub.storage.sqlite import SqliteTimeSeriesStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteTimeSeriesStore]:
    s = SqliteTimeSeriesStore(tmp_path / "ts.sqlite")
    yield s
    await s.close()


def _pt(t: float, value: float, sensor: str = "hr-1", quantity: str = "heart_rate") -> Point:
    return Point("dw-001", sensor, quantity, t, value)


async def test_satisfies_protocol(store: SqliteTimeSeriesStore) -> None:
    typed: TimeSeriesStore = store
    assert typed is store


async def test_events_newest_first_and_idempotent(store: SqliteTimeSeriesStore) -> None:
    e1 = StoredEvent("event-0001", "dw-001", "fall_suspected", 10, 11, "acc-1", {"g": 3.5})
    e2 = StoredEvent("event-0002", "dw-001", "fall_cancelled", 20, 21)
    await store.write_event(e1)
    await store.write_event(e2)
    await store.write_event(e1)
    got = await store.events("dw-001", 0, 100)
    assert [e.id for e in got] == ["event-0002", "event-0001"]
    assert got[1] == e1
    assert await store.events("dw-002", 0, 100) == []


async def test_persists_across_reopen(tmp_path: Path) -> None:
    s = SqliteTimeSeriesStore(tmp_path / "ts.sqlite")
    await s.write_points([_pt(1, 61)])
    await s.close()
    s2 = SqliteTimeSeriesStore(tmp_path / "ts.sqlite")
    assert len(await s2.series("dw-001", "hr-1", "heart_rate", 0, 10)) == 1
    await s2.close()


FIRST_LAYOUT = """
CREATE TABLE readings (
    dwelling TEXT NOT NULL,
    sensor   TEXT NOT NULL,
    quantity TEXT NOT NULL,
    t        REAL NOT NULL,
    value    REAL NOT NULL,
    PRIMARY KEY (dwelling, sensor, quantity, t)
) WITHOUT ROWID;
"""


async def test_a_file_in_the_first_layout_is_moved_over_whole(tmp_path: Path) -> None:
    """A hub upgraded over a time-series file written by an older version keeps every
    reading, readable through the same calls."""
    path = tmp_path / "ts.sqlite"
    rows = [
        ("dw-001", "hr-1", "heart_rate", 10.0, 70.0),
        ("dw-001", "hr-1", "heart_rate", 20.0, 71.0),
        ("dw-001", "th-1", "temperature", 15.0, 21.5),
        ("dw-002", "hr-1", "heart_rate", 12.0, 64.0),
    ]
    with sqlite3.connect(path) as conn:
        conn.executescript(FIRST_LAYOUT)
        conn.executemany("INSERT INTO readings VALUES (?, ?, ?, ?, ?)", rows)
    conn.close()
    store = SqliteTimeSeriesStore(path)
    try:
        assert await store.series("dw-001", "hr-1", "heart_rate", 0, 100) == [
            Point(*rows[0]),
            Point(*rows[1]),
        ]
        assert await store.latest("dw-001") == [Point(*rows[1]), Point(*rows[2])]
        assert await store.sensors("dw-001") == ["hr-1", "th-1"]
        # Written on after the move, beside what was moved.
        await store.write_points([Point("dw-002", "hr-1", "heart_rate", 13.0, 65.0)])
        assert [p.value for p in await store.series("dw-002", "hr-1", "heart_rate", 0, 100)] == [
            64.0,
            65.0,
        ]
    finally:
        await store.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        kinds = dict(conn.execute("SELECT name, type FROM sqlite_master").fetchall())
    assert kinds["readings"] == "view"
    assert "readings_first_layout" not in kinds


async def test_a_series_of_a_write_that_failed_is_not_remembered(tmp_path: Path) -> None:
    """A write that rolls back leaves no series id behind in the store's memory either:
    the next write of that series makes it again."""
    store = SqliteTimeSeriesStore(tmp_path / "ts.sqlite")
    try:
        bad = [Point("dw-001", "hr-1", "heart_rate", 10.0, None)]  # type: ignore[arg-type]
        with pytest.raises(StorageError):
            await store.write_points(bad)  # value NOT NULL: the whole write rolls back
        await store.write_points([_pt(10.0, 70.0, quantity="heart_rate")])
        assert [p.value for p in await store.series("dw-001", "hr-1", "heart_rate", 0, 100)] == [
            70.0
        ]
    finally:
        await store.close()


async def test_expire_deletes_only_what_is_older_than_the_cut_off(
    store: SqliteTimeSeriesStore,
) -> None:
    hr = [_pt(float(t), 60 + t) for t in range(100)]
    temp = [_pt(float(t), 20.0, "room-1", "temperature") for t in range(0, 100, 10)]
    await store.write_points(hr + temp)
    # Batches smaller than a series' backlog: several transactions, nothing left over.
    assert await store.expire(50.0, batch=7) == 50 + 5
    left = await store.series("dw-001", "hr-1", "heart_rate", 0, 1000)
    assert [p.t for p in left] == [float(t) for t in range(50, 100)]
    rooms = await store.series("dw-001", "room-1", "temperature", 0, 1000)
    assert [p.t for p in rooms] == [50.0, 60.0, 70.0, 80.0, 90.0]
    assert await store.expire(50.0) == 0  # again: nothing more to do
    # The series that keep points still answer as before; one emptied keeps its name.
    await store.write_points([_pt(5.0, 1.0, "old-1", "steps")])
    assert await store.expire(10.0, batch=1) == 1
    assert {(p.sensor, p.t) for p in await store.latest("dw-001")} == {
        ("hr-1", 99.0),
        ("room-1", 90.0),
    }


async def test_expire_reports_a_storage_failure(tmp_path: Path) -> None:
    path = tmp_path / "ts.sqlite"
    s = SqliteTimeSeriesStore(path)
    await s.write_points([_pt(1.0, 61.0)])
    await s.close()
    for stale in tmp_path.glob("ts.sqlite*"):
        stale.unlink()
    path.write_bytes(b"not a database" * 100)  # the file replaced by something else
    with pytest.raises(StorageError, match="expiring readings"):
        await s.expire(10.0)
