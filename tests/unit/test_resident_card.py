"""The resident card in the registry: its checks, its secrets behind an audited read (the
audit row in the same transaction), who may edit it; `mz admin resident` and `mz admin audit`."""

from __future__ import annotations

import os
import pwd
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from alerts.model import Contact
from hub.admin_cli import app as admin_app
from hub.context import Actor, Dwelling, Operator, ResidentCard
from hub.errors import AuditFailed, Forbidden, InvalidValue, NotFound
from hub.registry import ROLES, Registry, SqliteRegistry
from hub.resident_card import call_list
from tests.ops_store import another_engine, imported_registry

NOW = 1_764_000_000.0  # 2025-11-24 16:00 UTC
COORDINATOR = Actor("coco", "coordinator", "console")
OPERATOR = Actor("jan", "operator", "console")
ADMIN = Actor("root", "admin", "cli")
CODE = "4711"  # test-only


@pytest.fixture
def reg(sql_engine: Engine) -> Iterator[Registry]:
    """On SQLite and on PostgreSQL (tests/conftest.py)."""
    r = Registry(sql_engine)
    r.add_dwelling(Dwelling("dw-001", "Unit 1", "Tuinstraat 12, Utrecht"))
    r.add_dwelling(Dwelling("dw-002", "Unit 2"))
    yield r
    r.close()


def full_card(reg: Registry) -> ResidentCard:
    return reg.update_resident(
        "dw-001",
        {
            "name": "Truus Voorbeeld",
            "first_name": "Truus",
            "date_of_birth": "1938-04-12",
            "access": "Sleutelkluis links van de voordeur.\nBel eerst aan: slechthorend.",
            "gp_name": "Huisartsenpraktijk De Voorbeeldhoek",
            "gp_phone": "030 000 0101",
            "phone": "+31 30 000 0001",
            "news2_scale": 2,
            "on_oxygen": True,
            "institution_patient_id": "DEMO-0001",
            "key_safe_code": CODE,
            "care_notes": "COPD, thuiszuurstof 2 l/min. Allergie: penicilline.",
        },
        COORDINATOR,
        NOW,
    )


def audit_rows(engine: Engine) -> list[tuple[object, ...]]:
    """The audit table as another process sees it (an engine of its own)."""
    other = another_engine(engine)
    try:
        with other.connect() as conn:
            sql = text("SELECT actor, role, action, dwelling, detail, source FROM audit")
            return [tuple(r) for r in conn.execute(sql)]
    finally:
        other.dispose()


def test_a_dwelling_has_an_empty_card_until_it_is_filled_in(reg: Registry) -> None:
    assert reg.resident_card("dw-001") == ResidentCard("dw-001", address="Tuinstraat 12, Utrecht")
    assert reg.resident_card("dw-404") is None


def test_the_card_round_trips_without_its_secrets(reg: Registry) -> None:
    card = full_card(reg)
    assert card == reg.resident_card("dw-001")
    assert (card.name, card.first_name, card.date_of_birth) == (
        "Truus Voorbeeld",
        "Truus",
        date(1938, 4, 12),
    )
    assert (card.gp_phone, card.phone, card.news2_scale, card.on_oxygen) == (
        "030 000 0101",
        "+31 30 000 0001",
        2,
        True,
    )
    assert card.institution_patient_id == "DEMO-0001"
    assert card.has_key_safe and card.has_care_notes
    assert (card.updated_at, card.updated_by) == (NOW, "coco")
    # The secrets are not in the card at all, not even in its repr.
    assert CODE not in repr(card) and "penicilline" not in repr(card)
    assert not hasattr(card, "key_safe_code") and not hasattr(card, "care_notes")
    # Another dwelling's card is untouched.
    assert reg.resident_card("dw-002") == ResidentCard("dw-002")


def test_a_partial_update_changes_only_what_it_names(reg: Registry) -> None:
    full_card(reg)
    card = reg.update_resident("dw-001", {"gp_phone": "030 000 0202"}, ADMIN, NOW + 60)
    assert card.gp_phone == "030 000 0202"
    assert (card.name, card.news2_scale, card.on_oxygen, card.has_key_safe) == (
        "Truus Voorbeeld",
        2,
        True,
        True,
    )
    assert reg.reveal_key_safe("dw-001", OPERATOR, NOW + 61) == CODE
    # "" and None clear a value.
    card = reg.update_resident("dw-001", {"phone": "", "date_of_birth": None}, ADMIN, NOW + 62)
    assert (card.phone, card.date_of_birth, card.first_name) == (None, None, "Truus")


