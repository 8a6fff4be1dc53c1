"""Detector events in the operational store (an id-keyed record, not a time series).

Idempotent per event id: a redelivered message writes nothing new (the first write wins,
INSERT ... ON CONFLICT DO NOTHING), so the id is its own de-duplication, in the same
statement as the write. Statements are short and run in the caller's thread.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, Engine, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from hub.errors import StorageError
from hub.ops_tables import events as events_table
from hub.sql.engine import insert_ignore, reading, writing
from hub.storage.base import StoredEvent


class SqlEventStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def write_event(self, event: StoredEvent) -> None:
        await self.write_events([event])

    async def write_events(self, events: Sequence[StoredEvent]) -> int:
        """Store `events` in one transaction; returns how many were new."""
        if not events:
            return 0
        rows = [
            {
                "id": e.id,
                "dwelling": e.dwelling,
                "kind": e.kind,
                "sensor": e.sensor,
                "ts": e.ts,
                "received_at": e.received_at,
                "detail": json.dumps(dict(e.detail)),
            }
            for e in events
        ]
        try:
            with writing(self._engine) as conn:
                done = conn.execute(insert_ignore(conn, events_table, "id"), rows)
        except SQLAlchemyError as exc:
            raise StorageError(f"writing {len(rows)} events: {exc}") from exc
        return max(int(done.rowcount), 0)

    async def events(
        self,
        dwelling: str,
        start: float,
        end: float,
        limit: int = 1000,
        *,
        kinds: Collection[str] = (),
        prefixes: Collection[str] = (),
    ) -> list[StoredEvent]:
        t = events_table
        q = select(t).where(t.c.dwelling == dwelling, t.c.ts >= start, t.c.ts < end)
        wanted: list[ColumnElement[bool]] = [t.c.kind.in_(list(kinds))] if kinds else []
        # Not LIKE: '_' in a kind is a wildcard there.
        wanted += [func.substr(t.c.kind, 1, len(p)) == p for p in prefixes]
        if wanted:
            q = q.where(or_(*wanted))
        q = q.order_by(t.c.ts.desc(), t.c.id).limit(limit)
        try:
            with reading(self._engine) as conn:
                rows = conn.execute(q).mappings().all()
        except SQLAlchemyError as exc:
            raise StorageError(f"reading events of {dwelling}: {exc}") from exc
        return [
            StoredEvent(
                id=r["id"],
                dwelling=r["dwelling"],
                kind=r["kind"],
                ts=r["ts"],
                received_at=r["received_at"],
                sensor=r["sensor"],
                detail=json.loads(r["detail"]),
            )
            for r in rows
        ]

    async def close(self) -> None:
        """The engine is the caller's: nothing of our own to close."""
