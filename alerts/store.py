"""Durable alarm state in the operational store (SQLite or PostgreSQL, alerts.tables):
alarms, their audit log, and the notification outbox.

Every change is one short transaction (`hub.sql.engine.writing`). What makes the steps
safe with several hub workers on one database:

- a lifecycle step (`update`) reads the alarm `FOR UPDATE` and writes it in the same
  transaction: a second worker's step on the same alarm waits for the first one's commit
  and then sees its result (two operators claiming at once: the second gets
  `ClaimedError`);
- the outbox is claimed by selecting due rows `FOR UPDATE SKIP LOCKED` and updating them
  in the same transaction with a `status='pending'` guard: two workers never take the
  same row, and neither waits for the other;
- queueing is idempotent on (alarm, contact, channel, round), inserting an alarm on its
  id and on the one open technical alarm per (dwelling, key): ON CONFLICT DO NOTHING.

On SQLite `FOR UPDATE` renders as nothing: a writer's transaction begins IMMEDIATE, so
writers are serialised on the file's write lock. The outbox row is the unit of "sent at
most once": see docs/alerts.md, "Durability".
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    RowMapping,
    Select,
    and_,
    case,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import KeyedColumnElement

from alerts.errors import UnknownAlarmError
from alerts.lifecycle import Step
from alerts.model import (
    ALL_CLEAR_ROUND,
    AlarmKind,
    AlarmRecord,
    AlarmState,
    Outcome,
    Response,
    Severity,
    TimelineEntry,
)
from alerts.tables import alarm_log, alarms, outbox
from hub.sql.engine import insert_ignore, reading, writing

# Outbox statuses that mean "the contact was (or may have been) told": the fold window.
_TOLD: Final = ("sending", "sent", "unknown")
# The alarm centre's lane has a claim of its own (`claim_channel`).
_CENTRE_CHANNEL: Final = "dc09"
# How many candidates a claim tries, best first, before it gives up for this tick: on
# PostgreSQL other workers may hold the best ones (skipped, not waited for).
_CANDIDATES: Final = 16
# Ids per `IN (...)` list (SQLite's limit on parameters per statement is far above).
_CHUNK: Final = 500

_UNACKED: Final = (AlarmState.RAISED.value, AlarmState.NOTIFIED.value)
_ALARM_FIELDS: Final = (
    "id",
    "dwelling",
    "kind",
    "severity",
    "state",
    "source",
    "raised_at",
    "received_at",
    "notified_at",
    "acknowledged_at",
    "acknowledged_by",
    "resolved_at",
    "resolved_by",
    "note",
    "sensor",
    "detail",
    "notifications_sent",
    "response",
    "responder",
    "outcome",
    "centre_required",
    "centre_handed_at",
    "centre_acked_at",
    "claimed_by",
    "claimed_at",
)
_ALARM_COLS: Final = tuple(alarms.c[name] for name in _ALARM_FIELDS)


def _rank(col: KeyedColumnElement[Any]) -> ColumnElement[int]:
    """Severity as a number for ordering: the most severe is claimed first."""
    return case(
        {"critical": 3, "high": 2, "medium": 1, "low": 0},
        value=col,
        else_=1,
    )


def log_head(db: sqlite3.Connection) -> int:
    """The newest `alarm_log` seq (0 for none): where a watcher starts reading. On the
    SQLite file's own connection (hub.watch's SqliteFeed)."""
    return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM alarm_log").fetchone()[0])


def logged_since(db: sqlite3.Connection, seq: int, limit: int) -> list[tuple[int, str, str | None]]:
    """(seq, alarm id, dwelling) of the first `limit` `alarm_log` entries after `seq`.

    Every change to an alarm (raised, each lifecycle step, each timeline entry) adds an
    entry in the transaction that makes it, so this is the change feed of the alarms:
    hub.watch reads it on its own connection to see what other processes committed.
    SQLite has one writer at a time and `seq` is AUTOINCREMENT, so seq order is commit
    order and a reader that has seen seq n has seen everything committed before it
    (not so on PostgreSQL, where sequence numbers are taken before commit: its feed is
    LISTEN/NOTIFY).
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


