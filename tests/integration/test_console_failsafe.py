"""One poisoned record never takes the console down: every page, the live stream, the JSON
API and the acknowledgement page answer, and show the record as "niet weer te geven" with
its id. Records are put straight into the stores, as a hub from before the strict wire
contract may hold them (a 400-digit integer in a detail, raised_at = 1e18)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from alerts.model import AlarmKind, AlarmRecord, AlarmState, Severity
from alerts.service import AlarmService
from hub.console import dwelling_view
from hub.console import present as console_present
from hub.storage.sqlite import SqliteTimeSeriesStore
from sensors.contract import AlarmMessage, new_id
from tests.integration.alarm_fakes import FakeClock
from tests.integration.console_client import open_console, signed_in
from tests.integration.console_fakes import event, seed_early_warning
from tests.servers import wait_until

pytestmark = pytest.mark.integration

BIG_INT = int("9" * 400)
SCRIPT = "<script>alert('mz')</script>"


@dataclass
class Setup:
    app: FastAPI
    client: httpx.AsyncClient
    alarms: AlarmService
    store: SqliteTimeSeriesStore
    clock: FakeClock


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    clock = FakeClock()
    async with open_console(tmp_path, clock, store=True) as c:
        assert c.store is not None
        yield Setup(c.app, c.client, c.alarms, c.store, clock)


def poisoned(clock: FakeClock, **detail: object) -> AlarmRecord:
    """An alarm as an old hub may have stored it: the probe's 400-digit `*_s` detail and a
    source time of 1e18 (year 31 Million), plus HTML in a text."""
    return AlarmRecord(
        id="poison-" + new_id()[:12],
        dwelling="dw-001",
        kind=AlarmKind.FALL,
        severity=Severity.HIGH,
        state=AlarmState.RAISED,
        source="edge",
        raised_at=1e18,
        received_at=clock() - 5,
        detail={"for_s": BIG_INT, "silent_min": BIG_INT, "note": SCRIPT, **detail},  # type: ignore[dict-item]
    )


async def ordinary(s: Setup, dwelling: str = "dw-002") -> str:
    msg = AlarmMessage(
        id=new_id(),
        dwelling=dwelling,
        ts=s.clock() - 1,
        action="raise",
        alarm_id=new_id(),
        kind=AlarmKind.PERSONAL,
        severity=Severity.HIGH,
        detail={"press": "long_press"},
    )
    await s.alarms.on_edge_alarm(msg, received_at=s.clock())
    return msg.alarm_id


async def sse(s: Setup) -> str:
    """The first events of /events: the stream is ended (as at shutdown) once it is up."""
    live = s.app.state.live
    task = asyncio.ensure_future(s.client.get("/events"))
    await wait_until(lambda: live.clients == 1, timeout=10)
    live.close()
    r = await asyncio.wait_for(task, 10)
    assert r.status_code == 200
    return r.text


def card(html: str, alarm_id: str) -> str:
    found = re.search(rf'<article [^>]*id="alarm-{alarm_id}".*?</article>', html, re.S)
    assert found, html
    return found.group(0)


async def test_a_poisoned_alarm_leaves_every_page_up(setup: Setup) -> None:
    s = setup
    bad = poisoned(s.clock)
    assert s.alarms.store.insert_alarm(bad)
    good = await ordinary(s)
    await event(s.store, "dw-001", "inactivity", s.clock() - 60, threshold_s=BIG_INT, note=SCRIPT)
    csrf = await signed_in(s.client)

    page = await s.client.get("/")
    assert page.status_code == 200
    mine = card(page.text, bad.id)
    assert "niet weer te geven" in mine and "val" in mine  # the for_s/silent_min values
    assert "lang ingedrukt" in card(page.text, good)  # the other alarm as always
    for path in ("/dwellings", "/dwellings/dw-001", "/dwellings/dw-002", "/?lang=en"):
        r = await s.client.get(path)
        assert r.status_code == 200, path
    live = await sse(s)
    assert f'id=\\"alarm-{bad.id}\\"' in live and f'id=\\"alarm-{good}\\"' in live
    listed = await s.client.get("/api/v1/alarms")
    assert listed.status_code == 200
    assert {a["id"] for a in listed.json()} == {bad.id, good}

    # The mantelzorger's link still opens and acknowledges.
    url = s.alarms.ack_url(bad.id, "c-anna", s.clock())
    ack = await s.client.get(url)
    assert ack.status_code == 200 and "Ik ga erheen" in ack.text
    assert "niet weer te geven" in ack.text  # its time (1e18)
    done = await s.client.post(url, data={"note": "ik ga"})
    assert done.status_code == 200 and "ziet dat u onderweg bent" in done.text

    # Resolving it through the API works, and it moves to the resolved list.
    r = await s.client.post(
        f"/api/v1/alarms/{bad.id}/resolve", json={"note": "klaar"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 200 and r.json()["state"] == "resolved"
    page = await s.client.get("/")
    assert page.status_code == 200
    recent = page.text[page.text.index('id="recent-list"') :]
    assert f'id="alarm-{bad.id}"' in recent


async def test_a_record_no_formatter_foresaw_is_one_placeholder_logged_once(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Tomorrow's bug is a different one: whatever makes a card fail, the wrapper holds."""
    s = setup
    bad = poisoned(s.clock)
    s.alarms.store.insert_alarm(bad)
    good = await ordinary(s)
    real = console_present.alarm_view

    def failing(rec: AlarmRecord, *args: object) -> object:
        if rec.id == bad.id:
            raise RuntimeError("a bug nobody has seen yet")
        return real(rec, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(console_present, "alarm_view", failing)
    csrf = await signed_in(s.client)
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        page = await s.client.get("/")
        assert page.status_code == 200
    mine = card(page.text, bad.id)
    assert f"Alarm {bad.id}: niet weer te geven" in mine
    assert f'formaction="/alarms/{bad.id}/close"' in mine  # still to be acted on
    assert "lang ingedrukt" in card(page.text, good)
    english = await s.client.get("/?lang=en")
    assert f"Alarm {bad.id}: cannot be displayed" in english.text
    live = await sse(s)
    assert f"Alarm {bad.id}: cannot be displayed" in live and f"alarm-{good}" in live
    warned = [r for r in caplog.records if bad.id in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING  # once, not per render
    # The operator resolves it from the placeholder card (the no-JavaScript form).
    r = await s.client.post(f"/alarms/{bad.id}/resolve", data={"note": "", "csrf": csrf})
    assert r.status_code == 303
    rec = s.alarms.get(bad.id)
    assert rec is not None and rec.state is AlarmState.RESOLVED


async def test_the_api_list_and_the_ack_page_fail_safe(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = setup
    bad = poisoned(s.clock)
    s.alarms.store.insert_alarm(bad)
    good = await ordinary(s)
    await signed_in(s.client)

    def unformattable(rec: AlarmRecord, lang: str) -> str:
        raise RuntimeError("kind cannot be told")

    monkeypatch.setattr(console_present, "kind_label", unformattable)
    page = await s.client.get(s.alarms.ack_url(bad.id, "c-anna", s.clock()))
    assert page.status_code == 200
    assert f"De gegevens van dit alarm zijn niet weer te geven (kenmerk {bad.id})" in page.text
    assert "Ik ga erheen" in page.text  # the form is still there

    from hub.api.api import AlarmOut

    real = AlarmOut.of

    def of(rec: AlarmRecord, label: str) -> AlarmOut:
        if rec.id == bad.id:
            raise ValueError("not serialisable")
        return real(rec, label)

    monkeypatch.setattr(AlarmOut, "of", of)
    listed = await s.client.get("/api/v1/alarms")
    assert listed.status_code == 200
    by_id = {a["id"]: a for a in listed.json()}
    assert by_id[bad.id]["display_error"] == "cannot be displayed"
    assert by_id[bad.id]["kind"] == "fall" and by_id[bad.id]["state"] == "raised"
    assert by_id[good]["display_error"] is None and by_id[good]["detail"]["press"] == "long_press"
    one = await s.client.get(f"/api/v1/alarms/{bad.id}")
    assert one.status_code == 200 and one.json()["display_error"] == "cannot be displayed"


async def test_the_board_and_the_dwelling_page_fail_safe_part_by_part(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = setup
    await seed_early_warning(s.store, "dw-001", s.clock())
    await event(s.store, "dw-001", "fall_confirmed", s.clock() - 30, peak_g=2.5)
    await signed_in(s.client)
    real_row = dwelling_view.event_row

    def event_row(e: object, *args: object) -> object:
        if getattr(e, "kind", "") == "fall_confirmed":
            raise RuntimeError("signal cannot be formatted")
        return real_row(e, *args)  # type: ignore[arg-type]

    def routine_view(*args: object) -> object:
        raise RuntimeError("routine cannot be formatted")

    def sensor(*args: object) -> object:
        raise RuntimeError("sensor cannot be formatted")

    monkeypatch.setattr(dwelling_view, "event_row", event_row)
    monkeypatch.setattr(dwelling_view, "routine_view", routine_view)
    page = await s.client.get("/dwellings/dw-001")
    assert page.status_code == 200
    assert re.search(r"Signaal \w+: niet weer te geven", page.text)
    assert "NEWS2-band gewijzigd" in page.text  # the other signals as always
    routine = page.text[page.text.index('id="routine"') : page.text.index('id="vitals"')]
    assert "niet weer te geven" in routine
    assert "Hartslag" in page.text  # the charts as always

    monkeypatch.setattr(console_present, "_sensor", sensor)
    board = await s.client.get("/dwellings")
    assert board.status_code == 200
    assert "Woning dw-001: niet weer te geven" in board.text
    assert "Unit 1, Dorpsweg" in board.text  # a dwelling without sensors is fine
    assert (await s.client.get("/")).status_code == 200
    live = await sse(s)
    assert "Woning dw-001: niet weer te geven" in live
    dwellings = await s.client.get("/api/v1/dwellings")
    assert dwellings.status_code == 200 and len(dwellings.json()) == 3


async def test_html_from_the_wire_is_escaped_on_every_page(setup: Setup) -> None:
    s = setup
    rec = poisoned(s.clock, label_s=1.0)
    s.alarms.store.insert_alarm(rec)
    await event(s.store, "dw-001", "trend_alarm", s.clock() - 60, rule=SCRIPT, metric=SCRIPT)
    await signed_in(s.client)
    escaped = "&lt;script&gt;alert(&#39;mz&#39;)&lt;/script&gt;"
    for path in ("/", "/dwellings/dw-001"):
        r = await s.client.get(path)
        assert r.status_code == 200
        assert "<script>alert" not in r.text and escaped in r.text, path
    board = await s.client.get("/dwellings")
    assert board.status_code == 200 and "<script>alert" not in board.text
    live = await sse(s)
    assert "<script>alert" not in live and escaped in live
    ack = await s.client.get(s.alarms.ack_url(rec.id, "c-anna", s.clock()))
    assert ack.status_code == 200 and "<script>alert" not in ack.text
