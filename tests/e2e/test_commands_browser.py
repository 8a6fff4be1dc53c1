"""The "Testalarm" button in a real browser at 1024 px: a real hub, real Mosquitto, the real
edge agent; the operator presses it on the dwelling page and sees, without reloading, that
the test alarm arrived and was not passed on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.browser import chromium, require_chromium, sign_in
from tests.e2e.shots import shot
from tests.integration import test_edge_commands
from tests.integration.test_edge_commands import OPERATOR, hub_and_edge
from tests.servers import Mosquitto

pytestmark = pytest.mark.e2e
data_dir = test_edge_commands.data_dir  # the fixture: dw-001..3, a mantelzorger, jan


async def test_testalarm_button_at_1024_px(
    mosquitto: Mosquitto, data_dir: Path, tmp_path: Path
) -> None:
    require_chromium()
    picture = shot("console-testalarm.png")
    async with (
        hub_and_edge(mosquitto, data_dir, tmp_path) as (_hub, _dw, _agent, url),
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 1024, "height": 900})
        await sign_in(page, f"{url}/dwellings/dw-001", *OPERATOR)
        panel = page.locator("#commands")
        assert await panel.locator("h2").text_content() == "Controle op afstand"
        assert "Nog geen opdrachten" in await panel.inner_text()
        await page.wait_for_selector("#conn.live")
        button = panel.locator("button.test-alarm")
        # The live part may be swapped in between: ask until the button is laid out.
        box = None
        deadline = time.monotonic() + 10
        while box is None and time.monotonic() < deadline:
            await button.wait_for(state="visible")
            box = await button.bounding_box()
        assert box is not None and box["width"] > 60 and box["x"] + box["width"] <= 1024
        await button.click()
        await page.wait_for_url(f"{url}/dwellings/dw-001?cmd=sent#commands")
        assert "Opdracht verstuurd" in await page.locator(".cmd-notice").inner_text()
        # The live part brings the answer in: arrived, not passed on.
        await panel.locator("td.cmd-result", has_text="testalarm aangekomen om").wait_for(
            timeout=20_000
        )
        row = await panel.locator("tr.cmd-ok").first.inner_text()
        assert "Testalarm" in row and "jan" in row and "niet doorgestuurd" in row
        await page.screenshot(path=str(picture), full_page=True)
    assert picture.stat().st_size > 10_000
