"""Durable alarm state in SQLite (WAL): alarms, their audit log, and the notification outbox.

Every change is one short transaction. Read-modify-write steps run under
`BEGIN IMMEDIATE`, so several hub processes sharing the file serialise on the write
lock instead of overwriting each other. The outbox row is the unit of "sent at most
once": see docs/alerts.md, "Durability".
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from alerts.errors import UnknownAlarmError
from alerts.lifecycle import Step
from alerts.model import (
    AlarmKind,
    AlarmRecord,
    AlarmState,
    Outcome,
    Response,
    Severity,
    TimelineEntry,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS alarms (
    id TEXT PRIMARY KEY,
    dwelling TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    source TEXT NOT NULL,
    raised_at REAL NOT NULL,
    received_at REAL NOT NULL,
    notified_at REAL,
    acknowledged_at REAL,
    acknowledged_by TEXT,
    resolved_at REAL,
    resolved_by TEXT,
    note TEXT NOT NULL DEFAULT '',
    sensor TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    notifications_sent INTEGER NOT NULL DEFAULT 0,
    tech_key TEXT,
    response TEXT,
    responder TEXT,
    outcome TEXT,
    centre_required INTEGER NOT NULL DEFAULT 0,
    centre_handed_at REAL,
    centre_acked_at REAL,
    routed INTEGER NOT NULL DEFAULT 0,
    claimed_by TEXT,
    claimed_at REAL
);
CREATE INDEX IF NOT EXISTS alarms_state ON alarms(state, received_at);
CREATE INDEX IF NOT EXISTS alarms_received ON alarms(received_at);
-- open_count(dwelling): the budget's cap on open alarms per dwelling.
CREATE INDEX IF NOT EXISTS alarms_dwelling_state ON alarms(dwelling, state);
-- One open technical alarm per (dwelling, key), also across hub processes.
CREATE UNIQUE INDEX IF NOT EXISTS alarms_open_technical ON alarms(dwelling, tech_key)
    WHERE tech_key IS NOT NULL AND state != 'resolved';

CREATE TABLE IF NOT EXISTS alarm_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm_id TEXT NOT NULL,
    at REAL NOT NULL,
    what TEXT NOT NULL,
    by TEXT,
    note TEXT NOT NULL DEFAULT '',
    contact TEXT
);
CREATE INDEX IF NOT EXISTS alarm_log_alarm ON alarm_log(alarm_id, seq);

CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    round INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_by TEXT,
    claimed_at REAL,
    finished_at REAL,
    error TEXT NOT NULL DEFAULT '',
    -- Copied from the alarm when queued, for the claim's order (OUTBOX_COLUMNS).
    dwelling TEXT,
    severity TEXT,
    -- The row whose mail carried this one (its own id when it went alone), and the mail
    -- thread of its (dwelling, contact, channel); set when claimed.
    batch INTEGER,
    thread TEXT,
    -- The idempotency key: a round is queued once per contact and channel, whichever
    -- process (or restart) computes it first.
    UNIQUE (alarm_id, contact_id, channel, round)
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(status, next_attempt_at);
"""

# Columns added to the outbox after its first release: added to older files on open.
OUTBOX_COLUMNS = (
    ("dwelling", "TEXT"),
    ("severity", "TEXT"),
    ("batch", "INTEGER"),
    ("thread", "TEXT"),
)
# Columns added to the alarms after their first release (routing and escalation).
ALARM_COLUMNS = (
    ("response", "TEXT"),
    ("responder", "TEXT"),
    ("outcome", "TEXT"),
    ("centre_required", "INTEGER NOT NULL DEFAULT 0"),
    ("centre_handed_at", "REAL"),
    ("centre_acked_at", "REAL"),
    ("routed", "INTEGER NOT NULL DEFAULT 0"),  # 1: no escalation step can fall due any more
    ("claimed_by", "TEXT"),  # the operator handling it (claiming and handling)
    ("claimed_at", "REAL"),
)
# Columns added to the alarm log after its first release.
LOG_COLUMNS = (("contact", "TEXT"),)  # the contact a handling action was about

