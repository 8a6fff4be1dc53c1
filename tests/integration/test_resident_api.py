"""The resident card over the JSON API (httpx's ASGI transport, a real registry): reading
it, revealing its secrets (audited with the operator), who may change it, the audit trail."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from alerts.model import Contact
from hub.context import Actor, Operator
from hub.registry import Registry
from tests.integration.alarm_fakes import FakeClock
from tests.integration.console_client import basic, login, open_console, signed_in
from tests.integration.console_fakes import COORDINATOR, OPERATOR, FakeSleep

pytestmark = pytest.mark.integration

ADMIN = ("root", "admin-password-42")
CODE_1, CODE_2 = "4711", "0815"  # test-only
CARD = "/api/v1/dwellings/dw-001/resident"


@dataclass
class Setup:
    client: httpx.AsyncClient
    registry: Registry
    path: Path
    clock: FakeClock


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    clock = FakeClock()
    async with open_console(tmp_path, clock, sleep=FakeSleep(clock)) as c:
        reg = c.registry
        reg.add_operator(Operator(ADMIN[0], "admin"), ADMIN[1])
        reg.add_contact(
            Contact("c-jan", "dw-001", "Jan (buurman)", None, priority=2, phone="+31 6 1111 2222",
                    role="neighbour")
        )  # fmt: skip
        reg.set_policy("dw-001", [("c-jan", 60), ("c-anna", 120)])
        seeder = Actor("seed", "admin", "cli")
        reg.update_resident(
            "dw-001",
            {"name": "Truus Voorbeeld", "first_name": "Truus", "gp_phone": "030 000 0101",
             "news2_scale": 2, "on_oxygen": True, "key_safe_code": CODE_1,
             "care_notes": "COPD; allergie: penicilline"},
            seeder,
            clock(),
        )  # fmt: skip
        reg.update_resident(
            "dw-002", {"name": "Kees Proef", "key_safe_code": CODE_2}, seeder, clock()
        )
        yield Setup(c.client, reg, tmp_path / "hub.sqlite", clock)


async def session_headers(client: httpx.AsyncClient, user: tuple[str, str]) -> dict[str, str]:
    """Log in through the form; the headers the console's own fetches send."""
    return {"X-Requested-With": "mz-console", "X-CSRF-Token": await signed_in(client, user)}


def views(s: Setup) -> list[tuple[str, str, str, str | None, str]]:
    return [
        (e.action, e.actor, e.role, e.dwelling, e.source)
        for e in s.registry.audit_log()
        if e.action.endswith(".view")
    ]


async def test_the_card_without_secrets_and_the_call_list_in_routing_order(setup: Setup) -> None:
    r = await setup.client.get(CARD, headers=basic(*OPERATOR))
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    card = r.json()
    assert (card["name"], card["first_name"], card["label"]) == (
        "Truus Voorbeeld",
        "Truus",
        "Unit 3, Tuinstraat",
    )
    assert (card["news2_scale"], card["on_oxygen"], card["gp_phone"]) == (2, True, "030 000 0101")
    assert card["has_key_safe"] and card["has_care_notes"]
    assert CODE_1 not in r.text and "penicilline" not in r.text
    assert "key_safe_code" not in card and "care_notes" not in card
    assert [(c["id"], c["step"], c["wait_s"], c["phone"]) for c in card["contacts"]] == [
        ("c-jan", 1, 60.0, "+31 6 1111 2222"),
        ("c-anna", 2, 120.0, None),
    ]
    assert "link_key" not in r.text  # a contact's link key is no business of the card
    assert views(setup) == []  # reading the card reveals nothing, so audits nothing


