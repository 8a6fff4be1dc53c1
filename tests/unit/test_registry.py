from __future__ import annotations

import shlex
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from alerts.model import Contact
from alerts.routing import DEFAULT_POLICY, Policy, Recipient, parse_window
from hub.admin_cli import app as admin_app
from hub.config import OPS_DB
from hub.context import Dwelling, Operator
from hub.context import Registry as ConsoleRegistry
from hub.errors import Conflict, NotFound, RegistryError
from hub.registry import Registry, SqliteRegistry, check_password, hash_password
from tests.ops_store import another_engine, imported_registry


@pytest.fixture
def reg(sql_engine: Engine) -> Iterator[Registry]:
    """On SQLite and on PostgreSQL (tests/conftest.py)."""
    r = Registry(sql_engine)
    yield r
    r.close()


def test_satisfies_the_console_protocol(reg: Registry) -> None:
    typed: ConsoleRegistry = reg
    assert typed is reg


def test_dwellings(reg: Registry) -> None:
    reg.add_dwelling(Dwelling("dw-002", "Unit 2", "Tuinstraat 2", "en"))
    reg.add_dwelling(Dwelling("dw-001", "Unit 1"))
    assert [d.id for d in reg.dwellings()] == ["dw-001", "dw-002"]
    assert reg.dwelling("dw-002") == Dwelling("dw-002", "Unit 2", "Tuinstraat 2", "en")
    assert reg.dwelling("dw-404") is None
    with pytest.raises(Conflict):
        reg.add_dwelling(Dwelling("dw-001", "again"))
    # Ingest asks about a whole batch's dwellings at once; more than one query's worth too.
    many = {f"dx-{i:04d}" for i in range(1200)}
    assert reg.registered({"dw-001", "dw-404", *many}) == {"dw-001"}
    assert reg.registered(set()) == set()


@pytest.mark.parametrize("bad", ["DW-1", "dw/1", "dw+1", "x", "Jan Jansen"])
def test_dwelling_ids_must_be_pseudonymous(reg: Registry, bad: str) -> None:
    with pytest.raises(RegistryError):
        reg.add_dwelling(Dwelling(bad, "label"))


def test_contacts_ordered_by_priority_and_removed_with_dwelling(reg: Registry) -> None:
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


def test_refuses_to_remove_dwelling_with_open_alarms_unless_forced(reg: Registry) -> None:
    reg.add_dwelling(Dwelling("dw-001", "Unit 1"))
    with pytest.raises(Conflict):
        reg.remove_dwelling("dw-001", open_alarms=1)
    reg.remove_dwelling("dw-001", open_alarms=1, force=True)
    assert reg.dwelling("dw-001") is None
    with pytest.raises(NotFound):
        reg.remove_dwelling("dw-001")


def test_operator_passwords(reg: Registry) -> None:
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
    reg = SqliteRegistry(tmp_path / "hub.sqlite")
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
    from tests.ops_store import ops_engine

    runner = CliRunner()
    d = ["--data-dir", str(tmp_path)]
    assert (
        runner.invoke(admin_app, ["dwelling", "add", "dw-001", "--label", "U1", *d]).exit_code == 0
    )
    engine = ops_engine(tmp_path)
    alarms = AlarmStore(engine)
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
    engine.dispose()
    r = runner.invoke(admin_app, ["dwelling", "remove", "dw-001", *d])
    assert r.exit_code == 2 and "open alarm" in r.output
    r = runner.invoke(admin_app, ["dwelling", "remove", "dw-001", "--force", *d])
    assert r.exit_code == 0, r.output


# -- contacts' channels, roles, windows; routing; the alarm centre -----------------

DAY = (parse_window("07:00-22:00"),)


@pytest.fixture
def dw(reg: Registry) -> Registry:
    reg.add_dwelling(Dwelling("dw-001", "Unit 1"))
    reg.add_dwelling(Dwelling("dw-002", "Unit 2"))
    reg.add_contact(Contact("c-ann", "dw-001", "Ann", "ann@example.org", priority=1))
    reg.add_contact(
        Contact(
            "c-jan",
            "dw-001",
            "Jan",
            None,
            priority=2,
            phone="+31 6 1234 5678",
            channels=("ntfy://127.0.0.1:8080/jan", "json://127.0.0.1:8080/hook"),
            role="neighbour",
            windows=DAY,
        )
    )
    reg.add_contact(
        Contact("c-inst", "dw-001", "Installer", "i@example.org", priority=9, role="installer")
    )
    reg.add_contact(Contact("c-bob", "dw-002", "Bob", "bob@example.org"))
    return reg