def _row_to_alarm(row: RowMapping) -> AlarmRecord:
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


def _step_values(rec: AlarmRecord) -> dict[str, Any]:
    """The columns a lifecycle step may change."""
    return {
        "state": rec.state.value,
        "notified_at": rec.notified_at,
        "acknowledged_at": rec.acknowledged_at,
        "acknowledged_by": rec.acknowledged_by,
        "resolved_at": rec.resolved_at,
        "resolved_by": rec.resolved_by,
        "note": rec.note,
        "notifications_sent": rec.notifications_sent,
        "response": rec.response.value if rec.response else None,
        "responder": rec.responder,
        "outcome": rec.outcome.value if rec.outcome else None,
        "centre_required": int(rec.centre_required),
        "centre_handed_at": rec.centre_handed_at,
        "centre_acked_at": rec.centre_acked_at,
        "claimed_by": rec.claimed_by,
        "claimed_at": rec.claimed_at,
    }


def _alarm_values(rec: AlarmRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "dwelling": rec.dwelling,
        "kind": rec.kind.value,
        "severity": rec.severity.value,
        "source": rec.source,
        "raised_at": rec.raised_at,
        "received_at": rec.received_at,
        "sensor": rec.sensor,
        "detail": json.dumps(rec.detail, separators=(",", ":")),
        **_step_values(rec),
    }


def _row_to_outbox(row: RowMapping) -> OutboxRow:
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


def _claim_order(now: float, fold_since: float | None) -> Select[tuple[int]]:
    """The due pending rows (not the alarm centre's) in claim order, best first.

    - with folding (`fold_since`: the fold window's start), per (dwelling, contact,
      channel) the most severe alarm any mail claimed within the window carried; a due
      row is held back while its group has such a mail, unless it is more severe;
    - order: alarms' messages before all-clears (negative rounds); then most severe
      first; within a severity, round-robin over dwellings (`turn` is
      a row's place in its dwelling's queue; on a tie the dwelling served longest ago,
      or never, goes first); then the oldest.
    """
    o = outbox.alias("o")
    urgency = _rank(o.c.severity).label("urgency")
    due_where = and_(
        o.c.status == OutboxStatus.PENDING.value,
        o.c.next_attempt_at <= now,
        o.c.channel != _CENTRE_CHANNEL,
    )
    if fold_since is None:
        due = select(o.c.id, o.c.dwelling, o.c.next_attempt_at, o.c.round, urgency).where(due_where)
    else:
        told = (
            select(
                outbox.c.dwelling,
                outbox.c.contact_id,
                outbox.c.channel,
                func.max(_rank(outbox.c.severity)).label("told_rank"),
            )
            .where(
                outbox.c.status.in_(_TOLD),
                outbox.c.claimed_at > fold_since,
                outbox.c.round >= 0,  # an all-clear told nothing to hold a new alarm for
            )
            .group_by(outbox.c.dwelling, outbox.c.contact_id, outbox.c.channel)
            .cte("told")
        )
        joined = o.outerjoin(
            told,
            and_(
                told.c.dwelling.is_not_distinct_from(o.c.dwelling),
                told.c.contact_id == o.c.contact_id,
                told.c.channel == o.c.channel,
            ),
        )
        due = (
            select(o.c.id, o.c.dwelling, o.c.next_attempt_at, o.c.round, urgency)
            .select_from(joined)
            .where(
                due_where,
                or_(
                    told.c.told_rank.is_(None),
                    _rank(o.c.severity) > told.c.told_rank,
                    o.c.round < 0,  # an all-clear waits for no fold window
                ),
            )
        )
    d = due.cte("due")
    turns = select(
        d.c.id,
        d.c.dwelling,
        d.c.next_attempt_at,
        d.c.round,
        d.c.urgency,
        func.row_number()
        .over(
            # all-clears take no alarm's turn
            partition_by=(d.c.dwelling, d.c.urgency, case((d.c.round < 0, 1), else_=0)),
            order_by=(d.c.next_attempt_at, d.c.id),
        )
        .label("turn"),
    ).cte("turns")
    s = outbox.alias("s")
    served = (
        select(func.max(s.c.claimed_at))
        .where(s.c.dwelling.is_not_distinct_from(turns.c.dwelling))
        .scalar_subquery()
    )
    return select(turns.c.id).order_by(
        case((turns.c.round < 0, 1), else_=0),  # every alarm's message before an all-clear
        turns.c.urgency.desc(),
        turns.c.turn,
        served.asc().nulls_first(),
        turns.c.next_attempt_at,
        turns.c.id,
    )


