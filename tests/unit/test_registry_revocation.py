"""hub.registry: server-side console sessions, disabling operators, password changes,
contacts' link keys (and the migration of a registry made before them), `mz admin`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from alerts.model import Contact
from hub.admin_cli import app as admin_app
from hub.config import OPS_DB
from hub.context import Dwelling, Operator
from hub.errors import NotFound, RegistryError
from hub.registry import Registry, SqliteRegistry, hash_password
from hub.session_store import SESSION_TOUCH_S
from tests.ops_store import another_engine, imported_registry

NOW = 1_764_000_000.0
SHIFT = 12 * 3600.0
IDLE = 2 * 3600.0
PW = "juist-wachtwoord-42"


@pytest.fixture
def reg(sql_engine: Engine) -> Iterator[Registry]:
    """On SQLite and on PostgreSQL (tests/conftest.py)."""
    r = Registry(sql_engine)
    r.add_operator(Operator("jan", "operator", "Jan Jansen"), PW)
    r.add_operator(Operator("eva", "admin"), PW)
    yield r
    r.close()


def start(reg: Registry, user: str = "jan", now: float = NOW) -> str:
    session_id, _ = reg.create_session(user, now, max_age_s=SHIFT, idle_s=IDLE)
    return session_id


def test_a_session_is_found_by_its_id_only_and_stored_hashed(reg: Registry) -> None:
    session_id, made = reg.create_session("jan", NOW, max_age_s=SHIFT, idle_s=IDLE, language="en")
    assert len(session_id) == 43  # secrets.token_urlsafe(32): 256 random bits
    found = reg.session(session_id, NOW + 1, idle_s=IDLE)
    assert found == made
    assert found.operator == Operator("jan", "operator", "Jan Jansen")
    assert (found.expires_at, found.idle_expires_at, found.language) == (
        NOW + SHIFT,
        NOW + IDLE,
        "en",
    )
    assert (
        reg.session(session_id[:-1] + ("A" if session_id[-1] != "A" else "B"), NOW, idle_s=IDLE)
        is None
    )
    with reg.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM sessions")).fetchall()
    assert len(rows) == 1 and session_id not in repr(rows)


@pytest.mark.parametrize("junk", ["", "é" * 43, "x" * 42, "../" * 15, "a" * 4000, "\x00" * 43])
def test_junk_session_ids_are_no_session(reg: Registry, junk: str) -> None:
    start(reg)
    assert reg.session(junk, NOW, idle_s=IDLE) is None
    assert reg.end_session(junk) is False


def test_idle_expiry_and_last_seen_written_at_most_once_a_minute(reg: Registry) -> None:
    session_id = start(reg)
    early = reg.session(session_id, NOW + SESSION_TOUCH_S - 1, idle_s=IDLE)
    assert early is not None and early.last_seen == NOW
    seen = reg.session(session_id, NOW + 3600, idle_s=IDLE)
    assert seen is not None and seen.last_seen == NOW + 3600
    assert seen.idle_expires_at == NOW + 3600 + IDLE
    assert reg.session(session_id, NOW + 3600 + IDLE, idle_s=IDLE) is None  # unused 2 h
    assert reg.session(session_id, NOW + 3601, idle_s=IDLE) is None  # and it is gone


def test_absolute_expiry_whatever_the_activity(reg: Registry) -> None:
    session_id = start(reg)
    t = NOW
    while t < NOW + SHIFT - 3600:
        t += 3600
        assert reg.session(session_id, t, idle_s=IDLE) is not None
    found = reg.session(session_id, NOW + SHIFT - 1, idle_s=IDLE)
    assert found is not None and found.idle_expires_at == NOW + SHIFT  # never past the shift
    assert reg.session(session_id, NOW + SHIFT, idle_s=IDLE) is None


def test_logout_ends_only_that_session(reg: Registry) -> None:
    a, b = start(reg), start(reg)
    assert reg.end_session(a) is True
    assert reg.session(a, NOW, idle_s=IDLE) is None
    assert reg.session(b, NOW, idle_s=IDLE) is not None
    assert reg.end_session(a) is False


def test_removing_disabling_or_a_new_password_ends_every_session(reg: Registry) -> None:
    jan, eva = start(reg), start(reg, "eva")
    assert reg.set_password("jan", "een-nieuw-wachtwoord") == 1
    assert reg.session(jan, NOW, idle_s=IDLE) is None
    assert reg.verify_operator("jan", PW) is None
    assert reg.verify_operator("jan", "een-nieuw-wachtwoord") is not None

    jan = start(reg)
    assert reg.set_enabled("jan", False) == 1
    assert reg.session(jan, NOW, idle_s=IDLE) is None
    assert reg.verify_operator("jan", "een-nieuw-wachtwoord") is None  # no Basic either
    assert reg.operator("jan") == Operator("jan", "operator", "Jan Jansen", enabled=False)
    with pytest.raises(NotFound):
        start(reg)  # a disabled operator gets no session
    reg.set_enabled("jan", True)
    jan = start(reg)
    assert reg.session(jan, NOW, idle_s=IDLE) is not None

    assert reg.remove_operator("jan") == 1
    assert reg.session(jan, NOW, idle_s=IDLE) is None
    # Re-added under the same name: the old session does not come back.
    reg.add_operator(Operator("jan", "operator"), PW)
    assert reg.session(jan, NOW, idle_s=IDLE) is None
    assert reg.session(eva, NOW, idle_s=IDLE) is not None  # others are untouched
    assert reg.end_sessions("eva") == 1
    with pytest.raises(NotFound):
        reg.set_password("nobody", "lang-genoeg-wachtwoord")
    with pytest.raises(RegistryError):
        reg.set_password("eva", "kort")


def test_another_process_ending_a_session_is_seen_at_once(reg: Registry) -> None:
    session_id = start(reg)
    other = another_engine(reg.engine)  # `mz admin` or another worker: connections of its own
    Registry(other).set_enabled("jan", False)
    other.dispose()
    assert reg.session(session_id, NOW, idle_s=IDLE) is None


def test_sessions_of_lists_the_live_ones(reg: Registry) -> None:
    start(reg, now=NOW - SHIFT - 1)  # long over
    start(reg, now=NOW - 60)
    start(reg, now=NOW - 30)
    listed = reg.sessions_of("jan", NOW)
    assert [s.created_at for s in listed] == [NOW - 60, NOW - 30]


def test_each_contact_gets_its_own_link_key_and_a_new_one_when_re_added(
    reg: Registry,
) -> None:
    reg.add_dwelling(Dwelling("dw-001", "Unit 1"))
    added = reg.add_contact(Contact("c-1", "dw-001", "Ann", "ann@example.org", link_key="mine"))
    reg.add_contact(Contact("c-2", "dw-001", "Piet", "piet@example.org"))
    keys = {c.id: c.link_key for c in reg.contacts_for("dw-001")}
    assert keys["c-1"] == added.link_key != "mine"  # the registry gives the key
    assert len(keys["c-1"]) == 32 and keys["c-1"] != keys["c-2"]
    reg.remove_contact("c-1")
    reg.add_contact(Contact("c-1", "dw-001", "Ann", "ann@example.org"))
    assert reg.contacts_for("dw-001")[0].link_key != keys["c-1"]


OLD_SCHEMA = """
CREATE TABLE dwellings (id TEXT PRIMARY KEY, label TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '', language TEXT NOT NULL DEFAULT 'nl');
CREATE TABLE contacts (id TEXT PRIMARY KEY,
    dwelling TEXT NOT NULL REFERENCES dwellings (id) ON DELETE CASCADE,
    name TEXT NOT NULL, email TEXT, language TEXT NOT NULL DEFAULT 'nl',
    priority INTEGER NOT NULL DEFAULT 1);