async def test_revealing_the_key_safe_is_audited_with_the_operator(setup: Setup) -> None:
    client = setup.client
    headers = await session_headers(client, OPERATOR)
    r = await client.post(f"{CARD}/key-safe", headers=headers, json={"reason": "alarm a-1"})
    assert r.status_code == 200, r.text
    assert r.json() == {"dwelling": "dw-001", "key_safe_code": CODE_1}
    assert r.headers["cache-control"] == "no-store"
    r = await client.post(f"{CARD}/care-notes", headers=headers)
    assert r.json()["care_notes"] == "COPD; allergie: penicilline"
    assert r.headers["cache-control"] == "no-store"
    assert views(setup) == [
        ("resident.care_notes.view", "jan", "operator", "dw-001", "console"),
        ("resident.key_safe.view", "jan", "operator", "dw-001", "console"),
    ]
    # Written where every process sees it: the registry file.
    with sqlite3.connect(setup.path) as conn:
        rows = conn.execute("SELECT actor, detail FROM audit WHERE action LIKE '%.view'")
        assert ("jan", "alarm a-1") in rows.fetchall()
    conn.close()
    # A script with HTTP Basic is recorded as the API.
    client.cookies.clear()
    r = await client.post(f"{CARD}/key-safe", headers=basic(*OPERATOR))
    assert r.json()["key_safe_code"] == CODE_1
    assert views(setup)[0] == ("resident.key_safe.view", "jan", "operator", "dw-001", "api")


async def test_a_reveal_needs_post_csrf_and_our_origin(setup: Setup) -> None:
    client = setup.client
    headers = await session_headers(client, OPERATOR)
    assert (await client.get(f"{CARD}/key-safe", headers=headers)).status_code == 405
    no_token = {"X-Requested-With": "mz-console"}
    r = await client.post(f"{CARD}/key-safe", headers=no_token)
    assert r.status_code == 403 and CODE_1 not in r.text
    r = await client.post(f"{CARD}/key-safe", headers={**headers, "Origin": "https://evil.example"})
    assert r.status_code == 403 and CODE_1 not in r.text
    client.cookies.clear()
    r = await client.post(f"{CARD}/key-safe", headers={"X-Requested-With": "mz-console"})
    assert r.status_code == 401
    assert views(setup) == []


async def test_an_operator_may_not_change_a_card_a_coordinator_may(setup: Setup) -> None:
    client = setup.client
    change = {"gp_phone": "030 000 0202", "key_safe_code": "9999"}
    for method in ("PATCH", "PUT"):
        r = await client.request(method, CARD, headers=basic(*OPERATOR), json=change)
        assert r.status_code == 403, r.text
    assert (
        setup.registry.reveal_key_safe("dw-001", Actor("t", "admin", "cli"), setup.clock())
        == CODE_1
    )

    headers = await session_headers(client, COORDINATOR)
    r = await client.patch(CARD, headers=headers, json=change)
    assert r.status_code == 200, r.text
    card = r.json()
    assert card["gp_phone"] == "030 000 0202" and card["name"] == "Truus Voorbeeld"
    assert card["updated_by"] == "coco" and "9999" not in r.text
    trail = await client.get("/api/v1/audit?dwelling=dw-001", headers=headers)
    assert trail.status_code == 200 and trail.headers["cache-control"] == "no-store"
    newest = trail.json()[0]
    assert (newest["actor"], newest["role"], newest["action"], newest["source"]) == (
        "coco",
        "coordinator",
        "resident.update",
        "console",
    )
    assert newest["detail"] == "changed: gp_phone, key_safe_code" and "9999" not in trail.text

    # PUT sets the whole card: what it leaves out is cleared; the secrets stay.
    r = await client.put(CARD, headers=headers, json={"name": "Truus V.", "first_name": "Truus"})
    assert r.status_code == 200, r.text
    card = r.json()
    assert (card["name"], card["gp_phone"], card["news2_scale"], card["on_oxygen"]) == (
        "Truus V.",
        None,
        1,
        False,
    )
    assert card["has_key_safe"] and card["has_care_notes"]
    r = await client.post(f"{CARD}/key-safe", headers=headers)
    assert r.json()["key_safe_code"] == "9999"


