"""The resident card in the console (httpx's ASGI transport, a real registry): the panel on
the dwelling page without its secrets, a secret revealed without JavaScript (audited in the
operator's name, not cached), the coordinator's edit form, the audit trail page."""

from __future__ import annotations

import asyncio
import html as htmllib
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from hub.context import Actor
from hub.registry import Registry
from tests.integration.alarm_fakes import FakeClock
from tests.integration.console_client import open_console, signed_in
from tests.integration.console_fakes import (
    CARE_NOTES,
    COORDINATOR,
    KEY_SAFE_CODE,
    OPERATOR,
    FakeSleep,
    seed_resident,
)
from tests.servers import wait_until

pytestmark = pytest.mark.integration

PAGE = "/dwellings/dw-001"
EDIT = "/dwellings/dw-001/resident/edit"


@dataclass
class Setup:
    app: FastAPI
    client: httpx.AsyncClient
    registry: Registry
    path: Path
    clock: FakeClock


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    clock = FakeClock()
    async with open_console(tmp_path, clock, sleep=FakeSleep(clock)) as c:
        seed_resident(c.registry, clock() - 86400)
        yield Setup(c.app, c.client, c.registry, tmp_path / "hub.sqlite", clock)


def panel(html: str) -> str:
    found = re.search(r'<section class="panel resident" id="resident".*?</section>', html, re.S)
    assert found, html
    return found.group(0)


def text_of(html: str) -> str:
    return htmllib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def views(s: Setup) -> list[tuple[str, str, str, str | None, str, str]]:
    return [
        (e.action, e.actor, e.role, e.dwelling, e.source, e.detail)
        for e in s.registry.audit_log()
        if e.action.endswith(".view")
    ]


def form_fields(html: str) -> dict[str, str]:
    """What the browser would post for the page's edit form, as it stands."""
    form = re.search(r'<form method="post" action="[^"]*/resident/edit".*?</form>', html, re.S)
    assert form, html
    out: dict[str, str] = {}
    for tag in re.findall(r"<input [^>]*>", form.group(0)):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        assert name
        if 'type="checkbox"' in tag and " checked" not in tag:
            continue
        out[name.group(1)] = htmllib.unescape(value.group(1)) if value else ""
    for name, body in re.findall(
        r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', form.group(0), re.S
    ):
        out[name] = htmllib.unescape(body)
    for name, body in re.findall(
        r'<select name="([^"]+)"[^>]*>(.*?)</select>', form.group(0), re.S
    ):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        out[name] = chosen.group(1) if chosen else ""
    return out


async def test_the_dwelling_page_shows_the_card_without_its_secrets(setup: Setup) -> None:
    client = setup.client
    await signed_in(client, OPERATOR)
    r = await client.get(PAGE)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    card = panel(r.text)
    words = text_of(card)
    assert "Truus Voorbeeld" in words and "roepnaam Truus" in words
    assert "87 jaar" in words and "12-04-1938" in words  # on 24-11-2025 (the fake clock)
    assert "Huisartsenpraktijk De Voorbeeldhoek" in words
    assert "Schaal 2 (voorgeschreven, doel 88-92 %)" in words
    assert "Sleutelkluis links van de voordeur." in words and "DEMO-0001" in words
    assert "Tuinstraat 3, 3512 AB Utrecht" in words
    assert '<a class="tel" href="tel:0300000101">030 000 0101</a>' in card  # the GP
    assert 'href="tel:+31300000001"' in card  # the resident
    # The call list in routing order: Jan (step 1, 60 s), then Anna (no phone).
    rows = re.findall(
        r'<li class="asked"><span class="rc-step">(\d)</span>.*?<strong>([^<]+)', card
    )
    assert rows == [("1", "Jan Buurman"), ("2", "Anna de Vries")]
    assert 'href="tel:+31611112222"' in card and "geen telefoonnummer" in words
    # The secrets: buttons, never the values.
    assert "Sleutelkluiscode tonen" in words and "Zorgnotities tonen" in words
    assert KEY_SAFE_CODE not in r.text and "penicilline" not in r.text
    assert 'src="/static/resident.js"' in r.text
    # An operator does not edit the card nor read the audit trail: no links to them.
    assert "/resident/edit" not in r.text and "/audit" not in r.text
    assert views(setup) == []  # showing the card reveals nothing, so audits nothing
    english = text_of(panel((await client.get(f"{PAGE}?lang=en")).text))
    assert "Show key-safe code" in english and "Call list" in english and "87 years" in english


