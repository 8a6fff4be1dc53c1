"""The registry's part for the family page: contacts' logins, family sessions (what ends
them, what does not), the daily-summary preference and its once-a-day claim."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import Engine

from alerts.model import Contact
from hub.context import Dwelling
from hub.errors import Conflict, NotFound, RegistryError
from hub.registry import Registry
from tests.ops_store import another_engine

T0 = 1_764_000_000.0
PASSWORD = "een-goed-wachtwoord"  # test-only


@pytest.fixture
def reg(sql_engine: Engine) -> Iterator[Registry]:
    """On SQLite and on PostgreSQL (tests/conftest.py)."""
    r = Registry(sql_engine)
    r.add_dwelling(Dwelling("dw-001", "Unit 1"))
    r.add_dwelling(Dwelling("dw-002", "Unit 2"))
    r.add_contact(Contact("c-anna", "dw-001", "Anna", "anna@example.org"))
    r.add_contact(Contact("c-bob", "dw-002", "Bob", "bob@example.org", "en"))
    yield r
    r.close()


def session(reg: Registry, contact: str = "c-anna", via: str = "password") -> str:
    sid, s = reg.create_family_session(
        contact,
        via,  # type: ignore[arg-type]
        T0,
        max_age_s=30 * 86400,
        idle_s=14 * 86400,
    )
    assert s.contact.id == contact and s.via == via
    return sid


def test_a_login_is_the_contacts_address_and_password(reg: Registry) -> None:
    assert reg.verify_contact("anna@example.org", PASSWORD) is None  # no login yet
    reg.set_contact_password("c-anna", PASSWORD, T0)
    assert reg.has_login("c-anna") and not reg.has_login("c-bob")
    found = reg.verify_contact(" ANNA@example.org ", PASSWORD)
    assert found is not None and found.id == "c-anna" and found.dwelling == "dw-001"
    assert reg.verify_contact("anna@example.org", "niet-het-wachtwoord") is None
    assert reg.verify_contact("bob@example.org", PASSWORD) is None
    stored = reg._rows("SELECT password_hash FROM contact_logins", ())
    assert stored[0][0].startswith("scrypt$") and PASSWORD not in stored[0][0]


def test_set_password_refuses_what_cannot_be_a_login(reg: Registry) -> None:
    with pytest.raises(RegistryError, match="shorter than 10"):
        reg.set_contact_password("c-anna", "kort", T0)
    with pytest.raises(NotFound):
        reg.set_contact_password("c-nobody", PASSWORD, T0)
    reg.add_contact(Contact("c-none", "dw-001", "Zonder adres", None))
    with pytest.raises(RegistryError, match="no e-mail address"):
        reg.set_contact_password("c-none", PASSWORD, T0)
    reg.set_contact_password("c-anna", PASSWORD, T0)
    reg.add_contact(Contact("c-twin", "dw-002", "Anna (ook)", "Anna@Example.org"))
    with pytest.raises(Conflict, match="one login per e-mail address"):
        reg.set_contact_password("c-twin", PASSWORD, T0)


def test_a_session_is_one_contact_and_their_dwelling(reg: Registry) -> None:
    reg.set_contact_password("c-anna", PASSWORD, T0)
    sid = session(reg)
    found = reg.family_session(sid, T0 + 10)
    assert found is not None and found.dwelling == "dw-001" and found.contact.id == "c-anna"
    assert reg.family_session("x" * 43, T0) is None and reg.family_session("junk", T0) is None
    # A password session needs the login; a link session does not.
    with pytest.raises(NotFound):
        session(reg, "c-bob", "password")
    assert reg.family_session(session(reg, "c-bob", "link"), T0) is not None


def test_what_ends_a_session_and_what_does_not(reg: Registry) -> None:
    reg.set_contact_password("c-anna", PASSWORD, T0)
    sid = session(reg)
    anna = reg.contact("c-anna")
    assert anna is not None
    reg.update_contact(replace(anna, name="Anna de Vries"))  # same link key: it lives
    assert reg.family_session(sid, T0) is not None
    reg.update_contact(replace(anna, email="anna@elders.example"))  # a new link key
    assert reg.family_session(sid, T0) is None
    sid = session(reg)
    assert reg.set_contact_password("c-anna", PASSWORD + "-2", T0) == 1  # a new password
    assert reg.family_session(sid, T0) is None
    sid, link = session(reg), session(reg, via="link")
    assert reg.end_family_sessions("c-anna") == 2
    assert reg.family_session(sid, T0) is None and reg.family_session(link, T0) is None
    sid, link = session(reg), session(reg, via="link")
    reg.clear_contact_password("c-anna")
    assert reg.family_session(sid, T0) is None and reg.family_session(link, T0) is None
    link = session(reg, via="link")
    reg.remove_contact("c-anna")
    assert reg.family_session(link, T0) is None


def test_sessions_expire_when_unused_and_in_the_end(reg: Registry) -> None:
    sid, _ = reg.create_family_session("c-anna", "link", T0, max_age_s=7200, idle_s=3600)
    assert reg.family_session(sid, T0 + 3000) is not None  # used: the idle time starts again
    assert reg.family_session(sid, T0 + 6500) is not None
    assert reg.family_session(sid, T0 + 7200) is None  # 2 h: over, however used
    sid, _ = reg.create_family_session("c-anna", "link", T0, max_age_s=7200, idle_s=3600)
    assert reg.family_session(sid, T0 + 3600) is None
    assert reg.family_sessions_of("c-anna", T0) == []


def test_the_daily_summary_is_claimed_once_a_day(reg: Registry) -> None:
    assert not reg.daily_summary("c-anna")
    reg.set_daily_summary("c-anna", True, T0)
    assert reg.daily_summary("c-anna")
    with pytest.raises(NotFound):
        reg.set_daily_summary("c-nobody", True, T0)
    # Switched on at T0: not due for a send time before it.
    assert reg.summaries_due("2025-11-24", T0 - 1) == []
    (due,) = reg.summaries_due("2025-11-25", T0 + 86400)
    assert due.id == "c-anna"
    assert reg.claim_summary("c-anna", "2025-11-25")
    assert not reg.claim_summary("c-anna", "2025-11-25")  # once
    assert reg.summaries_due("2025-11-25", T0 + 86400) == []
    assert reg.claim_summary("c-anna", "2025-11-26")
    # Switching it on again (already on) keeps when it was first switched on.
    reg.set_daily_summary("c-anna", True, T0 + 5 * 86400)
    assert reg.summaries_due("2025-11-27", T0 + 3 * 86400) != []
    reg.set_daily_summary("c-anna", False, T0)
    assert not reg.claim_summary("c-anna", "2025-11-28")
    assert reg.summaries_due("2025-11-28", T0 + 4 * 86400) == []
    with pytest.raises(RegistryError):
        reg.summaries_due("28-11-2025", T0)


def test_one_login_per_address_also_when_two_workers_set_it_at_once(sql_engine: Engine) -> None:
    reg = Registry(sql_engine)
    reg.add_dwelling(Dwelling("dw-001", "Unit 1"))
    for cid in ("c-1", "c-2"):
        reg.add_contact(Contact(cid, "dw-001", cid, "Gedeeld@Example.org"))
    engines = [another_engine(sql_engine) for _ in range(2)]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def set_password(n: int) -> None:
        barrier.wait()
        try:
            Registry(engines[n]).set_contact_password(f"c-{n + 1}", PASSWORD, T0)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=set_password, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.dispose()
    assert sorted(outcomes) == ["conflict", "ok"]
    assert sum(reg.has_login(c) for c in ("c-1", "c-2")) == 1
