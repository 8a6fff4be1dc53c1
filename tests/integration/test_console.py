"""The console over httpx's ASGI transport: login, API, CSRF, acknowledgement links."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from alerts.model import AlarmKind, AlarmState, Outcome, Response, Severity
from alerts.service import AlarmService
from sensors.contract import AlarmMessage, new_id
from tests.integration.alarm_fakes import FakeClock
from tests.integration.console_client import BASE, basic, csrf_of, login, open_console
from tests.integration.console_fakes import OPERATOR, FakeSleep

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def setup(
    tmp_path: Path, clock: FakeClock
) -> AsyncIterator[tuple[httpx.AsyncClient, AlarmService]]:
    async with open_console(tmp_path, clock, sleep=FakeSleep(clock)) as console:
        yield console.client, console.alarms


async def raise_alarm(alarms: AlarmService, clock: FakeClock, dwelling: str = "dw-001") -> str:
    msg = AlarmMessage(
        id=new_id(),
        dwelling=dwelling,
        ts=clock() - 1,
        action="raise",
        alarm_id=new_id(),
        kind=AlarmKind.FALL,
        severity=Severity.HIGH,
    )
    await alarms.on_edge_alarm(msg, received_at=clock())
    return msg.alarm_id


async def test_login_is_required(setup: tuple[httpx.AsyncClient, AlarmService]) -> None:
    client, _ = setup
    r = await client.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/"
    r = await client.get("/api/v1/alarms")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    assert (await client.get("/events")).status_code == 401
    assert (await client.get("/dwellings")).status_code == 303
    health = await client.get("/api/v1/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"


async def test_wrong_password_and_wrong_role_are_rejected(
    setup: tuple[httpx.AsyncClient, AlarmService],
) -> None:
    client, _ = setup
    r = await login(client, OPERATOR[0], "fout")
    assert r.status_code == 401 and "Onjuiste gebruikersnaam of wachtwoord" in r.text
    r = await login(client, "resident", "pw-resident-1")  # a known user without the role
    assert r.status_code == 401
    assert (await client.get("/")).status_code == 303
    assert (
        await client.get("/api/v1/alarms", headers=basic(OPERATOR[0], "fout"))
    ).status_code == 401


async def test_login_form_needs_its_csrf_token(
    setup: tuple[httpx.AsyncClient, AlarmService],
) -> None:
    client, _ = setup
    r = await client.post("/login", data={"username": OPERATOR[0], "password": OPERATOR[1]})
    assert r.status_code == 403
    assert (await client.get("/")).status_code == 303


async def test_login_shows_the_console_and_logout_ends_it(
    setup: tuple[httpx.AsyncClient, AlarmService], clock: FakeClock
) -> None:
    client, alarms = setup
    await raise_alarm(alarms, clock)
    r = await login(client)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = await client.get("/")
    assert page.status_code == 200
    assert "Open alarmen" in page.text and "Unit 3, Tuinstraat" in page.text and "val" in page.text
    assert "Jan Jansen" in page.text
    assert "content-security-policy" in page.headers
    english = await client.get("/?lang=en")
    assert "Open alarms" in english.text
    assert "Open alarms" in (await client.get("/")).text  # remembered in the session
    board = await client.get("/dwellings")
    assert "Unit 1, Dorpsweg" in board.text and "bed-1" in board.text
    r = await client.post("/logout", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303
    assert (await client.get("/")).status_code == 303


async def test_ack_and_resolve_through_the_api(
    setup: tuple[httpx.AsyncClient, AlarmService], clock: FakeClock
) -> None:
    client, alarms = setup
    alarm_id = await raise_alarm(alarms, clock)
    await login(client)
    token = csrf_of((await client.get("/")).text)

    r = await client.post(f"/api/v1/alarms/{alarm_id}/ack", json={"note": "ik bel"})
    assert r.status_code == 403  # the session alone is not enough: CSRF token missing
    r = await client.post(
        f"/api/v1/alarms/{alarm_id}/ack", json={"note": "ik bel"}, headers={"X-CSRF-Token": token}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "acknowledged" and body["acknowledged_by"] == "jan"
    assert body["dwelling_label"] == "Unit 3, Tuinstraat" and body["note"] == "ik bel"

    listed = (await client.get("/api/v1/alarms")).json()
    assert [a["id"] for a in listed] == [alarm_id]
    clock.advance(60)
    r = await client.post(
        f"/api/v1/alarms/{alarm_id}/resolve",
        json={"note": "loos alarm"},
        headers={"X-CSRF-Token": token},
    )
    assert r.json()["state"] == "resolved" and r.json()["note"] == "ik bel\nloos alarm"
    assert (await client.get("/api/v1/alarms")).json() == []
    assert [a["id"] for a in (await client.get("/api/v1/alarms?state=all")).json()] == [alarm_id]
    r = await client.post(
        f"/api/v1/alarms/{alarm_id}/ack", json={}, headers={"X-CSRF-Token": token}
    )
    assert r.status_code == 409
    r = await client.post(
        "/api/v1/alarms/nope-nope-nope/ack", json={}, headers={"X-CSRF-Token": token}
    )
    assert r.status_code == 404


async def test_basic_auth_for_scripts_and_cross_site_refused(
    setup: tuple[httpx.AsyncClient, AlarmService], clock: FakeClock
) -> None:
    client, alarms = setup
    alarm_id = await raise_alarm(alarms, clock)
    auth = basic(*OPERATOR)
    assert (await client.get(f"/api/v1/alarms/{alarm_id}", headers=auth)).json()[
        "state"
    ] == "raised"
    evil = {**auth, "Origin": "https://evil.example"}
    assert (
        await client.post(f"/api/v1/alarms/{alarm_id}/ack", json={}, headers=evil)
    ).status_code == 403
    r = await client.post(f"/api/v1/alarms/{alarm_id}/ack", json={"note": "script"}, headers=auth)
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"


async def test_form_post_without_javascript(
    setup: tuple[httpx.AsyncClient, AlarmService], clock: FakeClock
) -> None:
    client, alarms = setup
    alarm_id = await raise_alarm(alarms, clock)
    await login(client)
    token = csrf_of((await client.get("/")).text)
    r = await client.post(f"/alarms/{alarm_id}/resolve", data={"note": "x", "csrf": "wrong"})
    assert r.status_code == 403
    r = await client.post(f"/alarms/{alarm_id}/resolve", data={"note": "klaar", "csrf": token})
    assert r.status_code == 303
    rec = alarms.get(alarm_id)
    assert rec is not None and rec.state is AlarmState.RESOLVED and rec.resolved_by == "jan"


async def test_dwellings_and_stats(
    setup: tuple[httpx.AsyncClient, AlarmService], clock: FakeClock
) -> None:
    client, alarms = setup
    await raise_alarm(alarms, clock, "dw-002")
    auth = basic(*OPERATOR)
    board = {d["id"]: d for d in (await client.get("/api/v1/dwellings", headers=auth)).json()}
    assert set(board) == {"dw-001", "dw-002", "dw-003"}
    assert board["dw-001"]["online"] and not board["dw-002"]["online"]
    assert board["dw-002"]["open_alarms"] == 1 and board["dw-002"]["spool_depth"] == 17
    assert board["dw-003"]["last_seen"] is None
    stats = (await client.get("/api/v1/stats", headers=auth)).json()
    assert stats["rejected"] == {"schema": 2, "dwelling_mismatch": 1}
    assert stats["ingest"]["accepted.alarms"] == 3
    assert stats["alarms"]["open"] == 1 and stats["alarms"]["by_kind"] == {"fall": 1}


async def test_ack_link_get_shows_a_page_and_post_acknowledges(
    setup: tuple[httpx.AsyncClient, AlarmService], clock: FakeClock
) -> None:
    client, alarms = setup
    alarm_id = await raise_alarm(alarms, clock)
    url = alarms.ack_url(alarm_id, "c-anna", clock())
    assert url.startswith(f"{BASE}/ack/")
    page = await client.get(url)
    assert page.status_code == 200
    assert "Ik ga erheen" in page.text and "Unit 3, Tuinstraat" in page.text
    assert (
        page.headers["cache-control"] == "no-store"
        and page.headers["referrer-policy"] == "same-origin"
    )
    rec = alarms.get(alarm_id)
    assert (
        rec is not None and rec.state is AlarmState.RAISED
    )  # a GET (mail scanner) changes nothing

    done = await client.post(url, data={"note": "ik kom eraan"})  # the first button
    assert done.status_code == 200 and "De alarmcentrale ziet dat u onderweg bent" in done.text
    rec = alarms.get(alarm_id)
    assert rec is not None and rec.state is AlarmState.ACKNOWLEDGED
    assert rec.acknowledged_by == "Anna de Vries (mantelzorger)" and rec.note == "ik kom eraan"
    assert rec.response is Response.ON_MY_WAY

    again = await client.get(url)
    assert "Anna de Vries (mantelzorger) is onderweg" in again.text
    assert 'value="on_my_way"' not in again.text and 'value="arrived"' in again.text
    there = await client.post(url, data={"action": "arrived"})
    assert there.status_code == 200 and "bij de bewoner bent" in there.text
    unclear = await client.post(url, data={"action": "closed", "outcome": ""})
    assert unclear.status_code == 400 and "Kies hoe het is afgelopen" in unclear.text
    closed = await client.post(url, data={"action": "closed", "outcome": "false_alarm"})
    assert closed.status_code == 200 and "Het alarm is afgesloten" in closed.text
    rec = alarms.get(alarm_id)
    assert rec is not None and rec.state is AlarmState.RESOLVED
    assert rec.outcome is Outcome.FALSE_ALARM and rec.response is Response.CLOSED
    assert [e.what for e in alarms.timeline(alarm_id)][-3:] == ["on_my_way", "arrived", "resolved"]


async def test_a_family_close_leaves_an_alarm_centre_alarm_to_the_operator(
    setup: tuple[httpx.AsyncClient, AlarmService], clock: FakeClock
) -> None:
    client, alarms = setup
    alarm_id = await raise_alarm(alarms, clock)  # a fall: the centre holds it at once
    await alarms.tick()
    url = alarms.ack_url(alarm_id, "c-anna", clock())
    page = await client.get(url)
    assert "De alarmcentrale is ook gewaarschuwd" in page.text
    closed = await client.post(url, data={"action": "closed", "outcome": "family_help"})
    assert closed.status_code == 200 and "de alarmcentrale rondt dit alarm af" in closed.text
    rec = alarms.get(alarm_id)
    assert rec is not None and rec.state is AlarmState.ACKNOWLEDGED  # still the centre's
    assert 'name="action"' not in (await client.get(url)).text  # nothing left to press


async def test_ack_link_in_english_for_an_english_contact(
    setup: tuple[httpx.AsyncClient, AlarmService], clock: FakeClock
) -> None:
    client, alarms = setup
    alarm_id = await raise_alarm(alarms, clock, "dw-002")
    page = await client.get(alarms.ack_url(alarm_id, "c-bob", clock()))
    assert "I am on my way" in page.text and "I have arrived" in page.text


async def test_expired_and_tampered_ack_links_are_refused(
    setup: tuple[httpx.AsyncClient, AlarmService], clock: FakeClock
) -> None:
    client, alarms = setup
    alarm_id = await raise_alarm(alarms, clock)
    url = alarms.ack_url(alarm_id, "c-anna", clock())
    clock.advance(3601)  # ack_link_ttl_s is 3600 in these tests
    r = await client.get(url)
    assert r.status_code == 410 and "verlopen" in r.text
    assert (await client.post(url, data={})).status_code == 410
    rec = alarms.get(alarm_id)
    assert rec is not None and rec.state is AlarmState.RAISED

    fresh = alarms.ack_url(alarm_id, "c-anna", clock())
    tampered = fresh[:-3] + ("AAA" if not fresh.endswith("AAA") else "BBB")
    r = await client.post(tampered, data={})
    assert r.status_code == 400 and "ongeldig" in r.text
    r = await client.post(fresh, data={}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    rec = alarms.get(alarm_id)
    assert rec is not None and rec.state is AlarmState.RAISED


async def test_demo_login_hint(tmp_path: Path, clock: FakeClock) -> None:
    hint = "gebruiker demo, wachtwoord abc-123"
    async with open_console(tmp_path, clock, demo=True, hint=hint) as console:
        assert hint in (await console.client.get("/login")).text


async def test_login_throttle_after_five_failures(
    setup: tuple[httpx.AsyncClient, AlarmService], clock: FakeClock
) -> None:
    client, _ = setup
    for _ in range(5):
        assert (await login(client, OPERATOR[0], "fout")).status_code == 401
    # Now even the right password is refused, without being checked, for 30 s.
    r = await login(client)
    assert r.status_code == 429 and r.headers["retry-after"] == "30"
    assert "Te veel mislukte inlogpogingen. Probeer het over 30 s opnieuw." in r.text
    assert (await client.get("/")).status_code == 303
    clock.advance(10)
    r = await login(client)
    assert r.status_code == 429 and "over 20 s" in r.text
    en = await client.get("/login?lang=en")
    assert "Sign in" in en.text
    r = await client.post(
        "/login",
        data={"username": OPERATOR[0], "password": OPERATOR[1], "csrf": csrf_of(en.text)},
    )
    assert r.status_code == 429 and "Too many failed sign-in attempts. Try again in 20 s" in r.text

    clock.advance(20)
    r = await login(client)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert (await client.get("/")).status_code == 200


async def test_login_success_clears_the_username_and_the_lock_grows(
    setup: tuple[httpx.AsyncClient, AlarmService], clock: FakeClock
) -> None:
    client, _ = setup
    for _ in range(4):
        assert (await login(client, OPERATOR[0], "fout")).status_code == 401
    r = await login(client)
    assert r.status_code == 303
    page = await client.get("/")
    await client.post("/logout", data={"csrf": csrf_of(page.text)})
    # This browser now holds jan's device cookie: its failures count against the device
    # alone (the address's four do not matter to it), and its lock grows the same way.
    for _ in range(4):
        assert (await login(client, OPERATOR[0], "fout")).status_code == 401
    assert (await login(client)).status_code == 303  # success clears the device
    page = await client.get("/")
    await client.post("/logout", data={"csrf": csrf_of(page.text)})
    for _ in range(5):
        assert (await login(client, OPERATOR[0], "fout")).status_code == 401
    r = await login(client)
    assert r.status_code == 429 and r.headers["retry-after"] == "30"
    clock.advance(30)
    assert (await login(client, OPERATOR[0], "fout")).status_code == 401
    r = await login(client)
    assert r.status_code == 429 and r.headers["retry-after"] == "60"  # doubled


async def test_one_client_guessing_many_usernames_is_throttled(
    setup: tuple[httpx.AsyncClient, AlarmService], clock: FakeClock
) -> None:
    client, _ = setup
    for name in ["anna", "bob", "carla", "dirk", "eva"]:
        assert (await login(client, name, "fout")).status_code == 401
    assert (await login(client)).status_code == 429
    # HTTP Basic goes through the same throttle, or it would be the way round it.
    r = await client.get("/api/v1/alarms", headers=basic(*OPERATOR))
    assert r.status_code == 429 and r.headers["retry-after"] == "30"
    clock.advance(30)
    r = await client.get("/api/v1/alarms", headers=basic(*OPERATOR))
    assert r.status_code == 200


async def test_basic_auth_failures_are_throttled(
    setup: tuple[httpx.AsyncClient, AlarmService], clock: FakeClock
) -> None:
    client, _ = setup
    wrong = basic(OPERATOR[0], "fout")
    for _ in range(5):
        assert (await client.get("/api/v1/alarms", headers=wrong)).status_code == 401
    r = await client.get("/api/v1/alarms", headers=basic(*OPERATOR))
    assert r.status_code == 429 and "too many failed logins" in r.json()["detail"]
    assert (await login(client)).status_code == 429  # the form is locked too


async def test_recently_resolved_lists_the_last_resolved_first(
    setup: tuple[httpx.AsyncClient, AlarmService], clock: FakeClock
) -> None:
    client, alarms = setup
    old = await raise_alarm(alarms, clock, "dw-002")  # open for long, many alarms since
    for _ in range(30):
        clock.advance(60)
        newer = await raise_alarm(alarms, clock)
        await alarms.resolve(newer, "jan", "", clock())
    clock.advance(60)
    await alarms.resolve(old, "jan", "eindelijk", clock())
    await login(client)
    page = (await client.get("/")).text
    recent = page[page.index('id="recent-list"') :]
    ids = re.findall(r'id="alarm-([^"]+)"', recent)
    assert len(ids) == 25 and ids[0] == old
    assert "afgehandeld door jan" in recent


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_alarm_details_are_shown_in_the_operators_language(
    setup: tuple[httpx.AsyncClient, AlarmService], clock: FakeClock
) -> None:
    client, alarms = setup
    clock.t = 1795580962.0  # 25-11-2026 05:29:22 in Amsterdam
    await alarms.raise_technical(
        "dw-002",
        "offline",
        Severity.MEDIUM,
        {"reason": "heartbeat_timeout", "last_seen": clock() - 340.4693081},
        clock(),
    )
    press = AlarmMessage(
        id=new_id(),
        dwelling="dw-001",
        ts=clock(),
        action="raise",
        alarm_id=new_id(),
        kind=AlarmKind.PERSONAL,
        severity=Severity.HIGH,
        sensor="pendant-1",
        detail={"press": "long_press", "rssi_ratio": 0.123456789},
    )
    await alarms.on_edge_alarm(press, received_at=clock())
    await login(client)
    nl = text_of((await client.get("/")).text)
    assert "reden: geen levensteken meer van de woning ontvangen" in nl
    assert "laatst gezien: 05:23:41" in nl
    assert "lang ingedrukt" in nl and "rssi_ratio: 0,12" in nl
    assert "heartbeat_timeout" not in nl and "1795580" not in nl and "long_press" not in nl
    en = text_of((await client.get("/?lang=en")).text)
    assert (
        "reason: no sign of life from the dwelling received" in en and "last seen: 05:23:41" in en
    )
    assert "long press" in en and "rssi_ratio: 0.12" in en
    # The API keeps the raw values: scripts want codes, not prose.
    listed = (await client.get("/api/v1/alarms")).json()
    assert {a["detail"].get("press") for a in listed} == {"long_press", None}


async def test_an_operator_closes_a_centre_alarm_with_its_outcome_and_its_timeline_shows_all(
    setup: tuple[httpx.AsyncClient, AlarmService], clock: FakeClock
) -> None:
    client, alarms = setup
    alarm_id = await raise_alarm(alarms, clock)  # a fall: the centre holds it at once
    await alarms.tick()
    family = alarms.ack_url(alarm_id, "c-anna", clock())
    clock.advance(5)
    assert (await client.post(family, data={"action": "on_my_way"})).status_code == 200
    await login(client)
    token = csrf_of((await client.get("/")).text)
    headers = {"X-CSRF-Token": token}

    bad = await client.post(
        f"/api/v1/alarms/{alarm_id}/close", json={"outcome": "gone"}, headers=headers
    )
    assert bad.status_code == 422
    clock.advance(60)
    r = await client.post(
        f"/api/v1/alarms/{alarm_id}/close",
        json={"outcome": "ambulance", "note": "ambulance ter plaatse"},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "resolved" and r.json()["outcome"] == "ambulance"

    detail = (await client.get(f"/api/v1/alarms/{alarm_id}")).json()
    whats = [e["what"] for e in detail["timeline"]]
    assert whats[:3] == ["raised_at_source", "received", "handed_to_centre"]
    # The close claimed the alarm for jan on the way (nobody held it): both on the timeline.
    assert whats[-3:] == ["on_my_way", "claimed", "resolved"]
    assert detail["timeline"][-3]["by"] == "Anna de Vries (mantelzorger)"
    assert detail["timeline"][-2]["by"] == "jan" and detail["claimed_by"] == "jan"
    assert detail["timeline"][-1]["by"] == "jan" and "ambulance" in detail["timeline"][-1]["note"]
    times = [e["at"] for e in detail["timeline"]]
    assert times == sorted(times)
    assert (await client.get("/api/v1/alarms/nope-nope-nope")).status_code == 404
    again = await client.post(
        f"/api/v1/alarms/{alarm_id}/close", json={"outcome": "other"}, headers=headers
    )
    assert again.status_code == 200 and again.json()["outcome"] == "ambulance"  # kept

    # No DC-09 link in this hub: the API says so, and the console shows no link badge.
    assert (await client.get("/api/v1/alarm-centre")).json()["configured"] is False
    assert (await client.get("/api/v1/stats")).json()["alarm_centre"]["configured"] is False
    assert "Alarmcentrale" not in (await client.get("/")).text.split("</header>")[0]
