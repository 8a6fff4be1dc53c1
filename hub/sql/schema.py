"""Bringing a database to the current schema: Alembic migrations (hub/migrations).

Every table module is imported here, so that `metadata` is the whole schema whoever
calls. `prepare(engine)` is idempotent and safe when several hub workers start at once:
on PostgreSQL they queue on an advisory lock, on SQLite on the write lock (BEGIN
IMMEDIATE), and the migrations run in that one transaction.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

import alerts.tables  # noqa: F401  (tables register on import)
import hub.fhir.tables
import hub.ops_tables
import hub.registry_tables  # noqa: F401
from hub.sql.engine import Synchronous, is_sqlite, open_engine, reading, writing
from hub.sql.meta import metadata

__all__ = ["metadata", "open_sqlite_store", "open_store", "prepare"]

MIGRATIONS: Final = Path(__file__).parents[1] / "migrations"
# pg_advisory_xact_lock key: "mz" in ASCII.
MIGRATION_LOCK: Final = 0x6D7A


def _config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


@functools.cache
def head() -> str | None:
    """The newest migration's revision."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(conn: Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    return MigrationContext.configure(conn).get_current_revision()


def prepare(engine: Engine) -> None:
    """Migrate the database to the newest revision (a no-op when it is there)."""
    with reading(engine) as conn:
        if current(conn) == head():
            return
    with writing(engine) as conn:
        if not is_sqlite(conn):
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        command.upgrade(_config(conn), "head")


def open_store(url: str, *, synchronous: Synchronous = "NORMAL") -> Engine:
    """An engine on the operational store at `url`, brought to the current schema."""
    engine = open_engine(url, synchronous=synchronous)
    prepare(engine)
    return engine


def open_sqlite_store(path: Path) -> Engine:
    """The embedded store in the file `path` (tests, tools given a data directory)."""
    return open_store(f"sqlite:///{path.resolve()}")
