"""The monthly report page in real headless Chromium: October 2025 of tests/report_seed.py
(seeded through the real AlarmService), its visible figures against EXPECTED, the charts
drawn (a bar per figure, widths to scale), the page within 1024 px, 1920 px and a 390 px
phone (screenshots for docs/console.md), the month navigation, the CSV download."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests import report_page, report_seed
from tests.e2e.browser import Running, chromium, console, sign_in
from tests.e2e.shots import shot
from tests.integration.console_fakes import OPERATOR

pytestmark = pytest.mark.e2e

__all__ = ["console"]  # the fixture (tests.e2e.browser)

VIEWPORTS = {1024: 800, 1920: 1080, 390: 844}


async def test_the_report_page_shows_the_seeded_month(
    console: Running,
    tmp_path: Path,
) -> None:
    from playwright.async_api import Page

    await report_seed.seed(console.alarms)
    month_url = f"{console.url}/reports?month={report_seed.MONTH}"

    async def fits(page: Page) -> bool:
        """Nothing wider than the window: the tables scroll in their own box."""
        return bool(
            await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        )

    async with chromium() as browser:
        page = await browser.new_page(
            viewport={"width": 1024, "height": VIEWPORTS[1024]},
            accept_downloads=True,
        )
        await sign_in(page, month_url, *OPERATOR)
        await page.wait_for_selector("#conn.live")  # the top bar stays live here too
        assert await page.locator(".topbar nav a.active").inner_text() == "Rapportage"
        assert await page.locator("#report-month").inner_text() == "oktober 2025"

        # The total's figures in the summary, as shown (and shown at all).
        summary = page.locator("#report-summary [id^='total-']")
        shown = dict(
            await summary.evaluate_all("els => els.map(e => [e.id.slice(6), e.innerText])")
        )
        assert set(shown) == report_page.SUMMARY
        for name in shown:
            assert await page.locator(f"#total-{name}").is_visible(), name
        expected_total = report_seed.EXPECTED["total"]
        assert report_page.mismatches(shown.get, expected_total, report_page.SUMMARY) == []
        assert await page.locator("#small-note").is_visible()

        # Each dwelling's figures (and the total row) in the tables.
        rows = await page.locator("tr[data-dwelling] td").evaluate_all(
            "tds => tds.map(td => [td.closest('tr').dataset.dwelling, td.className.slice(2), "
            "td.innerText])"
        )
        cells: dict[str, dict[str, str]] = {}
        for scope, name, text in rows:
            cells.setdefault(scope, {})[name] = text
        for scope, expected in report_seed.EXPECTED.items():
            assert report_page.mismatches(cells[scope].get, expected) == [], scope

        # The charts are drawn: a bar for each figure above zero, to scale.
        async def count(selector: str) -> int:
            return await page.locator(selector).count()

        nonzero = sum(1 for n in expected_total["by_kind"].values() if n)
        assert await count("#chart-kinds rect.r-bar") == nonzero == 5
        assert await count("#chart-severities rect.r-bar") == 2
        assert await count("#chart-first rect.r-p50") == await count("#chart-first rect.r-p90") == 3
        assert await count("#chart-taken rect.r-bar") == 6
        assert await count("#chart-outcomes rect.r-seg") == 8
        assert await count("#chart-centre rect.r-seg") == 3
        assert await count("#chart-downtime rect.r-bar") == 2
        kinds = page.locator("#chart-kinds rect.r-bar")
        personal, vitals = await kinds.nth(0).bounding_box(), await kinds.nth(3).bounding_box()
        assert personal is not None and vitals is not None
        assert personal["width"] > 150 and personal["height"] > 10  # drawn, not collapsed
        assert personal["width"] == pytest.approx(2 * vitals["width"], rel=0.02)  # 4 and 2
        outcome = await page.locator("#chart-outcomes svg").bounding_box()
        segments = page.locator("#chart-outcomes rect.r-seg")
        widths = [
            box["width"]
            for box in [await segments.nth(i).bounding_box() for i in range(8)]
            if box is not None
        ]
        # Side by side, they fill the bar (each box counts its 2 px white outline too).
        assert len(widths) == 8 and outcome is not None
        assert sum(widths) == pytest.approx(outcome["width"], abs=2 * len(widths) + 1)
        legend = await page.locator("#chart-outcomes .r-legend").inner_text()
        assert "Loos alarm 4 (33%)" in legend

        # At 1024 px, 1920 px and on a phone: nothing cut off, the top bar whole.
        for width, height in VIEWPORTS.items():
            await page.set_viewport_size({"width": width, "height": height})
            assert await fits(page), width
            assert await page.locator(".logout button").is_visible(), width
            assert await page.locator("#total-alarms").is_visible(), width
            await page.screenshot(path=str(shot(f"console-reports-{width}.png")), full_page=True)
        await page.set_viewport_size({"width": 1024, "height": VIEWPORTS[1024]})

        # The CSV download: a row per dwelling and the total.
        async with page.expect_download() as started:
            await page.click("#csv")
        download = await started.value
        assert download.suggested_filename == "mz-report-2025-10.csv"
        path = tmp_path / "report.csv"
        await download.save_as(path)
        with path.open(encoding="utf-8") as f:
            table = list(csv.DictReader(f))
        assert [r["dwelling"] for r in table] == ["dw-001", "dw-002", "dw-003", ""]
        assert table[-1]["alarms"] == str(expected_total["alarms"])

        # The next month (not over yet) and, through the month field, September.
        await page.click("#month-next")
        await page.wait_for_url(f"{console.url}/reports?month=2025-11")
        assert await page.locator("#report-month").inner_text() == "november 2025"
        assert await page.locator("#total-alarms").inner_text() == "1"
        await page.fill("#month-field", "2025-09")
        await page.click(".report-picker button")
        await page.wait_for_url(f"{console.url}/reports?month=2025-09")
        assert await page.locator("#report-empty").is_visible()

        # In English, the same month.
        await page.click("a.lang")
        await page.wait_for_url("**/reports?month=2025-09&lang=en")
        assert await page.locator("#report-month").inner_text() == "September 2025"
        assert "Download CSV" in await page.locator("#csv").inner_text()
    for width in VIEWPORTS:
        assert shot(f"console-reports-{width}.png").stat().st_size > 10_000
