"""The console in real headless Chromium: log in, an alarm arrives live (SSE), acknowledge it;
a dwelling's page (learned routine, NEWS2, charts, signals) opened from the board."""

from __future__ import annotations

import time

import pytest

from alerts.model import AlarmKind, AlarmState, Severity
from tests.e2e.browser import Running, chromium, console, edge_alarm, sign_in
from tests.e2e.shots import shot
from tests.integration.console_fakes import OPERATOR, seed_early_warning
from tests.servers import wait_until

pytestmark = pytest.mark.e2e

__all__ = ["console"]  # the fixture (tests.e2e.browser)


async def test_login_live_alarm_and_acknowledge(console: Running) -> None:
    alarms = console.alarms
    # Some history so the page (and the screenshot) shows every state.
    old = await edge_alarm(alarms, "dw-002", AlarmKind.INACTIVITY, Severity.MEDIUM)
    await alarms.resolve(old, "jan", "bewoner was op bezoek bij familie", time.time())
    acked = await edge_alarm(alarms, "dw-001", AlarmKind.VITALS, Severity.MEDIUM)
    # Taken on by the family through their link (no operator claim: piet may resolve it).
    link = alarms.ack_url(acked, "c-anna", time.time())
    await alarms.acknowledge_link(link.rsplit("/", 1)[1], "ik ga langs")
    await alarms.raise_technical(
        "dw-002",
        "offline",
        Severity.LOW,
        {"reason": "heartbeat_timeout", "last_seen": time.time() - 340.4693081},
        time.time(),
    )

    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1440, "height": 900})
        await sign_in(page, f"{console.url}/", *OPERATOR)
        await page.wait_for_selector("#conn.live")  # the SSE stream is open
        await page.evaluate("window.__sameDocument = true")

        alarm_id = await edge_alarm(alarms, "dw-001", AlarmKind.PERSONAL, Severity.HIGH)
        card = page.locator(f"#open-list #alarm-{alarm_id}")
        await card.wait_for(state="visible", timeout=10_000)
        assert await page.evaluate("window.__sameDocument") is True  # no reload happened
        text = await card.inner_text()
        assert "persoonlijk alarm" in text.lower() and "dubbel ingedrukt" in text
        offline = await page.locator("#open-list .alarm.st-raised.sev-low").inner_text()
        assert "reden: geen levensteken meer van de woning ontvangen" in offline
        assert "heartbeat_timeout" not in offline and "last_seen" not in offline
        assert (await page.title()).startswith("(3)")
        await page.screenshot(path=str(shot("console-queue-1440.png")), full_page=False)

        await card.locator('input[name="note"]').fill("Anna is onderweg, ik bel haar terug")
        await card.locator("button.ack").click()
        await page.locator(f"#alarm-{alarm_id}.st-acknowledged").wait_for(timeout=10_000)
        rec = alarms.get(alarm_id)
        assert rec is not None and rec.state is AlarmState.ACKNOWLEDGED
        assert rec.acknowledged_by == "jan" and rec.note == "Anna is onderweg, ik bel haar terug"
        assert await page.evaluate("window.__sameDocument") is True

        # Closing needs an outcome: without one the browser says so and nothing happens.
        page.once("dialog", lambda d: d.accept())
        await page.locator(f"#alarm-{alarm_id} button.resolve").click()
        assert alarms.get(alarm_id).state is AlarmState.ACKNOWLEDGED  # type: ignore[union-attr]
        await page.locator(f"#alarm-{alarm_id} select[name=outcome]").select_option("false_alarm")
        await page.locator(f"#alarm-{alarm_id} button.resolve").click()
        resolved = page.locator(f"#recent-list #alarm-{alarm_id}")
        await resolved.wait_for(timeout=10_000)
        await page.locator(f"#open-list #alarm-{alarm_id}").wait_for(
            state="detached", timeout=10_000
        )
        # Live, without a reload: the last resolved on top, no buttons left on it.
        assert await page.evaluate("window.__sameDocument") is True
        first = page.locator("#recent-list .alarm").first
        assert await first.get_attribute("id") == f"alarm-{alarm_id}"
        assert await resolved.locator("form.act").count() == 0
        assert "afgehandeld door jan" in await resolved.inner_text()
        assert (await page.title()).startswith("(2)")

        # Resolved by someone else (another operator, a script): it moves here too.
        await alarms.resolve(acked, "piet", "", time.time())
        moved = page.locator(f"#recent-list #alarm-{acked}")
        await moved.wait_for(timeout=10_000)
        assert await page.locator("#recent-list .alarm").first.get_attribute("id") == (
            f"alarm-{acked}"
        )
        assert await page.evaluate("window.__sameDocument") is True
        await page.screenshot(path=str(shot("console-after.png")))
        await page.goto(f"{console.url}/dwellings")
        await page.screenshot(path=str(shot("console-dwellings.png")))

        # The mantelzorger's side: the mailed link opens a page; the button acknowledges.
        link_alarm = await edge_alarm(alarms, "dw-001", AlarmKind.FALL, Severity.CRITICAL)
        mantelzorger = await browser.new_page(viewport={"width": 420, "height": 760})
        link = alarms.ack_url(link_alarm, "c-anna", time.time())
        await mantelzorger.goto(console.url + link[link.index("/ack/") :])
        await mantelzorger.screenshot(path=str(shot("console-ack.png")))
        await mantelzorger.click('button[type="submit"]')
        await mantelzorger.locator(".message.ok").wait_for()
        await page.goto(f"{console.url}/")
        await page.locator(f"#alarm-{link_alarm}.st-acknowledged").wait_for()
        await page.click(".logout button")
        await page.wait_for_url("**/login")
        await page.screenshot(path=str(shot("console-login.png")))


