"""The time series in InfluxDB: `InfluxStore`, the points half of TimeSeriesStore.

Writes go through hub.storage.influx_write (batched, retried, disk-buffered while InfluxDB
is unreachable, backfilled in order); the line format is hub.storage.influx_lines'. Reads
are InfluxQL on `/query`, served by InfluxDB 1.x, 2.x (with a DBRP mapping for the
bucket) and 3.x. Readings still in the disk buffer are not visible to reads until they
are backfilled. Detector events are not here: hub.storage.routed.RoutedStore sends them
to the operational store (an id-keyed record does not belong in a time-series engine).

On InfluxDB 1.x, with `manage_retention`, the store makes the database, a default
retention policy `mz_raw` for the readings, `mz_1m` for the 1-minute aggregates and the
continuous query `mz_reading_1m` that fills it (docs/hub.md for 2.x).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hub.errors import StorageError
from hub.storage import influx_lines as q
from hub.storage.base import Bucket, Point, StoredEvent
from hub.storage.influx_buffer import DiskBuffer
from hub.storage.influx_http import InfluxQL, QueryFailed, Unreachable, open_sink
from hub.storage.influx_url import InfluxTarget
from hub.storage.influx_write import BufferedWriter, WritePolicy

log = logging.getLogger(__name__)

BUFFER_FILE: Final = "influx-buffer.sqlite"


@dataclass(frozen=True, slots=True)
class Retention:
    raw_days: float = 30.0
    aggregate_days: float = 730.0
    manage: bool = True  # InfluxDB 1.x only: create/alter the policies and the CQ


class InfluxStore:
    def __init__(
        self,
        target: InfluxTarget,
        buffer_path: Path,
        *,
        buffer_max_readings: int = 2_000_000,
        retention: Retention | None = None,
        policy: WritePolicy | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.target = target
        self.retention = retention = retention or Retention()
        self._sink = open_sink(target, timeout_s=timeout_s)
        self._ql = InfluxQL(target, timeout_s=timeout_s)
        self._buffer = DiskBuffer(buffer_path, max_lines=buffer_max_readings)
        manage = retention.manage and target.api == "v1"
        self._writer = BufferedWriter(
            self._sink,
            self._buffer,
            policy or WritePolicy(),
            prepare=self.setup if manage else None,
        )

    # -- writes --------------------------------------------------------------------------

    async def write_points(self, points: Sequence[Point]) -> None:
        if not points:
            return
        try:
            lines = q.encode(points)
        except ValueError as exc:
            raise StorageError(f"writing {len(points)} readings: {exc}") from exc
        await self._writer.write(lines)

    async def setup(self) -> None:
        """InfluxDB 1.x: the database, both retention policies and the continuous query,
        created or brought to the configured durations. Idempotent."""
        r = self.retention
        db = self.target.database
        create_db, create_raw, create_agg = q.retention_statements(db, r.raw_days, r.aggregate_days)
        try:
            await self._ql.query(create_db, change=True)
            for create, name, days, default in (
                (create_raw, q.RAW_POLICY, r.raw_days, True),
                (create_agg, q.AGGREGATE_POLICY, r.aggregate_days, False),
            ):
                try:
                    await self._ql.query(create, change=True)
                except QueryFailed as exc:
                    if "already exists" not in str(exc):
                        raise
                    alter = q.alter_policy(db, name, days, default=default)
                    await self._ql.query(alter, change=True)
            try:
                await self._ql.query(q.continuous_query(db), change=True)
            except QueryFailed as exc:
                if "already exists" not in str(exc):
                    raise
                # Maybe another definition (an older hub): replace it.
                await self._ql.query(q.drop_continuous_query(db), change=True)
                await self._ql.query(q.continuous_query(db), change=True)
        except QueryFailed as exc:
            raise Unreachable(f"setting up database {db}: {exc}") from exc
        log.info(
            "InfluxDB %s: readings kept %g days (%s), 1-minute aggregates %g days (%s)",
            db,
            r.raw_days,
            q.RAW_POLICY,
            r.aggregate_days,
            q.AGGREGATE_POLICY,
        )

    def write_stats(self) -> dict[str, int]:
        """For /api/v1/stats: written, buffered (now), dropped (buffer full), ..."""
        return self._writer.stats()

    @property
    def dropped(self) -> int:
        return self._writer.dropped

    @property
    def buffered(self) -> int:
        return self._writer.buffered

    # -- events live in the operational store ------------------------------------------------

    async def write_event(self, event: StoredEvent) -> None:
        raise NotImplementedError("detector events go to the operational store (RoutedStore)")

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
        raise NotImplementedError("detector events go to the operational store (RoutedStore)")

    # -- reads ---------------------------------------------------------------------------

    async def series(
        self, dwelling: str, sensor: str, quantity: str, start: float, end: float
    ) -> list[Point]:
        rows = await self._rows(q.series(dwelling, sensor, quantity, start, end))
        return [Point(dwelling, sensor, quantity, q.from_us(t), float(v)) for t, v in rows]

    async def latest(self, dwelling: str) -> list[Point]:
        out: list[Point] = []
        for s in await self._series(q.latest(dwelling)):
            tags = s.get("tags") or {}
            for t, v in s.get("values", []):
                if v is not None:
                    out.append(
                        Point(dwelling, tags["sensor"], tags["quantity"], q.from_us(t), float(v))
                    )
        return sorted(out, key=lambda p: (p.sensor, p.quantity))

    async def sensors(self, dwelling: str) -> list[str]:
        rows = await self._rows(q.sensors(dwelling))
        return sorted({str(value) for _key, value in rows})

    async def last(self, dwelling: str, sensor: str, quantity: str, end: float) -> Point | None:
        rows = await self._rows(q.newest(dwelling, sensor, quantity, None, end))
        return _point(dwelling, sensor, quantity, rows)

    async def last_at_least(
        self, dwelling: str, sensor: str, quantity: str, threshold: float, start: float, end: float
    ) -> Point | None:
        rows = await self._rows(q.newest(dwelling, sensor, quantity, start, end, threshold))
        return _point(dwelling, sensor, quantity, rows)

    async def downsample(
        self, dwelling: str, sensor: str, quantity: str, start: float, end: float, bucket_s: float
    ) -> list[Bucket]:
        if bucket_s <= 0 or end <= start:
            return []
        rows = await self._rows(q.downsample(dwelling, sensor, quantity, start, end, bucket_s))
        start_us, bucket_us = q.to_us(start), max(1, q.to_us(bucket_s))
        out = []
        for t, median, n, low, high in rows:
            if not n:
                continue
            k = round((t - start_us) / bucket_us)  # bucket k starts at start + k * bucket_s
            out.append(Bucket(start + k * bucket_s, float(median), int(n), float(low), float(high)))
        return out

    async def close(self) -> None:
        try:
            await self._writer.close()
        finally:
            self._buffer.close()
            await self._sink.close()
            await self._ql.close()

    async def _series(self, statement: str) -> list[dict[str, Any]]:
        self._writer.start()  # a buffer left by an earlier run drains even before new writes
        try:
            series = await self._ql.query(statement)
        except QueryFailed as exc:
            if "database not found" in str(exc):
                return []  # nothing written yet (the first write makes it)
            raise StorageError(f"InfluxDB query failed: {exc}") from exc
        if any(s.get("name") == "databases" and s.get("columns") == ["name"] for s in series):
            # VictoriaMetrics answers every /query so (for dashboards): it takes InfluxDB
            # writes but evaluates no InfluxQL, so the history cannot be read back here.
            raise StorageError(
                "the time-series endpoint does not evaluate InfluxQL (it answers with its "
                "database list, as VictoriaMetrics does): readings are written there, but "
                "the console's history needs InfluxDB 1.x, 2.x or 3.x"
            )
        return series

    async def _rows(self, statement: str) -> list[list[Any]]:
        return [row for s in await self._series(statement) for row in s.get("values", [])]


def _point(dwelling: str, sensor: str, quantity: str, rows: list[list[Any]]) -> Point | None:
    if not rows:
        return None
    t, value = rows[0]
    return Point(dwelling, sensor, quantity, q.from_us(t), float(value))
