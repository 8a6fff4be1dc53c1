"""hub.event_log: detector events in the operational store, on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from hub.event_log import SqlEventStore
from hub.storage.base import StoredEvent


@pytest.fixture
def log(sql_engine: Engine) -> SqlEventStore:
    return SqlEventStore(sql_engine)


async def test_events_newest_first_and_idempotent(log: SqlEventStore) -> None:
    e1 = StoredEvent("event-0001", "dw-001", "fall_suspected", 10, 11, "acc-1", {"g": 3.5})
    e2 = StoredEvent("event-0002", "dw-001", "fall_cancelled", 20, 21)
    assert await log.write_events([e1, e2]) == 2
    assert await log.write_events([e1]) == 0  # a redelivery stores nothing new
    got = await log.events("dw-001", 0, 100)
    assert [e.id for e in got] == ["event-0002", "event-0001"]
    assert got[1] == e1
    assert await log.events("dw-002", 0, 100) == []


async def test_the_range_is_half_open_and_limited(log: SqlEventStore) -> None:
    for i in range(5):
        await log.write_event(StoredEvent(f"event-000{i}", "dw-001", "motion", 10 + i, 20))
    got = await log.events("dw-001", 11, 14)
    assert [e.ts for e in got] == [13, 12, 11]
    assert [e.ts for e in await log.events("dw-001", 0, 100, limit=2)] == [14, 13]


async def test_kinds_and_prefixes_select_literally(log: SqlEventStore) -> None:
    """A prefix is matched literally: '_' is no wildcard (as it would be in LIKE)."""
    for i, kind in enumerate(["routine_deviation", "routineXdeviation", "fall_suspected"]):
        await log.write_event(StoredEvent(f"event-000{i}", "dw-001", kind, 10 + i, 20))
    by_prefix = await log.events("dw-001", 0, 100, prefixes=["routine_"])
    assert [e.kind for e in by_prefix] == ["routine_deviation"]
    both = await log.events("dw-001", 0, 100, kinds=["fall_suspected"], prefixes=["routine_"])
    assert {e.kind for e in both} == {"routine_deviation", "fall_suspected"}
