"""Carrying a data.dir from before the operational store over into it, once.

Until 2026-12 the hub kept its alarms (`alarms.sqlite`: alarms, alarm_log, outbox), the
message ids it had seen (`dedup.sqlite`) and presence (`presence.sqlite`) in files of
their own. A hub that starts on an operational store without alarms and finds such files
beside it copies their rows in (the columns both have, by name), in one transaction, and
renames each file to `<name>.imported` so it is never read again. Open alarms, their
timelines and undelivered notifications therefore survive the upgrade.

The registry (`registry.sqlite`: dwellings, contacts, operators, sessions, routing, the
resident cards, the audit trail, the family's logins) moved in too, in 2026-12: it is
imported the same way when the store's registry is empty (no dwellings, no operators).
A file made by an older version lacks columns added since: they get their defaults, and
a contact without a link key gets a fresh random one.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from pathlib import Path
from typing import Final

from sqlalchemy import Connection, Engine, Table, func, select, text

from alerts.tables import alarms as alarms_table
from hub.ops_tables import events as events_table
from hub.registry_tables import contacts as contacts_table
from hub.registry_tables import dwellings as dwellings_table
from hub.registry_tables import operators as operators_table
from hub.sql.engine import writing
from hub.sql.meta import metadata

log = logging.getLogger(__name__)

# (old file, its tables to copy), in foreign-key order.
LEGACY: Final = (
    ("alarms.sqlite", ("alarms", "alarm_log", "outbox")),
    ("dedup.sqlite", ("seen",)),
    ("presence.sqlite", ("presence",)),
)
# The registry's file (it used to be hub.app's REGISTRY_DB) and its tables, in
# foreign-key order; its change log (registry_changes) is not carried over.
REGISTRY_DB: Final = "registry.sqlite"
REGISTRY_TABLES: Final = (
    "dwellings",
    "contacts",
    "operators",
    "sessions",
    "routing",
    "routing_steps",
    "alarm_centre_accounts",
    "sensor_zones",
    "residents",
    "audit",
    "contact_logins",
    "family_sessions",
    "family_prefs",
)


def import_legacy(engine: Engine, data_dir: Path) -> dict[str, int]:
    """Copy what the old files hold into `engine`'s store when it has no alarms yet;
    returns rows copied per table (empty when there was nothing to do)."""
    copied = _old_events(engine, data_dir / "timeseries.sqlite")
    copied |= _old_registry(engine, data_dir / REGISTRY_DB)
    return copied | _old_files(engine, data_dir)


def _old_events(engine: Engine, path: Path) -> dict[str, int]:
    """Detector events used to share timeseries.sqlite with the readings: moved (copied,
    then deleted there) when the operational store has none yet."""
    if not path.exists():
        return {}
    old = sqlite3.connect(path, timeout=10)
    try:
        has = old.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'"
        ).fetchone()
        if has is None or old.execute("SELECT 1 FROM events LIMIT 1").fetchone() is None:
            return {}
        with writing(engine) as conn:
            if conn.execute(select(func.count()).select_from(events_table)).scalar_one():
                return {}
            n = _copy(old, conn, events_table)
        old.execute("DELETE FROM events")
        old.commit()
    finally:
        old.close()
    log.info("moved %d detector events out of %s into the operational store", n, path)
    return {"events": n}


def _old_registry(engine: Engine, path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    copied: dict[str, int] = {}
    with writing(engine) as conn:
        for table in (dwellings_table, operators_table):
            if conn.execute(select(func.count()).select_from(table)).scalar_one():
                log.warning("%s left alone: the operational store has a registry", path)
                return {}
        old = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            for name in REGISTRY_TABLES:
                copied[name] = _copy(old, conn, metadata.tables[name])
        finally:
            old.close()
        # Contacts from before link keys: each gets its own.
        keyless = conn.execute(
            select(contacts_table.c.id).where(contacts_table.c.link_key == "")
        ).scalars()
        for contact_id in list(keyless):
            conn.execute(
                contacts_table.update()
                .where(contacts_table.c.id == contact_id)
                .values(link_key=secrets.token_hex(16))
            )
    _retire(path)
    log.info("imported the old registry %s: %s", path, copied)
    return copied


def _retire(path: Path) -> None:
    """Rename an imported file to `<name>.imported`, so that it is never read again."""
    path.rename(path.with_name(path.name + ".imported"))
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _old_files(engine: Engine, data_dir: Path) -> dict[str, int]:
    found = [(data_dir / name, tables) for name, tables in LEGACY if (data_dir / name).exists()]
    if not found:
        return {}
    copied: dict[str, int] = {}
    with writing(engine) as conn:
        if conn.execute(select(func.count()).select_from(alarms_table)).scalar_one():
            log.warning("old files in %s left alone: the operational store has alarms", data_dir)
            return {}
        for path, tables in found:
            old = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                for name in tables:
                    copied[name] = _copy(old, conn, metadata.tables[name])
            finally:
                old.close()
    for path, _ in found:
        _retire(path)
    log.info("imported the old files of %s: %s", data_dir, copied)
    return copied


def _copy(old: sqlite3.Connection, conn: Connection, table: Table) -> int:
    have = [r[1] for r in old.execute(f"PRAGMA table_info({table.name})")]
    if not have:
        return 0
    columns = [c for c in have if c in table.c]
    cur = old.execute(f"SELECT {', '.join(columns)} FROM {table.name}")
    n = 0
    while rows := cur.fetchmany(1000):
        conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])
        n += len(rows)
    if n and conn.dialect.name == "postgresql":
        # Rows came with their own ids: move the id sequences past them.
        for col in table.primary_key.columns:
            if col.autoincrement is True:
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{col.name}'),"
                        f" (SELECT MAX({col.name}) FROM {table.name}))"
                    )
                )
    return n
