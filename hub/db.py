"""Opening the hub's SQLite files the same way everywhere."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

Synchronous = Literal["NORMAL", "FULL"]


def connect(
    path: Path, *, synchronous: Synchronous = "NORMAL", check_same_thread: bool = True
) -> sqlite3.Connection:
    """A connection in WAL mode with a busy timeout.

    WAL lets the console read while ingest writes, and several processes (the hub and
    `mz admin`) share one file. With synchronous=NORMAL a committed transaction survives
    the process being killed (the guarantee "hub SIGKILLed -> nothing lost" needs);
    FULL also survives power loss at the cost of an fsync per commit.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: autocommit; multi-statement writes use explicit BEGIN.
    conn = sqlite3.connect(
        path, timeout=10.0, isolation_level=None, check_same_thread=check_same_thread
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (connections are in autocommit)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