class AlarmStore:
    """Synchronous; the service calls it from worker threads. The engine is the caller's
    (hub.app.build_hub opens one for the operational store); the tables must exist
    (hub.sql.schema.prepare)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        return self._engine

    def _alarms_where(self, *where: ColumnElement[bool]) -> list[AlarmRecord]:
        with reading(self._engine) as conn:
            rows = conn.execute(select(*_ALARM_COLS).where(*where)).mappings()
            return [_row_to_alarm(r) for r in rows]

    def _outbox_rows(self, query: Select[Any]) -> list[OutboxRow]:
        with reading(self._engine) as conn:
            return [_row_to_outbox(r) for r in conn.execute(query).mappings()]

    # -- alarms ---------------------------------------------------------------------------

    def insert_alarm(
        self, rec: AlarmRecord, *, tech_key: str | None = None, by: str | None = None
    ) -> bool:
        """Store a new alarm; False (and nothing changed) if its id, or an open technical
        alarm with the same (dwelling, tech_key), is already there."""
        with writing(self._engine) as conn:
            # No conflict target: the primary key and the partial unique index both count.
            added = conn.execute(
                insert_ignore(conn, alarms).values(**_alarm_values(rec), tech_key=tech_key)
            ).rowcount
            if added == 0:
                return False
            conn.execute(
                alarm_log.insert().values(
                    alarm_id=rec.id,
                    at=rec.received_at,
                    what=rec.state.value,
                    by=by or rec.source,
                    note="",
                )
            )
            return True

    def get(self, alarm_id: str) -> AlarmRecord | None:
        found = self._alarms_where(alarms.c.id == alarm_id)
        return found[0] if found else None

    def get_many(self, alarm_ids: Sequence[str]) -> dict[str, AlarmRecord]:
        """The known alarms among `alarm_ids`, by id."""
        out: dict[str, AlarmRecord] = {}
        ids = list(dict.fromkeys(alarm_ids))
        for i in range(0, len(ids), _CHUNK):
            out.update((r.id, r) for r in self._alarms_where(alarms.c.id.in_(ids[i : i + _CHUNK])))
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

        The step reads the alarm locked (`FOR UPDATE`; on SQLite the writer's IMMEDIATE
        transaction) and writes it in the same transaction, so no other worker can change
        it in between: what makes a claim exclusive across hub workers (two operators
        claiming at once: the second step waits, sees the first's claim and raises
        `ClaimedError`, and nothing is written)."""
        with writing(self._engine) as conn:
            row = (
                conn.execute(select(*_ALARM_COLS).where(alarms.c.id == alarm_id).with_for_update())
                .mappings()
                .first()
            )
            if row is None:
                raise UnknownAlarmError(alarm_id)
            return self._apply(conn, row, step, at=at, by=by, note=note, contact=contact)

    def update_many(
        self,
        alarm_ids: Sequence[str],
        step: Callable[[AlarmRecord], Step],
        *,
        at: float,
        by: str | None,
        note: str = "",
        sent: Sequence[int] = (),
    ) -> list[Step]:
        """`update` for several alarms in one transaction (one fsync, not one per alarm);
        unknown ids are left out of the result. `sent`: outbox rows marked SENT at `at`
        in the same transaction (a crash cannot leave a delivered message beside an
        alarm that does not know it was notified)."""
        ids = list(dict.fromkeys(alarm_ids))
        with writing(self._engine) as conn:
            self._finish(conn, sent, OutboxStatus.SENT, at, "")
            rows: dict[str, RowMapping] = {}
            for i in range(0, len(ids), _CHUNK):
                # Locked in id order: two workers locking overlapping sets cannot deadlock.
                locked = conn.execute(
                    select(*_ALARM_COLS)
                    .where(alarms.c.id.in_(ids[i : i + _CHUNK]))
                    .order_by(alarms.c.id)
                    .with_for_update()
                ).mappings()
                rows.update((r["id"], r) for r in locked)
            return [
                self._apply(conn, rows[alarm_id], step, at=at, by=by, note=note)
                for alarm_id in ids
                if alarm_id in rows
            ]

    @staticmethod
    def _apply(
        conn: Connection,
        row: RowMapping,
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
            conn.execute(update(alarms).where(alarms.c.id == r.id).values(**_step_values(r)))
            if result.claimed:
                conn.execute(
                    alarm_log.insert().values(alarm_id=r.id, at=at, what="claimed", by=by, note="")
                )
            conn.execute(
                alarm_log.insert().values(
                    alarm_id=r.id,
                    at=at,
                    what=result.what,
                    by=by,
                    note=note if result.note is None else result.note,
                    contact=contact,
                )
            )
        return result

    def open_technical(self, dwelling: str, key: str) -> AlarmRecord | None:
        found = self._alarms_where(
            alarms.c.dwelling == dwelling,
            alarms.c.tech_key == key,
            alarms.c.state != AlarmState.RESOLVED.value,
        )
        return found[0] if found else None

    def open_count(self, dwelling: str) -> int:
        """Alarms the dwelling's edge raised that nobody has taken on yet (raised or
        notified; the hub's own technical ones left out): what the per-dwelling cap on
        open alarms counts. Acknowledged ones do not count: a family that acknowledges by
        mail and never closes would otherwise, weeks later, have a pendant press refused.
        An indexed COUNT."""
        with reading(self._engine) as conn:
            n = conn.execute(
                select(func.count())
                .select_from(alarms)
                .where(
                    alarms.c.dwelling == dwelling,
                    alarms.c.state.in_(_UNACKED),
                    alarms.c.source == "edge",
                )
            ).scalar_one()
        return int(n)

    def open_alarms(self) -> list[AlarmRecord]:
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(*_ALARM_COLS)
                .where(alarms.c.state != AlarmState.RESOLVED.value)
                .order_by(alarms.c.received_at.desc(), alarms.c.id)
            ).mappings()
            return [_row_to_alarm(r) for r in rows]

    def unacknowledged(self) -> list[AlarmRecord]:
        return self._alarms_where(alarms.c.state.in_(_UNACKED))

    def recent(self, limit: int) -> list[AlarmRecord]:
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(*_ALARM_COLS).order_by(alarms.c.received_at.desc(), alarms.c.id).limit(limit)
            ).mappings()
            return [_row_to_alarm(r) for r in rows]

    def dwelling_since(self, dwelling: str, since: float, limit: int) -> list[AlarmRecord]:
        """The dwelling's alarms received since `since`, newest first, and every one of
        its alarms still open, however old."""
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(*_ALARM_COLS)
                .where(
                    alarms.c.dwelling == dwelling,
                    or_(
                        alarms.c.received_at >= since,
                        alarms.c.state != AlarmState.RESOLVED.value,
                    ),
                )
                .order_by(alarms.c.received_at.desc(), alarms.c.id)
                .limit(limit)
            ).mappings()
            return [_row_to_alarm(r) for r in rows]

    def all_since(self, since: float) -> list[AlarmRecord]:
        return self._alarms_where(alarms.c.received_at >= since)

    def active_between(self, since: float, until: float) -> list[AlarmRecord]:
        """Alarms known and not over at some moment in [since, until): received before
        `until`, and received in the period or still open at its start (the monthly
        report's alarms received in the month and the technical ones open in it)."""
        return self._alarms_where(
            alarms.c.received_at < until,
            or_(
                alarms.c.resolved_at.is_(None),
                alarms.c.resolved_at >= since,
                alarms.c.received_at >= since,
            ),
        )

    def log(self, alarm_id: str) -> list[tuple[float, str, str | None, str]]:
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(alarm_log.c.at, alarm_log.c.what, alarm_log.c.by, alarm_log.c.note)
                .where(alarm_log.c.alarm_id == alarm_id)
                .order_by(alarm_log.c.seq)
            )
            return [(r.at, r.what, r.by, r.note) for r in rows]

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
        sent_already: bool = False,
        skipped: str | None = None,
    ) -> bool:
        """Queue one notification; False if this (alarm, contact, channel, round) exists.
        `failed`: record it as failed at once, with this reason (a step nobody can take).
        `sent_already`: record it as sent at once (the dwelling texted the contact itself,
        its GSM fallback): the step is taken and nothing goes out. `skipped`: record it as
        skipped at once, with this reason (an all-clear the contact does not need)."""
        status = OutboxStatus.PENDING if failed is None else OutboxStatus.FAILED
        if sent_already:
            status = OutboxStatus.SENT
        if skipped is not None:
            status, failed = OutboxStatus.SKIPPED, skipped
        with writing(self._engine) as conn:
            of = conn.execute(
                select(alarms.c.dwelling, alarms.c.severity).where(alarms.c.id == alarm_id)
            ).first()
            stmt = insert_ignore(conn, outbox, "alarm_id", "contact_id", "channel", "round")
            added = conn.execute(
                stmt.values(
                    alarm_id=alarm_id,
                    contact_id=contact_id,
                    channel=channel,
                    round=round_,
                    status=status.value,
                    created_at=now,
                    next_attempt_at=now,
                    dwelling=None if of is None else of.dwelling,
                    severity=None if of is None else of.severity,
                    error=failed or "",
                    finished_at=None if failed is None and not sent_already else now,
                )
            ).rowcount
            return bool(added > 0)

    def claim(
        self,
        worker: str,
        now: float,
        *,
        fold_window_s: float = 0.0,
        thread_gap_s: float = 0.0,
    ) -> OutboxRow | None:
        """Take the next due pending row (see `_claim_order` for the order) and return it.

        With `fold_window_s` > 0 (folding on): a row whose (dwelling, contact, channel) had
        a mail claimed within the window waits for the window's end, unless it is more
        severe than everything that window carried; and the claimed row takes along every
        other due pending row of its group, so one mail carries them all (`batch(id)`).
        The rows are locked `FOR UPDATE SKIP LOCKED` and updated, all or none, in one
        transaction with the `status='pending'` guard, so the claim is exclusive across
        hub workers: a row another worker is claiming is skipped for the next best.

        The mail thread continues the group's last one if that mail was claimed at most
        `thread_gap_s` ago; else the claimed row starts a new thread.
        """
        fold = fold_window_s > 0
        order = _claim_order(now, now - fold_window_s if fold else None)
        with writing(self._engine) as conn:
            head: RowMapping | None = None
            for candidate in conn.execute(order.limit(_CANDIDATES)).scalars().all():
                head = (
                    conn.execute(
                        select(outbox)
                        .where(
                            outbox.c.id == candidate,
                            outbox.c.status == OutboxStatus.PENDING.value,
                        )
                        .with_for_update(skip_locked=True)
                    )
                    .mappings()
                    .first()
                )
                if head is not None:
                    break
            if head is None:
                return None
            group = and_(
                outbox.c.dwelling.is_not_distinct_from(head["dwelling"]),
                outbox.c.contact_id == head["contact_id"],
                outbox.c.channel == head["channel"],
            )
            ids = [head["id"]]
            if fold and head["round"] >= 0:  # an all-clear goes alone, and carries no alarm
                ids += conn.execute(
                    select(outbox.c.id)
                    .where(
                        group,
                        outbox.c.status == OutboxStatus.PENDING.value,
                        outbox.c.next_attempt_at <= now,
                        outbox.c.id != head["id"],
                        outbox.c.round >= 0,
                    )
                    .order_by(outbox.c.id)
                    .with_for_update(skip_locked=True)
                ).scalars()
            last = conn.execute(
                select(outbox.c.thread, outbox.c.claimed_at)
                .where(group, outbox.c.status.in_(_TOLD), outbox.c.thread.is_not(None))
                .order_by(outbox.c.claimed_at.desc().nulls_last())
                .limit(1)
            ).first()
            if last is not None and last.claimed_at >= now - thread_gap_s:
                thread = str(last.thread)
            else:
                thread = f"{head['id']}.{int(now)}"
            rows = conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids), outbox.c.status == OutboxStatus.PENDING.value)
                .values(
                    status=OutboxStatus.SENDING.value,
                    claimed_by=worker,
                    claimed_at=now,
                    attempts=outbox.c.attempts + 1,
                    batch=head["id"],
                    thread=thread,
                )
                .returning(*outbox.c)
            ).mappings()
            claimed = [_row_to_outbox(r) for r in rows]  # all read: the cursor closes
            return next(r for r in claimed if r.id == head["id"])

    def batch(self, batch_id: int) -> list[OutboxRow]:
        """The rows one claim took together (the claimed row first)."""
        return self._outbox_rows(
            select(outbox)
            .where(outbox.c.batch == batch_id)
            .order_by(case((outbox.c.id == batch_id, 0), else_=1), outbox.c.id)
        )

    def batch_alarms(self, batch_id: int, contact_id: str) -> list[str]:
        """The alarms one mail to this contact carried (its acknowledgement link's reach)."""
        with reading(self._engine) as conn:
            return list(
                conn.execute(
                    select(outbox.c.alarm_id)
                    .distinct()
                    .where(
                        outbox.c.batch == batch_id,
                        outbox.c.contact_id == contact_id,
                        outbox.c.status.in_((OutboxStatus.SENT.value, OutboxStatus.UNKNOWN.value)),
                    )
                    .order_by(outbox.c.alarm_id)
                ).scalars()
            )

    def finish(self, row_id: int, status: OutboxStatus, now: float, error: str = "") -> None:
        self.finish_all([row_id], status, now, error)

    def finish_all(
        self, row_ids: Sequence[int], status: OutboxStatus, now: float, error: str = ""
    ) -> None:
        """`finish` for the rows of one mail, in one transaction."""
        with writing(self._engine) as conn:
            self._finish(conn, row_ids, status, now, error)

    @staticmethod
    def _finish(
        conn: Connection, row_ids: Sequence[int], status: OutboxStatus, now: float, error: str
    ) -> None:
        ids = list(row_ids)
        for i in range(0, len(ids), _CHUNK):
            conn.execute(
                update(outbox)
                .where(
                    outbox.c.id.in_(ids[i : i + _CHUNK]),
                    outbox.c.status == OutboxStatus.SENDING.value,
                )
                .values(status=status.value, finished_at=now, error=error[:500])
            )

    def retry_later(self, row_id: int, at: float, error: str) -> None:
        with writing(self._engine) as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id, outbox.c.status == OutboxStatus.SENDING.value)
                .values(
                    status=OutboxStatus.PENDING.value,
                    next_attempt_at=at,
                    error=error[:500],
                    claimed_by=None,
                )
            )

    def expire_leases(self, older_than: float, now: float) -> list[OutboxRow]:
        """Rows claimed before `older_than` and still 'sending': their sender died. Mark them
        'unknown' (never resend: the mail may have gone out) and return them; each row to
        one worker only (a row another worker is finishing right now is skipped)."""
        with writing(self._engine) as conn:
            ids = list(
                conn.execute(
                    select(outbox.c.id)
                    .where(
                        outbox.c.status == OutboxStatus.SENDING.value,
                        outbox.c.claimed_at < older_than,
                    )
                    .order_by(outbox.c.id)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if not ids:
                return []
            rows = conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids), outbox.c.status == OutboxStatus.SENDING.value)
                .values(
                    status=OutboxStatus.UNKNOWN.value,
                    finished_at=now,
                    error="sender stopped mid-send; not resent",
                )
                .returning(*outbox.c)
            ).mappings()
            return sorted((_row_to_outbox(r) for r in rows), key=lambda r: r.id)

    def outbox(self, alarm_id: str | None = None) -> list[OutboxRow]:
        query = select(outbox).order_by(outbox.c.id)
        if alarm_id is not None:
            query = query.where(outbox.c.alarm_id == alarm_id)
        return self._outbox_rows(query)

    def outbox_counts(self) -> dict[str, int]:
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(outbox.c.status, func.count()).group_by(outbox.c.status)
            ).all()
        return {status: int(n) for status, n in rows}

    # -- routing and the alarm centre ----------------------------------------------------

    def routing_open(self) -> list[AlarmRecord]:
        """Open alarms whose escalation may still have a step to take."""
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(*_ALARM_COLS)
                .where(alarms.c.state != AlarmState.RESOLVED.value, alarms.c.routed == 0)
                .order_by(alarms.c.received_at, alarms.c.id)
            ).mappings()
            return [_row_to_alarm(r) for r in rows]

    def mark_routed(self, alarm_id: str) -> None:
        with writing(self._engine) as conn:
            conn.execute(update(alarms).where(alarms.c.id == alarm_id).values(routed=1))

    def steps_done(self, alarm_id: str) -> set[int]:
        """The escalation steps (outbox rounds) already queued for the alarm."""
        with reading(self._engine) as conn:
            rounds = conn.execute(
                select(outbox.c.round)
                .distinct()
                .where(outbox.c.alarm_id == alarm_id, outbox.c.round >= 0)
            ).scalars()
            return {int(r) for r in rounds}

    def log_event(self, alarm_id: str, at: float, what: str, by: str | None, note: str) -> None:
        """Put something that happened to the alarm on its timeline (a send, a failure)."""
        with writing(self._engine) as conn:
            conn.execute(
                alarm_log.insert().values(
                    alarm_id=alarm_id, at=at, what=what, by=by, note=note[:500]
                )
            )

    def claim_channel(
        self, channel: str, worker: str, now: float, after_round: int
    ) -> OutboxRow | None:
        """Claim the next due pending row of one channel (the alarm centre's lane): most
        severe first, then the oldest. A row of round `after_round` (a restore) waits
        while its alarm's other rows on the channel are unfinished, so a restore never
        overtakes its event. Exclusive across workers as `claim` is."""
        o, n = outbox.alias("o"), outbox.alias("n")
        unfinished = exists().where(
            n.c.alarm_id == o.c.alarm_id,
            n.c.channel == channel,
            n.c.round != after_round,
            n.c.status.in_((OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)),
        )
        with writing(self._engine) as conn:
            row_id = conn.execute(
                select(o.c.id)
                .where(
                    o.c.channel == channel,
                    o.c.status == OutboxStatus.PENDING.value,
                    o.c.next_attempt_at <= now,
                    ~and_(o.c.round == after_round, unfinished),
                )
                .order_by(_rank(o.c.severity).desc(), o.c.next_attempt_at, o.c.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).scalar()
            if row_id is None:
                return None
            row = (
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row_id, outbox.c.status == OutboxStatus.PENDING.value)
                    .values(
                        status=OutboxStatus.SENDING.value,
                        claimed_by=worker,
                        claimed_at=now,
                        attempts=outbox.c.attempts + 1,
                        batch=outbox.c.id,
                    )
                    .returning(*outbox.c)
                )
                .mappings()
                .first()
            )
            return None if row is None else _row_to_outbox(row)

    def centre_restores_due(self, channel: str, restore_round: int) -> list[str]:
        """Alarms over (resolved) with an event on `channel` and no restore queued yet."""
        o, r = outbox.alias("o"), outbox.alias("r")
        queued = exists().where(
            r.c.alarm_id == o.c.alarm_id, r.c.channel == channel, r.c.round == restore_round
        )
        with reading(self._engine) as conn:
            return list(
                conn.execute(
                    select(o.c.alarm_id)
                    .distinct()
                    .join(alarms, alarms.c.id == o.c.alarm_id)
                    .where(
                        o.c.channel == channel,
                        o.c.round != restore_round,
                        o.c.status.in_(("pending", "sending", "sent", "unknown")),
                        alarms.c.state == AlarmState.RESOLVED.value,
                        ~queued,
                    )
                    .order_by(o.c.alarm_id)
                ).scalars()
            )

    def all_clears_due(self, since: float) -> list[tuple[str, str, str]]:
        """(alarm, contact, channel) owed an all-clear: the alarm was resolved at or after
        `since`, the contact was told of it (a message of an escalation step sent, possibly
        sent, or the dwelling's own SMS), and no all-clear is queued for them yet.
        `channel` is the one that reached them (sent before possibly sent, then the latest):
        the all-clear goes there first."""
        o, r = outbox.alias("o"), outbox.alias("r")
        queued = exists().where(
            r.c.alarm_id == o.c.alarm_id,
            r.c.contact_id == o.c.contact_id,
            r.c.round == ALL_CLEAR_ROUND,
        )
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(
                    o.c.alarm_id, o.c.contact_id, o.c.channel, o.c.status, o.c.finished_at, o.c.id
                )
                .join(alarms, alarms.c.id == o.c.alarm_id)
                .where(
                    o.c.channel != _CENTRE_CHANNEL,
                    o.c.round >= 0,
                    o.c.status.in_(("sent", "unknown")),
                    alarms.c.state == AlarmState.RESOLVED.value,
                    alarms.c.resolved_at >= since,
                    ~queued,
                )
                .order_by(o.c.alarm_id, o.c.contact_id)
            ).all()
        best: dict[tuple[str, str], tuple[tuple[bool, float, int], str]] = {}
        for a, c, channel, status, finished, row_id in rows:
            # Ties (a sweep finishes many rows at one moment): the later row wins.
            rank = (status == OutboxStatus.SENT.value, float(finished or 0.0), int(row_id))
            key = (str(a), str(c))
            if key not in best or rank > best[key][0]:
                best[key] = (rank, str(channel))
        return [(a, c, ch) for (a, c), (_, ch) in best.items()]

    def timeline(self, alarm_id: str) -> list[TimelineEntry]:
        """The alarm's timeline: raised at its source, then its log (the first entry,
        the hub storing it, reads "received")."""
        rec = self.get(alarm_id)
        if rec is None:
            return []
        entries = [TimelineEntry(rec.raised_at, "raised_at_source", rec.source, "")]
        with reading(self._engine) as conn:
            rows = conn.execute(
                select(
                    alarm_log.c.at,
                    alarm_log.c.what,
                    alarm_log.c.by,
                    alarm_log.c.note,
                    alarm_log.c.contact,
                )
                .where(alarm_log.c.alarm_id == alarm_id)
                .order_by(alarm_log.c.seq)
            ).all()
        for row in rows:
            first = len(entries) == 1 and row.what == AlarmState.RAISED.value
            what = "received" if first else row.what
            entries.append(TimelineEntry(row.at, what, row.by, row.note, row.contact))
        # Stable: log order breaks ties (a step and its log entry share one clock reading).
        return sorted(entries, key=lambda e: e.at)
