"""One `TimeSeriesStore` for the hub's callers, two stores behind it: points to a
time-series engine (SQLite or InfluxDB), detector events to the operational store
(hub.event_log: an id-keyed record does not belong in a time-series engine)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from hub.storage.base import Bucket, Point, StoredEvent, TimeSeriesStore


class EventStore(Protocol):
    async def write_event(self, event: StoredEvent) -> None: ...
    async def events(
        self,
        dwelling: str,
        start: float,
        end: float,
        limit: int = 1000,
        *,
        kinds: Collection[str] = (),
        prefixes: Collection[str] = (),
    ) -> list[StoredEvent]: ...
    async def close(self) -> None: ...


class RoutedStore:
    def __init__(self, points: TimeSeriesStore, events: EventStore) -> None:
        self.points = points
        self.event_store = events

    async def write_points(self, points: Sequence[Point]) -> None:
        await self.points.write_points(points)

    async def write_event(self, event: StoredEvent) -> None:
        await self.event_store.write_event(event)

    async def events(
        self,
        dwelling: str,
        start: float,
        end: float,
        limit: int = 1000,
        *,
        kinds: Collection[str] = (),
        prefixes: Collection[str] = (),
    ) -> list[StoredEvent]:
        return await self.event_store.events(
            dwelling, start, end, limit, kinds=kinds, prefixes=prefixes
        )

    async def series(
        self, dwelling: str, sensor: str, quantity: str, start: float, end: float
    ) -> list[Point]:
        return await self.points.series(dwelling, sensor, quantity, start, end)

    async def latest(self, dwelling: str) -> list[Point]:
        return await self.points.latest(dwelling)

    async def sensors(self, dwelling: str) -> list[str]:
        return await self.points.sensors(dwelling)

    async def last(self, dwelling: str, sensor: str, quantity: str, end: float) -> Point | None:
        return await self.points.last(dwelling, sensor, quantity, end)

    async def last_at_least(
        self, dwelling: str, sensor: str, quantity: str, threshold: float, start: float, end: float
    ) -> Point | None:
        return await self.points.last_at_least(dwelling, sensor, quantity, threshold, start, end)

    async def downsample(
        self, dwelling: str, sensor: str, quantity: str, start: float, end: float, bucket_s: float
    ) -> list[Bucket]:
        return await self.points.downsample(dwelling, sensor, quantity, start, end, bucket_s)

    def write_stats(self) -> dict[str, int] | None:
        """The points store's write counters (InfluxStore: written, buffered, dropped, ...)
        for /api/v1/stats; None for a store that keeps none (SQLite)."""
        stats = getattr(self.points, "write_stats", None)
        return stats() if callable(stats) else None

    async def expire(self, before: float) -> int | None:
        """Drop the points older than `before` where the store keeps its own retention
        (SQLite): how many. None where the engine does it (InfluxDB's retention policies
        or bucket, victoria-metrics' -retentionPeriod)."""
        expire = getattr(self.points, "expire", None)
        return int(await expire(before)) if callable(expire) else None

    async def close(self) -> None:
        await self.points.close()
        await self.event_store.close()
