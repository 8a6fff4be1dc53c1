"""The monthly report over the API (httpx ASGI): October 2025 of tests/report_seed.py,
seeded through the real AlarmService and store, as JSON and CSV; console roles only."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import report_seed
from tests.integration.alarm_fakes import FakeClock
from tests.integration.console_client import basic, open_console
from tests.integration.console_fakes import OPERATOR, VIEWER, FakeSleep

pytestmark = pytest.mark.integration

AUTH = basic(*OPERATOR)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    clock = FakeClock()  # 24 November 2025: the last full month is the seeded October
    async with open_console(tmp_path, clock, sleep=FakeSleep(clock)) as c:
        await report_seed.seed(c.alarms)
        yield c.client


def approx(expected: Any) -> Any:
    if isinstance(expected, float):
        return pytest.approx(expected)
    if isinstance(expected, dict):
        return {k: approx(v) for k, v in expected.items()}
    return expected


async def test_the_month_s_figures_per_dwelling_and_in_total(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/reports/monthly", params={"month": "2025-10"}, headers=AUTH)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["month"], out["timezone"], out["complete"]) == ("2025-10", "Europe/Amsterdam", True)
    assert out["end"] - out["start"] == (31 * 24 + 1) * 3600  # the DST change
    assert (out["min_sample"], out["percentile_method"]) == (10, "linear")
    assert [(d["dwelling"], d["label"]) for d in out["dwellings"]] == [
        ("dw-001", "Unit 3, Tuinstraat"),
        ("dw-002", "Unit 7, Kerkpad"),
        ("dw-003", "Unit 1, Dorpsweg"),
    ]
    found = {d["dwelling"]: d["figures"] for d in out["dwellings"]} | {"total": out["total"]}
    for scope, expected in report_seed.EXPECTED.items():
        assert {k: found[scope][k] for k in expected} == approx(dict(expected)), scope


async def test_the_default_is_the_last_full_month(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/reports/monthly", headers=AUTH)
    assert r.status_code == 200 and r.json()["month"] == "2025-10"
    assert r.json()["total"]["alarms"] == report_seed.EXPECTED["total"]["alarms"]
    # November so far: #13, and dw-001's outage that ran on to 1 November, 02:00.
    nov = (await client.get("/api/v1/reports/monthly?month=2025-11", headers=AUTH)).json()
    assert nov["complete"] is False and nov["total"]["alarms"] == 1
    assert nov["total"]["downtime_h"] == 2.0 and nov["total"]["still_open"] == 1


async def test_one_dwelling_alone(client: httpx.AsyncClient) -> None:
    r = await client.get(
        "/api/v1/reports/monthly", params={"month": "2025-10", "dwelling": "dw-002"}, headers=AUTH
    )
    assert r.status_code == 200
    out = r.json()
    assert [d["dwelling"] for d in out["dwellings"]] == ["dw-002"]
    assert out["total"]["alarms"] == 2 and out["total"]["downtime_h"] == 3.5


async def test_the_csv_is_an_attachment_with_a_row_per_dwelling(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/reports/monthly.csv?month=2025-10", headers=AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="mz-report-2025-10.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["row"], row["dwelling"]) for row in rows] == [
        ("dwelling", "dw-001"),
        ("dwelling", "dw-002"),
        ("dwelling", "dw-003"),
        ("total", ""),
    ]
    dw1, total = rows[0], rows[3]
    assert dw1["label"] == "Unit 3, Tuinstraat" and dw1["first_response_p90_s"] == "111.0"
    assert dw1["taken_on_small_sample"] == "true" and dw1["to_centre_escalated"] == "1"
    assert total["false_alarm_share"] == "0.4444" and total["downtime_h"] == "29.50"


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("month=2025-13", 400, "'2025-13' is no month: give YYYY-MM, e.g. 2026-11"),
        ("month=oktober", 400, "is no month"),
        ("month=2025-12", 400, "2025-12 has not begun yet"),
        ("month=2025-10&dwelling=dw-404", 404, "unknown dwelling"),
    ],
)
async def test_bad_input_is_a_clear_4xx(
    client: httpx.AsyncClient, query: str, status: int, message: str
) -> None:
    for path in ("/api/v1/reports/monthly", "/api/v1/reports/monthly.csv"):
        r = await client.get(f"{path}?{query}", headers=AUTH)
        assert r.status_code == status and message in r.json()["detail"], (path, r.text)


async def test_console_roles_only(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/reports/monthly", "/api/v1/reports/monthly.csv"):
        assert (await client.get(path)).status_code == 401
        assert (await client.get(path, headers=basic(*VIEWER))).status_code == 401