def test_contact_fields_round_trip(dw: Registry) -> None:
    jan = dw.contact("c-jan")
    assert jan is not None
    assert (jan.phone, jan.role, jan.windows) == ("+31 6 1234 5678", "neighbour", DAY)
    assert jan.targets == ("ntfy://127.0.0.1:8080/jan", "json://127.0.0.1:8080/hook")
    ann = dw.contacts_for("dw-001")[0]
    assert (ann.role, ann.channels, ann.windows, ann.phone) == ("family", (), (), None)
    assert ann.targets == ("mailto:ann@example.org",)
    assert dw.contact("c-404") is None


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"role": "boss"}, "role"),
        ({"phone": "call me"}, "phone"),
        ({"channels": ("ntfy://x/y", "ntfy://x/y")}, "twice"),
        ({"channels": ("",)}, "channel"),
        ({"channels": ("ntfy://x/ y",)}, "spaces"),
        ({"email": "nope"}, "e-mail"),
        ({"language": "de"}, "language"),
        ({"name": " "}, "name"),
    ],
)
def test_contact_fields_are_checked(dw: Registry, change: dict[str, object], says: str) -> None:
    base = Contact("c-new", "dw-001", "New", None)
    with pytest.raises(RegistryError, match=says):
        dw.add_contact(replace(base, **change))  # type: ignore[arg-type]
    ann = dw.contact("c-ann")
    assert ann is not None
    with pytest.raises(RegistryError, match=says):
        dw.update_contact(replace(ann, **change))  # type: ignore[arg-type]
    assert dw.contact("c-ann") == ann


def test_channel_check_hook_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    def only_ntfy(url: str) -> None:
        if not url.startswith("ntfy://"):
            raise ValueError("unsupported scheme")

    reg = SqliteRegistry(tmp_path / "r.sqlite", channel_check=only_ntfy)
    reg.add_dwelling(Dwelling("dw-001", "Unit 1"))
    reg.add_contact(Contact("c-1", "dw-001", "Ann", None, channels=("ntfy://h/t",)))
    with pytest.raises(RegistryError, match="unsupported scheme"):
        reg.add_contact(Contact("c-2", "dw-001", "Piet", None, channels=("foo://h",)))
    reg.close()


def test_update_contact_keeps_the_link_key_unless_an_address_changes(dw: Registry) -> None:
    ann = dw.contact("c-ann")
    assert ann is not None
    renamed = dw.update_contact(replace(ann, name="Ann de Vries", windows=DAY, role="care"))
    assert renamed.link_key == ann.link_key
    assert dw.contact("c-ann") == renamed
    moved = dw.update_contact(replace(renamed, email="ann@elders.example.org"))
    assert moved.link_key != ann.link_key and dw.contact("c-ann") == moved
    assert dw.update_contact(replace(moved, channels=("ntfy://h/ann",))).link_key != moved.link_key
    with pytest.raises(NotFound):
        dw.update_contact(Contact("c-404", "dw-001", "X", None))
    with pytest.raises(RegistryError, match="remove it"):
        dw.update_contact(replace(moved, dwelling="dw-002"))


def test_default_policy_is_the_contacts_in_priority_order(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path / "r.sqlite", default_wait_s=90)
    reg.add_dwelling(Dwelling("dw-001", "Unit 1"))
    reg.add_contact(Contact("c-2", "dw-001", "Piet", None, priority=2, windows=DAY))
    reg.add_contact(Contact("c-1", "dw-001", "Ann", None, priority=1))
    reg.add_contact(Contact("c-i", "dw-001", "Installer", None, priority=3, role="installer"))
    assert reg.policy("dw-001") == Policy(
        (Recipient("c-1", 90), Recipient("c-2", 90, DAY)), installer="c-i"
    )
    assert reg.policy("dw-404") == DEFAULT_POLICY
    assert not reg.has_own_policy("dw-001")
    reg.close()
    with pytest.raises(ValueError):
        SqliteRegistry(tmp_path / "r.sqlite", default_wait_s=-1)


