"""hub.sql.engine on both backends: URLs, transactions, first-write-wins inserts."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, select

from hub.errors import ConfigError
from hub.ops_tables import seen
from hub.sql.engine import insert_ignore, normalise_url, open_engine, reading, writing
from hub.sql.schema import current, head, metadata, prepare


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


def test_the_migrations_build_exactly_the_schema_the_code_declares(sql_engine: Engine) -> None:
    """A table or column added to the code without a migration (or the other way round)
    shows up here, on both backends."""
    with reading(sql_engine) as conn:
        assert current(conn) == head()
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_workers_starting_at_once_migrate_an_empty_store_once(sql_url: str) -> None:
    engines = [open_engine(sql_url) for _ in range(3)]
    failed: list[BaseException] = []

    def start(engine: Engine) -> None:
        try:
            prepare(engine)
        except BaseException as exc:
            failed.append(exc)

    try:
        threads = [threading.Thread(target=start, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failed == []
        with reading(engines[0]) as conn:
            assert current(conn) == head()
        prepare(engines[0])  # and once more: nothing to do
    finally:
        for e in engines:
            e.dispose()
