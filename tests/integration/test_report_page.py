"""The monthly report page (`/reports`) through the real app (httpx ASGI): October 2025 of
tests/report_seed.py, seeded through the real AlarmService and store, its figures read
back from the page and compared with EXPECTED; the default month by the clock, the
month navigation, a bad month, login, English, the CSV link."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from alerts.service import AlarmService
from tests import report_page, report_seed
from tests.integration.alarm_fakes import FakeClock
from tests.integration.console_client import open_console, signed_in
from tests.integration.console_fakes import FakeSleep

pytestmark = pytest.mark.integration


@dataclass
class Setup:
    client: httpx.AsyncClient
    clock: FakeClock
    alarms: AlarmService


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    clock = FakeClock()  # 24 November 2025: the last full month is the seeded October
    async with open_console(tmp_path, clock, sleep=FakeSleep(clock)) as c:
        await report_seed.seed(c.alarms)
        yield Setup(c.client, clock, c.alarms)


@pytest.fixture
async def client(setup: Setup) -> httpx.AsyncClient:
    await signed_in(setup.client)
    return setup.client


def text(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def summary(page: str) -> dict[str, str]:
    """The summary's figures by name (`id="total-<name>"`)."""
    return {
        m.group(1): text(m.group(2))
        for m in re.finditer(r'<dd id="total-([\w-]+)">(.*?)</dd>', page, re.S)
    }


def cells(page: str) -> dict[str, dict[str, str]]:
    """Each table row's figures by name (`class="f-<name>"`), by `data-dwelling`, over
    all the tables."""
    out: dict[str, dict[str, str]] = {}
    for row in re.finditer(r'<tr data-dwelling="([^"]+)"[^>]*>(.*?)</tr>', page, re.S):
        found = out.setdefault(row.group(1), {})
        for cell in re.finditer(r'<td class="f-([\w-]+)">(.*?)</td>', row.group(2), re.S):
            assert cell.group(1) not in found, f"{cell.group(1)} twice for {row.group(1)}"
            found[cell.group(1)] = text(cell.group(2))
    return out


def row_heads(page: str) -> dict[str, str]:
    return {
        m.group(1): text(m.group(2))
        for m in re.finditer(
            r'<tr data-dwelling="([^"]+)"[^>]*>\s*<th scope="row"[^>]*>(.*?)</th>', page, re.S
        )
    }


def element(page: str, ident: str) -> str:
    found = re.search(rf'<(\w+)[^>]*\bid="{ident}"[^>]*>(.*?)</\1>', page, re.S)
    assert found, ident
    return found.group(2)


def bars(page: str, chart: str, css: str = "r-bar") -> int:
    """How many shapes of class `css` the chart `chart` draws."""
    return len(re.findall(rf'<rect class="[^"]*\b{css}\b', element(page, chart)))


def nonzero(values: dict[str, int]) -> int:
    return sum(1 for v in values.values() if v)


async def test_the_month_s_figures_per_dwelling_and_in_total(client: httpx.AsyncClient) -> None:
    r = await client.get("/reports", params={"month": report_seed.MONTH})
    assert r.status_code == 200, r.text
    page = r.text
    assert text(element(page, "report-month")) == "oktober 2025"
    assert text(element(page, "report-period")) == (
        "Van 1 oktober 2025 tot 1 november 2025, tijdzone Europe/Amsterdam."
    )
    found = cells(page)
    assert list(found) == ["dw-001", "dw-002", "dw-003", "total"]
    for scope, expected in report_seed.EXPECTED.items():
        assert report_page.mismatches(found[scope].get, expected) == [], scope
    # Every figure of every row is on the page, not only those EXPECTED names.
    names = {n for scope in found.values() for n in scope}
    assert all(set(row) == names for row in found.values())
    total = summary(page)
    assert set(total) == report_page.SUMMARY
    assert (
        report_page.mismatches(total.get, report_seed.EXPECTED["total"], report_page.SUMMARY) == []
    )
    # As a person reads them, with the small-sample flag on the taken-on times (n = 10
    # for the total: no flag) and dw-001's (n = 9).
    assert (total["first-p50"], total["first-p90"]) == ("50 s", "1 min 30 s")
    assert (total["taken-p50"], total["taken-p90"]) == ("47,5 s", "1 min 51 s")
    assert found["dw-001"]["taken-p90"] == "2 min 12 s*"
    assert (total["false-share"], total["centre-share"], total["downtime"]) == (
        "44%",
        "67%",
        "29,5 u",
    )
    assert "Minder dan 10 waarden" in text(element(page, "small-note"))
    assert row_heads(page) == {
        "dw-001": "Unit 3, Tuinstraat dw-001",
        "dw-002": "Unit 7, Kerkpad dw-002",
        "dw-003": "Unit 1, Dorpsweg dw-003",
        "total": "Totaal",
    }
    assert 'href="/dwellings/dw-001"' in page


