"""The embedded time series keeps `timeseries.raw_retention_days`, as InfluxDB's retention
does: the hub's maintenance deletes older readings (real SQLite, injected clock)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.app import Hub, build_hub
from hub.storage.base import Point
from tests.hub_offline import offline_hub_settings
from tests.servers import wait_until

T0 = 1_800_000_000.0
DAY = 86400.0


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    settings = offline_hub_settings(tmp_path, timeseries={"raw_retention_days": 30})
    h = build_hub(settings, clock=lambda: T0)
    yield h
    await h.close()


async def test_readings_older_than_the_retention_are_deleted(hub: Hub) -> None:
    ages = (45.0, 31.0, 29.0, 1.0)  # days before now
    await hub.store.write_points([Point("dw-001", "hr-1", "hr", T0 - a * DAY, a) for a in ages])

    async def only_the_recent_kept() -> bool:
        got = await hub.store.series("dw-001", "hr-1", "hr", 0, T0 + DAY)
        return [p.value for p in got] == [29.0, 1.0]

    stop = asyncio.Event()
    task = asyncio.create_task(hub._maintenance(stop))
    try:
        await wait_until(only_the_recent_kept, timeout=10)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert [p.value for p in await hub.store.latest("dw-001")] == [1.0]
