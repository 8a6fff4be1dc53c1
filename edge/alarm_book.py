"""The alarm book: the one registry of the alarms this edge has raised and not cancelled.

    book = AlarmBook(outbox, dwelling)                  # loads what a previous run left open
    book.on(key, kind, severity, t, detail)             # a condition holds: raise / escalate
    book.off(key, t, detail)                            # it has ended: cancel what is open
    book.silence(until, t, sensor=...)                  # a hub command: quiet a technical alarm

Detectors and their adapters only say "condition on" or "condition off" (a `Finding` with
`alarm=` set and `on=True/False`); the book turns that level into wire messages: the first
"on" of a key raises an `AlarmMessage` with a new alarm id, an "on" with a higher severity
than the key's open alarms raises one more (an escalation: the hub routes by severity when
an alarm is raised; the earlier one stays open), a repeated "on" does nothing, and "off"
cancels every open alarm of the key with its own id, kind and severity. So an adapter may
say its level as often as it likes, and after a restart (a fresh detector that never saw
the raise) its "off" still cancels the alarm the previous run raised.

Keyed by (detector, rule, sensor). Persisted in the spool's SQLite database, in the same
transaction as the alarm message that changes it: after a crash either both the message
and the book entry are on disk or neither is, so an alarm on its way to the hub is always
one the book can cancel.

Silencing (a hub command, technical alarms only): the key's open alarms are cancelled at
the hub and the key stays quiet until a time; an "on" before then does nothing, an "off"
ends the silence, and an "on" after it raises again (the condition is still there).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final

from edge.detection import DetailValue
from edge.outbox import Outbox
from sensors import contract
from sensors.contract import AlarmKind, Severity

log = logging.getLogger(__name__)

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS alarm_book (
    alarm_id TEXT PRIMARY KEY,
    detector TEXT NOT NULL,
    rule TEXT NOT NULL,
    sensor TEXT NOT NULL DEFAULT '',   -- '' for an alarm of no one sensor
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    raised_at REAL NOT NULL,
    silenced_until REAL                -- set: cancelled at the hub by a silence until then
)""",
    "CREATE INDEX IF NOT EXISTS alarm_book_key ON alarm_book (detector, rule, sensor)",
)
_RANK: Final = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


@dataclass(frozen=True, slots=True)
class AlarmKey:
    """One condition: `rule` of `detector`, for `sensor` (None: not one sensor's)."""

    detector: str
    rule: str
    sensor: str | None = None


@dataclass(frozen=True, slots=True)
class BookEntry:
    """An alarm the book holds: open, or silenced until `silenced_until`."""

    alarm_id: str
    key: AlarmKey
    kind: AlarmKind
    severity: Severity
    raised_at: float
    silenced_until: float | None = None

    @property
    def open(self) -> bool:
        return self.silenced_until is None


