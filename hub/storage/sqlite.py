"""The embedded time-series store: SQLite in WAL mode, zero install.

Plenty for one hub with tens of dwellings at ~1 reading batch/s each; InfluxDB takes
over past that. Statements run in the event loop: they are local, short (a batch of a
few thousand rows is a few ms) and keep the store free of thread hand-offs. The one
exception is `downsample` (the console's 14-day charts, up to ~100 ms for a 1 Hz
sensor): it runs in a worker thread on a second, read-only connection, so ingest is
not held up (WAL lets it read while ingest writes).

Layout: each series (dwelling, sensor, quantity) is a row of `series`, and its points
are keyed by (series id, t) in `points`; the view `readings` joins them back into the
rows every query reads. Keyed by the three names themselves, as the first layout was,
every point carried them in the index and cost a third more to write (docs/hub.md,
"Ingest in batches"); a file in that layout is moved over once, when it is opened.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Final

from hub.db import Synchronous, connect, transaction
from hub.errors import StorageError
from hub.storage.base import Bucket, Point, StoredEvent

log = logging.getLogger(__name__)

# downsample(): up to this many points in the range are read and used exactly; a denser
# series is sampled (the first point of each of 60 slices per bucket), so the work is
# bounded by the range and the bucket size, not by the sensor's rate.
EXACT_POINTS: Final = 5000
SAMPLES_PER_BUCKET: Final = 60
# expire(): at most this many points deleted per transaction, and a pause between two.
EXPIRE_BATCH: Final = 5000
EXPIRE_PAUSE_S: Final = 0.01

# The `batch`-th oldest point of a series before the cut-off, or the cut-off itself when
# it has fewer: a DELETE of exactly one batch, along the primary key.
_EXPIRE = """
DELETE FROM points WHERE series = ? AND t < ? AND t <= COALESCE(
    (SELECT t FROM points WHERE series = ? AND t < ? ORDER BY t LIMIT 1 OFFSET ?), ?
)
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id       INTEGER PRIMARY KEY,
    dwelling TEXT NOT NULL,
    sensor   TEXT NOT NULL,
    quantity TEXT NOT NULL,
    UNIQUE (dwelling, sensor, quantity)
);
CREATE TABLE IF NOT EXISTS points (
    series INTEGER NOT NULL,  -- series.id (no foreign key: checked per point on write)
    t      REAL NOT NULL,
    value  REAL NOT NULL,
    PRIMARY KEY (series, t)
) WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS readings AS
    SELECT s.dwelling, s.sensor, s.quantity, p.t, p.value
    FROM series s JOIN points p ON p.series = s.id;
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


def _first_layout(conn: sqlite3.Connection) -> bool:
    """`readings` is still the first layout's table (not the view)."""
    [(kind,)] = conn.execute(
        "SELECT COALESCE((SELECT type FROM sqlite_master WHERE name = 'readings'), '')"
    ).fetchall()
    return bool(kind == "table")


def _move_first_layout(conn: sqlite3.Connection) -> None:
    """A file whose `readings` is still the first layout's table: its points moved into
    `series` and `points`, in one transaction (nothing lost if it is cut short)."""
    if not _first_layout(conn):
        return
    log.warning("time series: moving the readings to the series/points layout (once)")
    with transaction(conn):
        # Again under the write lock: another process may have moved it meanwhile.
        if not _first_layout(conn):
            return
        conn.execute("ALTER TABLE readings RENAME TO readings_first_layout")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(
            "INSERT INTO series (dwelling, sensor, quantity)"
            " SELECT DISTINCT dwelling, sensor, quantity FROM readings_first_layout"
        )
        conn.execute(
            "INSERT INTO points SELECT s.id, r.t, r.value FROM readings_first_layout r"
            " JOIN series s USING (dwelling, sensor, quantity)"
        )
        conn.execute("DROP TABLE readings_first_layout")


class SqliteTimeSeriesStore:
    def __init__(self, path: Path, *, synchronous: Synchronous = "NORMAL") -> None:
        self._path = path
        self._conn = connect(path, synchronous=synchronous)
        _move_first_layout(self._conn)
        self._conn.executescript(_SCHEMA)
        # Series ids by (dwelling, sensor, quantity): an id never changes once committed.
        self._series: dict[tuple[str, str, str], int] = {}
        # For downsample() in worker threads: opened on first use, one thread at a time.
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()

    async def write_points(self, points: Sequence[Point]) -> None:
        if not points:
            return
        conn = self._conn
        ids = self._series
        missing = {p[:3] for p in points}.difference(ids)
        try:
            with transaction(conn):
                if missing:
                    conn.executemany(
                        "INSERT OR IGNORE INTO series (dwelling, sensor, quantity)"
                        " VALUES (?, ?, ?)",
                        missing,
                    )
                    made = {key: self._series_id(key) for key in missing}
                    ids = {**ids, **made}
                conn.executemany(
                    "INSERT OR REPLACE INTO points VALUES (?, ?, ?)",
                    [(ids[p[:3]], p[3], p[4]) for p in points],
                )
        except sqlite3.Error as exc:
            raise StorageError(f"writing {len(points)} readings: {exc}") from exc
        if missing:  # committed: remembered only now
            self._series = ids

    async def expire(self, before: float, *, batch: int = EXPIRE_BATCH) -> int:
        """Delete every point older than `before` (the retention: the hub's maintenance
        passes now - `timeseries.raw_retention_days`); returns how many. In a worker
        thread on a connection of its own, a batch per transaction with a pause between
        them: waiting for the write lock (another hub process, `mz admin`) or deleting a
        first expiry's millions of rows never holds up the event loop, and ingest's
        writes get the lock between batches. The file keeps its size: SQLite reuses the
        pages. Idempotent: several processes expiring the same file only repeat a no-op."""
        return await asyncio.to_thread(self._expire, before, batch)

    def _expire(self, before: float, batch: int) -> int:
        removed = 0
        try:
            conn = connect(self._path)
            try:
                ids = [int(r[0]) for r in conn.execute("SELECT id FROM series").fetchall()]
                for sid in ids:
                    while True:
                        with transaction(conn):
                            n = conn.execute(
                                _EXPIRE, (sid, before, sid, before, batch - 1, before)
                            ).rowcount
                        removed += n
                        if n < batch:
                            break
                        time.sleep(EXPIRE_PAUSE_S)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StorageError(f"expiring readings before {before:.0f}: {exc}") from exc
        return removed

    def _series_id(self, key: tuple[str, str, str]) -> int:
        [(series_id,)] = self._conn.execute(
            "SELECT id FROM series WHERE dwelling = ? AND sensor = ? AND quantity = ?", key
        ).fetchall()
        return int(series_id)

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
        # One seek per series, to its last point.
        rows = self._query(
            "SELECT s.dwelling, s.sensor, s.quantity, p.t, p.value FROM series s"
            " JOIN points p ON p.series = s.id"
            " AND p.t = (SELECT MAX(t) FROM points WHERE series = s.id)"
            " WHERE s.dwelling = ? ORDER BY s.sensor, s.quantity",
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
        # A series is made with its first point, in one transaction.
        rows = self._query(
            "SELECT DISTINCT sensor FROM series WHERE dwelling = ? ORDER BY sensor", (dwelling,)
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
