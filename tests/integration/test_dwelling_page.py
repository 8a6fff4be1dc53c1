"""The dwelling page and its JSON API through the real app, over a real SQLite store:
learned routine, NEWS2 and its band history, vital-sign charts (downsampled), recent
early-warning events, 404, language, login."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from alerts.service import AlarmService
from hub.storage.base import Point
from hub.storage.sqlite import SqliteTimeSeriesStore
from tests.integration.alarm_fakes import FakeClock
from tests.integration.console_client import BASE, open_console, signed_in
from tests.integration.console_fakes import (
    DAY,
    OPERATOR,
    event,
    routine_profile,
    seed_early_warning,
)

pytestmark = pytest.mark.integration


@dataclass
class Setup:
    app: FastAPI
    client: httpx.AsyncClient
    store: SqliteTimeSeriesStore
    alarms: AlarmService
    now: float


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    clock = FakeClock()
    async with open_console(tmp_path, clock, store=True) as c:
        assert c.store is not None
        yield Setup(c.app, c.client, c.store, c.alarms, clock())


def text_of(html: str) -> str:
    """The page's visible text, roughly: tags out, whitespace squeezed."""
    no_svg = re.sub(r"<svg.*?</svg>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", no_svg)).replace("&#39;", "'")


def section(html: str, name: str) -> str:
    found = re.search(rf'<section class="panel[^"]*" id="{name}">(.*?)</section>', html, re.S)
    assert found, name
    return found.group(1)


async def test_login_is_required_for_the_page_and_the_api(setup: Setup) -> None:
    r = await setup.client.get("/dwellings/dw-001")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/dwellings/dw-001"
    r = await setup.client.get("/api/v1/dwellings/dw-001/overview")
    assert r.status_code == 401


async def test_the_board_links_each_dwelling_to_its_page(setup: Setup) -> None:
    await signed_in(setup.client)
    board = await setup.client.get("/dwellings")
    for dw in ("dw-001", "dw-002", "dw-003"):
        assert f'href="/dwellings/{dw}"' in board.text
    assert 'href="/dwellings/dw-001"' in (await setup.client.get("/")).text


async def test_page_shows_the_learned_routine_news2_and_signals(setup: Setup) -> None:
    await seed_early_warning(setup.store, "dw-001", setup.now)
    await signed_in(setup.client)
    r = await setup.client.get("/dwellings/dw-001")
    assert r.status_code == 200
    html = r.text
    assert "content-security-policy" in r.headers
    assert "Unit 3, Tuinstraat" in html

    routine = text_of(section(html, "routine"))
    assert "Geleerd uit 12 dagen" in routine  # the newest profile, not the one of 2 days ago
    assert "Staat gewoonlijk op 07:15" in routine
    assert "Gaat gewoonlijk slapen 22:45" in routine
    assert "Alarm als niet op om 09:15" in routine
    assert "alarm na 40 min" in routine
    assert "Nacht 22:45 - 07:15" in routine
    chart = section(html, "routine")
    assert chart.count('<rect class="awake"') == 48
    assert chart.count('<rect class="asleep"') == 16  # only the night buckets
    assert "<title>14:00-14:30 wakker: 2 u 30 min</title>" in chart
    assert "<title>02:00-02:30 slapend: 9 u</title>" in chart

    vitals = section(html, "vitals")
    news2 = text_of(vitals)
    assert "Laatste NEWS2" in news2 and "midden (5-6)" in news2
    assert re.search(r'class="score"[^>]*>5<', vitals)
    assert "onvolledig: 2 van 7 parameters ontbreken: ademfrequentie, bewustzijn" in news2
    assert 'class="news2 band-medium partial"' in vitals
    # Band history: both changes, newest first.
    assert news2.index("midden (5-6) was laag (1-4)") < news2.index("laag (1-4) was geen risico")
    # Charts: the oximeter, the thermometer and the scale; the room sensor's air is no fever.
    quantities = re.findall(r'data-quantity="(\w+)" data-points="(\d+)"', vitals)
    assert quantities == [("hr", "42"), ("spo2", "42"), ("temperature", "14"), ("weight", "14")]
    assert "room-1" not in vitals
    assert "Gewicht scale-1 laatste 84,4 kg" in news2

    signals = section(html, "signals")
    shown = text_of(signals)
    for label in (
        "NEWS2-band gewijzigd",
        "alarm vitale functies",
        "afwijkende trend",
        "regel: gewicht snel toegenomen",
        "waarde: 84,6",
        "ongewone inactiviteit",
        "drempel: 3 u",
        "inactiviteit voorbij",
        "val vastgesteld",
    ):
        assert label in shown, label
    assert '<span class="what raw">trend_novel_rule</span>' in signals  # unknown: raw
    assert "foo: bar" in shown
    assert "sensor_silent" not in signals and "knop" not in shown  # not early warning
    assert "sub_hr" not in signals


