"""Bringing a database to the current schema.

Every table module is imported here, so that `metadata` is the whole schema whoever
calls. `prepare(engine)` is idempotent and safe when several hub workers start at once.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

import hub.ops_tables  # noqa: F401  (tables register on import)
from hub.sql.engine import Synchronous, open_engine
from hub.sql.meta import metadata


def prepare(engine: Engine) -> None:
    """Create what is missing (the migrations take this over once the schema is
    versioned)."""
    metadata.create_all(engine)


def open_store(url: str, *, synchronous: Synchronous = "NORMAL") -> Engine:
    """An engine on the operational store at `url`, brought to the current schema."""
    engine = open_engine(url, synchronous=synchronous)
    prepare(engine)
    return engine


def open_sqlite_store(path: Path) -> Engine:
    """The embedded store in the file `path` (tests, tools given a data directory)."""
    return open_store(f"sqlite:///{path.resolve()}")
