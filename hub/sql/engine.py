"""Opening the operational database and running transactions, the same way on SQLite and
PostgreSQL.

URLs: `sqlite:///ABSOLUTE/PATH` (the embedded default, a file under data.dir) or
`postgresql://user:password@host:port/db` (driven by psycopg 3). SQLite runs in WAL mode
with a busy timeout, so the console reads while ingest writes and several processes share
one file; with synchronous=NORMAL a committed transaction survives the process being
killed, FULL also survives power loss.

Writers use `writing()`: on SQLite it opens with BEGIN IMMEDIATE, so two processes that both
mean to write queue on the busy timeout instead of one failing at its first write
(a deferred transaction that upgrades from read to write cannot wait, it errors).
Readers use `reading()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.sql.dml import Insert

from hub.errors import ConfigError

Synchronous = Literal["NORMAL", "FULL"]
BUSY_TIMEOUT_S = 10.0
_IMMEDIATE = "mz_immediate"


def normalise_url(raw: str) -> str:
    """`raw` with our drivers filled in (postgresql -> postgresql+psycopg); ConfigError
    for anything else than SQLite or PostgreSQL, or a relative SQLite path."""
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise ConfigError(f"storage.sql: not a database URL: {raw!r}") from exc
    backend = url.get_backend_name()
    if backend == "postgresql":
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        elif url.drivername != "postgresql+psycopg":
            raise ConfigError(f"storage.sql: use postgresql:// (psycopg 3), not {url.drivername}")
    elif backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ConfigError("storage.sql: an in-memory SQLite database would lose everything")
        if not Path(url.database).is_absolute():
            raise ConfigError(f"storage.sql: the SQLite path must be absolute: {url.database}")
    else:
        raise ConfigError(f"storage.sql: SQLite or PostgreSQL only, not {backend}")
    return url.render_as_string(hide_password=False)


def open_engine(raw_url: str, *, synchronous: Synchronous = "NORMAL") -> Engine:
    url = make_url(normalise_url(raw_url))
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
        )
        _sqlite_events(engine, synchronous)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def sqlite_engine(path: Path, *, synchronous: Synchronous = "NORMAL") -> Engine:
    """The embedded default's engine for a file (tests, `mz admin --data-dir`)."""
    return open_engine(f"sqlite:///{path.resolve()}", synchronous=synchronous)


def _sqlite_events(engine: Engine, synchronous: Synchronous) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # The driver's own transaction handling would BEGIN lazily and never IMMEDIATE;
        # take it over (SQLAlchemy's documented pysqlite recipe).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_sqlite(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "sqlite"


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction: committed on leaving, rolled back on an exception."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            yield conn


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """One read transaction (a consistent snapshot on both backends)."""
    with engine.connect() as conn, conn.begin():
        yield conn


def insert(bind: Engine | Connection, table: Table) -> Any:
    """An INSERT that supports `.on_conflict_do_nothing()` / `.on_conflict_do_update()`
    on the bind's dialect (both SQLite and PostgreSQL spell it ON CONFLICT)."""
    if is_sqlite(bind):
        return sqlite.insert(table)
    return postgresql.insert(table)


def insert_ignore(bind: Engine | Connection, table: Table, *keys: str) -> Insert:
    """INSERT ... ON CONFLICT (keys) DO NOTHING: the first write of a key wins; the result's
    rowcount says how many rows were new (SQLAlchemy keeps an INSERT's rowcount only when
    asked)."""
    stmt: Insert = insert(bind, table).on_conflict_do_nothing(index_elements=list(keys) or None)
    return stmt.execution_options(preserve_rowcount=True)


def sqlite_path(bind: Engine | Connection) -> Path | None:
    """The SQLite file behind `bind` (None on PostgreSQL): for what reads the file on a
    connection of its own (hub.watch)."""
    if not is_sqlite(bind) or not bind.engine.url.database:
        return None
    return Path(bind.engine.url.database)