async def test_bad_changes_get_a_clear_422(setup: Setup) -> None:
    client = setup.client
    auth = basic(*ADMIN)
    for body, says in [
        ({"gp_phone": "bel maar"}, "gp_phone: not a phone number"),
        ({"news2_scale": 3}, "news2_scale: the SpO2 scale is 1 or 2"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"name": "x" * 101}, "name: at most 100"),
    ]:
        r = await client.patch(CARD, headers=auth, json=body)
        assert r.status_code == 422 and says in r.json()["detail"], r.text
    for body in [{"on_oxygen": "yes"}, {"shoe_size": 43}, {"news2_scale": "2"}]:
        assert (await client.patch(CARD, headers=auth, json=body)).status_code == 422
    card = (await client.get(CARD, headers=auth)).json()
    assert (card["gp_phone"], card["news2_scale"], card["on_oxygen"]) == ("030 000 0101", 2, True)


async def test_one_dwelling_never_reaches_another_card(setup: Setup) -> None:
    client = setup.client
    auth = basic(*OPERATOR)
    r = await client.post("/api/v1/dwellings/dw-002/resident/key-safe", headers=auth)
    assert r.json() == {"dwelling": "dw-002", "key_safe_code": CODE_2}
    other = (await client.get("/api/v1/dwellings/dw-002/resident", headers=auth)).json()
    assert other["name"] == "Kees Proef" and [c["id"] for c in other["contacts"]] == ["c-bob"]
    before = len(setup.registry.audit_log())
    for spoofed in ["dw-404", "DW-001", "dw-001%20", "dw-001'%20OR%20'1'='1", "dw-00%25", "%20"]:
        path = f"/api/v1/dwellings/{spoofed}/resident"
        assert (await client.get(path, headers=auth)).status_code == 404, spoofed
        r = await client.post(f"{path}/key-safe", headers=auth)
        assert r.status_code == 404 and CODE_1 not in r.text and CODE_2 not in r.text, spoofed
        admin = basic(*ADMIN)
        r = await client.patch(path, headers=admin, json={"name": "X"})
        assert r.status_code == 404, spoofed
    assert len(setup.registry.audit_log()) == before  # nothing revealed, nothing audited


async def test_the_audit_trail_is_for_coordinators_and_admins(setup: Setup) -> None:
    client = setup.client
    await client.post(f"{CARD}/key-safe", headers=basic(*OPERATOR))
    assert (await client.get("/api/v1/audit", headers=basic(*OPERATOR))).status_code == 403
    r = await client.get("/api/v1/audit", headers=basic(*ADMIN))
    assert r.status_code == 200
    assert [e["action"] for e in r.json()] == [
        "resident.key_safe.view",
        "resident.update",
        "resident.update",
    ]
    only = await client.get("/api/v1/audit?dwelling=dw-002", headers=basic(*ADMIN))
    assert [e["dwelling"] for e in only.json()] == ["dw-002"]
    later = await client.get(f"/api/v1/audit?since={setup.clock() + 1}", headers=basic(*ADMIN))
    assert later.json() == []
    assert (await client.get("/api/v1/audit?limit=0", headers=basic(*ADMIN))).status_code == 422


async def test_no_audit_row_no_secret_over_the_api(setup: Setup) -> None:
    with sqlite3.connect(setup.path) as conn:
        conn.execute(
            "CREATE TRIGGER no_audit BEFORE INSERT ON audit"
            " BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
        )
    conn.close()
    r = await setup.client.post(f"{CARD}/key-safe", headers=basic(*OPERATOR))
    assert r.status_code == 503 and CODE_1 not in r.text
    assert "audit trail" in r.json()["detail"]
    r = await setup.client.patch(CARD, headers=basic(*ADMIN), json={"name": "X"})
    assert r.status_code == 503
    card = (await setup.client.get(CARD, headers=basic(*ADMIN))).json()
    assert card["name"] == "Truus Voorbeeld"


async def test_a_coordinator_works_the_console(setup: Setup) -> None:
    r = await login(setup.client, *COORDINATOR)
    assert r.status_code == 303
    assert (await setup.client.get("/")).status_code == 200
    assert (await setup.client.get("/api/v1/alarms")).status_code == 200
