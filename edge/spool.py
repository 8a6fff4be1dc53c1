"""The durable local spool: every message is on disk before it is published.

SQLite in WAL mode with `synchronous=FULL`, so a committed append survives a crash or a
power cut (the WAL is fsynced on every commit; ~1 commit/s plus rare alarms is cheap even
on an SD card). Rows are published in `seq` order and deleted only after the broker's
PUBACK, so after a reconnect the backlog replays in the order it was made.

Bound and drop policy (what happens when the dwelling is offline for very long):

* the spool holds at most `max_messages` rows and `max_bytes` of payload;
* to make room, the OLDEST *droppable* rows (readings batches) are deleted and counted
  in `dropped` (persisted, so the count survives restarts and reaches the hub's status);
* alarms and events are never dropped: if only they are left, the bound is exceeded
  rather than lose one (they are rare and small);
* a new readings batch that finds no droppable row to evict is itself dropped (counted).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from edge.errors import SpoolError

log = logging.getLogger(__name__)

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: never reuse a seq, keeps order
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL DEFAULT 0,
    droppable INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_droppable ON messages (droppable, seq);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class SpoolItem:
    seq: int
    topic: str
    payload: bytes
    retain: bool
    droppable: bool


class Spool:
    """A bounded, ordered, crash-safe FIFO of MQTT messages (synchronous; fast)."""

    def __init__(self, path: Path, *, max_messages: int, max_bytes: int) -> None:
        self.path = path
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per operation.
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._reload_counts()
        except (sqlite3.Error, OSError) as exc:
            raise SpoolError(str(path), str(exc)) from exc
        self._closed = False

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def size_bytes(self) -> int:
        return self._bytes

    @property
    def dropped(self) -> int:
        """Readings batches dropped to stay within bounds, ever (persisted)."""
        return self._dropped

    def append(
        self,
        topic: str,
        payload: bytes,
        *,
        droppable: bool,
        retain: bool = False,
        created: float = 0.0,
    ) -> int | None:
        """Store one message durably; its seq, or None if it was itself dropped."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                evicted = self._make_room(len(payload), droppable)
                if evicted is None:
                    self._count_dropped(1)
                    self._db.execute("COMMIT")
                    return None
                cur = self._db.execute(
                    "INSERT INTO messages (topic, payload, retain, droppable, created)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (topic, payload, int(retain), int(droppable), created),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._reload_counts()
                raise
        except sqlite3.Error as exc:
            raise SpoolError(str(self.path), f"append failed: {exc}") from exc
        self._depth += 1
        self._bytes += len(payload)
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def _make_room(self, size: int, droppable: bool) -> int | None:
        """Evict oldest droppable rows until `size` more bytes and one more row fit.

        Runs inside the caller's transaction. Returns how many were evicted, or None when
        a droppable message cannot be stored (nothing droppable left to evict).
        """
        evicted = 0
        while self._depth + 1 > self.max_messages or self._bytes + size > self.max_bytes:
            row = self._db.execute(
                "SELECT seq, LENGTH(payload) FROM messages WHERE droppable=1 ORDER BY seq LIMIT 1"
            ).fetchone()
            if row is None:
                if droppable:
                    return None
                # Alarms and events are never dropped: exceed the bound instead.
                log.warning(
                    "spool over its bound (%d messages, %d bytes) with alarms/events only",
                    self._depth,
                    self._bytes,
                )
                break
            self._db.execute("DELETE FROM messages WHERE seq=?", (row[0],))
            self._depth -= 1
            self._bytes -= int(row[1])
            evicted += 1
        if evicted:
            self._count_dropped(evicted)
        return evicted

    def _count_dropped(self, n: int) -> None:
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES ('dropped', ?)"
            " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (n,),
        )
        before = self._dropped
        self._dropped += n
        # ERROR: readings are lost. Log the first drop and then every 100th, not each one.
        if before == 0 or before // 100 != self._dropped // 100:
            log.error(
                "spool full: dropped the oldest readings batches (%d in total)", self._dropped
            )

    def _reload_counts(self) -> None:
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM messages"
        ).fetchone()
        self._depth, self._bytes = int(row[0]), int(row[1])
        got = self._db.execute("SELECT value FROM counters WHERE name='dropped'").fetchone()
        self._dropped = int(got[0]) if got else 0

    def peek(self, limit: int, after: int = 0) -> list[SpoolItem]:
        """The oldest `limit` messages with seq > `after`, in order."""
        try:
            rows = self._db.execute(
                "SELECT seq, topic, payload, retain, droppable FROM messages"
                " WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        except sqlite3.Error as exc:
            raise SpoolError(str(self.path), f"read failed: {exc}") from exc
        return [SpoolItem(int(r[0]), str(r[1]), bytes(r[2]), bool(r[3]), bool(r[4])) for r in rows]

    def delete(self, seqs: Iterable[int]) -> None:
        """Forget messages the broker has acknowledged (unknown seqs are ignored)."""
        gone = 0
        freed = 0
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for seq in seqs:
                    row = self._db.execute(
                        "DELETE FROM messages WHERE seq=? RETURNING LENGTH(payload)", (seq,)
                    ).fetchone()
                    if row is not None:
                        gone += 1
                        freed += int(row[0])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise SpoolError(str(self.path), f"delete failed: {exc}") from exc
        self._depth -= gone
        self._bytes -= freed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
