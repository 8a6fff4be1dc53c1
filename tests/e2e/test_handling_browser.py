"""Two operators in real headless Chromium handle the same alarm: one claims it, the other
sees that live and cannot act until taking it over; the new holder works the script and
closes with an outcome; the first sees each step live on the alarm page."""

from __future__ import annotations

import pytest

from alerts.model import AlarmKind, AlarmState, Outcome, Severity
from hub.context import Operator
from hub.registry import Registry
from tests.e2e.browser import Running, chromium, console, edge_alarm, sign_in
from tests.e2e.shots import shot
from tests.integration.console_fakes import OPERATOR
from tests.servers import wait_until

pytestmark = pytest.mark.e2e

__all__ = ["console"]  # the fixture (tests.e2e.browser)

ANJA = ("anja", "anja-wachtwoord-42")  # test-only credentials
PHONE = {"width": 390, "height": 844}


def desk(width: int) -> dict[str, int]:
    return {"width": width, "height": 900}


async def test_two_operators_claim_take_over_and_close_one_alarm(console: Running) -> None:
    from playwright.async_api import Page

    registry = console.registry
    assert isinstance(registry, Registry)
    registry.add_operator(Operator(ANJA[0], "operator", "Anja de Boer"), ANJA[1])
    alarms = console.alarms

    async def signed_in(page: Page, user: str, password: str) -> None:
        await sign_in(page, f"{console.url}/", user, password)
        await page.wait_for_selector("#conn.live")

    async with chromium() as browser:
        jan = await (await browser.new_context(viewport={"width": 1024, "height": 900})).new_page()
        anja = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        await signed_in(jan, *OPERATOR)
        await signed_in(anja, *ANJA)
        alarm_id = await edge_alarm(alarms, "dw-001", AlarmKind.FALL, Severity.CRITICAL)
        for page in (jan, anja):
            await page.locator(f"#alarm-{alarm_id}").wait_for(timeout=10_000)

        # Jan claims it from the queue; Anja sees it at once, and only "Overnemen".
        await jan.locator(f"#alarm-{alarm_id} button.claim").click()
        hers = anja.locator(f"#alarm-{alarm_id}")
        await hers.locator(".claim-line").wait_for(timeout=5_000)
        assert "In behandeling door Jan Jansen" in await hers.inner_text()
        assert await hers.locator("button.take-over").count() == 1
        assert await hers.locator("button.ack, button.resolve").count() == 0
        rec = alarms.get(alarm_id)
        assert rec is not None and rec.claimed_by == OPERATOR[0]

        # Both open the alarm page; Anja's buttons are disabled until she takes it over.
        await jan.goto(f"{console.url}/alarms/{alarm_id}")
        await anja.goto(f"{console.url}/alarms/{alarm_id}")
        await anja.wait_for_selector("#conn.live")
        await jan.wait_for_selector("#conn.live")
        assert await anja.locator('#handling button[value="called_resident"]').is_disabled()
        anja.once("dialog", lambda d: d.accept())  # "Jan Jansen behandelt dit alarm..."
        await anja.locator("#handling button.take-over").click()
        await jan.locator("#handling .claim-line", has_text="Anja de Boer").wait_for(timeout=5_000)
        assert await jan.locator('#handling button[value="called_resident"]').is_disabled()

        # Anja works the script: the step appears on Jan's timeline, live.
        await anja.locator('#handling button[value="called_resident"]:not([disabled])').wait_for(
            timeout=5_000
        )
        await anja.locator('#handling button[value="called_resident"]').click()
        await jan.locator("#timeline", has_text="Bewoner gebeld").wait_for(timeout=5_000)
        await anja.screenshot(path=str(shot("console-alarm-1280.png")), full_page=True)
        await jan.screenshot(path=str(shot("console-alarm-1024.png")), full_page=True)

        # Closing needs an outcome; then it is over, for both.
        await anja.select_option("#close-outcome", Outcome.CARE_PROVIDER.value)
        await anja.fill("#close-note", "Thuiszorg is langs geweest")
        await anja.locator(".close-form button").click()

        async def closed() -> bool:
            r = alarms.get(alarm_id)
            return r is not None and r.state is AlarmState.RESOLVED

        await wait_until(closed, timeout=5)
        rec = alarms.get(alarm_id)
        assert rec is not None and rec.outcome is Outcome.CARE_PROVIDER
        assert rec.claimed_by == ANJA[0]
        await jan.locator(".alarm-title.st-resolved").wait_for(timeout=5_000)
        assert await jan.locator("#handling .close-form").count() == 0
        timeline = await jan.locator("#timeline").inner_text()
        for step in ("In behandeling genomen", "Overgenomen", "Bewoner gebeld", "Afgehandeld"):
            assert step in timeline, step
        assert "Thuiszorg is langs geweest" in timeline

        # The alarm page on a phone.
        phone = await (await browser.new_context(viewport={"width": 390, "height": 844})).new_page()
        await signed_in(phone, *OPERATOR)
        await phone.goto(f"{console.url}/alarms/{alarm_id}")
        await phone.screenshot(path=str(shot("console-alarm-390.png")), full_page=True)
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width  # nothing wider than the phone