def test_stored_policy_takes_windows_from_contacts_and_forgets_removed_ones(
    dw: Registry,
) -> None:
    policy = dw.set_policy("dw-001", [("c-jan", 60), ("c-ann", 300)], centre_after_s=200)
    assert policy == Policy(
        (Recipient("c-jan", 60, DAY), Recipient("c-ann", 300)),
        centre_after_s=200,
        installer="c-inst",  # none given: the dwelling's installer contact
    )
    assert dw.policy("dw-001") == policy and dw.has_own_policy("dw-001")
    assert dw.policy("dw-002").recipients == (Recipient("c-bob", 120),)  # still the default
    # A contact's new windows are the policy's at once.
    jan = dw.contact("c-jan")
    assert jan is not None
    dw.update_contact(replace(jan, windows=()))
    assert dw.policy("dw-001").recipients[0] == Recipient("c-jan", 60)
    dw.set_policy("dw-001", [("c-ann", 30), ("c-jan", 30)], installer="c-ann")
    assert dw.policy("dw-001").installer == "c-ann"
    dw.remove_contact("c-ann")
    after = dw.policy("dw-001")
    assert after.recipients == (Recipient("c-jan", 30),)
    assert after.installer == "c-inst" and after.centre_after_s is None
    dw.add_contact(Contact("c-ann", "dw-001", "Ann", None))  # re-added: not in the order
    assert [r.contact_id for r in dw.policy("dw-001").recipients] == ["c-jan"]
    assert dw.reset_policy("dw-001") is True
    assert dw.reset_policy("dw-001") is False
    assert [r.contact_id for r in dw.policy("dw-001").recipients] == ["c-ann", "c-jan"]


@pytest.mark.parametrize(
    ("dwelling", "order", "kw", "error"),
    [
        ("dw-404", [("c-ann", 60.0)], {}, NotFound),
        ("dw-001", [("c-bob", 60.0)], {}, RegistryError),  # another dwelling's
        ("dw-001", [("c-404", 60.0)], {}, RegistryError),
        ("dw-001", [("c-ann", 60.0), ("c-ann", 30.0)], {}, RegistryError),
        ("dw-001", [("c-ann", -1.0)], {}, RegistryError),
        ("dw-001", [("c-ann", float("nan"))], {}, RegistryError),
        ("dw-001", [("c-ann", 60.0)], {"centre_after_s": -5.0}, RegistryError),
        ("dw-001", [("c-ann", 60.0)], {"installer": "c-bob"}, RegistryError),
    ],
)
def test_set_policy_refuses_what_it_cannot_store(
    dw: Registry,
    dwelling: str,
    order: list[tuple[str, float]],
    kw: dict[str, Any],
    error: type[Exception],
) -> None:
    before = dw.policy("dw-001")
    with pytest.raises(error):
        dw.set_policy(dwelling, order, **kw)
    assert dw.policy("dw-001") == before and not dw.has_own_policy("dw-001")


def test_alarm_centre_accounts(dw: Registry) -> None:
    assert dw.alarm_centre_account("dw-001") is None
    dw.set_alarm_centre_account("dw-001", "12ab")
    assert dw.alarm_centre_account("dw-001") == "12AB"
    dw.set_alarm_centre_account("dw-001", "1234")  # replaced
    assert dw.alarm_centre_account("dw-001") == "1234"
    with pytest.raises(Conflict):
        dw.set_alarm_centre_account("dw-002", "1234")
    for bad in ("12", "12345678901234567", "12G4", " 123", "12-34"):
        with pytest.raises(RegistryError, match="hex"):
            dw.set_alarm_centre_account("dw-002", bad)
    with pytest.raises(NotFound):
        dw.set_alarm_centre_account("dw-404", "ABC")
    dw.set_alarm_centre_account("dw-001", None)
    dw.set_alarm_centre_account("dw-002", "1234")  # free again
    dw.remove_dwelling("dw-002")
    dw.add_dwelling(Dwelling("dw-002", "Unit 2"))
    assert dw.alarm_centre_account("dw-002") is None


def test_sensor_zones(dw: Registry) -> None:
    assert dw.zone("dw-001", "pendant-1") == 0  # unknown: "no zone", the whole dwelling
    dw.set_zone("dw-001", "pendant-1", 1)
    dw.set_zone("dw-001", "bed-1", 2)
    dw.set_zone("dw-002", "pendant-1", 1)  # zones are per dwelling
    assert dw.zone("dw-001", "pendant-1") == 1 and dw.zone("dw-001", "bed-1") == 2
    dw.set_zone("dw-001", "pendant-1", 999)
    assert dw.zones("dw-001") == {"bed-1": 2, "pendant-1": 999}
    with pytest.raises(Conflict):
        dw.set_zone("dw-001", "door-1", 2)
    for bad in (0, 1000, -1):
        with pytest.raises(RegistryError, match="1-999"):
            dw.set_zone("dw-001", "door-1", bad)
    with pytest.raises(RegistryError):
        dw.set_zone("dw-001", "Door 1", 3)
    with pytest.raises(NotFound):
        dw.set_zone("dw-404", "door-1", 3)