# Created after the migration, since they index the added columns.
INDEXES = """
CREATE INDEX IF NOT EXISTS outbox_group ON outbox(dwelling, contact_id, channel, status);
CREATE INDEX IF NOT EXISTS outbox_served ON outbox(dwelling, claimed_at);
CREATE INDEX IF NOT EXISTS outbox_told ON outbox(status, claimed_at);
CREATE INDEX IF NOT EXISTS outbox_batch ON outbox(batch);
CREATE INDEX IF NOT EXISTS outbox_channel ON outbox(channel, status);
CREATE INDEX IF NOT EXISTS alarms_routing ON alarms(routed, state);
CREATE INDEX IF NOT EXISTS alarms_dwelling_received ON alarms(dwelling, received_at);
"""

# Severity as a number for SQL ordering: the most severe is claimed first.
_RANK = (
    "CASE {col} WHEN 'critical' THEN 3 WHEN 'high' THEN 2 WHEN 'medium' THEN 1 "
    "WHEN 'low' THEN 0 ELSE 1 END"
)
# Outbox statuses that mean "the contact was (or may have been) told": the fold window.
_TOLD = "('sending', 'sent', 'unknown')"

# One claim: the next due pending row that is not held back by its fold window.
# - `told`: per (dwelling, contact, channel), the last mail claimed within the fold window
#   and the most severe alarm it (or any mail in the window) carried;
# - a due row is held back while its group has such a mail, unless it is more severe;
# - order: most severe first; within a severity, round-robin over dwellings (`turn` is a
#   row's place in its dwelling's queue; on a tie the dwelling served longest ago, or
#   never, goes first); then the oldest.
_CLAIM_NEXT = f"""
WITH told AS (
    SELECT dwelling, contact_id, channel, MAX({_RANK.format(col="severity")}) AS told_rank
    FROM outbox
    WHERE ? AND status IN {_TOLD} AND claimed_at > ?
    GROUP BY dwelling, contact_id, channel
),
due AS (
    SELECT o.id, o.dwelling, o.next_attempt_at, {_RANK.format(col="o.severity")} AS urgency,
           t.told_rank
    FROM outbox o LEFT JOIN told t
        ON t.dwelling IS o.dwelling AND t.contact_id = o.contact_id AND t.channel = o.channel
    WHERE o.status = 'pending' AND o.next_attempt_at <= ? AND o.channel != 'dc09'
),
turns AS (
    SELECT id, dwelling, next_attempt_at, urgency,
           ROW_NUMBER() OVER (
               PARTITION BY dwelling, urgency ORDER BY next_attempt_at, id
           ) AS turn
    FROM due
    WHERE told_rank IS NULL OR urgency > told_rank
)
SELECT id FROM turns
ORDER BY urgency DESC, turn,
    (SELECT MAX(s.claimed_at) FROM outbox s WHERE s.dwelling IS turns.dwelling),
    next_attempt_at, id
LIMIT 1
"""

_ALARM_COLUMNS = (
    "id, dwelling, kind, severity, state, source, raised_at, received_at, notified_at, "
    "acknowledged_at, acknowledged_by, resolved_at, resolved_by, note, sensor, detail, "
    "notifications_sent, response, responder, outcome, centre_required, centre_handed_at, "
    "centre_acked_at, claimed_by, claimed_at"
)
_ALARM_MARKS = ",".join("?" * 25)
_UNACKED = (AlarmState.RAISED.value, AlarmState.NOTIFIED.value)


def log_head(db: sqlite3.Connection) -> int:
    """The newest `alarm_log` seq (0 for none): where a watcher starts reading."""
    return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM alarm_log").fetchone()[0])


