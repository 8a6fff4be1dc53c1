"""The embedded time-series store: SQLite in WAL mode, zero install.

Plenty for one hub with tens of dwellings at ~1 reading batch/s each; InfluxDB takes
over past that. Statements run in the event loop: they are local, short (a batch of a
few thousand rows is a few ms) and keep the store free of thread hand-offs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hub.db import Synchronous, connect, transaction
from hub.errors import StorageError
from hub.storage.base import Point, StoredEvent

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
"""


class SqliteTimeSeriesStore:
    def __init__(self, path: Path, *, synchronous: Synchronous = "NORMAL") -> None:
        self._conn = connect(path, synchronous=synchronous)
        self._conn.executescript(_SCHEMA)

    async def write_points(self, points: Sequence[Point]) -> None:
        if not points:
            return
        try:
            with transaction(self._conn):
                self._conn.executemany(
                    "INSERT OR REPLACE INTO readings VALUES (?, ?, ?, ?, ?)",
                    [(p.dwelling, p.sensor, p.quantity, p.t, p.value) for p in points],
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
        self, dwelling: str, start: float, end: float, limit: int = 1000
    ) -> list[StoredEvent]:
        rows = self._query(
            "SELECT id, dwelling, kind, ts, received_at, sensor, detail FROM events"
            " WHERE dwelling = ? AND ts >= ? AND ts < ? ORDER BY ts DESC LIMIT ?",
            (dwelling, start, end, limit),
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

    async def close(self) -> None:
        self._conn.close()

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"query failed: {exc}") from exc
