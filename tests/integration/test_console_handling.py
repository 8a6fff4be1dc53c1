"""Claiming and handling an alarm over the JSON API (httpx ASGI): two operators, the
mantelzorger's link, notes and actions, the handling view, and two hub processes racing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from alerts.channels.router import ChannelRouter
from alerts.errors import ClaimedError
from alerts.model import AlarmChange, AlarmState, Contact, HandlingAction, Outcome
from alerts.service import AlarmService, AlertSettings
from hub.api.app import create_app
from hub.context import Operator
from hub.registry import Registry
from sensors.contract import AlarmMessage, new_id
from tests.integration.alarm_fakes import FakeClock
from tests.integration.console_client import BASE, csrf_of, login
from tests.integration.console_fakes import SECRET, FakeSleep, build
from tests.integration.test_console import raise_alarm
from tests.ops_store import another_engine

pytestmark = pytest.mark.integration

ANJA = ("anja", "anja-wachtwoord-42")  # test-only credentials


@dataclass
class Desk:
    """One operator's browser: their own cookies and CSRF token."""

    client: httpx.AsyncClient
    csrf: str

    async def post(self, path: str, body: object = None) -> httpx.Response:
        return await self.client.post(path, json=body, headers={"X-CSRF-Token": self.csrf})


@dataclass
class Centre:
    jan: Desk
    anja: Desk
    family: httpx.AsyncClient  # a mantelzorger's phone: no login, only the mailed link
    alarms: AlarmService
    registry: Registry


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def desk(client: httpx.AsyncClient, user: str, password: str) -> Desk:
    assert (await login(client, user, password)).status_code == 303
    return Desk(client, csrf_of((await client.get("/")).text))


@pytest.fixture
async def centre(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Centre]:
    ctx, alarms = build(tmp_path, clock)
    registry = ctx.registry
    assert isinstance(registry, Registry)
    registry.add_operator(Operator(ANJA[0], "operator", "Anja de Boer"), ANJA[1])
    app = create_app(ctx, clock=clock, sleep=FakeSleep(clock))
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url=BASE) as a,
        httpx.AsyncClient(transport=transport, base_url=BASE) as b,
        httpx.AsyncClient(transport=transport, base_url=BASE) as family,
    ):
        jan = await desk(a, "jan", "juist-wachtwoord-42")
        yield Centre(jan, await desk(b, *ANJA), family, alarms, registry)
    alarms.close()