async def test_the_live_part_carries_the_same_panel(setup: Setup) -> None:
    client = setup.client
    await signed_in(client, COORDINATOR)
    page = await client.get(PAGE)
    version = re.search(r'id="dwelling-live" [^>]*data-v="([^"]+)"', page.text)
    assert version
    live = setup.app.state.live
    task = asyncio.ensure_future(client.get("/events?dwelling=dw-001"))
    await wait_until(lambda: live.clients == 1, timeout=10)
    live.close()
    stream = (await asyncio.wait_for(task, 10)).text
    parts = [
        json.loads(line.removeprefix("data: "))
        for line in stream.splitlines()
        if line.startswith("data: ") and '"dwelling-live"' in line
    ]
    assert len(parts) == 1 and parts[0]["v"] == version.group(1)  # rendered alike
    html = parts[0]["html"]
    assert "Sleutelkluiscode tonen" in html and KEY_SAFE_CODE not in html
    assert 'href="/dwellings/dw-001/resident/edit"' in html  # the coordinator's links too
    assert 'href="/audit?dwelling=dw-001"' in html


async def test_revealing_without_javascript_is_audited_and_not_cached(setup: Setup) -> None:
    client = setup.client
    csrf = await signed_in(client, OPERATOR)
    action = re.search(
        r'<form method="post" action="([^"]+/key-safe)"', (await client.get(PAGE)).text
    )
    assert action and action.group(1) == "/dwellings/dw-001/resident/key-safe"
    r = await client.post(action.group(1), data={"csrf": csrf, "reason": "alarm a-1"})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["refresh"] == "60; url=/dwellings/dw-001"  # leaves the screen after 60 s
    words = text_of(r.text)
    assert KEY_SAFE_CODE in words
    assert "Deze inzage is vastgelegd op naam van Jan Jansen, 17:00:00." in words
    r = await client.post("/dwellings/dw-001/resident/care-notes", data={"csrf": csrf})
    assert r.status_code == 200 and CARE_NOTES in text_of(r.text)
    assert r.headers["cache-control"] == "no-store"
    assert views(setup) == [
        ("resident.care_notes.view", "jan", "operator", "dw-001", "console", ""),
        ("resident.key_safe.view", "jan", "operator", "dw-001", "console", "alarm a-1"),
    ]
    # Written where every process sees it: the registry file.
    with sqlite3.connect(setup.path) as conn:
        n = conn.execute("SELECT count(*) FROM audit WHERE actor = 'jan'").fetchone()[0]
    conn.close()
    assert n == 2


async def test_a_reveal_of_nothing_says_so_and_is_audited_too(setup: Setup) -> None:
    csrf = await signed_in(setup.client, OPERATOR)
    page = await setup.client.get("/dwellings/dw-002")
    assert "De bewonerskaart is nog niet ingevuld." in text_of(panel(page.text))
    assert "Sleutelkluiscode tonen" not in page.text  # nothing stored: no button
    r = await setup.client.post("/dwellings/dw-002/resident/key-safe", data={"csrf": csrf})
    assert r.status_code == 200 and "Geen sleutelkluiscode opgeslagen." in text_of(r.text)
    assert views(setup) == [
        ("resident.key_safe.view", "jan", "operator", "dw-002", "console", "none stored")
    ]