async def test_english_variant(setup: Setup) -> None:
    await seed_early_warning(setup.store, "dw-001", setup.now)
    await signed_in(setup.client)
    html = (await setup.client.get("/dwellings/dw-001?lang=en")).text
    shown = text_of(html)
    assert '<html lang="en">' in html
    for text in (
        "Learned from 12 days",
        "Usually gets up 07:15",
        "Alarm if not up by 09:15",
        "Latest NEWS2",
        "medium (5-6)",
        "partial: 2 of 7 parameters missing: respiration rate, consciousness",
        "rapid weight gain",
        "Body temperature",
        "Recent signals",
    ):
        assert text in shown, text
    assert "Staat gewoonlijk op" not in shown


async def test_cold_start_says_so(setup: Setup) -> None:
    await signed_in(setup.client)
    # Nothing received yet (the short demo): a clear statement, no empty chart.
    html = (await setup.client.get("/dwellings/dw-002")).text
    routine = text_of(section(html, "routine"))
    assert "Nog geen dagritme ontvangen" in routine and "koude start" in routine
    assert "<svg" not in section(html, "routine")
    assert "Nog geen NEWS2-score ontvangen" in html and "Nog geen signalen ontvangen" in html
    # A profile from a dwelling still learning: the defaults, said to be defaults.
    await event(
        setup.store,
        "dw-002",
        "routine_profile",
        setup.now - 60,
        detail=routine_profile(learned=False, days_learned=2, wake_min=None, bedtime_min=None),
    )
    html = (await setup.client.get("/dwellings/dw-002")).text
    routine = text_of(section(html, "routine"))
    assert "Koude start: 2 van 5 dagen geleerd" in routine
    assert "Staat gewoonlijk op nog niet geleerd" in routine
    assert "(standaardwaarden zorgplan)" in routine


async def test_a_malformed_profile_does_not_break_the_page(setup: Setup) -> None:
    await signed_in(setup.client)
    await event(
        setup.store,
        "dw-001",
        "routine_profile",
        setup.now - 60,
        days_learned="many",
        learned=True,
        wake_min="07:15",
        up_by_min=float("nan"),
        quiet_bucket_min=7,  # does not divide the day: no chart rather than a wrong one
        quiet_awake_min="x,y,z",
    )
    await event(setup.store, "dw-001", "news2_band_changed", setup.now - 30, band="purple")
    r = await setup.client.get("/dwellings/dw-001")
    assert r.status_code == 200
    shown = text_of(r.text)
    assert "Staat gewoonlijk op nog niet geleerd" in shown
    assert "niet meegestuurd" in shown
    assert "purple" in shown  # an unknown band is shown as sent
    api = await setup.client.get("/api/v1/dwellings/dw-001/overview")
    assert api.status_code == 200
    assert api.json()["routine"]["wake_min"] is None
    assert api.json()["routine"]["up_by_min"] is None


async def test_unknown_dwelling_is_a_404(setup: Setup) -> None:
    await signed_in(setup.client)
    r = await setup.client.get("/dwellings/dw-999")
    assert r.status_code == 404
    assert "Woning niet gevonden" in r.text and "dw-999" in r.text
    r = await setup.client.get("/dwellings/%3Cscript%3E")
    assert r.status_code == 404 and "<script>" not in r.text
    api = await setup.client.get("/api/v1/dwellings/dw-999/overview")
    assert api.status_code == 404 and api.json()["detail"] == "unknown dwelling"


