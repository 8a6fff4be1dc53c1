"""The SQLite store's own behaviour: events, reopening. The readings' contract, shared with
InfluxDB, is tests/integration/test_timeseries_contract.py."""

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