def logged_since(db: sqlite3.Connection, seq: int, limit: int) -> list[tuple[int, str, str | None]]:
    """(seq, alarm id, dwelling) of the first `limit` `alarm_log` entries after `seq`.

    Every change to an alarm (raised, each lifecycle step, each timeline entry) adds an
    entry in the transaction that makes it, so this is the change feed of the alarms:
    hub.watch reads it on its own connection to see what other processes committed.
    SQLite has one writer at a time and `seq` is AUTOINCREMENT, so seq order is commit
    order and a reader that has seen seq n has seen everything committed before it.
    """
    rows = db.execute(
        "SELECT l.seq, l.alarm_id, a.dwelling FROM alarm_log l "
        "LEFT JOIN alarms a ON a.id = l.alarm_id WHERE l.seq > ? ORDER BY l.seq LIMIT ?",
        (seq, limit),
    )
    return [(int(r[0]), str(r[1]), r[2]) for r in rows]


class OutboxStatus(StrEnum):
    PENDING = "pending"  # to be sent (at or after next_attempt_at)
    SENDING = "sending"  # claimed by a process that is sending it now
    SENT = "sent"  # the channel took it
    FAILED = "failed"  # gave up: permanent error or too many attempts
    SKIPPED = "skipped"  # the alarm was acknowledged or resolved before it went out
    UNKNOWN = "unknown"  # the sender died mid-send: maybe sent, never resent


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    alarm_id: str
    contact_id: str
    channel: str
    round: int
    status: OutboxStatus
    created_at: float
    attempts: int
    claimed_by: str | None
    claimed_at: float | None
    error: str
    dwelling: str | None = None
    severity: str | None = None
    batch: int | None = None  # the row whose mail carries this one
    thread: str | None = None  # the mail thread of its (dwelling, contact, channel)


def _row_to_alarm(row: sqlite3.Row) -> AlarmRecord:
    return AlarmRecord(
        id=row["id"],
        dwelling=row["dwelling"],
        kind=AlarmKind(row["kind"]),
        severity=Severity(row["severity"]),
        state=AlarmState(row["state"]),
        source=row["source"],
        raised_at=row["raised_at"],
        received_at=row["received_at"],
        notified_at=row["notified_at"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
        resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"],
        note=row["note"],
        sensor=row["sensor"],
        detail=json.loads(row["detail"]),
        notifications_sent=row["notifications_sent"],
        response=Response(row["response"]) if row["response"] else None,
        responder=row["responder"],
        outcome=Outcome(row["outcome"]) if row["outcome"] else None,
        centre_required=bool(row["centre_required"]),
        centre_handed_at=row["centre_handed_at"],
        centre_acked_at=row["centre_acked_at"],
        claimed_by=row["claimed_by"],
        claimed_at=row["claimed_at"],
    )


def _alarm_params(rec: AlarmRecord) -> tuple[Any, ...]:
    return (
        rec.id,
        rec.dwelling,
        rec.kind.value,
        rec.severity.value,
        rec.state.value,
        rec.source,
        rec.raised_at,
        rec.received_at,
        rec.notified_at,
        rec.acknowledged_at,
        rec.acknowledged_by,
        rec.resolved_at,
        rec.resolved_by,
        rec.note,
        rec.sensor,
        json.dumps(rec.detail, separators=(",", ":")),
        rec.notifications_sent,
        *_response_params(rec),
    )


def _response_params(rec: AlarmRecord) -> tuple[Any, ...]:
    """The taking-on, alarm-centre and claim columns, in `_ALARM_COLUMNS` order."""
    return (
        rec.response.value if rec.response else None,
        rec.responder,
        rec.outcome.value if rec.outcome else None,
        int(rec.centre_required),
        rec.centre_handed_at,
        rec.centre_acked_at,
        rec.claimed_by,
        rec.claimed_at,
    )


def _row_to_outbox(row: sqlite3.Row) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        alarm_id=row["alarm_id"],
        contact_id=row["contact_id"],
        channel=row["channel"],
        round=row["round"],
        status=OutboxStatus(row["status"]),
        created_at=row["created_at"],
        attempts=row["attempts"],
        claimed_by=row["claimed_by"],
        claimed_at=row["claimed_at"],
        error=row["error"],
        dwelling=row["dwelling"],
        severity=row["severity"],
        batch=row["batch"],
        thread=row["thread"],
    )