async def test_the_queue_puts_a_late_critical_first_and_reddens_an_overdue_alarm(
    console: Running,
) -> None:
    alarms = console.alarms
    # A high alarm that has waited 130 s (its target is 120 s), and a fresh medium one.
    overdue = await edge_alarm(alarms, "dw-001", AlarmKind.INACTIVITY, Severity.HIGH, waited_s=130)
    medium = await edge_alarm(alarms, "dw-002", AlarmKind.VITALS, Severity.MEDIUM)
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1024, "height": 800})
        await sign_in(page, f"{console.url}/", *OPERATOR)
        await page.wait_for_selector("#conn.live")
        card = page.locator(f"#alarm-{overdue}")
        assert "overdue" in (await card.get_attribute("class") or "")
        assert "/ 2:00" in await card.locator(".wait").inner_text()
        fresh = page.locator(f"#alarm-{medium}")
        assert "overdue" not in (await fresh.get_attribute("class") or "")

        # Each new alarm is announced (the sound/notification hook); muted, a critical
        # one still sounds.
        await page.evaluate(
            "document.addEventListener('mz:alarm', e => "
            "(window.__announced = window.__announced || []).push(e.detail))"
        )
        await page.click("#mute")
        assert await page.get_attribute("#mute", "aria-pressed") == "true"

        # A critical alarm arriving after the high one goes to the top of the queue, live.
        critical = await edge_alarm(alarms, "dw-002", AlarmKind.VITALS, Severity.CRITICAL)
        await page.locator(f"#alarm-{critical}").wait_for(timeout=10_000)
        ids = await page.locator("#open-list .alarm").evaluate_all(
            "cards => cards.map(c => c.dataset.id)"
        )
        assert ids == [critical, overdue, medium]
        announced = await page.evaluate("window.__announced")
        assert announced == [{"id": critical, "severity": "critical", "sound": True}]
        quiet = await edge_alarm(alarms, "dw-001", AlarmKind.INACTIVITY, Severity.MEDIUM)
        await page.locator(f"#alarm-{quiet}").wait_for(timeout=10_000)

        async def heard() -> bool:
            return len(await page.evaluate("window.__announced")) == 2

        await wait_until(heard, timeout=10)
        assert (await page.evaluate("window.__announced"))[1]["sound"] is False  # muted

        # Filters: only the critical ones, then a search for a dwelling.
        await page.select_option('#filters select[name="sev"]', "critical")
        assert await page.locator("#open-list .alarm:visible").count() == 1
        assert await page.locator("#filtered").is_visible()
        await page.select_option('#filters select[name="sev"]', "")
        await page.fill('#filters input[name="q"]', "dw-002")
        visible = await page.locator("#open-list .alarm:visible").evaluate_all(
            "cards => cards.map(c => c.dataset.id)"
        )
        assert visible == [critical, medium]
        await page.fill('#filters input[name="q"]', "")
        assert not await page.locator("#filtered").is_visible()
        # The waiting time ticks in the browser (1 s), without a new render.
        before = await page.locator(f"#alarm-{critical} .wait b").inner_text()
        tick = page.locator(f"#alarm-{critical} .wait b")

        async def ticked() -> bool:
            return await tick.inner_text() != before

        await wait_until(ticked, timeout=5)
        # Taken on: no longer waiting, no longer red.
        await alarms.acknowledge(overdue, "jan", "", time.time())

        async def calm() -> bool:
            return "overdue" not in (await card.get_attribute("class") or "")

        await wait_until(calm, timeout=10)
        assert await page.locator(f"#alarm-{overdue} .wait").count() == 0


async def test_dwelling_page_from_the_board(console: Running) -> None:
    await seed_early_warning(console.store, "dw-001", time.time())
    picture = shot("console-dwelling.png")
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1440, "height": 1100})
        await sign_in(page, f"{console.url}/dwellings", *OPERATOR)
        await page.click("#dw-dw-001 a.dw-link")
        await page.wait_for_url(f"{console.url}/dwellings/dw-001")
        await page.wait_for_selector("#conn.live")  # the top bar stays live here too

        routine = await page.locator("#routine").inner_text()
        assert "Geleerd uit 12 dagen" in routine
        assert "07:15" in routine and "22:45" in routine and "09:15" in routine
        assert "'s Nachts niet thuis, alarm om" in routine and "01:30" in routine
        assert await page.locator("#routine svg rect.awake").count() == 48
        box = await page.locator("#routine svg.quiet-chart").bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 80  # drawn
        vitals = await page.locator("#vitals").inner_text()
        assert "Laatste NEWS2" in vitals and "midden (5-6)" in vitals
        assert "ademfrequentie" in vitals
        assert await page.locator("#vitals svg.spark").count() == 4
        signals = (await page.locator("#signals").inner_text()).lower()
        assert "afwijkende trend" in signals and "gewicht snel toegenomen" in signals
        await page.screenshot(path=str(picture), full_page=True)

        await page.click("a.lang")  # the same page in English
        await page.locator("#routine h2", has_text="Daily routine").wait_for()
        assert "Learned from 12 days" in await page.locator("#routine").inner_text()
        await page.goto(f"{console.url}/dwellings/dw-404")
        assert "Dwelling not found" in await page.locator("main").inner_text()
    assert picture.stat().st_size > 10_000