async def test_the_charts_draw_a_bar_per_figure(client: httpx.AsyncClient) -> None:
    page = (await client.get("/reports", params={"month": report_seed.MONTH})).text
    total = report_seed.EXPECTED["total"]
    assert "<script>" not in page and "style=" not in page  # the CSP forbids both inline
    assert bars(page, "chart-kinds") == nonzero(total["by_kind"]) == 5
    assert bars(page, "chart-severities") == nonzero(total["by_severity"]) == 2
    # p50 and p90 for all dwellings together and for each with responses (not dw-003).
    assert bars(page, "chart-first", "r-p50") == bars(page, "chart-first", "r-p90") == 3
    assert bars(page, "chart-taken") == 6
    assert "geen reacties" in text(element(page, "chart-first"))
    ends = [*total["outcomes"].values(), 1, 1, 1]  # without outcome, cancelled, open
    assert bars(page, "chart-outcomes", "r-seg") == sum(1 for n in ends if n) == 8
    assert bars(page, "chart-centre", "r-seg") == 3  # at once 7, escalated 1, not 4
    assert bars(page, "chart-downtime") == 2
    downtime = text(element(page, "chart-downtime"))
    assert "Unit 3, Tuinstraat (dw-001)" in downtime and "26 u · 1 periode" in downtime
    # The longest bar is the most alarms: personal (4) against vitals (2), half as long.
    kinds = element(page, "chart-kinds")
    widths = [
        float(w) for w in re.findall(r'<rect class="r-bar[^"]*"[^>]*width="([\d.]+)%"', kinds)
    ]
    assert max(widths) == widths[0] == pytest.approx(2 * widths[3])
    legend = text(element(page, "chart-outcomes"))
    assert "Loos alarm 4 (33%)" in legend and "Nog open 1 (8%)" in legend


async def test_the_default_month_and_the_month_navigation(setup: Setup) -> None:
    client = setup.client
    await signed_in(client)
    page = (await client.get("/reports")).text
    assert text(element(page, "report-month")) == "oktober 2025"
    assert 'href="/reports?month=2025-09"' in page and 'href="/reports?month=2025-11"' in page
    assert 'value="2025-10"' in page and 'max="2025-11"' in page
    assert 'href="/api/v1/reports/monthly.csv?month=2025-10"' in page
    assert summary(page)["alarms"] == "14"

    # November is not over: counted up to now, and December has not begun (no link).
    nov = (await client.get("/reports?month=2025-11")).text
    assert "geteld tot 24-11-2025 17:00:00" in text(element(nov, "report-running"))
    assert "month-next" not in nov and 'href="/reports?month=2025-10"' in nov
    assert (summary(nov)["alarms"], summary(nov)["downtime"], summary(nov)["outages"]) == (
        "1",
        "2 u",
        "1",
    )

    # On 1 December, 00:30 Amsterdam time (23:30 UTC), the last full month is November.
    setup.clock.t = report_seed.local("2025-12-01T00:30")
    await signed_in(client)  # a week later: the session has ended
    page = (await client.get("/reports")).text
    assert text(element(page, "report-month")) == "november 2025"
    assert "report-running" not in page and 'href="/reports?month=2025-12"' in page

    # A month with nothing in it says so (and shows zeros, not errors).
    empty = (await client.get("/reports?month=2025-08")).text
    assert "geen alarmen" in text(element(empty, "report-empty"))
    assert summary(empty)["first-p50"] == "–" and summary(empty)["false-share"] == "–"


@pytest.mark.parametrize(
    ("month", "message"),
    [
        ("2025-13", "„2025-13” is geen maand. Kies een maand als JJJJ-MM, bijvoorbeeld 2025-10."),
        ("oktober", "„oktober” is geen maand."),
        ("1969-12", "„1969-12” is geen maand."),
        ("<b>x</b>", "„<b>x</b>” is geen maand."),
        ("2025-12", "December 2025 is nog niet begonnen: er valt nog niets te tellen."),
    ],
)
async def test_a_bad_month_is_a_clear_400(
    client: httpx.AsyncClient, month: str, message: str
) -> None:
    r = await client.get("/reports", params={"month": month})
    assert r.status_code == 400
    assert message in text(element(r.text, "report-error"))
    assert "<b>x</b>" not in r.text  # escaped, like everything shown
    # The way on: the month field and the last full month.
    assert 'name="month"' in r.text and 'href="/reports?month=2025-10"' in r.text
    assert "data-dwelling" not in r.text


async def test_an_empty_month_field_is_the_default(client: httpx.AsyncClient) -> None:
    r = await client.get("/reports?month=")
    assert r.status_code == 200 and text(element(r.text, "report-month")) == "oktober 2025"


async def test_login_is_required(setup: Setup) -> None:
    r = await setup.client.get("/reports?month=2025-10")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/reports%3Fmonth%3D2025-10"
    assert (await setup.client.get("/api/v1/reports/monthly.csv")).status_code == 401


async def test_english_and_the_csv_link(client: httpx.AsyncClient) -> None:
    r = await client.get("/reports", params={"month": report_seed.MONTH, "lang": "en"})
    page = r.text
    assert r.status_code == 200 and '<html lang="en">' in page
    assert text(element(page, "report-month")) == "October 2025"
    assert "Download CSV" in page and "Monthly report" in page and ">Reports</a>" in page
    found = cells(page)
    for scope, expected in report_seed.EXPECTED.items():
        assert report_page.mismatches(found[scope].get, expected) == [], scope
    total = summary(page)
    assert (total["taken-p50"], total["downtime"]) == ("47.5 s", "29.5 h")
    assert "Fewer than 10 values" in page and "Time to being taken on" in page
    # The language link keeps the month.
    assert 'class="lang" href="?month=2025-10&amp;lang=nl"' in page

    # The CSV link works with the console session (hub.api.reports).
    href = html.unescape(re.search(r'id="csv" href="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    csv = await client.get(href)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.count("\n") == 5  # the header, three dwellings and the total


async def test_the_top_bar_links_the_page(client: httpx.AsyncClient) -> None:
    queue = (await client.get("/")).text
    assert '<a href="/reports" class="">Rapportage</a>' in queue
    page = (await client.get("/reports")).text
    assert '<a href="/reports" class="active">Rapportage</a>' in page
    assert '<link rel="stylesheet" href="/static/reports.css">' in page
    assert "reports.css" not in queue
    css = await client.get("/static/reports.css")
    assert css.status_code == 200 and ".r-bar" in css.text
