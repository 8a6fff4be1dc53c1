"""The alarm page (`/alarms/{id}`) through the real app over real SQLite stores: what was
measured with units, the whole timeline in Dutch, the signals around the alarm, the last
hour of readings (blood pressure too), 404, login. Its live part is tested in Chromium
(tests/e2e/test_console_browser.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from alerts.model import AlarmKind, Severity
from alerts.service import AlarmService
from hub.registry import SqliteRegistry
from hub.storage.base import Point
from hub.storage.sqlite import SqliteTimeSeriesStore
from sensors.contract import AlarmMessage, new_id
from tests.integration.alarm_fakes import FakeClock
from tests.integration.console_client import open_console, signed_in
from tests.integration.console_fakes import KEY_SAFE_CODE, OPERATOR, event, seed_resident
from tests.integration.test_dwelling_page import section, text_of

pytestmark = pytest.mark.integration


@dataclass
class Setup:
    client: httpx.AsyncClient
    store: SqliteTimeSeriesStore
    alarms: AlarmService
    clock: FakeClock


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    clock = FakeClock()
    async with open_console(tmp_path, clock, store=True, board_refresh_s=0.05) as c:
        assert c.store is not None
        yield Setup(c.client, c.store, c.alarms, clock)


VITALS = {
    "score": 9,
    "band": "high",
    "sub_sbp": 3,
    "val_sbp": 88.0,
    "val_dbp": 52.0,
    "sub_spo2": 2,
    "val_spo2": 91.0,
    "sub_hr": 1,
    "val_hr": 96.0,
}


async def vitals_alarm(s: Setup) -> str:
    now = s.clock()
    for i in range(30):  # a reading every two minutes for the last hour
        t = now - 3600 + 120 * i
        await s.store.write_points(
            [
                Point("dw-001", "bp-1", "sbp", t, 118.0 - i),
                Point("dw-001", "bp-1", "dbp", t, 70.0 - i / 2),
                Point("dw-001", "oxi-1", "spo2", t, 96.0 - i / 6),
            ]
        )
    await event(s.store, "dw-001", "news2_updated", now - 300, "oxi-1", score=6, band="medium")
    await event(s.store, "dw-002", "news2_updated", now - 300, "oxi-9", score=1, band="low")
    msg = AlarmMessage(
        id=new_id(),
        dwelling="dw-001",
        ts=now - 2,
        action="raise",
        alarm_id=new_id(),
        kind=AlarmKind.VITALS,
        severity=Severity.CRITICAL,
        sensor="oxi-1",
        detail=VITALS,
    )
    await s.alarms.on_edge_alarm(msg, received_at=now)
    return msg.alarm_id


async def test_the_alarm_page_needs_a_login_and_says_when_an_alarm_is_unknown(
    setup: Setup,
) -> None:
    alarm_id = await vitals_alarm(setup)
    r = await setup.client.get(f"/alarms/{alarm_id}")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/alarms/")
    await signed_in(setup.client)
    r = await setup.client.get("/alarms/no-such-alarm")
    assert r.status_code == 404 and "Er is geen alarm met id no-such-alarm." in r.text


async def test_the_alarm_page_shows_what_was_measured_the_timeline_and_the_last_hour(
    setup: Setup,
) -> None:
    s = setup
    alarm_id = await vitals_alarm(s)
    csrf = await signed_in(s.client)
    s.clock.advance(30)
    r = await s.client.post(
        f"/api/v1/alarms/{alarm_id}/ack",
        json={"note": "Bewoner gebeld, klinkt benauwd"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 200, r.text
    page = await s.client.get(f"/alarms/{alarm_id}")
    assert page.status_code == 200
    measured = text_of(section(page.text, "measured"))
    assert "bloeddruk 88/52 mmHg (3 punten)" in measured
    assert "zuurstofsaturatie 91 % (2 punten)" in measured
    assert "hartslag 96/min (1 punt)" in measured
    timeline = text_of(section(page.text, "timeline"))
    steps = ["Alarm gemaakt in de woning", "Ontvangen door de hub", "Opgepakt"]
    assert [timeline.index(x) for x in steps] == sorted(timeline.index(x) for x in steps)
    assert "Opgepakt Jan Jansen Bewoner gebeld, klinkt benauwd" in timeline  # display name
    readings = section(page.text, "readings")
    quantities = dict(re.findall(r'data-quantity="(\w+)" data-points="(\d+)"', readings))
    assert set(quantities) == {"sbp", "dbp", "spo2"}
    assert all(int(n) >= 25 for n in quantities.values())  # per minute over the hour
    assert "Bloeddruk, systolisch" in text_of(readings)
    related = text_of(section(page.text, "related"))
    assert "oxi-1" in related and "oxi-9" not in related  # only this dwelling's signals
    english = await s.client.get(f"/alarms/{alarm_id}?lang=en")
    assert "blood pressure 88/52 mmHg (3 points)" in text_of(section(english.text, "measured"))
    assert "Taken on" in text_of(section(english.text, "timeline"))


async def test_a_queue_card_links_to_its_alarm_page(setup: Setup) -> None:
    alarm_id = await vitals_alarm(setup)
    await signed_in(setup.client)
    home = await setup.client.get("/")
    assert f'href="/alarms/{alarm_id}"' in home.text


async def test_the_alarm_page_carries_the_resident_card_and_a_reveal_names_the_alarm(
    setup: Setup, tmp_path: Path
) -> None:
    """The operator handling the alarm sees who lives there and how to get in; the key-safe
    code only on demand, and the audit row says for which alarm."""
    s = setup
    registry = SqliteRegistry(tmp_path / "hub.sqlite")  # the console's own file
    seed_resident(registry, s.clock())
    alarm_id = await vitals_alarm(s)
    await signed_in(s.client)
    page = (await s.client.get(f"/alarms/{alarm_id}")).text
    found = re.search(r'<section class="panel resident" id="resident".*?</section>', page, re.S)
    assert found
    card = text_of(found.group(0))
    assert "Truus Voorbeeld" in card and "Sleutelkluis links van de voordeur" in card
    assert KEY_SAFE_CODE not in page and "Sleutelkluiscode tonen" in card
    reveal = re.search(
        r'<form method="post" action="([^"]+/key-safe)"[^>]*>(.*?)</form>', page, re.S
    )
    assert reveal
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', reveal.group(2)))
    assert fields["reason"] == f"alarm {alarm_id}"
    shown = await s.client.post(reveal.group(1), data=fields)
    assert shown.status_code == 200 and KEY_SAFE_CODE in shown.text
    (row,) = [a for a in registry.audit_log("dw-001") if a.action == "resident.key_safe.view"]
    assert row.actor == OPERATOR[0] and f"alarm {alarm_id}" in row.detail
    registry.close()