async def test_a_claimed_alarm_is_refused_to_another_operator_until_taken_over(
    centre: Centre, clock: FakeClock
) -> None:
    jan, anja, alarms = centre.jan, centre.anja, centre.alarms
    changes: list[AlarmChange] = []
    alarms.add_listener(changes.append)
    alarm_id = await raise_alarm(alarms, clock)
    clock.advance(14)
    claimed_at = clock()

    r = await jan.post(f"/api/v1/alarms/{alarm_id}/claim", {})
    assert r.status_code == 200, r.text
    assert (r.json()["claimed_by"], r.json()["claimed_at"]) == ("jan", claimed_at)
    assert changes[-1].what == "claimed" and changes[-1].alarm.claimed_by == "jan"
    # Others see it at once: the alarm list and the handling view say who holds it.
    listed = (await anja.client.get("/api/v1/alarms")).json()
    assert [(a["id"], a["claimed_by"]) for a in listed] == [(alarm_id, "jan")]
    view = (await anja.client.get(f"/api/v1/alarms/{alarm_id}/handling")).json()
    assert view["claim"] == {"by": "jan", "name": "Jan Jansen", "at": claimed_at, "mine": False}
    mine = (await jan.client.get(f"/api/v1/alarms/{alarm_id}/handling")).json()
    assert mine["claim"]["mine"] is True
    # Claiming it again is a no-op for its holder.
    assert (await jan.post(f"/api/v1/alarms/{alarm_id}/claim")).json()["claimed_at"] == claimed_at

    clock.advance(30)
    refused = await anja.post(f"/api/v1/alarms/{alarm_id}/claim", {"take_over": False})
    assert refused.status_code == 409
    body = refused.json()
    assert (body["claimed_by"], body["claimed_by_name"], body["claimed_at"]) == (
        "jan",
        "Jan Jansen",
        claimed_at,
    )
    assert "claimed by jan" in body["detail"]
    for path, payload in (
        ("ack", {"note": "ik bel"}),
        ("resolve", {}),
        ("close", {"outcome": "false_alarm"}),
        ("notes", {"note": "gebeld"}),
        ("actions", {"action": "called_resident"}),
        ("release", None),
    ):
        r = await anja.post(f"/api/v1/alarms/{alarm_id}/{path}", payload)
        assert r.status_code == 409, (path, r.text)
        assert r.json()["claimed_by"] == "jan", path
    # The page's form (no JavaScript) is refused too.
    form = await anja.client.post(f"/alarms/{alarm_id}/ack", data={"csrf": anja.csrf})
    assert form.status_code == 409 and "Jan Jansen behandelt dit alarm" in form.text
    rec = alarms.get(alarm_id)
    assert rec is not None and rec.state is AlarmState.RAISED and rec.claimed_by == "jan"

    taken = await anja.post(f"/api/v1/alarms/{alarm_id}/claim", {"take_over": True})
    assert taken.status_code == 200 and taken.json()["claimed_by"] == "anja"
    assert changes[-1].what == "taken_over"
    denied = await jan.post(f"/api/v1/alarms/{alarm_id}/ack", {})
    assert denied.status_code == 409
    assert (denied.json()["claimed_by"], denied.json()["claimed_by_name"]) == (
        "anja",
        "Anja de Boer",
    )
    acked = await anja.post(f"/api/v1/alarms/{alarm_id}/ack", {"note": "ik bel de bewoner"})
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "anja"

    released = await anja.post(f"/api/v1/alarms/{alarm_id}/release")
    assert released.status_code == 200 and released.json()["claimed_by"] is None
    # Unclaimed again: jan's close takes the claim on the way, and the resolved alarm keeps it.
    closed = await jan.post(f"/api/v1/alarms/{alarm_id}/close", {"outcome": "family_help"})
    assert closed.status_code == 200, closed.text
    assert (closed.json()["state"], closed.json()["claimed_by"]) == ("resolved", "jan")
    late = await anja.post(f"/api/v1/alarms/{alarm_id}/claim", {"take_over": True})
    assert late.status_code == 409 and "resolved" in late.json()["detail"]

    timeline = (await jan.client.get(f"/api/v1/alarms/{alarm_id}")).json()["timeline"]
    assert [(e["what"], e["by"], e["note"]) for e in timeline][2:] == [
        ("claimed", "jan", ""),
        ("taken_over", "anja", "overgenomen van jan"),
        ("acknowledged", "anja", "ik bel de bewoner"),
        ("released", "anja", ""),
        ("claimed", "jan", ""),
        ("resolved", "jan", "family_help"),
    ]


async def test_the_mantelzorgers_link_and_the_edge_are_not_blocked_by_a_claim(
    centre: Centre, clock: FakeClock
) -> None:
    alarms = centre.alarms
    alarm_id = await raise_alarm(alarms, clock)
    assert (await centre.jan.post(f"/api/v1/alarms/{alarm_id}/claim")).status_code == 200
    link = alarms.ack_url(alarm_id, "c-anna", clock())
    clock.advance(5)
    on_my_way = await centre.family.post(link, data={"action": "on_my_way"})
    assert on_my_way.status_code == 200, on_my_way.text
    rec = alarms.get(alarm_id)
    assert rec is not None and rec.state is AlarmState.ACKNOWLEDGED
    assert (rec.acknowledged_by, rec.claimed_by) == ("Anna de Vries (mantelzorger)", "jan")
    # The resident cancels at the pendant: the alarm ends, and keeps who handled it.
    cancel = AlarmMessage(
        id=new_id(),
        dwelling="dw-001",
        ts=clock(),
        action="cancel",
        alarm_id=alarm_id,
        kind=rec.kind,
        severity=rec.severity,
    )
    await alarms.on_edge_alarm(cancel, received_at=clock())
    rec = alarms.get(alarm_id)
    assert rec is not None and rec.state is AlarmState.RESOLVED
    assert (rec.resolved_by, rec.claimed_by) == ("edge", "jan")


