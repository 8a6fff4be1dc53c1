"""The last encryption counter accepted from each encrypted BTHome device, kept in the
spool's SQLite database, so a restarted agent still refuses what it accepted before.

In memory alone, a restart forgot them: a press of an encrypted pendant recorded off the
air before a restart was accepted once after it (a personal alarm nobody pressed). The
pipeline resumes each device's decoder from here (`BTHomeDecoder.resume`), notes every
counter it accepts, and saves what changed at most every `SAVE_EVERY_S` (monotonic time),
at once after a button press, and when the agent stops: a frame a second would otherwise
be a write a second on the Pi's SD card. What a crash can lose is the last minute's
advance of a sensor's counter, so only such a frame can be played back once after it.

Each counter is stored with a fingerprint of the device's address and bind key: a
pendant replaced, re-keyed or moved to another id starts afresh instead of being refused
against a counter that was never its own.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Final

from edge.spool import Spool

log = logging.getLogger(__name__)

SAVE_EVERY_S: Final = 60.0

_SCHEMA: Final = """CREATE TABLE IF NOT EXISTS ble_counters (
    device TEXT PRIMARY KEY,
    counter INTEGER NOT NULL,
    saved_at REAL NOT NULL,
    fingerprint TEXT NOT NULL
)"""


def fingerprint(address: str, key: bytes) -> str:
    """Which device and key a counter belongs to (a hash: the key is not stored)."""
    return hashlib.sha256(f"{address.upper()}|".encode() + key).hexdigest()[:16]


class CounterBook:
    """Per device id: the newest accepted encryption counter, saved now and then.

    `devices`: the configured encrypted devices, id -> `fingerprint`; a saved counter of
    another fingerprint (or of a device no longer configured) is not resumed from."""

    def __init__(
        self,
        spool: Spool,
        devices: Mapping[str, str],
        *,
        save_every_s: float = SAVE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._spool = spool
        self._devices = dict(devices)
        self._every = save_every_s
        self._clock = clock
        self._saved: dict[str, int] = {}
        self._dirty: dict[str, int] = {}
        self._last_save: float | None = None
        with spool.transaction("ble counters") as db:
            db.execute(_SCHEMA)
            rows = db.execute("SELECT device, counter, fingerprint FROM ble_counters").fetchall()
        for device, counter, fp in rows:
            if self._devices.get(str(device)) == fp:
                self._saved[str(device)] = int(counter)
            elif str(device) in self._devices:
                log.info(
                    "%s: another address or bind key than its saved counter's: starts afresh",
                    device,
                )

    def get(self, device: str) -> int | None:
        """The counter to resume `device` from (None: none saved for it as configured)."""
        return self._dirty.get(device, self._saved.get(device))

    def note(self, device: str, counter: int | None) -> None:
        """`device`'s decoder now stands at `counter` (None: it never decrypted a frame)."""
        if counter is not None and device in self._devices and self.get(device) != counter:
            self._dirty[device] = counter

    def save(self, *, force: bool = False) -> int:
        """Write what changed, if `SAVE_EVERY_S` has passed since the last write (or
        `force`: a press, or the agent stopping); returns how many devices were written."""
        if not self._dirty:
            return 0
        now = self._clock()
        if not force and self._last_save is not None and now - self._last_save < self._every:
            return 0
        dirty = self._dirty
        with self._spool.transaction("ble counters") as db:
            db.executemany(
                "INSERT INTO ble_counters (device, counter, saved_at, fingerprint)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (device) DO UPDATE SET"
                " counter = excluded.counter, saved_at = excluded.saved_at,"
                " fingerprint = excluded.fingerprint",
                [(d, c, time.time(), self._devices[d]) for d, c in dirty.items()],
            )
        self._saved.update(dirty)
        self._dirty = {}
        self._last_save = now
        return len(dirty)
