"""The mantelzorger's page in real headless Chromium on a 390 px phone: log in, take an open
alarm on ("Ik ga erheen"), "Ik ben er", close it with an outcome — live, without a reload —
and the alarm is closed at the hub; a new alarm appears by itself; the alarm link's way in;
the service worker caches the shell only. Screenshots at 390 and 1024 px
(tests/e2e/shots.py: `make screenshots` puts them in docs/img)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import ViewportSize

from alerts.model import AlarmKind, AlarmState, Outcome, Response, Severity
from alerts.service import AlarmService
from hub.registry import Registry
from hub.storage.base import Point
from sensors.contract import AlarmMessage, new_id
from tests.e2e.browser import Running, chromium, edge_alarm, running_console, sign_in
from tests.e2e.shots import shot

pytestmark = pytest.mark.e2e

ANNA = ("anna@example.org", "anna-wachtwoord-1")  # test-only credentials
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Running]:
    """The hub, where Anna (c-anna, dw-001's mantelzorger) has a login."""
    async with running_console(tmp_path) as running:
        assert isinstance(running.registry, Registry)
        running.registry.set_contact_password("c-anna", ANNA[1], time.time())
        yield running


async def history(alarms: AlarmService) -> None:
    """A few days of the dwelling's past: the page and the screenshots show every kind."""
    now = time.time()
    inactive = await edge_alarm(
        alarms, "dw-001", AlarmKind.INACTIVITY, Severity.MEDIUM, waited_s=2 * 86400
    )
    await alarms.acknowledge(inactive, "jan", "", now - 2 * 86400 + 120)
    await alarms.close_alarm(inactive, "jan", Outcome.CARE_PROVIDER, "", now - 2 * 86400 + 900)
    fall = await edge_alarm(alarms, "dw-001", AlarmKind.FALL, Severity.HIGH, waited_s=5 * 86400)
    await alarms.on_edge_alarm(
        AlarmMessage(
            id=new_id(), dwelling="dw-001", ts=now - 5 * 86400 + 20, action="cancel",
            alarm_id=fall, kind=AlarmKind.FALL, severity=Severity.HIGH,
        ),
        received_at=now - 5 * 86400 + 21,
    )  # fmt: skip


async def test_a_mantelzorger_takes_an_alarm_on_and_closes_it_on_a_phone(hub: Running) -> None:
    alarms = hub.alarms
    await history(alarms)
    await hub.store.write_points([Point("dw-001", "pir-1", "motion", time.time() - 120, 1.0)])
    alarm_id = await edge_alarm(alarms, "dw-001", AlarmKind.PERSONAL, Severity.HIGH)

    async with chromium() as browser:
        phone = await browser.new_context(
            viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
        )
        page = await phone.new_page()
        home = f"{hub.url}/familie/woning/dw-001"
        await sign_in(page, f"{hub.url}/familie", *ANNA, name_field="email", lands=home)
        assert await page.locator(".hl-title").inner_text() == "Er is een alarm"
        assert "Actief" in await page.locator("#status").inner_text()
        card = page.locator(f"#alarm-{alarm_id}")
        assert "Persoonlijk alarm" in await card.inner_text()
        # Large touch targets, nothing wider than the phone.
        button = await card.locator('button[value="on_my_way"]').bounding_box()
        assert button is not None and button["height"] >= 48 and button["width"] >= 300
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]
        await page.screenshot(path=str(shot("family-390.png")), full_page=True)

        # The same login on a 1024 px tablet.
        tablet = await browser.new_context(
            viewport={"width": 1024, "height": 800}, storage_state=await phone.storage_state()
        )
        wide = await tablet.new_page()
        await wide.goto(f"{hub.url}/familie")
        await wide.wait_for_url(home)
        side = await wide.locator(".col-side").bounding_box()
        main = await wide.locator(".col-main").bounding_box()
        assert side is not None and main is not None and side["x"] > main["x"] + 300
        await wide.screenshot(path=str(shot("family-1024.png")), full_page=True)
        await tablet.close()

        # The service worker (the installable shell) caches the shell only.
        scope = await page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
        assert scope == f"{hub.url}/familie/"

        await page.evaluate("window.__sameDocument = true")
        await card.locator("textarea[name=note]").fill("Ik ben er over tien minuten")
        await card.locator('button[value="on_my_way"]').click()
        await page.locator("#flash", has_text="onderweg").wait_for()
        await card.locator(".state", has_text="U bent onderweg").wait_for(timeout=10_000)
        rec = alarms.get(alarm_id)
        assert rec is not None and rec.response is Response.ON_MY_WAY
        assert rec.responder == "c-anna" and rec.note == "Ik ben er over tien minuten"

        await card.locator('button[value="arrived"]').click()
        await card.locator(".state", has_text="U bent bij de bewoner").wait_for(timeout=10_000)
        await card.screenshot(path=str(shot("family-390-close.png")))
        # Closing needs an outcome: the page says so and sends nothing.
        await card.locator('button[value="closed"]').click()
        await page.locator("#flash", has_text="Kies hoe het is afgelopen").wait_for()
        rec = alarms.get(alarm_id)
        assert rec is not None and rec.response is Response.ARRIVED
        await card.locator("select[name=outcome]").select_option("family_help")
        await card.locator('button[value="closed"]').click()
        await card.wait_for(state="detached", timeout=10_000)
        await page.locator(".hl-title", has_text="Alles in orde").wait_for()
        assert await page.locator("#no-alarms").is_visible()
        assert await page.evaluate("window.__sameDocument") is True  # no reload
        rec = alarms.get(alarm_id)
        assert rec is not None and rec.state is AlarmState.RESOLVED
        assert rec.outcome is Outcome.FAMILY_HELP and rec.response is Response.CLOSED
        past = await page.locator("#history").inner_text()
        assert "aangenomen door u · afloop: geholpen door familie of buren" in past
        assert "aangenomen door de alarmcentrale · afloop: zorgverlener gestuurd" in past
        assert "geannuleerd in de woning" in past

        # A new alarm appears by itself (the page polls its dwelling's JSON).
        fall = await edge_alarm(alarms, "dw-001", AlarmKind.FALL, Severity.CRITICAL)
        await page.locator(f"#alarm-{fall}").wait_for(timeout=10_000)
        assert await page.locator(".hl-title").inner_text() == "Er is een alarm"
        assert await page.evaluate("window.__sameDocument") is True

        cached = await page.evaluate(
            "caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k)"
            ".then(c => c.keys())))).then(ls => ls.flat().map(r => new URL(r.url).pathname))"
        )
        assert "/familie/static/family.css" in cached and "/familie/offline" in cached
        assert not [p for p in cached if "/woning" in p or "/api/" in p or "/alarmen" in p]
        # Without a network the page is the cached offline page, never old data.
        await phone.set_offline(True)
        await page.goto(f"{hub.url}/familie/woning/dw-001")
        assert await page.locator("h1").inner_text() == "Geen verbinding"
        assert "Val" not in await page.locator("main").inner_text()
        await phone.set_offline(False)
        await phone.close()
    assert shot("family-390.png").stat().st_size > 10_000


async def test_the_alarm_link_opens_the_page_without_a_password(hub: Running) -> None:
    alarms = hub.alarms
    alarm_id = await edge_alarm(alarms, "dw-001", AlarmKind.FALL, Severity.HIGH)
    link = alarms.ack_url(alarm_id, "c-anna", time.time())
    async with chromium() as browser:
        page = await browser.new_page(viewport=PHONE)
        await page.goto(hub.url + link[link.index("/ack/") :])
        await page.click("a[href^='/familie/link/']")
        await page.click("button[type=submit]")  # "Open de pagina"
        # The page, at the alarm the link was for.
        await page.wait_for_url(f"{hub.url}/familie/woning/dw-001#alarm-{alarm_id}")
        card = page.locator(f"#alarm-{alarm_id}")
        await card.locator('button[value="on_my_way"]').click()
        await card.locator(".state", has_text="U bent onderweg").wait_for(timeout=10_000)
        rec = alarms.get(alarm_id)
        assert rec is not None and rec.responder == "c-anna"
        # Another dwelling's page is not theirs.
        r = await page.goto(f"{hub.url}/familie/woning/dw-002")
        assert r is not None and r.status == 404
