"""What ingest and the console need from a time-series store.

Async so that a network store (InfluxDB) slots in without changing its callers.
Writes are idempotent: writing the same point (dwelling, sensor, quantity, t) twice
leaves one point, so a redelivered batch is harmless.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


class Point(NamedTuple):
    """A tuple, in the readings table's column order: made by the hundred thousand on
    ingest, where a frozen dataclass's __init__ cost more than storing it."""

    dwelling: str
    sensor: str
    quantity: str
    t: float  # UNIX seconds, UTC, time of measurement at the source
    value: float


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: str  # the message id
    dwelling: str
    kind: str
    ts: float  # made at the source
    received_at: float
    sensor: str | None = None
    detail: Mapping[str, float | int | bool | str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Bucket:
    """One time bucket of a downsampled series."""

    t: float  # start of the bucket, UNIX s
    median: float
    n: int  # readings the median was taken over
    low: float
    high: float


class TimeSeriesStore(Protocol):
    async def write_points(self, points: Sequence[Point]) -> None:
        """Store `points` durably before returning (idempotent per point key)."""
        ...

    async def write_event(self, event: StoredEvent) -> None:
        """Store a detector event (idempotent per event id)."""
        ...

    async def series(
        self, dwelling: str, sensor: str, quantity: str, start: float, end: float
    ) -> list[Point]:
        """Points with start <= t < end, oldest first."""
        ...

    async def latest(self, dwelling: str) -> list[Point]:
        """The newest point of each (sensor, quantity) of a dwelling."""
        ...

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
        """Events with start <= ts < end, newest first; only of `kinds` or of a kind
        starting with one of `prefixes` when either is given."""
        ...

    async def sensors(self, dwelling: str) -> list[str]:
        """The sensors that have ever sent a reading for `dwelling`, sorted."""
        ...

    async def last(self, dwelling: str, sensor: str, quantity: str, end: float) -> Point | None:
        """The newest point with t < end."""
        ...

    async def last_at_least(
        self, dwelling: str, sensor: str, quantity: str, threshold: float, start: float, end: float
    ) -> Point | None:
        """The newest point with start <= t < end and value >= threshold (the last
        time a motion sensor said 1, say)."""
        ...

    async def downsample(
        self, dwelling: str, sensor: str, quantity: str, start: float, end: float, bucket_s: float
    ) -> list[Bucket]:
        """Per `bucket_s` from `start`, the median of the points in [start, end), oldest
        first, empty buckets left out. Bounded work whatever the sensor's rate: a store may
        take the median over a sample (at most one point per `bucket_s / 60`)."""
        ...

    async def close(self) -> None: ...