async def test_api_overview(setup: Setup) -> None:
    await seed_early_warning(setup.store, "dw-001", setup.now)
    await signed_in(setup.client)
    r = await setup.client.get("/api/v1/dwellings/dw-001/overview")
    assert r.status_code == 200
    body = r.json()
    assert body["dwelling"] == "dw-001" and body["label"] == "Unit 3, Tuinstraat"
    assert body["time"] == setup.now and body["window_start"] == setup.now - 14 * DAY
    routine = body["routine"]
    assert routine["days_learned"] == 12 and routine["wake_min"] == 435.0
    assert routine["bucket_min"] == 30 and len(routine["quiet_awake_min"]) == 48
    assert routine["quiet_asleep_min"][20] is None and routine["quiet_asleep_min"][2] == 540
    assert body["news2"]["band"] == "medium" and body["news2"]["score"] == 5
    assert body["news2"]["missing"] == ["rr", "acvpu"]
    assert body["news2"]["subscores"] == {"hr": 2, "spo2": 2, "temp": 1}
    assert [b["band"] for b in body["band_history"]] == ["medium", "low"]
    series = {(v["sensor"], v["quantity"]): v for v in body["vitals"]}
    assert set(series) == {
        ("oxi-1", "hr"),
        ("oxi-1", "spo2"),
        ("thermo-1", "temperature"),
        ("scale-1", "weight"),
    }
    weight = series[("scale-1", "weight")]
    assert weight["last_value"] == pytest.approx(84.45)
    assert all(p["n"] == 1 for p in weight["points"])
    kinds = [e["kind"] for e in body["events"]]
    assert kinds[0] == "trend_novel_rule" and "sensor_silent" not in kinds
    assert "button" not in kinds and "routine_profile" not in kinds
    # Fewer events when asked; the same for scripts with Basic auth.
    transport = httpx.ASGITransport(app=setup.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, auth=OPERATOR) as script:
        r = await script.get("/api/v1/dwellings/dw-001/overview?events=2&days=1")
    assert r.status_code == 200
    assert len(r.json()["events"]) == 2
    assert {v["quantity"] for v in r.json()["vitals"]} <= {"hr", "spo2", "temperature", "weight"}
    assert all(len(v["points"]) <= 24 for v in r.json()["vitals"])
    bad = await setup.client.get("/api/v1/dwellings/dw-001/overview?days=400")
    assert bad.status_code == 422


async def test_dense_readings_are_downsampled_to_hourly_medians(setup: Setup) -> None:
    """A 1-per-20-s heart rate for 14 days (60 480 points) reaches the browser as at most
    one point per hour; older points stay out; the medians are right."""
    now = setup.now
    start = now - 14 * DAY
    n = int(14 * DAY / 20)
    points = [Point("dw-001", "wear-1", "hr", start + 20 * i, 60.0 + i % 7) for i in range(n)]
    points += [Point("dw-001", "wear-1", "hr", start - DAY + i, 200.0) for i in range(100)]
    await setup.store.write_points(points)
    await signed_in(setup.client)
    r = await setup.client.get("/api/v1/dwellings/dw-001/overview")
    (hr,) = r.json()["vitals"]
    assert hr["sensor"] == "wear-1"
    assert len(hr["points"]) == 14 * 24
    assert all(p["median"] == 63.0 for p in hr["points"])  # median of 60..66
    assert all(p["n"] <= 60 for p in hr["points"])  # sampled, not every point
    assert max(p["high"] for p in hr["points"]) <= 66.0  # the day before the window is out
    assert len(r.content) < 100_000
    page = await setup.client.get("/dwellings/dw-001")
    spark = re.search(
        r'data-quantity="hr" data-points="(\d+)".*?<path class="line" d="([^"]*)"', page.text, re.S
    )
    assert spark is not None and spark.group(1) == "336"
    assert len(re.findall(r"[ML]", spark.group(2))) == 336
    assert len(page.content) < 200_000


async def test_without_a_store_the_page_says_so(tmp_path: Path) -> None:
    async with open_console(tmp_path, FakeClock()) as c:
        await signed_in(c.client)
        r = await c.client.get("/dwellings/dw-001")
        assert r.status_code == 200 and "Deze hub bewaart geen meetgeschiedenis" in r.text
        api = await c.client.get("/api/v1/dwellings/dw-001/overview")
        assert api.status_code == 200 and api.json()["stored"] is False
