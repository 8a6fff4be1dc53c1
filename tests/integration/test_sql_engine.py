"""hub.sql.engine on both backends: URLs, transactions, first-write-wins inserts."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from hub.errors import ConfigError
from hub.ops_tables import seen
from hub.sql.engine import insert_ignore, normalise_url, reading, writing


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a database URL"),
        ("mysql://u@h/db", "SQLite or PostgreSQL only"),
        ("sqlite://", "in-memory"),
        ("sqlite:///relative/hub.sqlite", "must be absolute"),
        ("postgresql+asyncpg://u@h/db", "psycopg"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        normalise_url(url)


def test_postgresql_urls_get_the_psycopg_driver() -> None:
    assert normalise_url("postgresql://mz:pw@db:5432/mz") == "postgresql+psycopg://mz:pw@db:5432/mz"


def test_a_failed_write_leaves_nothing(sql_engine: Engine) -> None:
    with pytest.raises(RuntimeError), writing(sql_engine) as conn:
        conn.execute(seen.insert(), {"id": "m-1", "seen_at": 1.0})
        raise RuntimeError("crash mid-transaction")
    with reading(sql_engine) as conn:
        assert conn.execute(select(func.count()).select_from(seen)).scalar_one() == 0


def test_insert_ignore_keeps_the_first_write(sql_engine: Engine) -> None:
    with writing(sql_engine) as conn:
        stmt = insert_ignore(conn, seen, "id")
        first = conn.execute(stmt, {"id": "m-1", "seen_at": 1.0})
        again = conn.execute(stmt, {"id": "m-1", "seen_at": 2.0})
    assert (first.rowcount, again.rowcount) == (1, 0)
    with reading(sql_engine) as conn:
        assert conn.execute(select(seen.c.seen_at)).scalars().all() == [1.0]