def test_the_address_is_the_dwellings(reg: Registry) -> None:
    card = reg.update_resident("dw-001", {"address": "Tuinstraat 14, Utrecht"}, ADMIN, NOW)
    assert card.address == "Tuinstraat 14, Utrecht"
    dwelling = reg.dwelling("dw-001")
    assert dwelling is not None and dwelling.address == "Tuinstraat 14, Utrecht"


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("gp_phone", "bel de huisarts", "not a phone number"),
        ("phone", "12", "not a phone number"),
        ("name", "x" * 101, "at most 100"),
        ("first_name", "Truus\nTruus", "one line"),
        ("access", "a" * 501, "at most 500"),
        ("access", "deur\x00", "control characters"),
        ("care_notes", "n" * 2001, "at most 2000"),
        ("news2_scale", 3, "1 or 2"),
        ("news2_scale", True, "1 or 2"),
        ("news2_scale", "2", "1 or 2"),
        ("on_oxygen", "yes", "true or false"),
        ("date_of_birth", "12-04-1938", "YYYY-MM-DD"),
        ("date_of_birth", "2026-01-01", "between"),
        ("date_of_birth", "1899-12-31", "between"),
        ("institution_patient_id", "DEMO 0001", "letters, digits"),
        ("key_safe_code", "12", "3-16 digits"),
        ("key_safe_code", "12-34", "3-16 digits"),
        ("name", 42, "text expected"),
        ("shoe_size", "43", "not a field"),
    ],
)
def test_bad_values_are_refused_and_nothing_changes(
    reg: Registry, field: str, value: object, says: str
) -> None:
    before = full_card(reg)
    with pytest.raises(InvalidValue, match=says) as caught:
        # A good change next to the bad one is not stored either.
        reg.update_resident("dw-001", {"first_name": "Geertruida", field: value}, ADMIN, NOW + 1)
    assert caught.value.field == field
    assert reg.resident_card("dw-001") == before
    assert len(reg.audit_log()) == 1  # only full_card's


def test_a_bad_key_safe_code_is_not_repeated_in_the_error(reg: Registry) -> None:
    with pytest.raises(InvalidValue) as caught:
        reg.update_resident("dw-001", {"key_safe_code": "98 76"}, ADMIN, NOW)
    assert "98" not in str(caught.value)


def test_only_a_coordinator_or_an_admin_edits_a_card(reg: Registry) -> None:
    with pytest.raises(Forbidden, match="operator"):
        reg.update_resident("dw-001", {"name": "Iemand Anders"}, OPERATOR, NOW)
    with pytest.raises(Forbidden):
        reg.update_resident("dw-001", {"key_safe_code": "0000"}, OPERATOR, NOW)
    assert reg.resident_card("dw-001") == ResidentCard("dw-001", address="Tuinstraat 12, Utrecht")
    assert reg.audit_log() == []
    assert reg.update_resident("dw-001", {"name": "Truus"}, COORDINATOR, NOW).name == "Truus"
    assert reg.update_resident("dw-001", {"name": "Truus V."}, ADMIN, NOW).name == "Truus V."
    with pytest.raises(NotFound):
        reg.update_resident("dw-404", {"name": "X"}, ADMIN, NOW)


def test_revealing_a_secret_writes_its_audit_row_first(reg: Registry) -> None:
    full_card(reg)
    assert reg.reveal_key_safe("dw-001", OPERATOR, NOW + 10, reason="alarm a-1") == CODE
    notes = reg.reveal_care_notes("dw-001", OPERATOR, NOW + 20)
    assert notes.startswith("COPD")
    log = reg.audit_log()
    assert [(e.action, e.actor, e.role, e.source, e.at) for e in log[:2]] == [
        ("resident.care_notes.view", "jan", "operator", "console", NOW + 20),
        ("resident.key_safe.view", "jan", "operator", "console", NOW + 10),
    ]
    assert log[1].detail == "alarm a-1" and log[1].dwelling == "dw-001"
    # Committed: another process (the console, mz admin) sees the rows at once.
    assert ("jan", "operator", "resident.key_safe.view", "dw-001", "alarm a-1", "console") in (
        audit_rows(reg.engine)
    )
    # A reveal where nothing is stored is a read all the same.
    assert reg.reveal_key_safe("dw-002", OPERATOR, NOW + 30) == ""
    assert reg.audit_log(limit=1)[0].detail == "none stored"


