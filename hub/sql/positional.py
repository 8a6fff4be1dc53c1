"""SQL text with `?` placeholders, run through SQLAlchemy on either backend.

The registry's queries (hub.registry, hub.family_access, hub.session_store) are plain SQL
in the subset SQLite and PostgreSQL share; written with `?` as they were for sqlite3.
`run(conn, sql, args)` turns each `?` into a bound parameter (`:p0`, `:p1`, ...), which
SQLAlchemy renders in the driver's own style (qmark for sqlite3, %s for psycopg). A `?`
or `:` inside a string literal is not supported (none of these queries has one).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, CursorResult, TextClause, text


@functools.lru_cache(maxsize=1024)
def _clause(sql: str) -> TextClause:
    parts = sql.split("?")
    out = [parts[0]]
    for i, part in enumerate(parts[1:]):
        out.append(f":p{i}{part}")
    return text("".join(out))


def _params(args: Sequence[object]) -> dict[str, object]:
    return {f"p{i}": arg for i, arg in enumerate(args)}


def run(conn: Connection, sql: str, args: Sequence[object] = ()) -> CursorResult[Any]:
    """Execute `sql` with `args` for its `?`s, in order."""
    return conn.execute(_clause(sql), _params(args))


def fetch(conn: Connection, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """The rows `sql` selects, as plain tuples."""
    return [tuple(row) for row in run(conn, sql, args)]


def run_many(conn: Connection, sql: str, rows: Sequence[Sequence[object]]) -> None:
    """Execute `sql` once per row of `rows` (nothing for none)."""
    if rows:
        conn.execute(_clause(sql), [_params(r) for r in rows])


def counting(conn: Connection) -> Callable[[str, Sequence[object]], int]:
    """`run` on `conn` that returns how many rows the statement changed."""
    return lambda sql, args: run(conn, sql, args).rowcount
