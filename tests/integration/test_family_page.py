"""The mantelzorger's page over httpx's ASGI transport: their own login and the alarm
link's way in, one dwelling never another's, the alarm steps, CSRF and origin, login
throttling, the live JSON, the status at a glance, the PWA shell."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from alerts.model import AlarmKind, AlarmState, Outcome, Response, Severity
from alerts.service import AlarmService
from hub.admin_cli import app as admin_app
from hub.context import DwellingHealth, HubContext
from hub.registry import Registry, SqliteRegistry
from hub.storage.base import Point
from hub.storage.sqlite import SqliteTimeSeriesStore
from sensors.contract import AlarmMessage, new_id
from tests.integration.alarm_fakes import FakeClock
from tests.integration.console_client import BASE, csrf_of, open_console
from tests.integration.console_client import login as console_login
from tests.integration.console_fakes import (
    FakePresence,
    FakeSleep,
    event,
    routine_profile,
)

pytestmark = pytest.mark.integration

ANNA = ("anna@example.org", "anna-wachtwoord-1")  # c-anna, dw-001 (test-only credentials)
BOB = ("bob@example.org", "bob-password-22")  # c-bob, dw-002, English


@dataclass
class Setup:
    client: httpx.AsyncClient
    alarms: AlarmService
    registry: Registry
    clock: FakeClock
    ctx: HubContext
    store: SqliteTimeSeriesStore | None  # with _setup(..., store=True)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def _setup(tmp_path: Path, clock: FakeClock, *, store: bool = False) -> AsyncIterator[Setup]:
    async with open_console(tmp_path, clock, store=store, sleep=FakeSleep(clock)) as c:
        c.registry.set_contact_password("c-anna", ANNA[1], clock())
        c.registry.set_contact_password("c-bob", BOB[1], clock())
        yield Setup(c.client, c.alarms, c.registry, clock, c.ctx, c.store)


@pytest.fixture
async def setup(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Setup]:
    async for s in _setup(tmp_path, clock):
        yield s


async def family_login(
    client: httpx.AsyncClient, email: str = ANNA[0], password: str = ANNA[1]
) -> httpx.Response:
    page = await client.get("/familie/login")
    return await client.post(
        "/familie/login", data={"email": email, "password": password, "csrf": csrf_of(page.text)}
    )


async def raise_alarm(
    alarms: AlarmService,
    clock: FakeClock,
    dwelling: str = "dw-001",
    kind: AlarmKind = AlarmKind.PERSONAL,
    severity: Severity = Severity.HIGH,
) -> str:
    msg = AlarmMessage(
        id=new_id(),
        dwelling=dwelling,
        ts=clock() - 1,
        action="raise",
        alarm_id=new_id(),
        kind=kind,
        severity=severity,
    )
    await alarms.on_edge_alarm(msg, received_at=clock())
    return msg.alarm_id


async def page_csrf(client: httpx.AsyncClient, dwelling: str = "dw-001") -> str:
    page = await client.get(f"/familie/woning/{dwelling}")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


# -- reaching the page ---------------------------------------------------------------------


async def test_login_opens_the_own_dwelling_page_in_a_cookie_of_its_own(setup: Setup) -> None:
    client = setup.client
    r = await client.get("/familie")
    assert r.status_code == 303 and r.headers["location"] == "/familie/login"
    r = await family_login(client, "  Anna@Example.org ")  # as people type it
    assert r.status_code == 303 and r.headers["location"] == "/familie/woning/dw-001"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("mz_family="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/familie" in cookie
    assert not any(c.startswith("mz_session=") for c in r.headers.get_list("set-cookie"))
    page = await client.get("/familie/woning/dw-001")
    assert page.status_code == 200
    assert "Unit 3, Tuinstraat" in page.text and "Ingelogd als Anna de Vries" in page.text
    assert "Alles in orde" in page.text and "Geen open alarmen." in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert (await client.get("/familie")).headers["location"] == "/familie/woning/dw-001"
    # The family session is no console session.
    assert (await client.get("/")).status_code == 303
    assert (await client.get("/api/v1/alarms")).status_code == 401


async def test_an_operator_session_does_not_open_the_family_page(setup: Setup) -> None:
    client = setup.client
    r = await console_login(client)
    assert r.status_code == 303 and (await client.get("/")).status_code == 200
    assert (
        (await client.get("/familie/woning/dw-001"))
        .headers["location"]
        .startswith("/familie/login")
    )
    assert (await client.get("/familie/api/woning/dw-001")).status_code == 401


async def test_wrong_passwords_and_addresses_are_refused_alike(setup: Setup) -> None:
    client = setup.client
    for email, password in ((ANNA[0], "fout-wachtwoord"), ("nobody@example.org", ANNA[1])):
        r = await family_login(client, email, password)
        assert r.status_code == 401 and "Onjuist e-mailadres of wachtwoord." in r.text
    # A contact without a password of their own cannot log in (nor with another's).
    setup.registry.clear_contact_password("c-anna")
    assert (await family_login(client)).status_code == 401
    assert (await client.get("/familie/woning/dw-001")).status_code == 303


async def test_the_login_form_needs_its_token_and_a_same_site_origin(setup: Setup) -> None:
    client = setup.client
    r = await client.post("/familie/login", data={"email": ANNA[0], "password": ANNA[1]})
    assert r.status_code == 403 and "kon niet worden gecontroleerd" in r.text
    page = await client.get("/familie/login")
    r = await client.post(
        "/familie/login",
        data={"email": ANNA[0], "password": ANNA[1], "csrf": csrf_of(page.text)},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    assert (await client.get("/familie/woning/dw-001")).status_code == 303


async def test_failed_logins_are_throttled_like_the_consoles(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    client = setup.client
    caplog.set_level(logging.INFO)
    for _ in range(5):
        assert (await family_login(client, ANNA[0], "fout-wachtwoord")).status_code == 401
    r = await family_login(client)  # the right password, but the address is locked
    assert r.status_code == 429 and r.headers["retry-after"] == "30"
    assert "Te veel mislukte inlogpogingen. Probeer het over 30 s opnieuw." in r.text
    # Logged, without the address (no e-mail address is ever logged).
    assert "family logins from 127.0.0.1 refused for 30 s" in caplog.text
    assert "anna" not in caplog.text.lower() and "family:" in caplog.text
    assert (await client.get("/familie/woning/dw-001")).status_code == 303
    setup.clock.advance(31)
    assert (await family_login(client)).status_code == 303


async def test_a_trusted_phone_gets_in_while_others_guess(tmp_path: Path, clock: FakeClock) -> None:
    async for s in _setup(tmp_path, clock):
        first = await family_login(s.client)
        assert first.status_code == 303
        device = next(c for c in first.headers.get_list("set-cookie") if c.startswith("mz_device_"))
        assert "Path=/familie/login" in device
        s.client.cookies.delete("mz_family")
        # Somebody else on the same address locks it...
        async with httpx.AsyncClient(transport=s.client._transport, base_url=BASE) as other:
            for _ in range(5):
                await family_login(other, ANNA[0], "fout-wachtwoord")
            assert (await family_login(other)).status_code == 429
        # ...the phone that logged in before still gets in.
        assert (await family_login(s.client)).status_code == 303


async def test_the_alarm_link_opens_a_short_session_for_that_dwelling(setup: Setup) -> None:
    client, alarms, clock = setup.client, setup.alarms, setup.clock
    alarm_id = await raise_alarm(alarms, clock)
    token = alarms.ack_url(alarm_id, "c-anna", clock()).rsplit("/", 1)[1]
    ack = await client.get(f"/ack/{token}")
    assert f'href="/familie/link/{token}"' in ack.text and "Open de familiepagina" in ack.text
    # GET shows a button and changes nothing (mail scanners open links).
    page = await client.get(f"/familie/link/{token}")
    assert page.status_code == 200 and "Open de pagina" in page.text
    assert "de pagina van Unit 3, Tuinstraat" in page.text
    assert "U blijft 2 uur ingelogd." in page.text
    assert not page.headers.get_list("set-cookie")
    assert page.headers["referrer-policy"] == "same-origin"
    refused = await client.post(
        f"/familie/link/{token}", headers={"Origin": "https://evil.example"}
    )
    assert refused.status_code == 403 and "mz_family" not in client.cookies
    r = await client.post(f"/familie/link/{token}")
    # To the page, at the alarm the link was for.
    assert r.status_code == 303
    assert r.headers["location"] == f"/familie/woning/dw-001#alarm-{alarm_id}"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("mz_family="))
    assert "Max-Age=7200" in cookie and "SameSite=strict" in cookie
    page = await client.get("/familie/woning/dw-001")
    assert page.status_code == 200 and "Er is een alarm" in page.text
    assert (await client.get("/familie/woning/dw-002")).status_code == 404
    # Short-lived: an hour unused, and it is over.
    clock.advance(3601)
    r = await client.get("/familie/woning/dw-001")
    assert r.status_code == 303 and r.headers["location"] == "/familie/login?m=verlopen"
    assert "Uw sessie is verlopen" in (await client.get(r.headers["location"])).text


async def test_a_bad_or_expired_link_starts_nothing(setup: Setup) -> None:
    client, alarms, clock = setup.client, setup.alarms, setup.clock
    alarm_id = await raise_alarm(alarms, clock)
    token = alarms.ack_url(alarm_id, "c-anna", clock()).rsplit("/", 1)[1]
    r = await client.post("/familie/link/not-a-token")
    assert r.status_code == 410 and "niet (meer) geldig" in r.text
    clock.advance(3601)  # the test links live an hour
    r = await client.post(f"/familie/link/{token}")
    assert r.status_code == 410 and "verlopen" in r.text
    assert "mz_family" not in client.cookies


async def test_a_new_address_ends_the_contacts_sessions(setup: Setup) -> None:
    client, reg = setup.client, setup.registry
    assert (await family_login(client)).status_code == 303
    assert (await client.get("/familie/woning/dw-001")).status_code == 200
    anna = reg.contact("c-anna")
    assert anna is not None
    reg.update_contact(replace(anna, email="anna@elders.example"))  # a new link key
    assert (await client.get("/familie/woning/dw-001")).status_code == 303
    assert (await client.get("/familie/api/woning/dw-001")).status_code == 401


async def test_logout_ends_the_session_only_with_its_token(setup: Setup) -> None:
    client = setup.client
    await family_login(client)
    csrf = await page_csrf(client)
    r = await client.post("/familie/uitloggen", data={"csrf": "wrong"})
    assert (await client.get("/familie/woning/dw-001")).status_code == 200
    r = await client.post("/familie/uitloggen", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/familie/login?m=uit"
    assert "U bent uitgelogd." in (await client.get(r.headers["location"])).text
    assert (await client.get("/familie/woning/dw-001")).status_code == 303


# -- one dwelling never another's -----------------------------------------------------------


async def test_a_contact_never_sees_or_acts_on_another_dwelling(setup: Setup) -> None:
    client, alarms, clock = setup.client, setup.alarms, setup.clock
    theirs = await raise_alarm(alarms, clock, "dw-002")
    await family_login(client)  # Anna, dw-001
    csrf = await page_csrf(client)
    other = await client.get("/familie/woning/dw-002")
    assert other.status_code == 404 and "Kerkpad" not in other.text
    assert (await client.get("/familie/api/woning/dw-002")).status_code == 404
    page = await client.get("/familie/woning/dw-001")
    assert theirs not in page.text and "Geen open alarmen." in page.text
    for action in ("on_my_way", "arrived"):
        r = await client.post(f"/familie/alarmen/{theirs}", data={"csrf": csrf, "action": action})
        assert r.status_code == 404
    r = await client.post(
        f"/familie/alarmen/{theirs}",
        json={"action": "closed", "outcome": "false_alarm"},
        headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
    )
    assert r.status_code == 404
    rec = alarms.get(theirs)
    assert rec is not None and rec.state is AlarmState.RAISED and rec.response is None
    # Not even through the service with Anna's id.
    from alerts.errors import UnknownAlarmError

    with pytest.raises(UnknownAlarmError):
        await alarms.respond_as_contact(theirs, "c-anna", Response.ON_MY_WAY, "")


async def test_operator_only_alarms_stay_off_the_family_page(setup: Setup) -> None:
    client, alarms, clock = setup.client, setup.alarms, setup.clock
    await alarms.raise_technical("dw-001", "refused", Severity.MEDIUM, {"reason": "x"}, clock())
    await family_login(client)
    data = (await client.get("/familie/api/woning/dw-001")).json()
    assert data["alarms"] == [] and data["open"] == 0
    assert "Alles in orde" in data["status"]["html"]


# -- taking an alarm on -----------------------------------------------------------------------


async def test_on_my_way_arrived_and_closed_through_the_forms(setup: Setup) -> None:
    client, alarms, clock = setup.client, setup.alarms, setup.clock
    alarm_id = await raise_alarm(alarms, clock, kind=AlarmKind.FALL)
    await family_login(client)
    page = await client.get("/familie/woning/dw-001")
    assert "Er is een alarm" in page.text and "Nog niemand heeft dit alarm aangenomen." in page.text
    assert "Ik ga erheen" in page.text and "Ik ben er" in page.text
    csrf = csrf_of(page.text)
    url = f"/familie/alarmen/{alarm_id}"

    r = await client.post(url, data={"csrf": csrf, "action": "on_my_way", "note": "10 min"})
    assert r.status_code == 303 and r.headers["location"].endswith("?gedaan=on_my_way")
    rec = alarms.get(alarm_id)
    assert rec is not None and rec.state is AlarmState.ACKNOWLEDGED
    assert rec.response is Response.ON_MY_WAY and rec.responder == "c-anna"
    assert rec.acknowledged_by == "Anna de Vries (mantelzorger)" and rec.note == "10 min"
    page = await client.get(r.headers["location"])
    assert "De alarmcentrale ziet dat u onderweg bent" in page.text
    assert "U bent onderweg (sinds" in page.text and "Ik ga erheen" not in page.text

    clock.advance(300)
    r = await client.post(url, data={"csrf": csrf, "action": "arrived"})
    assert r.status_code == 303
    assert (rec := alarms.get(alarm_id)) is not None and rec.response is Response.ARRIVED
    r = await client.post(url, data={"csrf": csrf, "action": "closed"})  # no outcome
    assert r.status_code == 400 and "Kies hoe het is afgelopen" in r.text
    r = await client.post(url, data={"csrf": csrf, "action": "closed", "outcome": "family_help"})
    assert r.status_code == 303 and r.headers["location"].endswith("?gedaan=closed")
    rec = alarms.get(alarm_id)
    assert rec is not None and rec.state is AlarmState.RESOLVED
    assert rec.outcome is Outcome.FAMILY_HELP
    page = await client.get("/familie/woning/dw-001")
    assert "Alles in orde" in page.text and "Geen open alarmen." in page.text
    history = page.text[page.text.index('id="history"') :]
    assert "Val" in history or "val" in history
    assert "aangenomen door u · afloop: geholpen door familie of buren" in history
    # Over: a further step is refused with a clear message.
    r = await client.post(url, data={"csrf": csrf, "action": "arrived"})
    assert r.status_code == 409 and "al afgehandeld" in r.text


async def test_the_json_actions_need_the_token_and_a_same_site_origin(setup: Setup) -> None:
    client, alarms, clock = setup.client, setup.alarms, setup.clock
    alarm_id = await raise_alarm(alarms, clock)
    await family_login(client)
    csrf = await page_csrf(client)
    url = f"/familie/alarmen/{alarm_id}"
    accept = {"Accept": "application/json"}
    body = {"action": "on_my_way"}
    assert (await client.post(url, json=body, headers=accept)).status_code == 403
    wrong = {**accept, "X-CSRF-Token": "wrong"}
    assert (await client.post(url, json=body, headers=wrong)).status_code == 403
    cross = {**accept, "X-CSRF-Token": csrf, "Origin": "https://evil.example"}
    assert (await client.post(url, json=body, headers=cross)).status_code == 403
    rec = alarms.get(alarm_id)
    assert rec is not None and rec.response is None
    r = await client.post(url, json=body, headers={**accept, "X-CSRF-Token": csrf})
    assert r.status_code == 200
    assert r.json() == {
        "ok": True,
        "message": "Bedankt. De alarmcentrale ziet dat u onderweg bent.",
    }
    r = await client.post(
        url,
        json={"action": "closed", "outcome": "nonsense"},
        headers={**accept, "X-CSRF-Token": csrf},
    )
    assert r.status_code == 400 and r.json()["ok"] is False


async def test_an_alarm_the_centre_holds_stays_open_after_the_familys_close(
    setup: Setup,
) -> None:
    client, alarms, clock = setup.client, setup.alarms, setup.clock
    alarm_id = await raise_alarm(alarms, clock, severity=Severity.CRITICAL)
    await alarms.tick()  # routing: the pendant goes to the alarm centre at once
    rec = alarms.get(alarm_id)
    assert rec is not None and rec.centre_required
    await family_login(client)
    csrf = await page_csrf(client)
    headers = {"Accept": "application/json", "X-CSRF-Token": csrf}
    url = f"/familie/alarmen/{alarm_id}"
    assert (await client.post(url, json={"action": "arrived"}, headers=headers)).status_code == 200
    r = await client.post(url, json={"action": "closed", "outcome": "false_alarm"}, headers=headers)
    assert "de alarmcentrale rondt het alarm af" in r.json()["message"]
    rec = alarms.get(alarm_id)
    assert rec is not None and rec.state is AlarmState.ACKNOWLEDGED
    assert rec.response is Response.CLOSED and rec.outcome is Outcome.FALSE_ALARM
    data = (await client.get("/familie/api/woning/dw-001")).json()
    (card,) = data["alarms"]
    assert "U heeft het alarm afgesloten; de alarmcentrale rondt het af." in card["html"]
    assert "<button" not in card["html"] and "De alarmcentrale is ook gewaarschuwd." in card["html"]


async def test_the_history_says_who_took_each_alarm_on_and_how_it_ended(setup: Setup) -> None:
    client, alarms, clock = setup.client, setup.alarms, setup.clock
    old = await raise_alarm(alarms, clock)
    clock.advance(31 * 86400)  # beyond the 30 days shown
    await alarms.resolve(old, "jan", "", clock())
    by_jan = await raise_alarm(alarms, clock, kind=AlarmKind.INACTIVITY, severity=Severity.MEDIUM)
    await alarms.acknowledge(by_jan, "jan", "", clock())
    await alarms.close_alarm(by_jan, "jan", Outcome.CARE_PROVIDER, "", clock())
    cancelled = await raise_alarm(alarms, clock, kind=AlarmKind.FALL)
    await alarms.on_edge_alarm(
        AlarmMessage(
            id=new_id(), dwelling="dw-001", ts=clock(), action="cancel", alarm_id=cancelled,
            kind=AlarmKind.FALL, severity=Severity.HIGH,
        ),
        received_at=clock(),
    )  # fmt: skip
    await raise_alarm(alarms, clock, "dw-002")  # another dwelling's
    await family_login(client)
    history = (await client.get("/familie/api/woning/dw-001")).json()["history"]
    assert history.count('<li class="h') == 2
    assert "aangenomen door de alarmcentrale · afloop: zorgverlener gestuurd" in history
    assert "geannuleerd in de woning" in history and "jan" not in history


# -- live, status at a glance ------------------------------------------------------------------


async def test_the_json_follows_a_new_alarm_without_a_reload(setup: Setup) -> None:
    client, alarms, clock = setup.client, setup.alarms, setup.clock
    await family_login(client)
    api = "/familie/api/woning/dw-001"
    first = (await client.get(api)).json()
    assert first["open"] == 0 and "Alles in orde" in first["status"]["html"]
    assert first["updated"] == "Bijgewerkt om 17:00"
    alarm_id = await raise_alarm(alarms, clock, kind=AlarmKind.FALL, severity=Severity.CRITICAL)
    second = (await client.get(api)).json()
    assert second["open"] == 1 and second["status"]["version"] != first["status"]["version"]
    assert "Er is een alarm" in second["status"]["html"]
    (card,) = second["alarms"]
    assert card["id"] == alarm_id and 'id="alarm-' + alarm_id + '"' in card["html"]
    assert "Val" in card["html"] or "val" in card["html"]
    assert "kritiek" in card["html"] and "Ik ga erheen" in card["html"]
    again = (await client.get(api)).json()
    assert again["alarms"][0]["version"] == card["version"]  # unchanged: the card stays


async def test_the_status_shows_activity_quiet_and_the_night(
    tmp_path: Path, clock: FakeClock
) -> None:
    now = clock()  # 17:00 in Amsterdam
    async for s in _setup(tmp_path, clock, store=True):
        store = s.store
        assert store is not None
        await family_login(s.client)
        api = "/familie/api/woning/dw-001"
        # Motion 5 minutes ago (the sensor said 0 since): active.
        await store.write_points(
            [
                Point("dw-001", "pir-1", "motion", now - 300, 1.0),
                Point("dw-001", "pir-1", "motion", now - 240, 0.0),
                Point("dw-001", "door-1", "door", now - 7200, 1.0),
                Point("dw-001", "room-1", "temperature", now - 10, 21.0),
            ]
        )
        html = (await s.client.get(api)).json()["status"]["html"]
        assert "Actief" in html and "Beweging gezien om 16:55." in html
        # An hour and a half later: quiet, since 16:55.
        clock.advance(5400)
        html = (await s.client.get(api)).json()["status"]["html"]
        assert "Rustig" in html and "Geen beweging gezien sinds 16:55 (1 u 35 min)." in html
        assert "nachttijd" not in html
        # At 23:30, by a learned routine with its night from 22:45: quiet, night-time.
        await event(store, "dw-001", "routine_profile", now - 3600, detail=routine_profile())
        clock.advance(5 * 3600)
        html = (await s.client.get(api)).json()["status"]["html"]
        assert "Rustig" in html
        assert "Het is nachttijd volgens het ritme van de bewoner (22:45–07:15)." in html


async def test_a_dwelling_offline_says_so(tmp_path: Path, clock: FakeClock) -> None:
    async for s in _setup(tmp_path, clock):
        await family_login(s.client, *BOB)  # dw-002 is offline in the fake presence
        data = (await s.client.get("/familie/api/woning/dw-002")).json()
        html = data["status"]["html"]
        assert "No connection with the dwelling" in html and "Not connected since" in html
        assert "Without a connection the hub sees no movement." in html
        presence = s.ctx.presence
        assert isinstance(presence, FakePresence)
        presence.health = [DwellingHealth("dw-002", True, clock(), clock())]
        html = (await s.client.get("/familie/api/woning/dw-002")).json()["status"]["html"]
        assert "All is well" in html and "Connected" in html


async def test_the_page_speaks_the_contacts_language_or_the_chosen_one(setup: Setup) -> None:
    client = setup.client
    await family_login(client, *BOB)  # Bob's language is English
    page = await client.get("/familie/woning/dw-002")
    assert '<html lang="en">' in page.text and "Signed in as Bob Smith" in page.text
    assert "No connection with the dwelling" in page.text and "Open alarms" in page.text
    dutch = await client.get("/familie/woning/dw-002?lang=nl")
    assert "Geen verbinding met de woning" in dutch.text and "Ingelogd als Bob Smith" in dutch.text
    again = await client.get("/familie/woning/dw-002")  # remembered in the session
    assert "Geen verbinding met de woning" in again.text
    async with httpx.AsyncClient(transport=client._transport, base_url=BASE) as other:
        assert "Inloggen voor mantelzorgers" in (await other.get("/familie/login")).text
        english = await other.get("/familie/login?lang=en")
        assert "Sign in for family carers" in english.text


# -- the daily summary, the PWA shell, the command line ------------------------------------------


async def test_the_daily_summary_preference_is_stored_per_contact(setup: Setup) -> None:
    client, reg = setup.client, setup.registry
    await family_login(client)
    csrf = await page_csrf(client)
    assert not reg.daily_summary("c-anna")
    r = await client.post("/familie/voorkeuren", data={"csrf": "wrong", "daily_summary": "1"})
    assert r.status_code == 403 and not reg.daily_summary("c-anna")
    r = await client.post("/familie/voorkeuren", data={"csrf": csrf, "daily_summary": "1"})
    assert r.status_code == 303 and reg.daily_summary("c-anna")
    assert not reg.daily_summary("c-bob")
    page = await client.get(r.headers["location"])
    assert "Opgeslagen." in page.text and "U krijgt elke dag om 08:00 een bericht." in page.text
    assert 'name="daily_summary" value="1" checked' in page.text
    r = await client.post("/familie/voorkeuren", data={"csrf": csrf})  # unticked
    assert r.status_code == 303 and not reg.daily_summary("c-anna")


async def test_the_app_shell_is_installable_and_holds_no_data(setup: Setup) -> None:
    client = setup.client
    manifest = await client.get("/familie/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert body["start_url"] == "/familie/" and body["scope"] == "/familie/"
    assert (await client.get(body["start_url"])).headers["location"] == "/familie/login"
    assert body["display"] == "standalone" and body["lang"] == "nl"
    sizes = {i["sizes"] for i in body["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in body["icons"]:
        r = await client.get(icon["src"])
        assert r.status_code == 200 and r.headers["content-type"] == icon["type"]
        if icon["type"] == "image/png":
            assert r.content.startswith(b"\x89PNG")
    sw = await client.get("/familie/sw.js")
    assert sw.status_code == 200 and "javascript" in sw.headers["content-type"]
    assert sw.headers["service-worker-allowed"] == "/familie/"
    assert "/familie/api" in sw.text and "never" in sw.text
    offline = await client.get("/familie/offline")
    assert offline.status_code == 200 and "Geen verbinding" in offline.text
    for path in ("/familie/static/family.css", "/familie/static/family.js"):
        assert (await client.get(path)).status_code == 200


def test_set_password_prompts_and_the_login_works(tmp_path: Path) -> None:
    reg = SqliteRegistry(tmp_path / "hub.sqlite")
    from alerts.model import Contact
    from hub.context import Dwelling

    reg.add_dwelling(Dwelling("dw-001", "Unit 3"))
    reg.add_contact(Contact("c-anna", "dw-001", "Anna", "anna@example.org"))
    reg.add_contact(Contact("c-twin", "dw-001", "Twin", "ANNA@example.org"))
    reg.add_contact(Contact("c-nomail", "dw-001", "Zonder", None))
    reg.close()
    d = ["--data-dir", str(tmp_path)]
    runner = CliRunner()
    r = runner.invoke(
        admin_app,
        ["contact", "set-password", "c-anna", *d],
        input="lang-genoeg-1\nlang-genoeg-1\n",
    )
    assert r.exit_code == 0, r.output
    assert "lang-genoeg-1" not in r.output.replace("Password", "")
    reg = SqliteRegistry(tmp_path / "hub.sqlite")
    found = reg.verify_contact("anna@example.org", "lang-genoeg-1")
    assert found is not None and found.id == "c-anna"
    reg.close()
    # One login per address; an address is needed; the password must be long enough.
    r = runner.invoke(
        admin_app, ["contact", "set-password", "c-twin", "--password-stdin", *d], input="x" * 12
    )
    assert r.exit_code == 2 and "already logs in with" in r.output
    r = runner.invoke(
        admin_app, ["contact", "set-password", "c-nomail", "--password-stdin", *d], input="y" * 12
    )
    assert r.exit_code == 2 and "no e-mail address" in r.output
    r = runner.invoke(
        admin_app, ["contact", "set-password", "c-anna", "--password-stdin", *d], input="kort\n"
    )
    assert r.exit_code == 2 and "shorter than 10" in r.output
    r = runner.invoke(admin_app, ["contact", "set-password", "c-nobody", "--password-stdin", *d])
    assert r.exit_code == 2 and "no contact" in r.output
    r = runner.invoke(admin_app, ["contact", "clear-password", "c-anna", *d])
    assert r.exit_code == 0
    reg = SqliteRegistry(tmp_path / "hub.sqlite")
    assert reg.verify_contact("anna@example.org", "lang-genoeg-1") is None
    reg.close()