class AlarmBook:
    """Open edge alarms by key; every change is spooled with its message in one commit."""

    def __init__(self, outbox: Outbox, dwelling: str) -> None:
        self.outbox = outbox
        self.dwelling = dwelling
        self._entries: dict[AlarmKey, list[BookEntry]] = {}
        self._load()

    def _load(self) -> None:
        db_rows: list[tuple[str, str, str, str, str, str, float, float | None]]
        with self.outbox.spool.transaction("alarm book") as db:
            for statement in _SCHEMA:
                db.execute(statement)
            db_rows = db.execute(
                "SELECT alarm_id, detector, rule, sensor, kind, severity, raised_at,"
                " silenced_until FROM alarm_book ORDER BY raised_at, alarm_id"
            ).fetchall()
        for aid, det, rule, sensor, kind, sev, at, until in db_rows:
            try:
                entry = BookEntry(
                    str(aid),
                    AlarmKey(str(det), str(rule), str(sensor) or None),
                    AlarmKind(kind),
                    Severity(sev),
                    float(at),
                    None if until is None else float(until),
                )
            except ValueError:
                log.error("alarm book: entry %s has an unknown kind or severity; dropped", aid)
                continue
            self._entries.setdefault(entry.key, []).append(entry)
        if db_rows:
            log.info("alarm book: %d alarms open from before the start", len(db_rows))

    # -- reading ------------------------------------------------------------------------

    def entries(self) -> list[BookEntry]:
        """Everything the book holds, open and silenced, oldest first."""
        return sorted((e for es in self._entries.values() for e in es), key=lambda e: e.raised_at)

    def open_alarms(self, detector: str | None = None) -> list[BookEntry]:
        """The alarms raised and not cancelled (optionally of one detector), oldest first."""
        return [
            e for e in self.entries() if e.open and (detector is None or e.key.detector == detector)
        ]

    def is_open(self, key: AlarmKey) -> bool:
        return any(e.open for e in self._entries.get(key, ()))

    # -- conditions ---------------------------------------------------------------------

    def on(
        self,
        key: AlarmKey,
        kind: AlarmKind,
        severity: Severity,
        t: float,
        detail: Mapping[str, DetailValue],
        *,
        event: contract.Event | None = None,
    ) -> list[contract.AlarmMessage]:
        """The condition holds: raise (first time, or past a silence), escalate (higher
        severity than anything open for the key), or nothing. The messages spooled; the
        `event` that tells of it goes first, in the same commit, if the book acted."""
        held = self._entries.get(key, [])
        if any(e.silenced_until is not None and t < e.silenced_until for e in held):
            return []
        expired = [e for e in held if e.silenced_until is not None]
        opened = [e for e in held if e.open]
        if opened and max(_RANK[e.severity] for e in opened) >= _RANK[severity]:
            return []
        entry = BookEntry(contract.new_id(), key, kind, severity, t)
        msg = self._message("raise", entry, t, detail)
        with self.outbox.spool.transaction("alarm raise") as db:
            if event is not None:
                self.outbox.put(event)
            self.outbox.put(msg)
            self._forget(db, expired)
            db.execute(
                "INSERT INTO alarm_book (alarm_id, detector, rule, sensor, kind, severity,"
                " raised_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (entry.alarm_id, key.detector, key.rule, key.sensor or "", kind, severity, t),
            )
        self._entries[key] = [*opened, entry]
        return [msg]

    def off(
        self,
        key: AlarmKey,
        t: float,
        detail: Mapping[str, DetailValue],
        *,
        event: contract.Event | None = None,
    ) -> list[contract.AlarmMessage]:
        """The condition has ended: cancel every open alarm of the key (a silence ends
        too, without a message: the hub has it cancelled already). The messages spooled;
        the `event` goes first, in the same commit, if there was one to cancel."""
        held = self._entries.get(key)
        if not held:
            return []
        msgs = [self._message("cancel", e, t, detail) for e in held if e.open]
        with self.outbox.spool.transaction("alarm cancel") as db:
            if event is not None and msgs:
                self.outbox.put(event)
            for msg in msgs:
                self.outbox.put(msg)
            self._forget(db, held)
        del self._entries[key]
        return msgs

    def silence(
        self,
        until: float,
        t: float,
        *,
        alarm_id: str | None = None,
        sensor: str | None = None,
    ) -> list[str]:
        """Quiet the open technical alarms matching `alarm_id` and/or `sensor` (all open
        technical alarms when neither is given) until `until` (UNIX s): each is cancelled
        at the hub now and its key raises nothing before `until`. Care alarms (a fall,
        inactivity, vitals, ...) are never silenced. The alarm ids silenced."""
        technical = [e for e in self.open_alarms() if e.kind is AlarmKind.TECHNICAL]
        hit = _matching(technical, alarm_id, sensor)
        if not hit or until <= t:
            return []
        detail: dict[str, DetailValue] = {"silenced_until": round(until, 3)}
        with self.outbox.spool.transaction("alarm silence") as db:
            for e in hit:
                self.outbox.put(self._message("cancel", e, t, detail))
            self._silence_until(db, hit, until)
        log.info("alarm book: %d technical alarms silenced until %.0f", len(hit), until)
        return [e.alarm_id for e in hit]

    def lift_silence(
        self, t: float, *, alarm_id: str | None = None, sensor: str | None = None
    ) -> list[str]:
        """End the silences matching `alarm_id` and/or `sensor` (all when neither is given)
        now: a condition still holding raises a new alarm at its next "on". The alarm ids
        whose silence ended."""
        hit = _matching(self.silenced(t), alarm_id, sensor)
        if not hit:
            return []
        with self.outbox.spool.transaction("alarm silence lifted") as db:
            self._silence_until(db, hit, t)
        log.info("alarm book: the silence of %d technical alarms lifted", len(hit))
        return [e.alarm_id for e in hit]

    def silenced(self, t: float) -> list[BookEntry]:
        """The alarms silenced at `t`, oldest first."""
        return [e for e in self.entries() if e.silenced_until is not None and t < e.silenced_until]

    def _silence_until(self, db: sqlite3.Connection, hit: list[BookEntry], until: float) -> None:
        """`hit` silenced until `until`, in the book's table (in `db`'s transaction) and here."""
        ids = {e.alarm_id for e in hit}
        for aid in ids:
            db.execute("UPDATE alarm_book SET silenced_until=? WHERE alarm_id=?", (until, aid))
        for e in hit:
            self._entries[e.key] = [
                replace(x, silenced_until=until) if x.alarm_id in ids else x
                for x in self._entries[e.key]
            ]

    # -- internals ----------------------------------------------------------------------

    @staticmethod
    def _forget(db: sqlite3.Connection, entries: Iterable[BookEntry]) -> None:
        db.executemany("DELETE FROM alarm_book WHERE alarm_id=?", [(e.alarm_id,) for e in entries])

    def _message(
        self, action: str, e: BookEntry, t: float, detail: Mapping[str, DetailValue]
    ) -> contract.AlarmMessage:
        return contract.AlarmMessage(
            id=contract.new_id(),
            dwelling=self.dwelling,
            ts=t,
            action="raise" if action == "raise" else "cancel",
            alarm_id=e.alarm_id,
            kind=e.kind,
            severity=e.severity,
            sensor=e.key.sensor,
            detail=dict(detail),
        )


def _matching(
    entries: list[BookEntry], alarm_id: str | None, sensor: str | None
) -> list[BookEntry]:
    """The entries of `alarm_id` and/or `sensor` (all when neither is given)."""
    return [
        e
        for e in entries
        if (alarm_id is None or e.alarm_id == alarm_id)
        and (sensor is None or e.key.sensor == sensor)
    ]