def test_no_audit_row_no_secret(tmp_path: Path) -> None:
    """SQLite: a trigger refuses the audit row (PostgreSQL's behaviour on a failed insert
    is the same rollback, but a trigger there is written differently)."""
    reg = SqliteRegistry(tmp_path / "hub.sqlite")
    reg.add_dwelling(Dwelling("dw-001", "Unit 1", "Tuinstraat 12, Utrecht"))
    full_card(reg)
    path = tmp_path / "hub.sqlite"
    with sqlite3.connect(path) as conn:  # the audit insert fails, as a full disk would
        conn.execute(
            "CREATE TRIGGER no_audit BEFORE INSERT ON audit"
            " BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
        )
    conn.close()
    with pytest.raises(AuditFailed, match="key safe not shown"):
        reg.reveal_key_safe("dw-001", OPERATOR, NOW + 10)
    with pytest.raises(AuditFailed, match="care notes not shown"):
        reg.reveal_care_notes("dw-001", OPERATOR, NOW + 10)
    # An edit without its audit row is not stored either.
    with pytest.raises(AuditFailed):
        reg.update_resident(
            "dw-001", {"name": "Iemand Anders", "key_safe_code": "0000"}, ADMIN, NOW
        )
    card = reg.resident_card("dw-001")
    assert card is not None and card.name == "Truus Voorbeeld"
    # The registry is usable afterwards (the failed transactions were rolled back).
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER no_audit")
    conn.close()
    assert reg.reveal_key_safe("dw-001", OPERATOR, NOW + 20) == CODE
    reg.close()


def test_a_secret_needs_a_console_role(reg: Registry) -> None:
    full_card(reg)
    with pytest.raises(Forbidden):
        reg.reveal_key_safe("dw-001", Actor("resident", "viewer", "console"), NOW)
    with pytest.raises(NotFound):
        reg.reveal_key_safe("dw-404", OPERATOR, NOW)
    assert [e.action for e in reg.audit_log()] == ["resident.update"]


def test_an_edit_is_audited_by_field_never_by_value(reg: Registry) -> None:
    full_card(reg)
    first = reg.audit_log()[0]
    assert first.action == "resident.update" and first.actor == "coco"
    assert first.detail == (
        "changed: name, first_name, date_of_birth, access, gp_name, gp_phone, phone,"
        " news2_scale, on_oxygen, institution_patient_id, key_safe_code, care_notes"
    )
    # Only what really changes is named; no change, no row.
    reg.update_resident("dw-001", {"name": "Truus Voorbeeld", "key_safe_code": "8080"}, ADMIN, NOW)
    assert reg.audit_log()[0].detail == "changed: key_safe_code"
    reg.update_resident("dw-001", {"phone": "+31 30 000 0001"}, ADMIN, NOW)
    assert len(reg.audit_log()) == 2
    text = " ".join(f"{e.detail} {e.action}" for e in reg.audit_log())
    assert CODE not in text and "8080" not in text and "penicilline" not in text


def test_the_audit_log_filters_and_outlives_the_dwelling(reg: Registry) -> None:
    for k in range(5):
        reg.reveal_key_safe("dw-001" if k % 2 else "dw-002", OPERATOR, NOW + k)
    reg.audit(ADMIN, "operator.add", NOW + 10, detail="coco")
    assert [e.at for e in reg.audit_log()] == [NOW + 10, NOW + 4, NOW + 3, NOW + 2, NOW + 1, NOW]
    assert [e.at for e in reg.audit_log("dw-001")] == [NOW + 3, NOW + 1]
    assert [e.at for e in reg.audit_log(since=NOW + 3)] == [NOW + 10, NOW + 4, NOW + 3]
    assert len(reg.audit_log(limit=2)) == 2
    with pytest.raises(InvalidValue):
        reg.audit_log(limit=0)
    reg.remove_dwelling("dw-001")
    assert len(reg.audit_log("dw-001")) == 2


def test_the_card_goes_with_its_dwelling(reg: Registry) -> None:
    full_card(reg)
    reg.remove_dwelling("dw-001")
    reg.add_dwelling(Dwelling("dw-001", "Unit 1 again"))
    assert reg.resident_card("dw-001") == ResidentCard("dw-001")
    assert reg.reveal_key_safe("dw-001", OPERATOR, NOW) == ""


