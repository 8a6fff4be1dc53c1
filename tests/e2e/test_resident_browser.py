"""The resident card in real headless Chromium: an operator reveals the key-safe code on a
dwelling page (shown in place, the logged note, an audit row in the operator's name, hidden
again on a click and kept across the page's live updates); a coordinator edits the GP's
phone through the form. Screenshots for docs/console.md."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.registry import Registry
from tests.e2e.browser import Running, chromium, running_console, sign_in
from tests.e2e.shots import shot
from tests.integration.console_fakes import (
    CARE_NOTES,
    COORDINATOR,
    KEY_SAFE_CODE,
    OPERATOR,
    seed_early_warning,
    seed_resident,
)
from tests.servers import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Running]:
    """The console with dw-001's resident card and early-warning history."""
    async with running_console(tmp_path) as running:
        assert isinstance(running.registry, Registry)
        seed_resident(running.registry, time.time() - 3 * 86400)
        await seed_early_warning(running.store, "dw-001", time.time())
        yield running


async def test_an_operator_reveals_the_key_safe_code(console: Running) -> None:
    registry = console.registry
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1024, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await sign_in(page, f"{console.url}/dwellings/dw-001", *OPERATOR)
        await page.wait_for_selector("#conn.live")
        panel = page.locator("#resident")
        text = await panel.inner_text()
        assert "Truus Voorbeeld" in text and "Jan Buurman" in text
        assert KEY_SAFE_CODE not in await page.content()
        assert await panel.locator('a.tel[href="tel:0300000101"]').count() == 1
        await page.screenshot(path=str(shot("console-resident-1024.png")))

        await page.evaluate("window.__sameDocument = true")
        await panel.get_by_role("button", name="Sleutelkluiscode tonen").click()
        shown = panel.locator('.revealed[data-secret="key-safe"]')
        await shown.wait_for(state="visible", timeout=10_000)
        assert await shown.locator(".secret-value").inner_text() == KEY_SAFE_CODE
        assert "Deze inzage is vastgelegd" in await shown.inner_text()
        assert await page.evaluate("window.__sameDocument") is True  # in place: no reload
        views = [e for e in registry.audit_log("dw-001") if e.action.endswith(".view")]
        assert [(e.action, e.actor, e.role, e.source) for e in views] == [
            ("resident.key_safe.view", "jan", "operator", "console")
        ]
        await page.screenshot(path=str(shot("console-resident-revealed.png")))

        # The page's live part is swapped in every refresh (its "as of" time ticks):
        # the code stays until it is hidden, and the swapped-in panel shows it.
        await page.evaluate(
            "document.addEventListener('mz:part', () => { window.__parts = "
            "(window.__parts || 0) + 1; })"
        )

        async def swapped() -> bool:
            return bool(await page.evaluate("window.__parts || 0"))

        await wait_until(swapped, timeout=10)
        assert await shown.locator(".secret-value").inner_text() == KEY_SAFE_CODE
        # A click hides it, and the code leaves the page.
        await shown.click()
        await shown.wait_for(state="hidden", timeout=5_000)
        assert KEY_SAFE_CODE not in await page.content()
        assert await panel.get_by_role("button", name="Sleutelkluiscode tonen").is_visible()

        # The care notes the same way; their reveal is a second audit row.
        await panel.get_by_role("button", name="Zorgnotities tonen").click()
        notes = panel.locator('.revealed[data-secret="care-notes"]')
        await notes.wait_for(state="visible", timeout=10_000)
        assert await notes.locator(".secret-value").inner_text() == CARE_NOTES
        await notes.get_by_role("button", name="Verbergen").click()
        await notes.wait_for(state="hidden", timeout=5_000)
        actions = [e.action for e in registry.audit_log("dw-001") if e.actor == "jan"]
        assert actions == ["resident.care_notes.view", "resident.key_safe.view"]
        # No edit link for an operator.
        assert await panel.locator("a.rc-edit").count() == 0
        assert errors == []


async def test_a_coordinator_edits_the_gp_phone(console: Running) -> None:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1024, "height": 1000})
        await sign_in(page, f"{console.url}/dwellings/dw-001", *COORDINATOR)
        await page.locator("#resident a.rc-edit").click()
        await page.wait_for_url(f"{console.url}/dwellings/dw-001/resident/edit")
        gp = page.get_by_label("Telefoon huisarts")
        assert await gp.input_value() == "030 000 0101"
        assert await page.get_by_label("Nieuwe sleutelkluiscode").input_value() == ""
        await gp.fill("bel de praktijk")
        await page.get_by_role("button", name="Opslaan").click()
        error = page.locator("#err-gp_phone")
        await error.wait_for(timeout=10_000)
        assert "Geen geldig telefoonnummer" in await error.inner_text()
        await page.screenshot(path=str(shot("console-resident-edit.png")), full_page=True)

        await page.get_by_label("Telefoon huisarts").fill("030 765 4321")
        await page.get_by_role("button", name="Opslaan").click()
        await page.wait_for_url(f"{console.url}/dwellings/dw-001")
        tel = page.locator('#resident a.tel[href="tel:0307654321"]')
        await tel.wait_for(timeout=10_000)
        assert await tel.inner_text() == "030 765 4321"
        card = console.registry.resident_card("dw-001")
        assert card is not None and card.gp_phone == "030 765 4321"
        newest = console.registry.audit_log("dw-001")[0]
        assert (newest.actor, newest.detail) == ("coco", "changed: gp_phone")

        # The audit trail, linked from the panel.
        await page.locator("#resident a.rc-audit").click()
        await page.wait_for_url(f"{console.url}/audit?dwelling=dw-001")
        first = await page.locator("table.audit tbody tr").first.inner_text()
        assert "coco" in first and "Bewonerskaart gewijzigd" in first
        assert "telefoon huisarts" in first
