"""Messages whose processing keeps failing while the stores are healthy: a bug or a
poison message. Each failure is recorded (`dead_letters`, in the operational store, so
the count holds across restarts and workers); after MAX_ATTEMPTS the message is parked
there, acknowledged and counted, and the session goes on with everybody else's messages.
An operator reads them with `mz admin dead-letters` and `/api/v1/stats` (`parked`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from hub.errors import StorageError
from hub.ops_tables import dead_letters as table
from hub.sql.engine import insert, reading, writing

MAX_ATTEMPTS: Final = 5
ERROR_CHARS: Final = 2000


def letter_key(message_id: str | None, topic: str, payload: bytes) -> str:
    """The message id, or (undecodable: no id) the topic and a digest of the payload."""
    if message_id:
        return message_id
    digest = hashlib.sha256(topic.encode() + b"\0" + payload).hexdigest()[:32]
    return f"{topic[:80]}#{digest}"


@dataclass(frozen=True, slots=True)
class Letter:
    key: str
    topic: str
    payload: bytes
    attempts: int
    first_failed_at: float
    last_failed_at: float
    parked_at: float | None
    error: str


class DeadLetters:
    def __init__(self, engine: Engine, *, max_attempts: int = MAX_ATTEMPTS) -> None:
        self._engine = engine
        self.max_attempts = max_attempts

    def failed(self, key: str, topic: str, payload: bytes, error: str, now: float) -> int:
        """Record one failed attempt; returns how many there have been."""
        error = error[:ERROR_CHARS]
        try:
            with writing(self._engine) as conn:
                stmt = insert(conn, table).values(
                    key=key,
                    topic=topic[:256],
                    payload=payload,
                    attempts=1,
                    first_failed_at=now,
                    last_failed_at=now,
                    error=error,
                )
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["key"],
                        set_={
                            "attempts": table.c.attempts + 1,
                            "last_failed_at": now,
                            "error": error,
                        },
                    )
                )
                return int(
                    conn.execute(select(table.c.attempts).where(table.c.key == key)).scalar_one()
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"recording a failed message: {exc}") from exc

    def park(self, key: str, now: float) -> None:
        try:
            with writing(self._engine) as conn:
                conn.execute(update(table).where(table.c.key == key).values(parked_at=now))
        except SQLAlchemyError as exc:
            raise StorageError(f"parking a message: {exc}") from exc

    def forget(self, key: str) -> None:
        """The message went through after all (a failure that passed)."""
        try:
            with writing(self._engine) as conn:
                conn.execute(delete(table).where(table.c.key == key, table.c.parked_at.is_(None)))
        except SQLAlchemyError as exc:
            raise StorageError(f"forgetting a failed message: {exc}") from exc

    def parked_count(self) -> int:
        with reading(self._engine) as conn:
            q = select(func.count()).select_from(table).where(table.c.parked_at.is_not(None))
            return int(conn.execute(q).scalar_one())

    def parked(self, limit: int = 100) -> list[Letter]:
        """The newest parked messages first."""
        q = (
            select(table)
            .where(table.c.parked_at.is_not(None))
            .order_by(table.c.parked_at.desc())
            .limit(limit)
        )
        with reading(self._engine) as conn:
            return [Letter(**dict(r)) for r in conn.execute(q).mappings()]

    def healthy(self) -> bool:
        """Whether the operational store answers at all (a failure then is the message's,
        not the store's)."""
        try:
            with reading(self._engine) as conn:
                conn.execute(select(1))
        except SQLAlchemyError:
            return False
        return True