def test_a_registry_made_before_routing_is_imported(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"  # as the hub of 2026-11 left it
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE dwellings (id TEXT PRIMARY KEY, label TEXT NOT NULL,
                address TEXT NOT NULL DEFAULT '', language TEXT NOT NULL DEFAULT 'nl');
            CREATE TABLE contacts (id TEXT PRIMARY KEY,
                dwelling TEXT NOT NULL REFERENCES dwellings (id) ON DELETE CASCADE,
                name TEXT NOT NULL, email TEXT, language TEXT NOT NULL DEFAULT 'nl',
                priority INTEGER NOT NULL DEFAULT 1, link_key TEXT NOT NULL DEFAULT '');
            INSERT INTO dwellings (id, label) VALUES ('dw-001', 'Unit 1');
            INSERT INTO contacts (id, dwelling, name, email, link_key)
                VALUES ('c-1', 'dw-001', 'Ann', 'ann@example.org', 'k');
            """
        )
    conn.close()
    reg = imported_registry(tmp_path)
    ann = reg.contact("c-1")
    assert ann == Contact("c-1", "dw-001", "Ann", "ann@example.org", link_key="k")
    reg.set_policy("dw-001", [("c-1", 45)])
    reg.set_alarm_centre_account("dw-001", "ABC")
    reg.close()
    again = SqliteRegistry(tmp_path / OPS_DB)
    assert again.policy("dw-001").recipients == (Recipient("c-1", 45),)
    assert again.alarm_centre_account("dw-001") == "ABC"
    again.close()


# -- mz admin: contacts, routing, the alarm centre ---------------------------------


def test_admin_cli_routing_and_alarm_centre(tmp_path: Path) -> None:
    runner = CliRunner()
    d = ["--data-dir", str(tmp_path)]

    def ok(*args: str) -> str:
        """Run `mz admin` with these arguments (one string: split like a shell)."""
        if len(args) == 1:
            args = tuple(shlex.split(args[0]))
        r = runner.invoke(admin_app, [*args, *d])
        assert r.exit_code == 0, r.output
        return r.output

    def refused(*args: str) -> str:
        r = runner.invoke(admin_app, [*args, *d])
        assert r.exit_code == 2, r.output
        return r.output

    ok("dwelling", "add", "dw-001", "--label", "Unit 1")
    ok("contact add --dwelling dw-001 --name Ann --email a@x.org --id c-ann")
    ok(
        "contact add --dwelling dw-001 --name Jan --id c-jan --priority 2 --role neighbour"
        " --phone +31612345678 --channel 'ntfy://127.0.0.1/jan?token=secret'"
        " --channel json://127.0.0.1/h --window 07:00-22:00 --window 'za,zo 06:00-07:00'"
    )
    ok("contact add --dwelling dw-001 --name Inst --id c-i --role installer")
    listed = ok("contact", "list", "--dwelling", "dw-001")
    assert "neighbour\t+31612345678\tntfy,json\t07:00-22:00; za-zo 06:00-07:00" in listed
    assert "secret" not in listed  # only the channels' schemes are shown
    assert "c-ann\tdw-001\tAnn\ta@x.org\tnl\t1\tfamily\t\tmailto\talways" in listed

    reg = SqliteRegistry(tmp_path / "hub.sqlite")
    jan = reg.contact("c-jan")
    assert jan is not None and len(jan.windows) == 2 and jan.channels[1] == "json://127.0.0.1/h"
    reg.close()

    # A neighbour not at night: at 03:00 the plan skips Jan and hands over after Ann.
    night = ok("routing", "show", "dw-001", "--at", "2026-11-22 03:00")
    assert "the default" in night and "c-i (Inst, installer)" in night
    normal, critical, technical = night.split("\n\n")[1:4]
    assert "c-jan" not in normal and "+2:00     ALARM CENTRE" in normal
    assert "+0:00     ALARM CENTRE" in critical and "c-ann" in critical
    assert "c-ann" not in technical and "c-i" in technical

    ok("routing set dw-001 --contact c-jan:60 --contact c-ann:300 --centre-after 200")
    day = ok("routing", "show", "dw-001", "--at", "2026-11-22T10:00")
    assert "its own" in day and "at most 200 s (3:20)" in day
    normal = day.split("\n\n")[1]
    assert [line.split()[0] for line in normal.splitlines()[1:]] == ["+0:00", "+1:00", "+3:20"]
    reg = SqliteRegistry(tmp_path / "hub.sqlite")
    assert [r.contact_id for r in reg.policy("dw-001").recipients] == ["c-jan", "c-ann"]
    reg.close()
    assert "reset" in ok("routing", "reset", "dw-001")
    assert "the default" in ok("routing", "show", "dw-001")

    ok("contact", "update", "c-jan", "--no-windows", "--email", "jan@x.org", "--name", "Jan B.")
    reg = SqliteRegistry(tmp_path / "hub.sqlite")
    jan = reg.contact("c-jan")
    assert jan is not None and (jan.name, jan.windows, jan.email) == ("Jan B.", (), "jan@x.org")
    assert jan.role == "neighbour" and len(jan.channels) == 2  # untouched
    reg.close()

    assert "12AB" in ok("alarm-centre", "account", "dw-001", "12ab")
    assert ok("alarm-centre", "account", "dw-001").strip() == "12AB"
    ok("alarm-centre", "zone", "dw-001", "pendant-1", "7")
    assert "007\tpendant-1" in ok("alarm-centre", "show", "dw-001")

    for args, says in [
        (("routing", "set", "dw-001", "--contact", "c-ann"), "ID:WAIT_S"),
        (("routing", "set", "dw-001", "--contact", "c-ann:soon"), "ID:WAIT_S"),
        (("routing", "set", "dw-001", "--contact", "c-ann:-3"), "ID:WAIT_S"),
        (("routing", "set", "dw-001", "--contact", "c-404:60"), "not a contact"),
        (("routing", "set", "dw-001"), "at least one"),
        (("routing", "set", "dw-001", "--contact", "c-ann:1", "--installer", "c-404"), "c-404"),
        (("routing", "show", "dw-404"), "no dwelling"),
        (("routing", "show", "dw-001", "--at", "tomorrow"), "--at"),
        (("routing", "show", "dw-001", "--tz", "Mars/Olympus"), "--tz"),
        (("routing", "reset", "dw-404"), "not found"),
        (("contact", "add", "--dwelling", "dw-001", "--name", "X", "--window", "ma-vr"), "window"),
        (("contact", "add", "--dwelling", "dw-001", "--name", "X", "--role", "boss"), "role"),
        (("contact", "update", "c-404", "--name", "X"), "no contact"),
        (("contact", "update", "c-ann", "--window", "25:00-26:00"), "time of day"),
        (("contact", "update", "c-ann", "--channel", "a b"), "spaces"),
        (("alarm-centre", "account", "dw-001", "xyz"), "hex"),
        (("alarm-centre", "account", "dw-404", "123"), "not found"),
        (("alarm-centre", "zone", "dw-001", "pendant-2", "1000"), "1-999"),
        (("alarm-centre", "zone", "dw-001", "pendant-2", "7"), "another sensor"),
        (("alarm-centre", "zone", "dw-001", "pendant-2", "seven"), "Invalid value"),
    ]:
        assert says in refused(*args), args
    for group in ("routing", "alarm-centre"):
        assert runner.invoke(admin_app, [group, "--help"]).exit_code == 0


def test_workers_setting_one_policy_at_once_all_succeed(sql_engine: Engine) -> None:
    """Several workers (own engines) store a policy for one dwelling at the same moment:
    each change is whole (the dwelling's row is locked), none fails on the other's row."""
    reg = Registry(sql_engine)
    reg.add_dwelling(Dwelling("dw-001", "Unit 1"))
    for cid in ("c-1", "c-2"):
        reg.add_contact(Contact(cid, "dw-001", cid, None))
    engines = [another_engine(sql_engine) for _ in range(4)]
    failed: list[BaseException] = []
    barrier = threading.Barrier(len(engines))

    def store(n: int) -> None:
        try:
            barrier.wait()
            order = [("c-1", 10.0 + n), ("c-2", 20.0)] if n % 2 else [("c-2", 30.0 + n)]
            Registry(engines[n]).set_policy("dw-001", order)
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=store, args=(n,)) for n in range(len(engines))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.dispose()
    assert failed == []
    steps = reg.policy("dw-001").recipients
    assert [r.contact_id for r in steps] in (["c-1", "c-2"], ["c-2"])  # one of them, whole
