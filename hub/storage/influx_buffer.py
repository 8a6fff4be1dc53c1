"""The disk buffer that holds line-protocol lines while InfluxDB cannot be reached.

A SQLite file (data.dir/influx-buffer.sqlite), one row per reading in arrival order,
committed with synchronous=FULL before `write_points` returns: a buffered reading survives
the hub being killed and the power going. Drained oldest first once InfluxDB is back.

Bounded: past `max_lines` readings the OLDEST are dropped (the console and the detectors
need the newest; a week-old heart rate is worth less than this minute's), each drop
counted in `dropped` and logged at ERROR (data lost). At ~120 bytes a line the default
of 2,000,000 readings is ~250 MB on disk; size it to the outage to ride out (readings
per second of the whole region x seconds).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from hub.db import connect, transaction
from hub.errors import StorageError

log = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS pending (id INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL)"
)


class DiskBuffer:
    def __init__(self, path: Path, *, max_lines: int) -> None:
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        self.path = path
        self.max_lines = max_lines
        self._conn = connect(path, synchronous="FULL")
        self._conn.execute(_SCHEMA)
        self._count = int(self._conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
        self.dropped = 0  # readings dropped because the buffer was full (this process)

    def __len__(self) -> int:
        return self._count

    def append(self, lines: Sequence[str]) -> int:
        """Keep `lines` after everything already held; returns how many old lines were
        dropped to stay within `max_lines`."""
        if not lines:
            return 0
        try:
            with transaction(self._conn):
                self._conn.executemany(
                    "INSERT INTO pending (line) VALUES (?)", [(line,) for line in lines]
                )
                excess = self._count + len(lines) - self.max_lines
                if excess > 0:
                    self._conn.execute(
                        "DELETE FROM pending WHERE id IN"
                        " (SELECT id FROM pending ORDER BY id LIMIT ?)",
                        (excess,),
                    )
        except sqlite3.Error as exc:
            raise StorageError(f"buffering {len(lines)} readings on disk: {exc}") from exc
        excess = max(0, excess)
        self._count += len(lines) - excess
        if excess:
            self.dropped += excess
            log.error(
                "InfluxDB buffer full (%d readings): dropped the %d oldest (%d so far)",
                self.max_lines,
                excess,
                self.dropped,
            )
        return excess

    def oldest(self, limit: int) -> tuple[int, list[str]]:
        """The id of the last of up to `limit` oldest lines, and the lines (0, [] if empty)."""
        try:
            rows = self._conn.execute(
                "SELECT id, line FROM pending ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"reading the InfluxDB buffer: {exc}") from exc
        if not rows:
            return 0, []
        return int(rows[-1][0]), [str(r[1]) for r in rows]

    def remove_through(self, last_id: int) -> None:
        """Forget every line up to and including `last_id` (they are in InfluxDB now)."""
        try:
            with transaction(self._conn):
                removed = self._conn.execute(
                    "DELETE FROM pending WHERE id <= ?", (last_id,)
                ).rowcount
        except sqlite3.Error as exc:
            raise StorageError(f"trimming the InfluxDB buffer: {exc}") from exc
        self._count -= removed

    def close(self) -> None:
        self._conn.close()
