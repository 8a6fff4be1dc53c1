"""The change feed on PostgreSQL: LISTEN on the channel the writers' transactions NOTIFY
(migration 0003 for alarm_log; the registry's triggers likewise), for hub.watch.

A notification arrives only once its transaction committed, so what it names is there to
be read. Payloads are `<table>:<key>[:<dwelling>]`: `alarm_log:<alarm id>:<dwelling>`,
`<registry table>:<dwelling or operator>`. The connection is its own (autocommit, outside
the engine's pool); after it fails the next read connects again and reports `everything`,
since notifications sent meanwhile were lost.
"""

from __future__ import annotations

import contextlib
from typing import Any, Final

from hub import registry_changes
from hub.watch import READ_LIMIT, StoreChange

CHANNEL: Final = "mz_changes"


def parse(payload: str) -> tuple[str | None, str | None, str | None]:
    """(alarm, dwelling, operator) named by one notification."""
    table, _, rest = payload.partition(":")
    if table == "alarm_log":
        alarm, _, dwelling = rest.partition(":")
        return alarm or None, dwelling or None, None
    if table in registry_changes.OPERATOR_TABLES:
        return None, None, rest or None
    return None, rest or None, None


class PgFeed:
    def __init__(self, name: str, url: str, *, limit: int = READ_LIMIT) -> None:
        # psycopg takes libpq URLs: postgresql://..., without SQLAlchemy's "+psycopg".
        self._name = name
        self._url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self._limit = limit
        self._conn: Any = None
        self._started = False  # a first connection made: later ones may have missed some

    @property
    def name(self) -> str:
        return self._name

    def read(self) -> StoreChange | None:
        try:
            return self._read()
        except BaseException:
            self.close()
            raise

    def _read(self) -> StoreChange | None:
        fresh = self._conn is None
        if fresh:
            import psycopg

            self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
            self._conn.execute(f"LISTEN {CHANNEL}")
        alarms: set[str] = set()
        dwellings: set[str] = set()
        operators: set[str] = set()
        n = 0
        for note in self._conn.notifies(timeout=0, stop_after=self._limit):
            n += 1
            alarm, dwelling, operator = parse(note.payload)
            for bucket, value in ((alarms, alarm), (dwellings, dwelling), (operators, operator)):
                if value is not None:
                    bucket.add(value)
        everything = fresh and self._started
        self._started = True
        if not n and not everything:
            return None
        return StoreChange(
            self._name,
            alarms=frozenset(alarms),
            dwellings=frozenset(dwellings),
            operators=frozenset(operators),
            everything=everything,
        )

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
