"""The operational store for tests that do not run on both backends: a SQLite file (by
default the one a hub with `data.dir = data_dir` uses) at the current schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, inspect

from alerts.store import AlarmStore
from hub.config import OPS_DB
from hub.legacy_import import import_legacy
from hub.registry import Registry, SqliteRegistry
from hub.sql.engine import open_engine, sqlite_engine
from hub.sql.schema import open_sqlite_store


def ops_file(path: Path) -> Engine:
    """An engine on the SQLite file `path`, its tables created (dispose it when done)."""
    return open_sqlite_store(path)


def ops_engine(data_dir: Path) -> Engine:
    """The engine on `data_dir`/hub.sqlite, its tables created (dispose it when done)."""
    return ops_file(data_dir / OPS_DB)


def another_engine(engine: Engine) -> Engine:
    """A second engine on the same database: another hub worker (its own connections)."""
    return open_engine(engine.url.render_as_string(hide_password=False))


@contextmanager
def existing_store(path: Path) -> Iterator[AlarmStore | None]:
    """The alarm store in the SQLite file `path` as another process left it: None until
    that process has created its tables (nothing is created here)."""
    if not path.exists():
        yield None
        return
    engine = sqlite_engine(path)
    try:
        yield AlarmStore(engine) if inspect(engine).has_table("outbox") else None
    finally:
        engine.dispose()


@contextmanager
def hub_store(data_dir: Path) -> Iterator[AlarmStore]:
    """The alarm store of a hub (process) running on `data_dir`, which created it."""
    engine = sqlite_engine(data_dir / OPS_DB)
    try:
        yield AlarmStore(engine)
    finally:
        engine.dispose()


def imported_registry(data_dir: Path) -> Registry:
    """The registry of a hub started on `data_dir`, which holds an old `registry.sqlite`
    (hub.legacy_import carries it into `data_dir`/hub.sqlite first)."""
    engine = ops_engine(data_dir)
    try:
        import_legacy(engine, data_dir)
    finally:
        engine.dispose()
    return SqliteRegistry(data_dir / OPS_DB)
