"""hub.legacy_import: a data.dir from before the operational store keeps its alarms,
timelines, undelivered notifications, seen ids, presence and registry, on both backends."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Engine

from alerts.store import AlarmStore
from hub.context import Actor, Dwelling, Operator
from hub.dedup import Deduplicator
from hub.event_log import SqlEventStore
from hub.legacy_import import import_legacy
from hub.presence import PresenceStore
from hub.registry import Registry, hash_password

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


# The registry file as the hub of 2026-11 left it (hub/registry.py then), a contact from
# before link keys among them.
OLD_REGISTRY = """
CREATE TABLE dwellings (id TEXT PRIMARY KEY, label TEXT NOT NULL,
  address TEXT NOT NULL DEFAULT '', language TEXT NOT NULL DEFAULT 'nl');
CREATE TABLE contacts (id TEXT PRIMARY KEY,
  dwelling TEXT NOT NULL REFERENCES dwellings (id) ON DELETE CASCADE, name TEXT NOT NULL,
  email TEXT, language TEXT NOT NULL DEFAULT 'nl', priority INTEGER NOT NULL DEFAULT 1,
  link_key TEXT NOT NULL DEFAULT '', phone TEXT, channels TEXT NOT NULL DEFAULT '[]',
  role TEXT NOT NULL DEFAULT 'family', windows TEXT NOT NULL DEFAULT '[]');
CREATE TABLE operators (username TEXT PRIMARY KEY, role TEXT NOT NULL,
  display_name TEXT NOT NULL DEFAULT '', password_hash TEXT NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 1);
CREATE TABLE routing (dwelling TEXT PRIMARY KEY REFERENCES dwellings (id) ON DELETE CASCADE,
  centre_after_s REAL, installer TEXT REFERENCES contacts (id) ON DELETE SET NULL);
CREATE TABLE routing_steps (dwelling TEXT NOT NULL REFERENCES routing (dwelling)
  ON DELETE CASCADE, position INTEGER NOT NULL, contact TEXT NOT NULL REFERENCES contacts (id)
  ON DELETE CASCADE, wait_s REAL NOT NULL, PRIMARY KEY (dwelling, position));
CREATE TABLE residents (dwelling TEXT PRIMARY KEY REFERENCES dwellings (id) ON DELETE CASCADE,
  name TEXT NOT NULL DEFAULT '', key_safe TEXT NOT NULL DEFAULT '');
CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, actor TEXT NOT NULL,
  role TEXT NOT NULL, action TEXT NOT NULL, dwelling TEXT, detail TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL);
CREATE TABLE registry_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, key TEXT);
INSERT INTO dwellings VALUES ('dw-001', 'Unit 1', 'Tuinstraat 12', 'nl');
INSERT INTO contacts (id, dwelling, name, email, link_key)
  VALUES ('c-anna', 'dw-001', 'Anna', 'anna@example.org', 'k-anna');
INSERT INTO contacts (id, dwelling, name, priority) VALUES ('c-piet', 'dw-001', 'Piet', 2);
INSERT INTO operators (username, role, password_hash) VALUES ('jan', 'operator', '{pw}');
INSERT INTO routing VALUES ('dw-001', 600, NULL);
INSERT INTO routing_steps VALUES ('dw-001', 0, 'c-piet', 60), ('dw-001', 1, 'c-anna', 90);
INSERT INTO residents VALUES ('dw-001', 'Truus', '4711');
INSERT INTO audit (at, actor, role, action, dwelling, source)
  VALUES (100, 'root', 'admin', 'resident.update', 'dw-001', 'cli');
INSERT INTO registry_changes (tbl, key) VALUES ('dwellings', 'dw-001');
"""


def test_an_old_registry_file_is_carried_over_once(sql_engine: Engine, tmp_path: Path) -> None:
    pw = "juist-wachtwoord-42"
    with sqlite3.connect(tmp_path / "registry.sqlite") as db:
        db.executescript(OLD_REGISTRY.format(pw=hash_password(pw)))
    db.close()
    copied = import_legacy(sql_engine, tmp_path)
    assert {k: v for k, v in copied.items() if v} == {
        "dwellings": 1,
        "contacts": 2,
        "operators": 1,
        "routing": 1,
        "routing_steps": 2,
        "residents": 1,
        "audit": 1,
    }
    reg = Registry(sql_engine)
    assert reg.dwelling("dw-001") == Dwelling("dw-001", "Unit 1", "Tuinstraat 12")
    anna, piet = reg.contacts_for("dw-001")
    assert anna.link_key == "k-anna" and len(piet.link_key) == 32  # a key of its own now
    assert reg.verify_operator("jan", pw) == Operator("jan", "operator")
    assert [r.contact_id for r in reg.policy("dw-001").recipients] == ["c-piet", "c-anna"]
    card = reg.resident_card("dw-001")
    assert card is not None and card.name == "Truus" and card.has_key_safe
    admin = Actor("root", "admin", "cli")
    assert reg.reveal_key_safe("dw-001", admin, 200) == "4711"
    assert [e.action for e in reg.audit_log()] == ["resident.key_safe.view", "resident.update"]
    assert not (tmp_path / "registry.sqlite").exists()
    assert (tmp_path / "registry.sqlite.imported").exists()
    assert import_legacy(sql_engine, tmp_path) == {}  # once


def test_a_store_that_has_a_registry_is_left_alone(sql_engine: Engine, tmp_path: Path) -> None:
    Registry(sql_engine).add_dwelling(Dwelling("dw-new", "Nieuw"))
    with sqlite3.connect(tmp_path / "registry.sqlite") as db:
        db.executescript(OLD_REGISTRY.format(pw="x"))
    db.close()
    assert import_legacy(sql_engine, tmp_path) == {}
    assert [d.id for d in Registry(sql_engine).dwellings()] == ["dw-new"]
    assert (tmp_path / "registry.sqlite").exists()
