"""The last encryption counter accepted from each encrypted BTHome device, kept in the
spool's SQLite database, so a restarted agent still refuses what it accepted before.

In memory alone, a restart forgot them: a press of an encrypted pendant recorded off the
air before a restart was accepted once after it (a personal alarm nobody pressed). The
pipeline resumes each device's decoder from here (`BTHomeDecoder.resume`), notes every
counter it accepts, and saves what changed at most every `SAVE_EVERY_S` (and when the
agent stops): a frame a second would otherwise be a write a second on the Pi's SD card.
What a crash can lose is the last minute's advance, so only a frame from that last
minute can be replayed once after it; anything older is refused.
"""

from __future__ import annotations

import logging
from typing import Final

from edge.spool import Spool

log = logging.getLogger(__name__)

SAVE_EVERY_S: Final = 60.0

_SCHEMA: Final = """CREATE TABLE IF NOT EXISTS ble_counters (
    device TEXT PRIMARY KEY,
    counter INTEGER NOT NULL,
    saved_at REAL NOT NULL
)"""


class CounterBook:
    """Per device id: the newest accepted encryption counter, saved now and then."""

    def __init__(self, spool: Spool, *, save_every_s: float = SAVE_EVERY_S) -> None:
        self._spool = spool
        self._every = save_every_s
        self._saved: dict[str, int] = {}
        self._dirty: dict[str, int] = {}
        self._last_save: float | None = None
        with spool.transaction("ble counters") as db:
            db.execute(_SCHEMA)
            rows = db.execute("SELECT device, counter FROM ble_counters").fetchall()
        self._saved = {str(d): int(c) for d, c in rows}

    def get(self, device: str) -> int | None:
        """The counter to resume `device` from (None: never seen encrypted)."""
        return self._dirty.get(device, self._saved.get(device))

    def note(self, device: str, counter: int | None) -> None:
        """`device`'s decoder now stands at `counter` (None: it never decrypted a frame)."""
        if counter is not None and self.get(device) != counter:
            self._dirty[device] = counter

    def save(self, now: float, *, force: bool = False) -> int:
        """Write what changed, if `SAVE_EVERY_S` has passed since the last write (or
        `force`: the agent is stopping); returns how many devices were written."""
        if not self._dirty:
            return 0
        if not force and self._last_save is not None and now - self._last_save < self._every:
            return 0
        dirty = self._dirty
        with self._spool.transaction("ble counters") as db:
            db.executemany(
                "INSERT INTO ble_counters (device, counter, saved_at) VALUES (?, ?, ?)"
                " ON CONFLICT (device) DO UPDATE SET counter = excluded.counter,"
                " saved_at = excluded.saved_at",
                [(d, c, now) for d, c in dirty.items()],
            )
        self._saved.update(dirty)
        self._dirty = {}
        self._last_save = now
        return len(dirty)
