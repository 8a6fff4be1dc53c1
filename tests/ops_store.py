"""The operational store for tests that do not run on both backends: the SQLite file a
hub with `data.dir = data_dir` uses, at the current schema."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from hub.config import OPS_DB
from hub.sql.engine import open_engine, sqlite_engine
from hub.sql.schema import prepare


def ops_engine(data_dir: Path) -> Engine:
    """The engine on `data_dir`/hub.sqlite, its tables created (dispose it when done)."""
    engine = sqlite_engine(data_dir / OPS_DB)
    prepare(engine)
    return engine


def another_engine(engine: Engine) -> Engine:
    """A second engine on the same database: another hub worker (its own connections)."""
    return open_engine(engine.url.render_as_string(hide_password=False))
