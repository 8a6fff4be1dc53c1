"""The embedded time-series store: SQLite in WAL mode, zero install.

Plenty for one hub with tens of dwellings at ~1 reading batch/s each; InfluxDB takes
over past that. Statements run in the event loop: they are local, short (a batch of a
few thousand rows is a few ms) and keep the store free of thread hand-offs. The one
exception is `downsample` (the console's 14-day charts, up to ~100 ms for a 1 Hz
sensor): it runs in a worker thread on a second, read-only connection, so ingest is
not held up (WAL lets it read while ingest writes).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import threading
from collections import defaultdict
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Final

from hub.db import Synchronous, connect, transaction
from hub.errors import StorageError
from hub.storage.base import Bucket, Point, StoredEvent

# downsample(): up to this many points in the range are read and used exactly; a denser
# series is sampled (the first point of each of 60 slices per bucket), so the work is
# bounded by the range and the bucket size, not by the sensor's rate.
EXACT_POINTS: Final = 5000
SAMPLES_PER_BUCKET: Final = 60

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    dwelling TEXT NOT NULL,
    sensor   TEXT NOT NULL,
    quantity TEXT NOT NULL,
    t        REAL NOT NULL,
    value    REAL NOT NULL,
    PRIMARY KEY (dwelling, sensor, quantity, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    id          TEXT PRIMARY KEY,
    dwelling    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    sensor      TEXT,
    ts          REAL NOT NULL,
    received_at REAL NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_dwelling ON events (dwelling, ts);
CREATE INDEX IF NOT EXISTS events_by_kind ON events (dwelling, kind, ts);
"""

# The first point of each slice [x, x + step) of [start, end): one index seek per slice.
_SAMPLED = """
WITH RECURSIVE g(x) AS (
    SELECT ? UNION ALL SELECT x + ? FROM g WHERE x + ? < ?
)
SELECT x, (
    SELECT value FROM readings
    WHERE dwelling = ? AND sensor = ? AND quantity = ? AND t >= g.x AND t < MIN(g.x + ?, ?)
    ORDER BY t LIMIT 1
) AS v FROM g
"""