async def test_notes_and_actions_carry_author_time_and_contact(
    centre: Centre, clock: FakeClock
) -> None:
    jan, alarms = centre.jan, centre.alarms
    alarm_id = await raise_alarm(alarms, clock)
    clock.advance(20)
    noted = await jan.post(f"/api/v1/alarms/{alarm_id}/notes", {"note": "bewoner neemt niet op"})
    assert noted.status_code == 200 and noted.json()["claimed_by"] == "jan"  # claimed implicitly
    clock.advance(40)
    called = await jan.post(
        f"/api/v1/alarms/{alarm_id}/actions",
        {"action": "called_contact", "contact_id": "c-anna", "note": "Anna gaat erheen"},
    )
    assert called.status_code == 200, called.text
    timeline = (await jan.client.get(f"/api/v1/alarms/{alarm_id}")).json()["timeline"]
    assert [(e["at"], e["what"], e["by"], e["note"], e["contact"]) for e in timeline][2:] == [
        (clock() - 40, "claimed", "jan", "", None),
        (clock() - 40, "note", "jan", "bewoner neemt niet op", None),
        (clock(), "called_contact", "jan", "Anna gaat erheen", "c-anna"),
    ]

    def refused(r: httpx.Response, says: str) -> None:
        assert r.status_code == 422 and says in r.text, r.text

    actions = f"/api/v1/alarms/{alarm_id}/actions"
    refused(await jan.post(actions, {"action": "called_the_pope"}), "called_resident")
    refused(await jan.post(actions, {"action": "called_contact"}), "needs the contact")
    # c-bob is dw-002's contact: never on dw-001's alarm.
    refused(
        await jan.post(actions, {"action": "contact_reached", "contact_id": "c-bob"}),
        "not a contact of this alarm's dwelling",
    )
    refused(
        await jan.post(actions, {"action": "called_gp", "contact_id": "c-anna"}),
        "not about a contact",
    )
    notes = f"/api/v1/alarms/{alarm_id}/notes"
    refused(await jan.post(notes, {"note": "x" * 2001}), "2000")
    refused(await jan.post(notes, {"note": ""}), "note")
    refused(await jan.post(notes, {"note": "   "}), "a note needs text")
    refused(await jan.post(notes, {"note": "ok", "by": "anja"}), "by")  # no extra fields
    assert (await jan.post("/api/v1/alarms/nope-nope-nope/notes", {"note": "x"})).status_code == 404
    # CSRF and origin: the API's own dependency guards these routes too.
    no_token = await jan.client.post(notes, json={"note": "zonder token"})
    assert no_token.status_code == 403
    cross = await jan.client.post(
        notes,
        json={"note": "van elders"},
        headers={"X-CSRF-Token": jan.csrf, "Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    assert [e["what"] for e in timeline] == [
        e["what"] for e in (await jan.client.get(f"/api/v1/alarms/{alarm_id}")).json()["timeline"]
    ]  # nothing refused reached the timeline

    await jan.post(f"/api/v1/alarms/{alarm_id}/resolve", {})
    over = await jan.post(actions, {"action": "called_ambulance"})
    assert over.status_code == 409 and "resolved" in over.text


async def test_the_handling_view_gives_the_script_and_the_call_list(
    centre: Centre, clock: FakeClock
) -> None:
    centre.registry.add_contact(
        Contact("c-piet", "dw-001", "Piet Bakker", None, phone="+31 6 1234 5678", role="neighbour")
    )
    alarm_id = await raise_alarm(centre.alarms, clock)  # a fall
    view = (await centre.jan.client.get(f"/api/v1/alarms/{alarm_id}/handling")).json()
    assert (view["kind"], view["lang"], view["claim"]) == ("fall", "nl", None)
    assert "spreek-luisterverbinding" in view["script"][0]["text"]
    assert {a["action"] for a in view["script"][1]["actions"]} == {
        "sent_care_provider",
        "called_ambulance",
    }
    calls = view["call_list"]
    assert [(c["contact_id"], c["step"], c["phone"], c["has_phone"]) for c in calls] == [
        ("c-anna", 1, None, False),  # no number known: listed, flagged
        ("c-piet", 2, "+31 6 1234 5678", True),
    ]
    assert [c["role_label"] for c in view["call_list"]] == ["mantelzorger", "buur"]
    assert {a["action"] for a in view["actions"]} == {a.value for a in HandlingAction}
    assert next(a for a in view["actions"] if a["action"] == "called_contact")["needs_contact"]

    en = (await centre.jan.client.get(f"/api/v1/alarms/{alarm_id}/handling?lang=en")).json()
    assert en["lang"] == "en" and "speech link" in en["script"][0]["text"]
    assert en["call_list"][1]["role_label"] == "neighbour"
    labels = {a["action"]: a["label"] for a in en["actions"]}
    assert labels["called_ambulance"] == "Called 112 (ambulance)"
    missing = await centre.jan.client.get("/api/v1/alarms/nope-nope-nope/handling")
    assert missing.status_code == 404
    anonymous = await centre.family.get(f"/api/v1/alarms/{alarm_id}/handling")
    assert anonymous.status_code == 401


async def test_two_hub_processes_claiming_at_once_exactly_one_wins(
    tmp_path: Path, clock: FakeClock
) -> None:
    ctx, first = build(tmp_path, clock)
    assert isinstance(ctx.registry, Registry)
    second = AlarmService(  # another hub process on the same database
        another_engine(first.store.engine),
        ChannelRouter(None, None),
        ctx.registry,
        AlertSettings(public_url=BASE, secret_key=SECRET, ack_link_ttl_s=3600),
        clock,
    )
    try:
        for _ in range(20):
            alarm_id = await raise_alarm(first, clock)
            results = await asyncio.gather(
                first.claim(alarm_id, "jan", clock()),
                second.claim(alarm_id, "anja", clock()),
                return_exceptions=True,
            )
            won = [r.claimed_by for r in results if not isinstance(r, BaseException)]
            lost = [r for r in results if isinstance(r, BaseException)]
            assert len(won) == 1 and len(lost) == 1, results
            assert isinstance(lost[0], ClaimedError) and lost[0].holder == won[0]
            for svc in (first, second):
                rec = svc.get(alarm_id)
                assert rec is not None and rec.claimed_by == won[0]
    finally:
        second.close()
        second.store.engine.dispose()
        first.close()


# -- the console's pages: the alarm page's handling panel and the no-JavaScript forms ------


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'")


def panel(html: str) -> str:
    found = re.search(r'<section class="panel" id="handling">(.*?)</section>', html, re.S)
    assert found, html
    return found.group(1)


async def test_the_alarm_page_gives_the_script_the_call_list_and_the_claim(
    centre: Centre, clock: FakeClock
) -> None:
    c = centre
    anna = c.registry.contact("c-anna")
    assert anna is not None
    c.registry.update_contact(replace(anna, phone="06 1234 5678"))
    c.registry.add_contact(
        Contact("c-piet", "dw-001", "Piet Buur", None, "nl", priority=2, role="neighbour")
    )
    alarm_id = await raise_alarm(c.alarms, clock)
    page = panel((await c.jan.client.get(f"/alarms/{alarm_id}")).text)
    assert "Nog door niemand in behandeling" in text(page) and "Oppakken" in page
    # A fall's script: talk to the resident first; its actions are buttons.
    assert 'data-step="talk_to_resident"' in page and 'value="called_resident"' in page
    # The call list in the routing order, with the number to dial; none known: said so.
    calls = re.findall(r'<li class="call" data-contact="([^"]+)"', page)
    assert calls == ["c-anna", "c-piet"]
    assert '<a href="tel:0612345678">06 1234 5678</a>' in page
    assert "geen telefoonnummer" in text(page)
    assert all(f'value="{o.value}"' in page for o in Outcome)

    # Jan claims it (the form, as without JavaScript): back on the alarm page.
    r = await c.jan.client.post(
        f"/alarms/{alarm_id}/claim", data={"csrf": c.jan.csrf, "back": f"/alarms/{alarm_id}"}
    )
    assert r.status_code == 303 and r.headers["location"] == f"/alarms/{alarm_id}"
    mine = text(panel((await c.jan.client.get(f"/alarms/{alarm_id}")).text))
    assert "In behandeling door u" in mine and "Vrijgeven" in mine
    # Anja sees who has it, may take it over, and every other button is disabled.
    hers = panel((await c.anja.client.get(f"/alarms/{alarm_id}")).text)
    assert "In behandeling door Jan Jansen" in text(hers) and "Overnemen" in hers
    assert 'value="called_resident" disabled' in hers and "Neem het alarm eerst" in text(hers)
    queue = (await c.anja.client.get("/")).text
    assert re.search(rf'id="alarm-{alarm_id}"[^>]*data-claimed="jan"', queue)
    assert "In behandeling door Jan Jansen" in text(queue)


async def test_the_handling_forms_work_without_javascript(centre: Centre, clock: FakeClock) -> None:
    c = centre
    alarm_id = await raise_alarm(c.alarms, clock)
    back = f"/alarms/{alarm_id}"

    async def form(path: str, **fields: str) -> httpx.Response:
        data = {"csrf": c.jan.csrf, "back": back, **fields}
        return await c.jan.client.post(f"/alarms/{alarm_id}/{path}", data=data)

    assert (await form("action", action="called_contact", contact_id="c-anna")).status_code == 303
    assert (await form("note", note="Anna gaat erheen")).status_code == 303
    assert (await form("action", action="no_such_thing")).status_code == 400
    assert (await form("close")).status_code == 400  # no outcome picked
    refused = await c.anja.client.post(
        f"/alarms/{alarm_id}/note", data={"csrf": c.anja.csrf, "note": "ik ook", "back": back}
    )
    assert refused.status_code == 409 and "Jan Jansen behandelt dit alarm" in refused.text
    assert (await form("close", outcome="family_help", note="viel mee")).status_code == 303
    rec = c.alarms.get(alarm_id)
    assert rec is not None and rec.state is AlarmState.RESOLVED
    assert rec.outcome is Outcome.FAMILY_HELP and rec.claimed_by == "jan"
    timeline = text(
        re.search(
            r'id="timeline">(.*?)</section>', (await c.jan.client.get(back)).text, re.S
        ).group(1)  # type: ignore[union-attr]
    )
    for step in (
        "In behandeling genomen",
        "Contactpersoon gebeld: Anna de Vries (mantelzorger)",
        "Notitie Jan Jansen Anna gaat erheen",
        "Afgehandeld Jan Jansen Geholpen door familie of buren: viel mee",
    ):
        assert step in timeline, step
    # A cross-site form is refused whatever it carries.
    r = await c.jan.client.post(
        f"/alarms/{alarm_id}/claim",
        data={"csrf": c.jan.csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
