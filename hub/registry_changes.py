"""The registry's change log: which dwellings and operators another process changed.

Triggers on the registry's tables append a row to `registry_changes` in the transaction
that makes the change, whoever makes it (this hub, another hub process, `mz admin`, an
older version of the code: the triggers live in the file). hub.watch reads the log on
its own connection and tells the console what to re-read. Session touches (a last-seen
time written once a minute per operator) are left out: only a session's end is logged,
so a logout made elsewhere ends the console's live stream at once.

A table whose edits the console must see (e.g. the resident card) is added to
`WATCHED`, with the column that names its dwelling (or operator).
"""

from __future__ import annotations

import sqlite3
from typing import Final

# (table, column naming the dwelling or operator it concerns, statements logged).
WATCHED: Final = (
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


def _statements() -> tuple[str, ...]:
    out = [
        "CREATE TABLE IF NOT EXISTS registry_changes ("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, key TEXT)",
        # Pruned in steps, never past the newest row: seq keeps rising (AUTOINCREMENT).
        "CREATE TRIGGER IF NOT EXISTS registry_changes_prune AFTER INSERT ON registry_changes"
        f" WHEN NEW.seq % {PRUNE_EVERY} = 0 BEGIN"
        f" DELETE FROM registry_changes WHERE seq <= NEW.seq - {KEEP}; END",
    ]
    for table, column, statements in WATCHED:
        for statement in statements:
            row = "OLD" if statement == "DELETE" else "NEW"
            out.append(
                f"CREATE TRIGGER IF NOT EXISTS registry_changes_{table}_{statement.lower()}"
                f" AFTER {statement} ON {table} BEGIN"
                f" INSERT INTO registry_changes (tbl, key) VALUES ('{table}', {row}.{column});"
                " END"
            )
    return tuple(out)


STATEMENTS: Final = _statements()


def install(conn: sqlite3.Connection) -> None:
    """Create the log and its triggers where the file lacks them. Run it inside the
    caller's transaction, so two processes opening one file install them once."""
    for statement in STATEMENTS:
        conn.execute(statement)


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
