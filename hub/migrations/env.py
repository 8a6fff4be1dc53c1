"""Alembic's environment: the connection comes from hub.sql.schema.prepare (or, for the
`alembic` command line, from MZ_ALEMBIC_URL), the target schema from hub.sql.schema."""

from __future__ import annotations

import os

from alembic import context

from hub.sql.schema import metadata

config = context.config


def run() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        _migrate(conn)
        return
    from hub.sql.engine import open_engine

    url = os.environ.get("MZ_ALEMBIC_URL")
    if not url:
        raise SystemExit("set MZ_ALEMBIC_URL to the database to migrate")
    engine = open_engine(url)
    try:
        with engine.begin() as own:
            _migrate(own)
    finally:
        engine.dispose()


def _migrate(conn: object) -> None:
    context.configure(
        connection=conn,  # type: ignore[arg-type]
        target_metadata=metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
