"""Finding 6: access that should have been gone was not.

Against a real `mz hub run` and the real `mz admin`: a removed contact's mailed link no
longer acknowledges; a removed operator's (copied) session cookie opens nothing; logout
ends a copied cookie; an attacker hammering an operator's username from elsewhere cannot
lock them out of their own workstation, nor rotate `X-Forwarded-For` past the per-address
limit; a junk signature is a 400, never a 500; and no e-mail address is in the hub's log.
"""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import pytest

from sensors import contract
from simulators.mantelzorger import find_ack_link
from tests.integration.adversarial.conftest import (
    CONTACTS,
    OPERATOR,
    ROOT,
    HubProcess,
    alarm_message,
    hostile_client,
    login,
)
from tests.servers import Mosquitto, SmtpSink, wait_until

pytestmark = pytest.mark.integration


def mz_admin(hub: HubProcess, *args: str, stdin: str | None = None) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mz", "admin", *args, "--data-dir", str(hub.data_dir)],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr


def mail_text(msg: object) -> str:
    body = msg.get_payload(decode=True)  # type: ignore[attr-defined]
    return body.decode() if isinstance(body, bytes) else ""


async def test_a_removed_contacts_link_no_longer_acknowledges(
    broker: Mosquitto, hub: HubProcess, smtp: SmtpSink
) -> None:
    # dw-003's own Pi raises an alarm (legitimately): its family gets a mail with a link.
    alarm = alarm_message("dw-003")
    async with hostile_client(broker) as dw:
        await dw.publish(*contract.encode(alarm), qos=1)
    await wait_until(lambda: len(smtp.messages) == 1, timeout=20)
    link = find_ack_link(mail_text(smtp.messages[0]))
    assert link is not None
    mz_admin(hub, "contact", "remove", CONTACTS["dw-003"][0])
    async with httpx.AsyncClient(timeout=10) as http:
        page = await http.get(link)
        assert page.status_code == 410 and "niet meer geldig" in page.text
        posted = await http.post(link, data={"note": ""}, headers={"Origin": hub.url})
        assert posted.status_code == 410
        # A forged signature with non-ASCII in it: a clear 400, never a traceback.
        forged = await http.get(link.rsplit(".", 1)[0] + ".sig-ñ-é")
        assert forged.status_code == 400
    [rec] = [a for a in hub.alarms() if a.id == alarm.alarm_id]
    assert rec.state.value in ("raised", "notified")  # nobody took it on
    log = hub.logtext()
    assert "Traceback" not in log
    # The mail went out, and the mantelzorger's address is nowhere in the hub's log.
    assert CONTACTS["dw-003"][2] in str(smtp.messages[0]["To"])
    assert not any(email in log for _, _, email in CONTACTS.values())


async def test_removed_operators_and_logged_out_cookies_open_nothing(hub: HubProcess) -> None:
    mz_admin(hub, "operator", "add", "bert", "--password-stdin", stdin="bert-operator-pw-1\n")
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as bert:
        await login(bert, ("bert", "bert-operator-pw-1"))
        assert (await bert.get("/")).status_code == 200
        copied = dict(bert.cookies)
        mz_admin(hub, "operator", "remove", "bert")
        r = await bert.get("/")
        assert r.status_code == 303 or "login" in str(r.url)
    async with httpx.AsyncClient(base_url=hub.url, timeout=10, cookies=copied) as thief:
        assert (await thief.get("/api/v1/alarms")).status_code == 401
    # Logout ends the session itself, not only the cookie in that browser.
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as anja:
        await login(anja)
        copy = dict(anja.cookies)
        page = await anja.get("/")
        csrf = re.search(r'name="csrf"[^>]*value="([^"]+)"', page.text)
        assert csrf is not None
        await anja.post("/logout", data={"csrf": csrf.group(1)}, headers={"Origin": hub.url})
    async with httpx.AsyncClient(base_url=hub.url, timeout=10, cookies=copy) as replay:
        assert (await replay.get("/api/v1/alarms")).status_code == 401


async def test_an_attacker_cannot_lock_an_operator_out_or_rotate_past_the_ip_limit(
    hub: HubProcess,
) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=60) as workstation:
        await login(workstation)  # the operator's own PC: it holds a device cookie now
        page = await workstation.get("/")
        csrf = re.search(r'name="csrf"[^>]*value="([^"]+)"', page.text)
        assert csrf is not None
        await workstation.post("/logout", data={"csrf": csrf.group(1)}, headers={"Origin": hub.url})
        statuses = []
        async with httpx.AsyncClient(base_url=hub.url, timeout=60) as attacker:
            form = await attacker.get("/login")
            token = re.search(r'name="csrf"[^>]*value="([^"]+)"', form.text)
            assert token is not None
            for i in range(12):
                # Each guess claims another address: the hub trusts no proxy, so all of
                # them count against the one the attacker really comes from.
                r = await attacker.post(
                    "/login",
                    data={
                        "username": OPERATOR[0],
                        "password": f"guess-{i}",
                        "csrf": token.group(1),
                    },
                    headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
                )
                statuses.append(r.status_code)
        assert 429 in statuses, statuses  # the attacking address is held back
        # ... while the operator at their workstation logs in at once.
        r = await login(workstation)
        assert r.status_code == 200 and "login" not in str(r.url)
