"""Durable de-duplication of MQTT messages by their wire-contract id.

QoS 1 means "at least once": the broker redelivers whatever the hub had not
acknowledged when it died, and an edge may replay its spool. The hub records each id
after processing it, so a redelivered message is recognised also after a restart.
The table lives in SQLite beside the other state; several hub workers on one shared
subscription would share it (or move it to PostgreSQL) so the check holds across them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hub.db import Synchronous, connect
from hub.errors import StorageError

DAY_S = 86400.0


class Deduplicator:
    def __init__(
        self, path: Path, *, keep_days: float = 7.0, synchronous: Synchronous = "NORMAL"
    ) -> None:
        self._conn = connect(path, synchronous=synchronous)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, seen_at REAL NOT NULL)"
        )
        self._conn.execute("CREATE INDEX IF NOT EXISTS seen_by_time ON seen (seen_at)")
        self._keep_s = keep_days * DAY_S

    def seen(self, message_id: str) -> bool:
        try:
            row = self._conn.execute("SELECT 1 FROM seen WHERE id = ?", (message_id,)).fetchone()
        except sqlite3.Error as exc:
            raise StorageError(f"dedup lookup: {exc}") from exc
        return row is not None

    def record(self, message_id: str, now: float) -> None:
        # OR IGNORE keeps the first time seen; committed (autocommit) before returning.
        try:
            self._conn.execute(
                "INSERT OR IGNORE INTO seen (id, seen_at) VALUES (?, ?)", (message_id, now)
            )
        except sqlite3.Error as exc:
            raise StorageError(f"dedup record: {exc}") from exc

    def prune(self, now: float) -> int:
        """Forget ids older than keep_days; returns how many were removed.

        Safe because the broker does not hold a message for longer than that: an edge
        spool older than keep_days is replayed as new data, and the stores are
        idempotent per point anyway.
        """
        try:
            cur = self._conn.execute("DELETE FROM seen WHERE seen_at < ?", (now - self._keep_s,))
        except sqlite3.Error as exc:
            raise StorageError(f"dedup prune: {exc}") from exc
        return cur.rowcount

    def __len__(self) -> int:
        row = self._conn.execute("SELECT COUNT(*) FROM seen").fetchone()
        return int(row[0])

    def close(self) -> None:
        self._conn.close()