CREATE TABLE operators (username TEXT PRIMARY KEY, role TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '', password_hash TEXT NOT NULL);
"""


def test_a_registry_made_before_link_keys_and_sessions_is_imported(
    tmp_path: Path,
) -> None:
    path = tmp_path / "registry.sqlite"  # as the hub of 2026-11 left it
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
        conn.execute("INSERT INTO dwellings (id, label) VALUES ('dw-001', 'Unit 1')")
        for cid in ("c-1", "c-2"):
            conn.execute(
                "INSERT INTO contacts (id, dwelling, name) VALUES (?, 'dw-001', 'X')", (cid,)
            )
        conn.execute(
            "INSERT INTO operators (username, role, password_hash) VALUES ('jan', 'operator', ?)",
            (hash_password(PW),),
        )
    conn.close()
    reg = imported_registry(tmp_path)
    keys = [c.link_key for c in reg.contacts_for("dw-001")]
    assert all(len(k) == 32 for k in keys) and keys[0] != keys[1]
    assert reg.verify_operator("jan", PW) == Operator("jan", "operator")  # enabled
    session_id, _ = reg.create_session("jan", NOW, max_age_s=SHIFT, idle_s=IDLE)
    reg.close()
    again = SqliteRegistry(tmp_path / OPS_DB)  # opening again changes nothing
    assert [c.link_key for c in again.contacts_for("dw-001")] == keys
    assert again.session(session_id, NOW, idle_s=IDLE) is not None
    again.close()


def test_admin_cli_disable_enable_passwd_sessions_logout_remove(tmp_path: Path) -> None:
    runner = CliRunner()
    d = ["--data-dir", str(tmp_path)]

    def admin(*args: str, stdin: str | None = None) -> str:
        r = runner.invoke(admin_app, ["operator", *args, *d], input=stdin)
        assert r.exit_code == 0, r.output
        return r.output

    admin("add", "jan", "--password-stdin", stdin=PW + "\n")
    reg = SqliteRegistry(tmp_path / "hub.sqlite")
    session_id = start(reg, now=_now())
    assert len(admin("sessions", "jan").strip().splitlines()) == 1

    assert "1 session ended" in admin("disable", "jan")
    assert reg.session(session_id, _now(), idle_s=IDLE) is None
    assert "jan\toperator\t\tdisabled" in admin("list")
    admin("enable", "jan")
    assert reg.verify_operator("jan", PW) is not None

    session_id = start(reg, now=_now())
    # The new password comes from stdin, never from the command line.
    assert "1 session ended" in admin(
        "passwd", "jan", "--password-stdin", stdin="nieuw-wachtwoord-7\n"
    )
    assert reg.session(session_id, _now(), idle_s=IDLE) is None
    assert reg.verify_operator("jan", "nieuw-wachtwoord-7") is not None
    prompted = admin("passwd", "jan", stdin="derde-wachtwoord-8\nderde-wachtwoord-8\n")
    assert "derde-wachtwoord-8" not in prompted  # hidden input, never echoed
    assert reg.verify_operator("jan", "derde-wachtwoord-8") is not None

    start(reg, now=_now())
    start(reg, now=_now())
    assert "2 sessions ended" in admin("logout", "jan")
    session_id = start(reg, now=_now())
    assert "1 session ended" in admin("remove", "jan")
    assert reg.session(session_id, _now(), idle_s=IDLE) is None
    reg.close()
    for cmd in ("disable", "enable", "passwd", "sessions", "logout", "remove"):
        r = runner.invoke(admin_app, ["operator", cmd, "nobody", *d], input="x" * 12 + "\n")
        assert r.exit_code == 2, (cmd, r.output)


def _now() -> float:
    # `mz admin operator sessions` lists against the wall clock; so do these sessions.
    import time

    return time.time()