def test_a_registry_made_before_the_card_is_imported(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"  # as the hub of 2026-11 left it
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE dwellings (id TEXT PRIMARY KEY, label TEXT NOT NULL,
                address TEXT NOT NULL DEFAULT '', language TEXT NOT NULL DEFAULT 'nl');
            INSERT INTO dwellings (id, label, address) VALUES ('dw-001', 'Unit 1', 'Laan 1');
            """
        )
    conn.close()
    reg = imported_registry(tmp_path)
    assert reg.resident_card("dw-001") == ResidentCard("dw-001", address="Laan 1")
    reg.update_resident("dw-001", {"key_safe_code": CODE}, ADMIN, NOW)
    assert reg.reveal_key_safe("dw-001", OPERATOR, NOW) == CODE
    reg.close()


def test_the_call_list_follows_the_routing(reg: Registry) -> None:
    reg.add_contact(Contact("c-ann", "dw-001", "Ann", None, priority=1, phone="06 1234 5678"))
    reg.add_contact(Contact("c-jan", "dw-001", "Jan", None, priority=2, role="neighbour"))
    reg.add_contact(Contact("c-i", "dw-001", "Inst", None, priority=3, role="installer"))
    by_priority = call_list(reg.policy("dw-001"), reg.contacts_for("dw-001"))
    assert [(c.contact.id, c.step, c.installer) for c in by_priority] == [
        ("c-ann", 1, False),
        ("c-jan", 2, False),
        ("c-i", None, True),
    ]
    reg.set_policy("dw-001", [("c-jan", 60), ("c-ann", 300)])
    own = call_list(reg.policy("dw-001"), reg.contacts_for("dw-001"))
    assert [(c.contact.id, c.step, c.wait_s) for c in own] == [
        ("c-jan", 1, 60),
        ("c-ann", 2, 300),
        ("c-i", None, None),
    ]


def test_the_coordinator_role_exists() -> None:
    assert "coordinator" in ROLES


# -- mz admin resident, mz admin audit ----------------------------------------------


def test_admin_cli_resident_card(tmp_path: Path) -> None:
    runner = CliRunner()
    d = ["--data-dir", str(tmp_path)]

    def run(*args: str, stdin: str | None = None, code: int = 0) -> str:
        r = runner.invoke(admin_app, [*args, *d], input=stdin, env={"SUDO_USER": "anja"})
        assert r.exit_code == code, r.output
        return r.output

    run("dwelling", "add", "dw-001", "--label", "Unit 1", "--address", "Tuinstraat 12")
    run("contact", "add", "--dwelling", "dw-001", "--name", "Ann", "--id", "c-ann",
        "--phone", "+31 6 1234 5678")  # fmt: skip
    out = run("resident", "set", "dw-001", "--name", "Truus Voorbeeld", "--first-name", "Truus",
              "--gp-name", "Dr. Voorbeeld", "--gp-phone", "030 000 0101", "--news2-scale", "2",
              "--oxygen", "--institution-id", "DEMO-0001", "--access", "Achterdeur")  # fmt: skip
    assert "updated" in out
    run("resident", "set", "dw-001", "--phone", "030 000 0001")  # only this changes
    shown = run("resident", "show", "dw-001")
    assert "Truus Voorbeeld" in shown and "Tuinstraat 12" in shown
    assert "Dr. Voorbeeld, 030 000 0101" in shown and "2, on oxygen" in shown
    assert "030 000 0001" in shown and "DEMO-0001" in shown
    assert "1.  Ann (family)\t+31 6 1234 5678\t120 s (2:00)\tc-ann" in shown
    assert "key-safe code     none" in shown
    run("resident", "set", "dw-001", "--no-oxygen")
    assert "2, air" in run("resident", "show", "dw-001")

    # The code comes from a prompt (twice) or stdin, never from the command line.
    run("resident", "set-key-safe", "dw-001", stdin=f"{CODE}\n{CODE}\n")
    shown = run("resident", "show", "dw-001")
    assert "key-safe code     stored" in shown and CODE not in shown
    assert CODE in run("resident", "key-safe", "dw-001", "--reason", "test")
    run("resident", "set-key-safe", "dw-001", "--stdin", stdin="8080\n")
    assert run("resident", "key-safe", "dw-001").strip() == "8080"
    assert "extra argument" in run("resident", "set-key-safe", "dw-001", "1234", code=2)

    notes = tmp_path / "notes.txt"
    notes.write_text("Allergie: penicilline.\nAntistolling: ja.\n", encoding="utf-8")
    run("resident", "set-notes", "dw-001", "--file", str(notes))
    assert run("resident", "notes", "dw-001") == "Allergie: penicilline.\nAntistolling: ja.\n"
    run("resident", "set-notes", "dw-001", "--file", "-", stdin="")
    assert "no care notes" in run("resident", "notes", "dw-001", code=1)

    trail = run("audit", "--dwelling", "dw-001", "--since", "1d")
    user = pwd.getpwuid(os.getuid()).pw_name
    who = user if user == "anja" else f"{user} (sudo: anja)"
    lines = trail.splitlines()
    assert len(lines) == 11  # 3 sets, 2 codes stored and read, notes stored, read, cleared, read
    assert all(f"\t{who}\tadmin\tcli\t" in line for line in lines)
    assert any("resident.key_safe.view\tdw-001\ttest" in line for line in lines)
    assert CODE not in trail and "8080" not in trail and "penicilline" not in trail
    assert run("audit", "--dwelling", "dw-002") == ""


def test_admin_cli_resident_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    d = ["--data-dir", str(tmp_path)]

    def refused(*args: str, stdin: str | None = None) -> str:
        r = runner.invoke(admin_app, [*args, *d], input=stdin)
        assert r.exit_code == 2, r.output
        return r.output

    assert (
        runner.invoke(admin_app, ["dwelling", "add", "dw-001", "--label", "U1", *d]).exit_code == 0
    )
    assert "no dwelling 'dw-404'" in refused("resident", "show", "dw-404")
    assert "dwelling not found: dw-404" in refused("resident", "set", "dw-404", "--name", "X")
    assert "dwelling not found" in refused("resident", "key-safe", "dw-404")
    assert "--gp-phone: not a phone number" in refused(
        "resident", "set", "dw-001", "--gp-phone", "x"
    )
    assert "--news2-scale: the SpO2 scale is 1 or 2" in refused(
        "resident", "set", "dw-001", "--news2-scale", "3"
    )
    assert "--date-of-birth" in refused("resident", "set", "dw-001", "--date-of-birth", "gisteren")
    assert "--institution-id" in refused("resident", "set", "dw-001", "--institution-id", "a b")
    assert "nothing to change" in refused("resident", "set", "dw-001")
    said = refused("resident", "set-key-safe", "dw-001", "--stdin", stdin="12 34\n")
    assert "the key-safe code: 3-16 digits" in said and "12 34" not in said
    assert "no code given" in refused("resident", "set-key-safe", "dw-001", "--stdin", stdin="\n")
    assert "cannot read" in refused("resident", "set-notes", "dw-001", "--file", "/nonexistent")
    assert "--since" in refused("audit", "--since", "last week")


def test_admin_cli_adds_a_coordinator(tmp_path: Path) -> None:
    runner = CliRunner()
    d = ["--data-dir", str(tmp_path)]
    r = runner.invoke(
        admin_app,
        ["operator", "add", "coco", "--role", "coordinator", "--password-stdin", *d],
        input="lang-genoeg-wachtwoord\n",
    )
    assert r.exit_code == 0, r.output
    reg = SqliteRegistry(tmp_path / "hub.sqlite")
    assert reg.verify_operator("coco", "lang-genoeg-wachtwoord") == Operator("coco", "coordinator")
    reg.close()
    assert "coco\tcoordinator" in runner.invoke(admin_app, ["operator", "list", *d]).output


# -- the demo's residents ---------------------------------------------------------------


def test_the_demo_seeds_a_fictitious_card_per_dwelling(tmp_path: Path) -> None:
    from simulators.demo_residents import DEMO_RESIDENTS, seed_residents

    codes = set()
    for attempt in range(2):
        reg = SqliteRegistry(tmp_path / f"demo-{attempt}.sqlite")
        for dwelling in DEMO_RESIDENTS:
            reg.add_dwelling(Dwelling(dwelling, f"Unit {dwelling}"))
        seed_residents(reg, NOW)
        for dwelling in DEMO_RESIDENTS:
            card = reg.resident_card(dwelling)
            assert card is not None and "(fictief)" in card.name and card.has_key_safe
            assert card.has_care_notes and card.first_name and card.gp_phone
            codes.add((dwelling, reg.reveal_key_safe(dwelling, OPERATOR, NOW)))
        # Every card's care plan is the one its simulated edge scores NEWS2 with (scale 1,
        # air): the card and the alarm the console shows agree.
        cards = [reg.resident_card(d) for d in DEMO_RESIDENTS]
        assert all(c is not None and (c.news2_scale, c.on_oxygen) == (1, False) for c in cards)
        assert {e.source for e in reg.audit_log() if e.action == "resident.update"} == {"demo"}
        reg.close()
    assert all(code.isdigit() and len(code) == 4 for _, code in codes)
    # Drawn at every seeding: two seedings give (all but surely) other codes.
    assert len(codes) > len(DEMO_RESIDENTS)
