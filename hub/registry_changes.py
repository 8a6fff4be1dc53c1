"""The registry's change log: which dwellings and operators another process changed.

Triggers on the registry's tables (created by migration 0005) record each change in the
transaction that makes it, whoever makes it (this hub, another hub worker, `mz admin`).
On SQLite they append a row to `registry_changes`, which hub.watch reads on a connection
of its own by `seq`; on PostgreSQL they NOTIFY `<table>:<key>` on the channel hub.pg_feed
listens on (the alarm log's too), delivered at commit. Session touches (a last-seen time
written once a minute per operator) are left out: only a session's end is logged, so a
logout made elsewhere ends the console's live stream at once.

A table whose edits the console must see is added to `WATCHED`, with the column that
names its dwelling (or operator), and gets its triggers in a new migration
(`sqlite_triggers` / `pg_triggers` of just that table).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Final

Watched = tuple[str, str, tuple[str, ...]]
# (table, column naming the dwelling or operator it concerns, statements logged).
WATCHED: Final[tuple[Watched, ...]] = (
    ("dwellings", "id", ("INSERT", "UPDATE", "DELETE")),
    ("contacts", "dwelling", ("INSERT", "UPDATE", "DELETE")),
    ("routing", "dwelling", ("INSERT", "UPDATE", "DELETE")),
    ("routing_steps", "dwelling", ("INSERT", "UPDATE", "DELETE")),
    ("alarm_centre_accounts", "dwelling", ("INSERT", "UPDATE", "DELETE")),
    ("sensor_zones", "dwelling", ("INSERT", "UPDATE", "DELETE")),
    ("residents", "dwelling", ("INSERT", "UPDATE", "DELETE")),
    ("operators", "username", ("INSERT", "UPDATE", "DELETE")),
    ("sessions", "username", ("DELETE",)),
)
# Tables whose key is an operator's username; every other one names a dwelling.
OPERATOR_TABLES: Final = frozenset({"operators", "sessions"})
# The log keeps at least this many rows; a reader further behind is told "everything".
KEEP: Final = 1000
PRUNE_EVERY: Final = 100
# PostgreSQL: the NOTIFY channel (hub.pg_feed.CHANNEL) and the trigger function.
CHANNEL: Final = "mz_changes"
PG_FUNCTION: Final = "mz_notify_registry"


def sqlite_prune() -> str:
    # Pruned in steps, never past the newest row: seq keeps rising (AUTOINCREMENT).
    return (
        "CREATE TRIGGER registry_changes_prune AFTER INSERT ON registry_changes"
        f" WHEN NEW.seq % {PRUNE_EVERY} = 0 BEGIN"
        f" DELETE FROM registry_changes WHERE seq <= NEW.seq - {KEEP}; END"
    )


def sqlite_triggers(watched: Sequence[Watched]) -> list[str]:
    """SQLite: one trigger per table and statement, appending (table, key) to the log."""
    out = []
    for table, column, statements in watched:
        for statement in statements:
            row = "OLD" if statement == "DELETE" else "NEW"
            out.append(
                f"CREATE TRIGGER registry_changes_{table}_{statement.lower()}"
                f" AFTER {statement} ON {table} BEGIN"
                f" INSERT INTO registry_changes (tbl, key) VALUES ('{table}', {row}.{column});"
                " END"
            )
    return out


def pg_function() -> str:
    """PostgreSQL: NOTIFY `<table>:<key>`, the key being the column the trigger names."""
    return f"""
CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger AS $$
DECLARE
    changed jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed := to_jsonb(OLD);
    ELSE
        changed := to_jsonb(NEW);
    END IF;
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME || ':' ||
        COALESCE(changed ->> TG_ARGV[0], ''));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""


def pg_triggers(watched: Sequence[Watched]) -> list[str]:
    return [
        f"CREATE TRIGGER mz_{table}_notify AFTER {' OR '.join(statements)} ON {table}"
        f" FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}('{column}')"
        for table, column, statements in watched
    ]


def head(conn: sqlite3.Connection) -> int:
    """The newest seq (0 for none): where a watcher starts reading."""
    row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM registry_changes").fetchone()
    return int(row[0])


def since(conn: sqlite3.Connection, seq: int, limit: int) -> list[tuple[int, str, str | None]]:
    """(seq, table, key) of the first `limit` changes after `seq`."""
    rows = conn.execute(
        "SELECT seq, tbl, key FROM registry_changes WHERE seq > ? ORDER BY seq LIMIT ?",
        (seq, limit),
    )
    return [(int(r[0]), str(r[1]), None if r[2] is None else str(r[2])) for r in rows]
