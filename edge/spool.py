"""The durable local spool: every message is on disk before it is published.

SQLite in WAL mode with `synchronous=FULL`, so a committed append survives a crash or a
power cut (the WAL is fsynced on every commit; ~1 commit/s plus rare alarms is cheap even
on an SD card).

What is published next (`ready`): alarms first, then events, then readings batches; within
a class in `seq` order (the order they were made), so after an outage an alarm made during
it does not wait behind hours of readings, and the readings still replay in order.

When a row leaves (`acknowledged`, after the broker's PUBACK): a readings batch or an event
is deleted. An alarm row (one appended with a `receipt_id`, its message id) is kept,
*awaiting* the hub's end-to-end receipt: the PUBACK only says the broker has it, and a
broker restart or crash, an overflowing queue or a hostile subscriber can still lose it on
the way to the hub. An awaiting row is out of the in-order stream (newer rows drain past
it); it is published again (same bytes, same message id: the hub de-duplicates) when its
resend time comes (`ReceiptPolicy`: a timeout, doubling per resend up to a cap) or when a
new connection is made (`resend_all`), and deleted when the hub's receipt names it
(`receipt`). Resend times are on the caller's monotonic clock and mean nothing to another
process: opening the spool makes every awaiting row due.

The spool database also holds the agent's alarm book (`edge.alarm_book`, its own table),
written through `transaction()` in the same commit as the alarm message it belongs to.

Bound and drop policy (what happens when the dwelling is offline for very long):

* the spool holds at most `max_messages` rows and `max_bytes` of payload;
* to make room, the OLDEST *droppable* rows (readings batches) are deleted and counted
  in `dropped` (persisted, so the count survives restarts and reaches the hub's status);
* alarms and events are never dropped, awaiting or not: if only they are left, the bound
  is exceeded rather than lose one (they are rare and small);
* a new readings batch that finds no droppable row to evict is itself dropped (counted).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, Final

from edge.errors import SpoolError

log = logging.getLogger(__name__)

# Columns added for end-to-end receipts and priorities; a spool made before them gains
# them when it is opened (`Spool._migrate`).
_COLUMNS: Final = (
    ("prio", "INTEGER NOT NULL DEFAULT 1"),  # Priority: the class drained first is lowest
    ("receipt_id", "TEXT"),  # the message id a hub receipt names; set for alarms only
    ("awaiting", "INTEGER NOT NULL DEFAULT 0"),  # PUBACKed, awaiting the hub's receipt
    ("sends", "INTEGER NOT NULL DEFAULT 0"),  # PUBACKed sends so far (the resend backoff)
    ("resend_at", "REAL NOT NULL DEFAULT 0"),  # monotonic, this process: next resend
    ("waiting_since", "REAL"),  # monotonic, this process: first PUBACK since open
    ("warned_at", "REAL"),  # monotonic, this process: last "no receipt yet" warning
)
_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: never reuse a seq, keeps order
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL DEFAULT 0,
    droppable INTEGER NOT NULL,
    created REAL NOT NULL,
    {", ".join(f"{name} {decl}" for name, decl in _COLUMNS)}
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_INDEXES: Final = """
CREATE INDEX IF NOT EXISTS messages_droppable ON messages (droppable, seq);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (awaiting, prio, seq);
CREATE INDEX IF NOT EXISTS messages_receipt ON messages (receipt_id) WHERE receipt_id IS NOT NULL;
"""
_ITEM_COLUMNS: Final = "seq, topic, payload, retain, droppable, prio, receipt_id, sends"


class Priority(IntEnum):
    """Drain order between classes of messages (lowest first)."""

    ALARM = 0
    EVENT = 1  # events, and anything else that is not droppable
    READINGS = 2


@dataclass(frozen=True, slots=True)
class SpoolItem:
    seq: int
    topic: str
    payload: bytes
    retain: bool
    droppable: bool
    priority: Priority = Priority.EVENT
    # The message id the hub's receipt names (alarms); None: deleted at PUBACK.
    receipt_id: str | None = None
    sends: int = 0  # sends the broker has acknowledged before this one (> 0: a resend)


@dataclass(frozen=True, slots=True)
class ReceiptPolicy:
    """When an alarm still unconfirmed by the hub is sent again."""

    timeout_s: float  # after the first acknowledged send
    max_interval_s: float  # the doubling stops here

    def resend_after(self, sends: int) -> float:
        """Seconds from the `sends`-th acknowledged send (1, 2, ...) to the next resend."""
        doublings = min(max(sends - 1, 0), 40)  # 2**40 x any timeout is past any cap
        return min(self.max_interval_s, self.timeout_s * 2.0**doublings)


@dataclass(frozen=True, slots=True)
class Overdue:
    """An alarm that has waited long for its receipt (for the log)."""

    receipt_id: str
    waited_s: float
    sends: int


def _item(row: tuple[Any, ...]) -> SpoolItem:
    seq, topic, payload, retain, droppable, prio, receipt_id, sends = row
    return SpoolItem(
        int(seq),
        str(topic),
        bytes(payload),
        bool(retain),
        bool(droppable),
        Priority(prio),
        None if receipt_id is None else str(receipt_id),
        int(sends),
    )


class Spool:
    """A bounded, crash-safe store of MQTT messages, drained by priority (synchronous; fast).

    Times passed in (`now`) are seconds on the caller's monotonic clock.
    """

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
            self._migrate()
            self._db.executescript(_INDEXES)
            # Resend times of another process's clock: every awaiting row is due now.
            self._db.execute(
                "UPDATE messages SET resend_at=0, waiting_since=NULL, warned_at=NULL"
                " WHERE awaiting=1"
            )
            self._reload_counts()
        except (sqlite3.Error, OSError) as exc:
            raise SpoolError(str(path), str(exc)) from exc
        self._closed = False

    @contextmanager
    def _tx(self, what: str, on_rollback: Callable[[], None] | None = None) -> Iterator[None]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error); a
        SQLite error is a SpoolError naming `what`. Inside `transaction()` it joins the
        caller's transaction (which commits or rolls back everything at once)."""
        if self._db.in_transaction:
            yield
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                if on_rollback is not None:
                    on_rollback()
                raise
        except sqlite3.Error as exc:
            raise SpoolError(str(self.path), f"{what} failed: {exc}") from exc

    @contextmanager
    def transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction for a caller that keeps its own table in the spool
        database (`edge.alarm_book`): appends made inside it commit together with the
        caller's writes, or not at all (a rollback reloads the counts). Do not await
        inside it."""
        with self._tx(what, on_rollback=self._reload_counts):
            yield self._db

    def _forget(self, seq: int) -> tuple[int, int] | None:
        """Delete one row inside a transaction: (payload length, was awaiting), or None."""
        row = self._db.execute(
            "DELETE FROM messages WHERE seq=? RETURNING LENGTH(payload), awaiting", (seq,)
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def _migrate(self) -> None:
        """Give a spool made before receipts and priorities their columns (rows kept)."""
        have = {str(r[1]) for r in self._db.execute("PRAGMA table_info(messages)")}
        missing = [(name, decl) for name, decl in _COLUMNS if name not in have]
        if not missing:
            return
        with self._tx("upgrade"):
            for name, decl in missing:
                self._db.execute(f"ALTER TABLE messages ADD COLUMN {name} {decl}")
            if "prio" not in have:
                self._db.execute(
                    "UPDATE messages SET prio = CASE WHEN droppable=1 THEN ?"
                    " WHEN topic LIKE '%/alarms' THEN ? ELSE ? END",
                    (Priority.READINGS, Priority.ALARM, Priority.EVENT),
                )
            if "receipt_id" not in have:
                alarms = self._db.execute(
                    "SELECT seq, payload FROM messages WHERE topic LIKE '%/alarms'"
                ).fetchall()
                for seq, payload in alarms:
                    msg_id = _message_id(bytes(payload))
                    if msg_id is not None:
                        self._db.execute(
                            "UPDATE messages SET receipt_id=? WHERE seq=?", (msg_id, seq)
                        )
        log.info("spool %s: added columns %s", self.path, ", ".join(n for n, _ in missing))

    @property
    def depth(self) -> int:
        """Messages on disk, awaiting a receipt or not."""
        return self._depth

    @property
    def awaiting(self) -> int:
        """Alarms the broker has acknowledged that await the hub's receipt."""
        return self._awaiting

    @property
    def unsent(self) -> int:
        """Messages the broker has not acknowledged yet."""
        return self._depth - self._awaiting

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
        priority: Priority | None = None,
        receipt_id: str | None = None,
    ) -> int | None:
        """Store one message durably; its seq, or None if it was itself dropped.

        `priority` defaults to READINGS for a droppable message, EVENT otherwise. A
        `receipt_id` (the message's id) makes the row wait for the hub's receipt after the
        broker's PUBACK instead of being deleted (alarms).
        """
        if priority is None:
            priority = Priority.READINGS if droppable else Priority.EVENT
        with self._tx("append", on_rollback=self._reload_counts):
            evicted = self._make_room(len(payload), droppable)
            if evicted is None:
                self._count_dropped(1)
                return None
            cur = self._db.execute(
                "INSERT INTO messages"
                " (topic, payload, retain, droppable, created, prio, receipt_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (topic, payload, int(retain), int(droppable), created, priority, receipt_id),
            )
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
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0), COALESCE(SUM(awaiting), 0)"
            " FROM messages"
        ).fetchone()
        self._depth, self._bytes, self._awaiting = int(row[0]), int(row[1]), int(row[2])
        got = self._db.execute("SELECT value FROM counters WHERE name='dropped'").fetchone()
        self._dropped = int(got[0]) if got else 0

    def peek(self, limit: int, after: int = 0) -> list[SpoolItem]:
        """The oldest `limit` messages with seq > `after`, in seq order, whatever their state."""
        try:
            rows = self._db.execute(
                f"SELECT {_ITEM_COLUMNS} FROM messages WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        except sqlite3.Error as exc:
            raise SpoolError(str(self.path), f"read failed: {exc}") from exc
        return [_item(r) for r in rows]

    def ready(self, limit: int, now: float) -> list[SpoolItem]:
        """What to publish next, at most `limit`: the awaiting alarms whose resend time has
        come and the messages never acknowledged, alarms first, then events, then readings,
        each class in seq order."""
        try:
            # Two indexed queries rather than one OR: the spool may hold 200,000 rows.
            due = self._db.execute(
                f"SELECT {_ITEM_COLUMNS} FROM messages"
                " WHERE awaiting=1 AND resend_at <= ? ORDER BY seq LIMIT ?",
                (now, limit),
            ).fetchall()
            fresh = self._db.execute(
                f"SELECT {_ITEM_COLUMNS} FROM messages WHERE awaiting=0 ORDER BY prio, seq LIMIT ?",
                (limit,),
            ).fetchall()
        except sqlite3.Error as exc:
            raise SpoolError(str(self.path), f"read failed: {exc}") from exc
        items = sorted((_item(r) for r in (*due, *fresh)), key=lambda i: (i.priority, i.seq))
        return items[:limit]

    def acknowledged(
        self, items: Iterable[SpoolItem], now: float, receipts: ReceiptPolicy | None
    ) -> None:
        """The broker has PUBACKed `items`. With `receipts`, a row with a receipt id now
        awaits the hub's receipt (resent on the policy's schedule); every other row is
        deleted. A row already gone (receipted while in flight) is skipped."""
        gone = freed = unawaited = newly_awaiting = 0
        with self._tx("acknowledge"):
            for it in items:
                if receipts is not None and it.receipt_id is not None:
                    row = self._db.execute(
                        "SELECT awaiting, sends FROM messages WHERE seq=?", (it.seq,)
                    ).fetchone()
                    if row is None:
                        continue
                    sends = int(row[1]) + 1
                    self._db.execute(
                        "UPDATE messages SET awaiting=1, sends=?, resend_at=?,"
                        " waiting_since=COALESCE(waiting_since, ?) WHERE seq=?",
                        (sends, now + receipts.resend_after(sends), now, it.seq),
                    )
                    newly_awaiting += 1 - int(row[0])
                    continue
                got = self._forget(it.seq)
                if got is not None:
                    gone += 1
                    freed += got[0]
                    unawaited += got[1]
        self._depth -= gone
        self._bytes -= freed
        self._awaiting += newly_awaiting - unawaited

    def delete(self, seqs: Iterable[int]) -> None:
        """Forget messages outright, whatever their state (unknown seqs are ignored)."""
        gone = freed = unawaited = 0
        with self._tx("delete"):
            for seq in seqs:
                got = self._forget(seq)
                if got is not None:
                    gone += 1
                    freed += got[0]
                    unawaited += got[1]
        self._depth -= gone
        self._bytes -= freed
        self._awaiting -= unawaited

    def receipt(self, receipt_id: str) -> bool:
        """The hub has durably processed the message `receipt_id`: forget its row (awaiting
        or still unsent). False if no row has that id (already receipted, or never ours)."""
        try:
            row = self._db.execute(
                "DELETE FROM messages WHERE receipt_id=? RETURNING LENGTH(payload), awaiting",
                (receipt_id,),
            ).fetchone()
        except sqlite3.Error as exc:
            raise SpoolError(str(self.path), f"receipt failed: {exc}") from exc
        if row is None:
            return False
        self._depth -= 1
        self._bytes -= int(row[0])
        self._awaiting -= int(row[1])
        return True

    def unconfirmed_alarms(self) -> list[SpoolItem]:
        """Every row that waits for the hub's receipt (alarms), sent or not, in seq order:
        what the hub has not confirmed (edge.fallback reads it)."""
        try:
            rows = self._db.execute(
                f"SELECT {_ITEM_COLUMNS} FROM messages WHERE receipt_id IS NOT NULL ORDER BY seq"
            ).fetchall()
        except sqlite3.Error as exc:
            raise SpoolError(str(self.path), f"read failed: {exc}") from exc
        return [_item(r) for r in rows]

    def resend_all(self, now: float) -> int:
        """Make every awaiting row due at `now` (a new connection: the hub may have missed
        them); how many there are."""
        try:
            cur = self._db.execute("UPDATE messages SET resend_at=? WHERE awaiting=1", (now,))
        except sqlite3.Error as exc:
            raise SpoolError(str(self.path), f"update failed: {exc}") from exc
        return int(cur.rowcount)

    def next_resend_at(self) -> float | None:
        """The earliest resend time of an awaiting row; None if nothing awaits a receipt."""
        if self._awaiting == 0:
            return None
        try:
            row = self._db.execute(
                "SELECT MIN(resend_at) FROM messages WHERE awaiting=1"
            ).fetchone()
        except sqlite3.Error as exc:
            raise SpoolError(str(self.path), f"read failed: {exc}") from exc
        return None if row[0] is None else float(row[0])

    def overdue(self, now: float, *, after_s: float, every_s: float) -> list[Overdue]:
        """Awaiting rows whose first acknowledged send (since open) is more than `after_s`
        ago, and not reported in the last `every_s`; they are marked reported at `now`."""
        if self._awaiting == 0:
            return []
        with self._tx("update"):
            rows = self._db.execute(
                "SELECT seq, receipt_id, waiting_since, sends FROM messages"
                " WHERE awaiting=1 AND waiting_since <= ?"
                " AND (warned_at IS NULL OR warned_at <= ?) ORDER BY seq",
                (now - after_s, now - every_s),
            ).fetchall()
            self._db.executemany(
                "UPDATE messages SET warned_at=? WHERE seq=?", [(now, r[0]) for r in rows]
            )
        return [Overdue(str(r[1]), now - float(r[2]), int(r[3])) for r in rows]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _message_id(payload: bytes) -> str | None:
    """The `id` of a spooled wire-contract message (for rows spooled before receipt ids)."""
    try:
        obj = json.loads(payload)
    except ValueError:
        return None
    got = obj.get("id") if isinstance(obj, dict) else None
    return got if isinstance(got, str) else None
