"""Durable de-duplication of MQTT messages by their wire-contract id.

QoS 1 means "at least once": the broker redelivers whatever the hub had not
acknowledged when it died, and an edge may replay its spool. The hub records each id
after processing it, so a redelivered message is recognised also after a restart and by
every hub worker: the ids live in the operational store (`seen`), shared by the workers.
`record` takes the caller's connection when the write it guards is in the same store, so
that the id and the write commit together (INSERT ... ON CONFLICT DO NOTHING).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.exc import SQLAlchemyError

from hub.errors import StorageError
from hub.ops_tables import seen as seen_table
from hub.sql.engine import insert_ignore, reading, writing

DAY_S = 86400.0
# Ids asked about in one query at most (a bound on the statement's size).
CHUNK = 500
# Positional placeholders of the drivers we ship (sqlite3: qmark; psycopg: format).
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


class Deduplicator:
    def __init__(self, engine: Engine, *, keep_days: float = 7.0) -> None:
        self._engine = engine
        self._keep_s = keep_days * DAY_S

    def seen(self, message_id: str) -> bool:
        return bool(self.seen_among([message_id]))

    def seen_among(self, message_ids: Collection[str]) -> set[str]:
        """The ids of `message_ids` already recorded."""
        ids = list(dict.fromkeys(message_ids))
        out: set[str] = set()
        try:
            with reading(self._engine) as conn:
                for i in range(0, len(ids), CHUNK):
                    part = ids[i : i + CHUNK]
                    q = select(seen_table.c.id).where(seen_table.c.id.in_(part))
                    out.update(conn.execute(q).scalars())
        except SQLAlchemyError as exc:
            raise StorageError(f"dedup lookup: {exc}") from exc
        return out

    def record(self, message_id: str, now: float, conn: Connection | None = None) -> None:
        self.record_many([message_id], now, conn)

    def record_many(
        self, message_ids: Iterable[str], now: float, conn: Connection | None = None
    ) -> None:
        """Record ids as processed (the first time seen is kept): in `conn`'s transaction
        when given, else committed before returning."""
        rows = [{"id": i, "seen_at": now} for i in dict.fromkeys(message_ids)]
        if not rows:
            return
        if conn is None:
            self.record_new(message_ids, now)
            return
        try:
            conn.execute(insert_ignore(conn, seen_table, "id"), rows)
        except SQLAlchemyError as exc:
            raise StorageError(f"dedup record: {exc}") from exc

    def record_new(self, message_ids: Iterable[str], now: float) -> set[str]:
        """Record ids as processed, committed before returning; the ones that were new
        (the rest were recorded before: earlier, by another worker, or twice in the list).
        One statement (INSERT ... ON CONFLICT DO NOTHING RETURNING), no lookup first."""
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return set()
        # The driver's own SQL: SQLAlchemy's many-rows INSERT ... RETURNING cost more per
        # id than the database (this runs once per readings batch, hub.ingest).
        mark = _MARKS.get(self._engine.dialect.paramstyle)
        if mark is None:
            raise StorageError(f"dedup: driver paramstyle {self._engine.dialect.paramstyle!r}")
        new: set[str] = set()
        try:
            with writing(self._engine) as conn:
                for i in range(0, len(ids), CHUNK):
                    part = ids[i : i + CHUNK]
                    values = ", ".join([f"({mark}, {mark})"] * len(part))
                    sql = (
                        f"INSERT INTO {seen_table.name} (id, seen_at) VALUES {values} "
                        "ON CONFLICT (id) DO NOTHING RETURNING id"
                    )
                    params = tuple(v for message_id in part for v in (message_id, now))
                    new.update(row[0] for row in conn.exec_driver_sql(sql, params))
        except SQLAlchemyError as exc:
            raise StorageError(f"dedup record: {exc}") from exc
        return new

    def prune(self, now: float) -> int:
        """Forget ids older than keep_days; returns how many were removed.

        Safe because the broker does not hold a message for longer than that: an edge
        spool older than keep_days is replayed as new data, and the stores are
        idempotent per point anyway.
        """
        try:
            with writing(self._engine) as conn:
                done = conn.execute(
                    delete(seen_table).where(seen_table.c.seen_at < now - self._keep_s)
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"dedup prune: {exc}") from exc
        return int(done.rowcount)

    def __len__(self) -> int:
        with reading(self._engine) as conn:
            return int(conn.execute(select(func.count()).select_from(seen_table)).scalar_one())

    def close(self) -> None:
        """The engine is the caller's: nothing of our own to close."""