async def test_a_reveal_needs_the_session_its_token_and_our_origin(setup: Setup) -> None:
    client = setup.client
    url = "/dwellings/dw-001/resident/key-safe"
    r = await client.post(url, data={"csrf": "x"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    csrf = await signed_in(client, OPERATOR)
    for data, headers in [
        ({}, {}),
        ({"csrf": "wrong"}, {}),
        ({"csrf": csrf}, {"Origin": "https://evil.example"}),
    ]:
        r = await client.post(url, data=data, headers=headers)
        assert r.status_code == 403 and KEY_SAFE_CODE not in r.text
    assert (await client.get(url)).status_code == 405  # a link or a prefetch reveals nothing
    assert views(setup) == []


async def test_no_audit_row_no_secret_in_the_console(setup: Setup) -> None:
    csrf = await signed_in(setup.client, OPERATOR)
    with sqlite3.connect(setup.path) as conn:
        conn.execute(
            "CREATE TRIGGER no_audit BEFORE INSERT ON audit"
            " BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
        )
    conn.close()
    r = await setup.client.post("/dwellings/dw-001/resident/key-safe", data={"csrf": csrf})
    assert r.status_code == 503 and KEY_SAFE_CODE not in r.text
    assert "auditlogboek kan nu niet worden bijgewerkt" in r.text


async def test_an_operator_may_not_edit_the_card(setup: Setup) -> None:
    client = setup.client
    csrf = await signed_in(client, OPERATOR)
    r = await client.get(EDIT)
    assert r.status_code == 403
    assert "Alleen een zorgcoördinator of een beheerder kan de bewonerskaart wijzigen" in r.text
    r = await client.post(EDIT, data={"csrf": csrf, "name": "Iemand Anders"})
    assert r.status_code == 403
    card = setup.registry.resident_card("dw-001")
    assert card is not None and card.name == "Truus Voorbeeld"
    assert [e.action for e in setup.registry.audit_log()] == ["resident.update"]  # the seed


async def test_a_coordinator_changes_one_field(setup: Setup) -> None:
    client = setup.client
    await signed_in(client, COORDINATOR)
    page = await client.get(f"{PAGE}")
    assert 'href="/dwellings/dw-001/resident/edit"' in page.text
    r = await client.get(EDIT)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    fields = form_fields(r.text)
    assert fields["name"] == "Truus Voorbeeld" and fields["gp_phone"] == "030 000 0101"
    assert fields["news2_scale"] == "2" and fields["on_oxygen"] == "1"
    assert fields["date_of_birth"] == "1938-04-12"
    # The secrets are never in the form: only fields for new ones.
    assert fields["key_safe_code"] == "" and fields["care_notes"] == ""
    assert KEY_SAFE_CODE not in r.text and "penicilline" not in r.text

    setup.clock.advance(60)
    r = await client.post(EDIT, data={**fields, "gp_phone": "030 000 0202"})
    assert r.status_code == 303 and r.headers["location"] == "/dwellings/dw-001"
    card = setup.registry.resident_card("dw-001")
    assert card is not None
    assert (card.gp_phone, card.name, card.news2_scale, card.on_oxygen) == (
        "030 000 0202",
        "Truus Voorbeeld",
        2,
        True,
    )
    assert card.has_key_safe and card.has_care_notes  # left empty: kept
    newest = setup.registry.audit_log()[0]
    assert (newest.actor, newest.role, newest.action, newest.source, newest.detail) == (
        "coco",
        "coordinator",
        "resident.update",
        "console",
        "changed: gp_phone",
    )
    shown = panel((await client.get(PAGE)).text)
    assert 'href="tel:0300000202"' in shown and "Bijgewerkt 17:01:00 door coco" in text_of(shown)
    admin = Actor("t", "admin", "cli")
    assert setup.registry.reveal_key_safe("dw-001", admin, setup.clock()) == KEY_SAFE_CODE


async def test_what_the_form_leaves_out_stays_an_unticked_box_is_a_change(setup: Setup) -> None:
    client = setup.client
    await signed_in(client, COORDINATOR)
    fields = form_fields((await client.get(EDIT)).text)
    assert fields["on_oxygen"] == "1"
    only = {"csrf": fields["csrf"], "version": fields["version"], "gp_name": "Dr. Jansen"}
    assert (await client.post(EDIT, data=only)).status_code == 303
    card = setup.registry.resident_card("dw-001")
    assert card is not None
    assert (card.gp_name, card.name, card.on_oxygen, card.news2_scale) == (
        "Dr. Jansen",
        "Truus Voorbeeld",
        True,
        2,
    )
    fields = form_fields((await client.get(EDIT)).text)
    assert (await client.post(EDIT, data={**fields, "on_oxygen": "0"})).status_code == 303
    card = setup.registry.resident_card("dw-001")
    assert card is not None and not card.on_oxygen and card.gp_name == "Dr. Jansen"
    assert setup.registry.audit_log()[0].detail == "changed: on_oxygen"


async def test_a_bad_value_shows_the_fields_error_and_stores_nothing(setup: Setup) -> None:
    client = setup.client
    await signed_in(client, COORDINATOR)
    fields = form_fields((await client.get(EDIT)).text)
    before = len(setup.registry.audit_log())
    bad = {**fields, "name": "Truus de Vries", "gp_phone": "bel de praktijk", "key_safe_code": "12"}
    r = await client.post(EDIT, data=bad)
    assert r.status_code == 422 and r.headers["cache-control"] == "no-store"
    assert "Niet opgeslagen: verbeter de gemarkeerde velden." in r.text
    gp = re.search(r'<label class="rc-field invalid">Telefoon huisarts.*?</label>', r.text, re.S)
    assert gp and "Geen geldig telefoonnummer" in gp.group(0)
    assert 'aria-invalid="true" aria-describedby="err-gp_phone"' in gp.group(0)
    code = re.search(
        r'<label class="rc-field invalid">Nieuwe sleutelkluiscode.*?</label>', r.text, re.S
    )
    assert code and "3 tot 16 cijfers of letters" in code.group(0)
    assert r.text.count('class="rc-field invalid"') == 2  # only those two
    again = form_fields(r.text)
    assert again["name"] == "Truus de Vries" and again["gp_phone"] == "bel de praktijk"
    card = setup.registry.resident_card("dw-001")
    assert card is not None and (card.name, card.gp_phone) == ("Truus Voorbeeld", "030 000 0101")
    assert len(setup.registry.audit_log()) == before
    # Corrected, it goes through.
    r = await client.post(EDIT, data={**again, "gp_phone": "030 000 0303", "key_safe_code": ""})
    assert r.status_code == 303
    card = setup.registry.resident_card("dw-001")
    assert card is not None and (card.name, card.gp_phone) == ("Truus de Vries", "030 000 0303")


async def test_new_secrets_replace_or_clear_the_stored_ones(setup: Setup) -> None:
    client = setup.client
    await signed_in(client, COORDINATOR)
    fields = form_fields((await client.get(EDIT)).text)
    r = await client.post(EDIT, data={**fields, "key_safe_code": "B4R8", "clear_care_notes": "1"})
    assert r.status_code == 303
    assert setup.registry.audit_log()[0].detail == "changed: key_safe_code, care_notes"
    card = setup.registry.resident_card("dw-001")
    assert card is not None and card.has_key_safe and not card.has_care_notes
    admin = Actor("t", "admin", "cli")
    assert setup.registry.reveal_key_safe("dw-001", admin, setup.clock()) == "B4R8"
    page = await client.get(PAGE)
    assert "Zorgnotities tonen" not in page.text and "B4R8" not in page.text


async def test_a_card_changed_meanwhile_is_not_overwritten(setup: Setup) -> None:
    client = setup.client
    await signed_in(client, COORDINATOR)
    fields = form_fields((await client.get(EDIT)).text)
    setup.clock.advance(30)
    setup.registry.update_resident(
        "dw-001", {"first_name": "Truusje"}, Actor("els", "coordinator", "cli"), setup.clock()
    )
    r = await client.post(EDIT, data={**fields, "gp_phone": "030 000 0202"})
    assert r.status_code == 409
    assert "De kaart is intussen gewijzigd door els (17:00:30)" in text_of(r.text)
    card = setup.registry.resident_card("dw-001")
    assert card is not None and (card.first_name, card.gp_phone) == ("Truusje", "030 000 0101")
    # The form shows what was typed, with the card's new version: saving again is a choice.
    again = form_fields(r.text)
    assert again["gp_phone"] == "030 000 0202" and again["first_name"] == "Truus"
    r = await client.post(EDIT, data={**again, "first_name": "Truusje"})
    assert r.status_code == 303
    card = setup.registry.resident_card("dw-001")
    assert card is not None and (card.first_name, card.gp_phone) == ("Truusje", "030 000 0202")


async def test_the_audit_page_is_for_coordinators(setup: Setup) -> None:
    client = setup.client
    csrf = await signed_in(client, OPERATOR)
    await client.post("/dwellings/dw-001/resident/key-safe", data={"csrf": csrf})
    r = await client.get("/audit?dwelling=dw-001")
    assert r.status_code == 403 and "Alleen een zorgcoördinator" in r.text
    assert "Sleutelkluiscode ingezien" not in r.text

    client.cookies.clear()
    await signed_in(client, COORDINATOR)
    r = await client.get("/audit?dwelling=dw-001")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    rows = [
        [text_of(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr><td.*?</tr>", r.text, re.S)
    ]
    assert rows == [  # newest first: who, role, what, detail, through what
        ["17:00:00", "jan", "operator", "Sleutelkluiscode ingezien", "", "console"],
        ["23-11-2025 17:00:00", "seed", "beheerder", "Bewonerskaart gewijzigd",
         "gewijzigd: naam, roepnaam, geboortedatum, adres, toegang, huisarts, telefoon huisarts, "
         "telefoon bewoner, NEWS2-schaal, zuurstof, cliëntnummer, sleutelkluiscode, "
         "zorgnotities", "mz admin"],
    ]  # fmt: skip
    assert "Auditlogboek van Unit 3, Tuinstraat" in r.text
    assert "<tr><td" not in (await client.get("/audit?dwelling=dw-002")).text  # nothing there
    everything = await client.get("/audit")
    assert everything.status_code == 200 and "Unit 3, Tuinstraat" in everything.text


async def test_a_spoofed_dwelling_is_404(setup: Setup) -> None:
    client = setup.client
    csrf = await signed_in(client, COORDINATOR)
    before = len(setup.registry.audit_log())
    for spoofed in ["dw-404", "DW-001", "dw-001%20", "dw-00%25"]:
        for what in ("key-safe", "care-notes"):
            r = await client.post(f"/dwellings/{spoofed}/resident/{what}", data={"csrf": csrf})
            assert r.status_code == 404 and KEY_SAFE_CODE not in r.text, spoofed
        assert (await client.get(f"/dwellings/{spoofed}/resident/edit")).status_code == 404
        r = await client.post(
            f"/dwellings/{spoofed}/resident/edit", data={"csrf": csrf, "name": "X"}
        )
        assert r.status_code == 404, spoofed
    assert len(setup.registry.audit_log()) == before  # nothing revealed or changed
    card = setup.registry.resident_card("dw-001")
    assert card is not None and card.name == "Truus Voorbeeld"
