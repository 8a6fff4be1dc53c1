"""hub.legacy_import: a data.dir from before the operational store keeps its alarms,
timelines, undelivered notifications, seen ids and presence, on both backends."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Engine

from alerts.store import AlarmStore
from hub.dedup import Deduplicator
from hub.event_log import SqlEventStore
from hub.legacy_import import import_legacy
from hub.presence import PresenceStore

# The files' shape as the hub of 2026-11 left them (alerts/store.py and hub/dedup.py,
# hub/presence.py then).
OLD_ALARMS = """
CREATE TABLE alarms (id TEXT PRIMARY KEY, dwelling TEXT NOT NULL, kind TEXT NOT NULL,
  severity TEXT NOT NULL, state TEXT NOT NULL, source TEXT NOT NULL, raised_at REAL NOT NULL,
  received_at REAL NOT NULL, notified_at REAL, acknowledged_at REAL, acknowledged_by TEXT,
  resolved_at REAL, resolved_by TEXT, note TEXT NOT NULL DEFAULT '', sensor TEXT,
  detail TEXT NOT NULL DEFAULT '{}', notifications_sent INTEGER NOT NULL DEFAULT 0,
  tech_key TEXT, response TEXT, responder TEXT, outcome TEXT,
  centre_required INTEGER NOT NULL DEFAULT 0, centre_handed_at REAL, centre_acked_at REAL,
  routed INTEGER NOT NULL DEFAULT 0, claimed_by TEXT, claimed_at REAL);
CREATE TABLE alarm_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, alarm_id TEXT NOT NULL,
  at REAL NOT NULL, what TEXT NOT NULL, by TEXT, note TEXT NOT NULL DEFAULT '', contact TEXT);
CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, alarm_id TEXT NOT NULL,
  contact_id TEXT NOT NULL, channel TEXT NOT NULL, round INTEGER NOT NULL, status TEXT NOT NULL,
  created_at REAL NOT NULL, next_attempt_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  claimed_by TEXT, claimed_at REAL, finished_at REAL, error TEXT NOT NULL DEFAULT '',
  dwelling TEXT, severity TEXT, batch INTEGER, thread TEXT,
  UNIQUE (alarm_id, contact_id, channel, round));
INSERT INTO alarms (id, dwelling, kind, severity, state, source, raised_at, received_at,
  detail) VALUES ('a1', 'dw-001', 'fall', 'high', 'raised', 'edge', 100, 101, '{"g": 3.1}');
INSERT INTO alarm_log (alarm_id, at, what, by) VALUES ('a1', 101, 'raised', 'edge');
INSERT INTO alarm_log (alarm_id, at, what, by, note) VALUES ('a1', 102, 'note', 'anja', 'gebeld');
INSERT INTO outbox (alarm_id, contact_id, channel, round, status, created_at, next_attempt_at,
  dwelling, severity) VALUES ('a1', 'c-anna', 'email', 0, 'pending', 101, 101, 'dw-001', 'high');
"""
OLD_DEDUP = """
CREATE TABLE seen (id TEXT PRIMARY KEY, seen_at REAL NOT NULL);
INSERT INTO seen VALUES ('abcdefgh01', 100);
"""
OLD_PRESENCE = """
CREATE TABLE presence (dwelling TEXT PRIMARY KEY, state TEXT NOT NULL);
INSERT INTO presence VALUES ('dw-001',
  '{"online": false, "since": 90.0, "last_seen": 80.0, "deadline_base": 80.0,
    "heartbeat_s": 30.0}');
"""


def old_files(d: Path) -> None:
    for name, script in (
        ("alarms.sqlite", OLD_ALARMS),
        ("dedup.sqlite", OLD_DEDUP),
        ("presence.sqlite", OLD_PRESENCE),
    ):
        with sqlite3.connect(d / name) as db:
            db.executescript(script)
        db.close()


def test_an_old_data_dir_is_carried_over_once(sql_engine: Engine, tmp_path: Path) -> None:
    old_files(tmp_path)
    copied = import_legacy(sql_engine, tmp_path)
    assert copied == {"alarms": 1, "alarm_log": 2, "outbox": 1, "seen": 1, "presence": 1}
    store = AlarmStore(sql_engine)
    rec = store.get("a1")
    assert rec is not None and rec.detail == {"g": 3.1} and rec.dwelling == "dw-001"
    assert [what for _, what, _, _ in store.log("a1")] == ["raised", "note"]
    assert [r.contact_id for r in store.outbox("a1")] == ["c-anna"]
    store.log_event("a1", 103, "note", "anja", "weer")  # new rows get new ids
    assert len(store.log("a1")) == 3
    assert Deduplicator(sql_engine).seen("abcdefgh01")
    [state] = PresenceStore(sql_engine).load()
    assert state.dwelling == "dw-001" and state.online is False
    assert not (tmp_path / "alarms.sqlite").exists()
    assert (tmp_path / "alarms.sqlite.imported").exists()
    assert import_legacy(sql_engine, tmp_path) == {}  # once


async def test_detector_events_move_out_of_the_time_series_file(
    sql_engine: Engine, tmp_path: Path
) -> None:
    with sqlite3.connect(tmp_path / "timeseries.sqlite") as db:
        db.executescript(
            "CREATE TABLE events (id TEXT PRIMARY KEY, dwelling TEXT NOT NULL, kind TEXT NOT NULL,"
            " sensor TEXT, ts REAL NOT NULL, received_at REAL NOT NULL, detail TEXT NOT NULL);"
            "INSERT INTO events VALUES ('e1', 'dw-001', 'routine_profile', NULL, 10, 11, '{}');"
        )
    db.close()
    assert import_legacy(sql_engine, tmp_path) == {"events": 1}
    [event] = await SqlEventStore(sql_engine).events("dw-001", 0, 100)
    assert (event.id, event.kind) == ("e1", "routine_profile")
    with sqlite3.connect(tmp_path / "timeseries.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM events").fetchone() == (0,)
    db.close()
    assert import_legacy(sql_engine, tmp_path) == {}


def test_a_store_that_has_alarms_is_left_alone(sql_engine: Engine, tmp_path: Path) -> None:
    old_files(tmp_path)
    import_legacy(sql_engine, tmp_path)
    old_files(tmp_path)  # the old files again, beside a store in use
    assert import_legacy(sql_engine, tmp_path) == {}
    assert (tmp_path / "alarms.sqlite").exists()