class AlarmStore:
    """Synchronous; the service calls it from a worker thread. One connection, one lock."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN ourselves, so every transaction is explicit.
        self._db = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=10.0
        )
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed alarm survives a power cut, not only a process crash.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(SCHEMA)
        self._migrate()
        with self._lock:
            self._db.executescript(INDEXES)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _migrate(self) -> None:
        """Add the columns an older file lacks (outbox ones filled from the alarms table).
        Under the write lock, so two processes opening one old file migrate it once."""
        with self._tx() as db:
            have_alarm = {r["name"] for r in db.execute("PRAGMA table_info(alarms)")}
            for name, kind in ALARM_COLUMNS:
                if name not in have_alarm:
                    db.execute(f"ALTER TABLE alarms ADD COLUMN {name} {kind}")
            have_log = {r["name"] for r in db.execute("PRAGMA table_info(alarm_log)")}
            for name, kind in LOG_COLUMNS:
                if name not in have_log:
                    db.execute(f"ALTER TABLE alarm_log ADD COLUMN {name} {kind}")
            have = {r["name"] for r in db.execute("PRAGMA table_info(outbox)")}
            missing = [(name, kind) for name, kind in OUTBOX_COLUMNS if name not in have]
            for name, kind in missing:
                db.execute(f"ALTER TABLE outbox ADD COLUMN {name} {kind}")
            if missing:
                db.execute(
                    "UPDATE outbox SET "
                    "dwelling = (SELECT dwelling FROM alarms WHERE alarms.id = outbox.alarm_id), "
                    "severity = (SELECT severity FROM alarms WHERE alarms.id = outbox.alarm_id) "
                    "WHERE dwelling IS NULL"
                )
                # Rows already finished went out alone: their own mail.
                db.execute(
                    "UPDATE outbox SET batch = id WHERE batch IS NULL AND claimed_at IS NOT NULL"
                )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, params))

    # -- alarms ---------------------------------------------------------------------------

    def insert_alarm(
        self, rec: AlarmRecord, *, tech_key: str | None = None, by: str | None = None
    ) -> bool:
        """Store a new alarm; False (and nothing changed) if its id, or an open technical
        alarm with the same (dwelling, tech_key), is already there."""
        with self._tx() as db:
            try:
                cur = db.execute(
                    f"INSERT OR IGNORE INTO alarms ({_ALARM_COLUMNS}, tech_key) "
                    f"VALUES ({_ALARM_MARKS},?)",
                    (*_alarm_params(rec), tech_key),
                )
            except sqlite3.IntegrityError:
                return False  # the partial unique index: already an open technical alarm
            if cur.rowcount == 0:
                return False
            db.execute(
                "INSERT INTO alarm_log (alarm_id, at, what, by, note) VALUES (?,?,?,?,?)",
                (rec.id, rec.received_at, rec.state.value, by or rec.source, ""),
            )
            return True

    def get(self, alarm_id: str) -> AlarmRecord | None:
        rows = self._query(f"SELECT {_ALARM_COLUMNS} FROM alarms WHERE id = ?", (alarm_id,))
        return _row_to_alarm(rows[0]) if rows else None

    def get_many(self, alarm_ids: Sequence[str]) -> dict[str, AlarmRecord]:
        """The known alarms among `alarm_ids`, by id."""
        out: dict[str, AlarmRecord] = {}
        ids = list(dict.fromkeys(alarm_ids))
        for i in range(0, len(ids), 500):  # SQLite's limit on parameters per statement
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT {_ALARM_COLUMNS} FROM alarms WHERE id IN ({marks})", tuple(chunk)
            )
            out.update((r["id"], _row_to_alarm(r)) for r in rows)
        return out

    def update(
        self,
        alarm_id: str,
        step: Callable[[AlarmRecord], Step],
        *,
        at: float,
        by: str | None,
        note: str = "",
        contact: str | None = None,
    ) -> Step:
        """Apply a pure lifecycle step atomically; log it when it changed something.

        The step reads and writes inside one `BEGIN IMMEDIATE` transaction, so it sees the
        record as no other process can change it before the write: what makes a claim
        exclusive across hub processes (two operators claiming at once: the second step
        sees the first's claim and raises `ClaimedError`, and nothing is written)."""
        with self._tx() as db:
            rows = list(
                db.execute(f"SELECT {_ALARM_COLUMNS} FROM alarms WHERE id = ?", (alarm_id,))
            )
            if not rows:
                raise UnknownAlarmError(alarm_id)
            return self._apply(db, rows[0], step, at=at, by=by, note=note, contact=contact)

    def update_many(
        self,
        alarm_ids: Sequence[str],
        step: Callable[[AlarmRecord], Step],
        *,
        at: float,
        by: str | None,
        note: str = "",
    ) -> list[Step]:
        """`update` for several alarms in one transaction (one fsync, not one per alarm);
        unknown ids are left out of the result."""
        with self._tx() as db:
            out = []
            for alarm_id in alarm_ids:
                rows = list(
                    db.execute(f"SELECT {_ALARM_COLUMNS} FROM alarms WHERE id = ?", (alarm_id,))
                )
                if rows:
                    out.append(self._apply(db, rows[0], step, at=at, by=by, note=note))
            return out

    @staticmethod
    def _apply(
        db: sqlite3.Connection,
        row: sqlite3.Row,
        step: Callable[[AlarmRecord], Step],
        *,
        at: float,
        by: str | None,
        note: str,
        contact: str | None = None,
    ) -> Step:
        result = step(_row_to_alarm(row))
        if result.changed:
            r = result.record
            db.execute(
                "UPDATE alarms SET state=?, notified_at=?, acknowledged_at=?, "
                "acknowledged_by=?, resolved_at=?, resolved_by=?, note=?, notifications_sent=?, "
                "response=?, responder=?, outcome=?, centre_required=?, centre_handed_at=?, "
                "centre_acked_at=?, claimed_by=?, claimed_at=? WHERE id=?",
                (
                    r.state.value,
                    r.notified_at,
                    r.acknowledged_at,
                    r.acknowledged_by,
                    r.resolved_at,
                    r.resolved_by,
                    r.note,
                    r.notifications_sent,
                    *_response_params(r),
                    r.id,
                ),
            )
            if result.claimed:
                db.execute(
                    "INSERT INTO alarm_log (alarm_id, at, what, by, note) VALUES (?,?,?,?,'')",
                    (r.id, at, "claimed", by),
                )
            db.execute(
                "INSERT INTO alarm_log (alarm_id, at, what, by, note, contact) "
                "VALUES (?,?,?,?,?,?)",
                (r.id, at, result.what, by, note if result.note is None else result.note, contact),
            )
        return result

    def open_technical(self, dwelling: str, key: str) -> AlarmRecord | None:
        rows = self._query(
            f"SELECT {_ALARM_COLUMNS} FROM alarms "
            "WHERE dwelling=? AND tech_key=? AND state != 'resolved'",
            (dwelling, key),
        )
        return _row_to_alarm(rows[0]) if rows else None

    def open_count(self, dwelling: str) -> int:
        """Alarms the dwelling's edge raised that nobody has taken on yet (raised or
        notified; the hub's own technical ones left out): what the per-dwelling cap on
        open alarms counts. Acknowledged ones do not count: a family that acknowledges by
        mail and never closes would otherwise, weeks later, have a pendant press refused.
        An indexed COUNT."""
        rows = self._query(
            "SELECT COUNT(*) AS n FROM alarms WHERE dwelling=? AND state IN (?, ?) "
            "AND source='edge'",
            (dwelling, *_UNACKED),
        )
        return int(rows[0]["n"])

    def open_alarms(self) -> list[AlarmRecord]:
        rows = self._query(
            f"SELECT {_ALARM_COLUMNS} FROM alarms WHERE state != 'resolved' "
            "ORDER BY received_at DESC, id"
        )
        return [_row_to_alarm(r) for r in rows]

    def unacknowledged(self) -> list[AlarmRecord]:
        rows = self._query(
            f"SELECT {_ALARM_COLUMNS} FROM alarms WHERE state IN (?, ?)",
            _UNACKED,
        )
        return [_row_to_alarm(r) for r in rows]

    def recent(self, limit: int) -> list[AlarmRecord]:
        rows = self._query(
            f"SELECT {_ALARM_COLUMNS} FROM alarms ORDER BY received_at DESC, id LIMIT ?",
            (limit,),
        )
        return [_row_to_alarm(r) for r in rows]

    def dwelling_since(self, dwelling: str, since: float, limit: int) -> list[AlarmRecord]:
        """The dwelling's alarms received since `since`, newest first, and every one of
        its alarms still open, however old."""
        rows = self._query(
            f"SELECT {_ALARM_COLUMNS} FROM alarms WHERE dwelling = ? AND received_at >= ?"
            f" UNION SELECT {_ALARM_COLUMNS} FROM alarms WHERE dwelling = ?"
            " AND state != 'resolved' ORDER BY received_at DESC, id LIMIT ?",
            (dwelling, since, dwelling, limit),
        )
        return [_row_to_alarm(r) for r in rows]

    def all_since(self, since: float) -> list[AlarmRecord]:
        rows = self._query(
            f"SELECT {_ALARM_COLUMNS} FROM alarms WHERE received_at >= ?",
            (since,),
        )
        return [_row_to_alarm(r) for r in rows]

    def active_between(self, since: float, until: float) -> list[AlarmRecord]:
        """Alarms known and not over at some moment in [since, until): received before
        `until`, and received in the period or still open at its start (the monthly
        report's alarms received in the month and the technical ones open in it)."""
        rows = self._query(
            f"SELECT {_ALARM_COLUMNS} FROM alarms WHERE received_at < ? "
            "AND (resolved_at IS NULL OR resolved_at >= ? OR received_at >= ?)",
            (until, since, since),
        )
        return [_row_to_alarm(r) for r in rows]

    def log(self, alarm_id: str) -> list[tuple[float, str, str | None, str]]:
        rows = self._query(
            "SELECT at, what, by, note FROM alarm_log WHERE alarm_id=? ORDER BY seq", (alarm_id,)
        )
        return [(r["at"], r["what"], r["by"], r["note"]) for r in rows]

    # -- outbox ---------------------------------------------------------------------------

    def enqueue(
        self,
        alarm_id: str,
        contact_id: str,
        channel: str,
        round_: int,
        now: float,
        *,
        failed: str | None = None,
    ) -> bool:
        """Queue one notification; False if this (alarm, contact, channel, round) exists.
        `failed`: record it as failed at once, with this reason (a step nobody can take)."""
        status = OutboxStatus.PENDING if failed is None else OutboxStatus.FAILED
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO outbox (alarm_id, contact_id, channel, round, status, "
                "created_at, next_attempt_at, dwelling, severity, error, finished_at) "
                "VALUES (?,?,?,?,?,?,?, (SELECT dwelling FROM alarms WHERE id=?), "
                "(SELECT severity FROM alarms WHERE id=?), ?, ?)",
                (
                    alarm_id,
                    contact_id,
                    channel,
                    round_,
                    status.value,
                    now,
                    now,
                    alarm_id,
                    alarm_id,
                    failed or "",
                    None if failed is None else now,
                ),
            )
            return cur.rowcount > 0

    def claim(
        self,
        worker: str,
        now: float,
        *,
        fold_window_s: float = 0.0,
        thread_gap_s: float = 0.0,
    ) -> OutboxRow | None:
        """Take the next due pending row (see `_CLAIM_NEXT` for the order) and return it.

        With `fold_window_s` > 0 (folding on): a row whose (dwelling, contact, channel) had
        a mail claimed within the window waits for the window's end, unless it is more
        severe than everything that window carried; and the claimed row takes along every
        other due pending row of its group, so one mail carries them all (`batch(id)`).
        Rows are claimed, all or none, in one `BEGIN IMMEDIATE` transaction with the
        `status='pending'` guard, so the claim is exclusive across hub processes.

        The mail thread continues the group's last one if that mail was claimed at most
        `thread_gap_s` ago; else the claimed row starts a new thread.
        """
        fold = fold_window_s > 0
        with self._tx() as db:
            first = list(db.execute(_CLAIM_NEXT, (int(fold), now - fold_window_s, now)))
            if not first:
                return None
            (head,) = list(db.execute("SELECT * FROM outbox WHERE id=?", (first[0]["id"],)))
            group = (head["dwelling"], head["contact_id"], head["channel"])
            ids = [head["id"]]
            if fold:
                ids += [
                    r["id"]
                    for r in db.execute(
                        "SELECT id FROM outbox WHERE dwelling IS ? AND contact_id=? AND channel=? "
                        "AND status='pending' AND next_attempt_at <= ? AND id != ? ORDER BY id",
                        (*group, now, head["id"]),
                    )
                ]
            last = list(
                db.execute(
                    "SELECT thread, claimed_at FROM outbox WHERE dwelling IS ? AND contact_id=? "
                    f"AND channel=? AND status IN {_TOLD} AND thread IS NOT NULL "
                    "ORDER BY claimed_at DESC LIMIT 1",
                    group,
                )
            )
            if last and last[0]["claimed_at"] >= now - thread_gap_s:
                thread = str(last[0]["thread"])
            else:
                thread = f"{head['id']}.{int(now)}"
            marks = ",".join("?" * len(ids))
            rows = list(
                db.execute(
                    "UPDATE outbox SET status='sending', claimed_by=?, claimed_at=?, "
                    f"attempts=attempts+1, batch=?, thread=? WHERE id IN ({marks}) "
                    "AND status='pending' RETURNING *",
                    (worker, now, head["id"], thread, *ids),
                )
            )
            return next(_row_to_outbox(r) for r in rows if r["id"] == head["id"])

    def batch(self, batch_id: int) -> list[OutboxRow]:
        """The rows one claim took together (the claimed row first)."""
        rows = self._query(
            "SELECT * FROM outbox WHERE batch=? ORDER BY id != ?, id", (batch_id, batch_id)
        )
        return [_row_to_outbox(r) for r in rows]

    def batch_alarms(self, batch_id: int, contact_id: str) -> list[str]:
        """The alarms one mail to this contact carried (its acknowledgement link's reach)."""
        rows = self._query(
            "SELECT DISTINCT alarm_id FROM outbox WHERE batch=? AND contact_id=? "
            "AND status IN ('sent', 'unknown') ORDER BY alarm_id",
            (batch_id, contact_id),
        )
        return [r["alarm_id"] for r in rows]

    def finish(self, row_id: int, status: OutboxStatus, now: float, error: str = "") -> None:
        self.finish_all([row_id], status, now, error)

    def finish_all(
        self, row_ids: Sequence[int], status: OutboxStatus, now: float, error: str = ""
    ) -> None:
        """`finish` for the rows of one mail, in one transaction."""
        with self._tx() as db:
            db.executemany(
                "UPDATE outbox SET status=?, finished_at=?, error=? "
                "WHERE id=? AND status='sending'",
                [(status.value, now, error[:500], row_id) for row_id in row_ids],
            )

    def retry_later(self, row_id: int, at: float, error: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET status='pending', next_attempt_at=?, error=?, claimed_by=NULL "
                "WHERE id=? AND status='sending'",
                (at, error[:500], row_id),
            )

    def expire_leases(self, older_than: float, now: float) -> list[OutboxRow]:
        """Rows claimed before `older_than` and still 'sending': their sender died. Mark them
        'unknown' (never resend: the mail may have gone out) and return them."""
        with self._tx() as db:
            rows = list(
                db.execute(
                    "UPDATE outbox SET status='unknown', finished_at=?, "
                    "error='sender stopped mid-send; not resent' "
                    "WHERE status='sending' AND claimed_at < ? RETURNING *",
                    (now, older_than),
                )
            )
            return [_row_to_outbox(r) for r in rows]

    def outbox(self, alarm_id: str | None = None) -> list[OutboxRow]:
        if alarm_id is None:
            rows = self._query("SELECT * FROM outbox ORDER BY id")
        else:
            rows = self._query("SELECT * FROM outbox WHERE alarm_id=? ORDER BY id", (alarm_id,))
        return [_row_to_outbox(r) for r in rows]

    def outbox_counts(self) -> dict[str, int]:
        rows = self._query("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    # -- routing and the alarm centre ----------------------------------------------------

    def routing_open(self) -> list[AlarmRecord]:
        """Open alarms whose escalation may still have a step to take."""
        rows = self._query(
            f"SELECT {_ALARM_COLUMNS} FROM alarms WHERE state != 'resolved' AND routed = 0 "
            "ORDER BY received_at, id"
        )
        return [_row_to_alarm(r) for r in rows]

    def mark_routed(self, alarm_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE alarms SET routed = 1 WHERE id = ?", (alarm_id,))

    def steps_done(self, alarm_id: str) -> set[int]:
        """The escalation steps (outbox rounds) already queued for the alarm."""
        rows = self._query(
            "SELECT DISTINCT round FROM outbox WHERE alarm_id = ? AND round >= 0", (alarm_id,)
        )
        return {int(r["round"]) for r in rows}

    def log_event(self, alarm_id: str, at: float, what: str, by: str | None, note: str) -> None:
        """Put something that happened to the alarm on its timeline (a send, a failure)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO alarm_log (alarm_id, at, what, by, note) VALUES (?,?,?,?,?)",
                (alarm_id, at, what, by, note[:500]),
            )

    def claim_channel(
        self, channel: str, worker: str, now: float, after_round: int
    ) -> OutboxRow | None:
        """Claim the next due pending row of one channel (the alarm centre's lane): most
        severe first, then the oldest. A row of round `after_round` (a restore) waits
        while its alarm's other rows on the channel are unfinished, so a restore never
        overtakes its event."""
        with self._tx() as db:
            rows = list(
                db.execute(
                    "UPDATE outbox SET status='sending', claimed_by=?, claimed_at=?, "
                    "attempts=attempts+1, batch=id WHERE id = ("
                    "SELECT o.id FROM outbox o WHERE o.channel = ? AND o.status = 'pending' "
                    "AND o.next_attempt_at <= ? AND NOT (o.round = ? AND EXISTS ("
                    "SELECT 1 FROM outbox n WHERE n.alarm_id = o.alarm_id AND n.channel = ? "
                    "AND n.round != ? AND n.status IN ('pending', 'sending'))) "
                    f"ORDER BY {_RANK.format(col='o.severity')} DESC, o.next_attempt_at, o.id "
                    "LIMIT 1) AND status = 'pending' RETURNING *",
                    (worker, now, channel, now, after_round, channel, after_round),
                )
            )
            return _row_to_outbox(rows[0]) if rows else None

    def centre_restores_due(self, channel: str, restore_round: int) -> list[str]:
        """Alarms over (resolved) with an event on `channel` and no restore queued yet."""
        rows = self._query(
            "SELECT DISTINCT o.alarm_id FROM outbox o JOIN alarms a ON a.id = o.alarm_id "
            "WHERE o.channel = ? AND o.round != ? AND o.status IN ('pending', 'sending', "
            "'sent', 'unknown') AND a.state = 'resolved' AND NOT EXISTS ("
            "SELECT 1 FROM outbox r WHERE r.alarm_id = o.alarm_id AND r.channel = ? "
            "AND r.round = ?)",
            (channel, restore_round, channel, restore_round),
        )
        return [r["alarm_id"] for r in rows]

    def timeline(self, alarm_id: str) -> list[TimelineEntry]:
        """The alarm's timeline: raised at its source, then its log (the first entry,
        the hub storing it, reads "received")."""
        rec = self.get(alarm_id)
        if rec is None:
            return []
        entries = [TimelineEntry(rec.raised_at, "raised_at_source", rec.source, "")]
        for row in self._query(
            "SELECT at, what, by, note, contact FROM alarm_log WHERE alarm_id=? ORDER BY seq",
            (alarm_id,),
        ):
            first = len(entries) == 1 and row["what"] == AlarmState.RAISED.value
            what = "received" if first else row["what"]
            entries.append(TimelineEntry(row["at"], what, row["by"], row["note"], row["contact"]))
        # Stable: log order breaks ties (a step and its log entry share one clock reading).
        return sorted(entries, key=lambda e: e.at)