class SqliteTimeSeriesStore:
    def __init__(self, path: Path, *, synchronous: Synchronous = "NORMAL") -> None:
        self._path = path
        self._conn = connect(path, synchronous=synchronous)
        self._conn.executescript(_SCHEMA)
        # For downsample() in worker threads: opened on first use, one thread at a time.
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()

    async def write_points(self, points: Sequence[Point]) -> None:
        if not points:
            return
        try:
            with transaction(self._conn):
                self._conn.executemany(
                    "INSERT OR REPLACE INTO readings VALUES (?, ?, ?, ?, ?)",
                    points,  # Point is a tuple in the table's column order
                )
        except sqlite3.Error as exc:
            raise StorageError(f"writing {len(points)} readings: {exc}") from exc

    async def write_event(self, event: StoredEvent) -> None:
        try:
            self._conn.execute(
                "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    event.id,
                    event.dwelling,
                    event.kind,
                    event.sensor,
                    event.ts,
                    event.received_at,
                    json.dumps(dict(event.detail)),
                ),
            )
        except sqlite3.Error as exc:
            raise StorageError(f"writing event {event.id}: {exc}") from exc

    async def series(
        self, dwelling: str, sensor: str, quantity: str, start: float, end: float
    ) -> list[Point]:
        rows = self._query(
            "SELECT dwelling, sensor, quantity, t, value FROM readings"
            " WHERE dwelling = ? AND sensor = ? AND quantity = ? AND t >= ? AND t < ?"
            " ORDER BY t",
            (dwelling, sensor, quantity, start, end),
        )
        return [Point(*row) for row in rows]

    async def latest(self, dwelling: str) -> list[Point]:
        # SQLite returns the bare columns of the row that holds MAX(t).
        rows = self._query(
            "SELECT dwelling, sensor, quantity, MAX(t), value FROM readings"
            " WHERE dwelling = ? GROUP BY sensor, quantity ORDER BY sensor, quantity",
            (dwelling,),
        )
        return [Point(*row) for row in rows]

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
        where = "dwelling = ? AND ts >= ? AND ts < ?"
        args: list[object] = [dwelling, start, end]
        wanted = [f"kind IN ({','.join('?' * len(kinds))})"] if kinds else []
        args += list(kinds)
        for prefix in prefixes:
            # Not LIKE: '_' in a kind is a wildcard there.
            wanted.append("substr(kind, 1, ?) = ?")
            args += [len(prefix), prefix]
        if wanted:
            where += f" AND ({' OR '.join(wanted)})"
        rows = self._query(
            "SELECT id, dwelling, kind, ts, received_at, sensor, detail FROM events"
            f" WHERE {where} ORDER BY ts DESC LIMIT ?",
            (*args, limit),
        )
        return [
            StoredEvent(
                id=r[0],
                dwelling=r[1],
                kind=r[2],
                ts=r[3],
                received_at=r[4],
                sensor=r[5],
                detail=json.loads(r[6]),
            )
            for r in rows
        ]

    async def sensors(self, dwelling: str) -> list[str]:
        # A skip scan over the primary key: one seek per sensor, not a pass over the rows.
        rows = self._query(
            "WITH RECURSIVE s(sensor) AS ("
            " SELECT (SELECT MIN(sensor) FROM readings WHERE dwelling = ?)"
            " UNION ALL SELECT (SELECT MIN(sensor) FROM readings"
            "  WHERE dwelling = ? AND sensor > s.sensor) FROM s WHERE s.sensor IS NOT NULL"
            ") SELECT sensor FROM s WHERE sensor IS NOT NULL",
            (dwelling, dwelling),
        )
        return [str(r[0]) for r in rows]

    async def last(self, dwelling: str, sensor: str, quantity: str, end: float) -> Point | None:
        rows = self._query(
            "SELECT dwelling, sensor, quantity, t, value FROM readings"
            " WHERE dwelling = ? AND sensor = ? AND quantity = ? AND t < ?"
            " ORDER BY t DESC LIMIT 1",
            (dwelling, sensor, quantity, end),
        )
        return Point(*rows[0]) if rows else None

    async def last_at_least(
        self, dwelling: str, sensor: str, quantity: str, threshold: float, start: float, end: float
    ) -> Point | None:
        # Backwards along the primary key from `end`: stops at the first match.
        rows = self._query(
            "SELECT dwelling, sensor, quantity, t, value FROM readings"
            " WHERE dwelling = ? AND sensor = ? AND quantity = ? AND t >= ? AND t < ?"
            " AND value >= ? ORDER BY t DESC LIMIT 1",
            (dwelling, sensor, quantity, start, end, threshold),
        )
        return Point(*rows[0]) if rows else None

    async def downsample(
        self, dwelling: str, sensor: str, quantity: str, start: float, end: float, bucket_s: float
    ) -> list[Bucket]:
        if bucket_s <= 0 or end <= start:
            return []
        return await asyncio.to_thread(
            self._downsample, dwelling, sensor, quantity, start, end, bucket_s
        )

    def _downsample(
        self, dwelling: str, sensor: str, quantity: str, start: float, end: float, bucket_s: float
    ) -> list[Bucket]:
        key = (dwelling, sensor, quantity)
        with self._reader_lock:
            try:
                if self._reader is None:
                    self._reader = connect(self._path, check_same_thread=False)
                    self._reader.execute("PRAGMA query_only=ON")
                rows = self._reader.execute(
                    "SELECT t, value FROM readings"
                    " WHERE dwelling = ? AND sensor = ? AND quantity = ? AND t >= ? AND t < ?"
                    " ORDER BY t LIMIT ?",
                    (*key, start, end, EXACT_POINTS + 1),
                ).fetchall()
                if len(rows) > EXACT_POINTS:
                    step = max(1.0, bucket_s / SAMPLES_PER_BUCKET)
                    rows = [
                        r
                        for r in self._reader.execute(
                            _SAMPLED, (start, step, step, end, *key, step, end)
                        ).fetchall()
                        if r[1] is not None
                    ]
            except sqlite3.Error as exc:
                raise StorageError(f"downsampling {sensor}/{quantity}: {exc}") from exc
        by_bucket: dict[int, list[float]] = defaultdict(list)
        for t, value in rows:
            by_bucket[int((t - start) // bucket_s)].append(float(value))
        return [
            Bucket(
                t=start + k * bucket_s,
                median=statistics.median(values),
                n=len(values),
                low=min(values),
                high=max(values),
            )
            for k, values in sorted(by_bucket.items())
        ]

    async def close(self) -> None:
        self._conn.close()
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"query failed: {exc}") from exc
