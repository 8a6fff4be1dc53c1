"""Bringing a database to the current schema.

Every table module is imported here, so that `metadata` is the whole schema whoever
calls. `prepare(engine)` is idempotent and safe when several hub workers start at once.
"""

from __future__ import annotations

from sqlalchemy import Engine

import alerts.tables  # noqa: F401  (tables register on import)
import hub.ops_tables  # noqa: F401
from hub.sql.meta import metadata


def prepare(engine: Engine) -> None:
    """Create what is missing (the migrations take this over once the schema is
    versioned)."""
    metadata.create_all(engine)
