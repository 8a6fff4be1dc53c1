from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerts.model import Contact
from hub.admin_cli import app as admin_app
from hub.context import Dwelling, Operator, Registry
from hub.errors import Conflict, NotFound, RegistryError
from hub.registry import SqliteRegistry, check_password, hash_password


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[SqliteRegistry]:
    r = SqliteRegistry(tmp_path / "registry.sqlite")
    yield r
    r.close()


def test_satisfies_the_console_protocol(reg: SqliteRegistry) -> None:
    typed: Registry = reg
    assert typed is reg


def test_dwellings(reg: SqliteRegistry) -> None:
    reg.add_dwelling(Dwelling("dw-002", "Unit 2", "Tuinstraat 2", "en"))
    reg.add_dwelling(Dwelling("dw-001", "Unit 1"))
    assert [d.id for d in reg.dwellings()] == ["dw-001", "dw-002"]
    assert reg.dwelling("dw-002") == Dwelling("dw-002", "Unit 2", "Tuinstraat 2", "en")
    assert reg.dwelling("dw-404") is None
    with pytest.raises(Conflict):
        reg.add_dwelling(Dwelling("dw-001", "again"))


@pytest.mark.parametrize("bad", ["DW-1", "dw/1", "dw+1", "x", "Jan Jansen"])
def test_dwelling_ids_must_be_pseudonymous(reg: SqliteRegistry, bad: str) -> None:
    with pytest.raises(RegistryError):
        reg.add_dwelling(Dwelling(bad, "label"))


def test_contacts_ordered_by_priority_and_removed_with_dwelling(reg: SqliteRegistry) -> None:
    reg.add_dwelling(Dwelling("dw-001", "Unit 1"))
    reg.add_contact(Contact("c-2", "dw-001", "Piet", "piet@example.org", "nl", 2))
    reg.add_contact(Contact("c-1", "dw-001", "Ann", "ann@example.org", "en", 1))
    assert [c.id for c in reg.contacts_for("dw-001")] == ["c-1", "c-2"]
    first = reg.contacts_for("dw-001")[0]
    assert first == Contact("c-1", "dw-001", "Ann", "ann@example.org", "en", 1, first.link_key)
    with pytest.raises(NotFound):
        reg.add_contact(Contact("c-3", "dw-404", "X", None))
    reg.remove_dwelling("dw-001")
    assert reg.contacts_for("dw-001") == []


def test_refuses_to_remove_dwelling_with_open_alarms_unless_forced(reg: SqliteRegistry) -> None:
    reg.add_dwelling(Dwelling("dw-001", "Unit 1"))
    with pytest.raises(Conflict):
        reg.remove_dwelling("dw-001", open_alarms=1)
    reg.remove_dwelling("dw-001", open_alarms=1, force=True)
    assert reg.dwelling("dw-001") is None
    with pytest.raises(NotFound):
        reg.remove_dwelling("dw-001")


def test_operator_passwords(reg: SqliteRegistry) -> None:
    reg.add_operator(Operator("alice", "admin", "Alice"), "correct horse battery")
    assert reg.verify_operator("alice", "correct horse battery") == Operator(
        "alice", "admin", "Alice"
    )
    assert reg.verify_operator("alice", "wrong password!") is None
    assert reg.verify_operator("bob", "correct horse battery") is None
    with pytest.raises(RegistryError):
        reg.add_operator(Operator("bob", "superuser"), "long enough pw")
    with pytest.raises(RegistryError):
        reg.add_operator(Operator("bob", "operator"), "short")
    reg.remove_operator("alice")
    assert reg.operators() == []


def test_password_hash_is_salted_and_not_the_password() -> None:
    a, b = hash_password("same password"), hash_password("same password")
    assert a != b and "same password" not in a
    assert check_password("same password", a) and check_password("same password", b)
    assert not check_password("same password", "garbage")


def test_admin_cli_round_trip(tmp_path: Path) -> None:
    runner = CliRunner()
    d = ["--data-dir", str(tmp_path)]
    r = runner.invoke(admin_app, ["dwelling", "add", "dw-001", "--label", "Unit 1", *d])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        admin_app,
        [
            "contact",
            "add",
            "--dwelling",
            "dw-001",
            "--name",
            "Ann",
            "--email",
            "a@x.org",
            "--id",
            "c-1",
            *d,
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        admin_app, ["operator", "add", "op", "--password-stdin", *d], input="s3cret-password\n"
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(admin_app, ["operator", "add", "op2", *d], input="pw-one-1234\npw-one-1234\n")
    assert r.exit_code == 0, r.output
    assert "Ann" in runner.invoke(admin_app, ["contact", "list", *d]).output
    listed = runner.invoke(admin_app, ["operator", "list", *d]).output
    assert "op\toperator" in listed and "scrypt" not in listed
    reg = SqliteRegistry(tmp_path / "registry.sqlite")
    assert reg.verify_operator("op", "s3cret-password") is not None
    assert reg.verify_operator("op2", "pw-one-1234") is not None
    reg.close()
    r = runner.invoke(admin_app, ["dwelling", "remove", "dw-404", *d])
    assert r.exit_code == 2
    for group in ("dwelling", "contact", "operator"):
        assert runner.invoke(admin_app, [group, "--help"]).exit_code == 0


def test_admin_cli_refuses_removing_dwelling_with_open_alarm(tmp_path: Path) -> None:
    from alerts.model import AlarmKind, AlarmRecord, AlarmState, Severity
    from alerts.store import AlarmStore

    runner = CliRunner()
    d = ["--data-dir", str(tmp_path)]
    assert (
        runner.invoke(admin_app, ["dwelling", "add", "dw-001", "--label", "U1", *d]).exit_code == 0
    )
    alarms = AlarmStore(tmp_path / "alarms.sqlite")
    alarms.insert_alarm(
        AlarmRecord(
            id="alarm-0001",
            dwelling="dw-001",
            kind=AlarmKind.FALL,
            severity=Severity.HIGH,
            state=AlarmState.RAISED,
            source="edge",
            raised_at=1.0,
            received_at=1.0,
        )
    )
    alarms.close()
    r = runner.invoke(admin_app, ["dwelling", "remove", "dw-001", *d])
    assert r.exit_code == 2 and "open alarm" in r.output
    r = runner.invoke(admin_app, ["dwelling", "remove", "dw-001", "--force", *d])
    assert r.exit_code == 0, r.output
