from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

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


async def test_series_in_range_oldest_first(store: SqliteTimeSeriesStore) -> None:
    await store.write_points([_pt(3, 63), _pt(1, 61), _pt(2, 62), _pt(5, 65)])
    got = await store.series("dw-001", "hr-1", "heart_rate", 1, 5)
    assert [(p.t, p.value) for p in got] == [(1, 61), (2, 62), (3, 63)]


async def test_writing_the_same_point_twice_keeps_one(store: SqliteTimeSeriesStore) -> None:
    """Redelivered batches are harmless: the point key is (dwelling, sensor, quantity, t)."""
    await store.write_points([_pt(1, 61)])
    await store.write_points([_pt(1, 61), _pt(1, 61)])
    assert len(await store.series("dw-001", "hr-1", "heart_rate", 0, 10)) == 1


async def test_latest_per_sensor_and_quantity(store: SqliteTimeSeriesStore) -> None:
    await store.write_points(
        [
            _pt(1, 61),
            _pt(2, 62),
            _pt(1, 36.5, "th-1", "temperature"),
            _pt(9, 20.0, "th-1", "humidity"),
        ]
    )
    await store.write_points([Point("dw-002", "hr-1", "heart_rate", 99, 99)])
    got = {(p.sensor, p.quantity): (p.t, p.value) for p in await store.latest("dw-001")}
    assert got == {
        ("hr-1", "heart_rate"): (2, 62),
        ("th-1", "temperature"): (1, 36.5),
        ("th-1", "humidity"): (9, 20.0),
    }


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
