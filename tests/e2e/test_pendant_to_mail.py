"""The whole spine: a simulated dwelling's pendant -> Mosquitto -> hub -> mail -> ack link.

Real Mosquitto (production ACL), real SMTP (aiosmtpd), the real edge agent with a
simulated pendant emitting BTHome bytes, the real hub: in-process and as `mz hub run`.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import cast

import aiomqtt
import httpx
import pytest

from alerts.model import AlarmState, Contact
from hub.app import Hub, build_hub
from hub.config import OPS_DB, load_settings
from hub.context import Dwelling
from hub.registry import SqliteRegistry
from sensors.contract import AlarmKind, AlarmMessage, Severity, encode, new_id
from simulators.dwelling import SimulatedDwelling, dwelling_settings
from simulators.mail_sink import Mail
from simulators.mantelzorger import SimulatedMantelzorger, find_ack_link
from simulators.scenario import parse_scenario
from tests.ops_store import hub_store
from tests.servers import HUB_PASSWORD, HUB_USER, Mosquitto, SmtpSink, free_port, wait_until

pytestmark = pytest.mark.e2e

SECRET = "e2e-secret-key-0123456789abcdef"
SCENARIO = """
name = "e2e-pendant"
speed = 1.0
[agent]
heartbeat_s = 2
batch_s = 0.2
[[devices]]
id = "pendant-1"
kind = "pendant"
interval_s = 30
[[events]]
at = 0.5
action = "press"
device = "pendant-1"
"""


def seed(data_dir: Path, smtp: SmtpSink) -> None:
    reg = SqliteRegistry(data_dir / OPS_DB)
    reg.add_dwelling(Dwelling("dw-001", "Unit 1, Tuinstraat"))
    reg.add_contact(Contact("c-1", "dw-001", "Anna de Vries", "anna@example.org", "nl"))
    reg.close()


def hub_settings(
    mosquitto: Mosquitto, smtp: SmtpSink, data_dir: Path, port: int
) -> dict[str, object]:
    return {
        "broker": {
            "url": mosquitto.url,
            "username": HUB_USER,
            "password": HUB_PASSWORD,
            "client_id": "hub.e2e",
            "reconnect_max_s": 0.5,
        },
        "data": {"dir": str(data_dir)},
        "console": {"port": port, "public_url": f"http://127.0.0.1:{port}", "secret_key": SECRET},
        "mail": {
            "url": f"mailto://127.0.0.1:{smtp.port}?from=alarm@mz.test&mode=insecure",
        },
        "routing": {"step_wait_s": 3600},
    }


@asynccontextmanager
async def running_hub(settings: dict[str, object]) -> AsyncIterator[Hub]:
    hub = build_hub(load_settings(None, **settings))
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(hub.run(stop, ready))
    await wait_until(lambda: ready.is_set() or task.done(), timeout=20)
    if task.done():
        task.result()
    try:
        yield hub
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await hub.close()


def as_mail(msg: Message) -> Mail:
    body = msg.get_payload(decode=True) if not msg.is_multipart() else None
    if body is None:
        parts = [p for p in msg.walk() if p.get_content_type() == "text/plain"]
        body = parts[0].get_payload(decode=True) if parts else b""
    assert isinstance(body, bytes)
    subject = str(make_header(decode_header(str(msg["Subject"]))))
    return Mail(0.0, str(msg["From"]), (str(msg["To"]),), subject, body.decode())


async def test_pendant_press_reaches_the_mantelzorger_who_acknowledges_by_link(
    mosquitto: Mosquitto, smtp: SmtpSink, tmp_path: Path
) -> None:
    data_dir = tmp_path / "hub"
    seed(data_dir, smtp)
    port = free_port()
    scenario = parse_scenario(SCENARIO)
    edge = dwelling_settings(
        scenario,
        dwelling="dw-001",
        password="pw-dw-001",
        broker_url=mosquitto.url,
        spool_path=tmp_path / "spool.sqlite",
    )
    async with running_hub(hub_settings(mosquitto, smtp, data_dir, port)) as hub:
        sim = SimulatedDwelling(edge, scenario)
        sim_task = asyncio.create_task(sim.run())
        try:
            await wait_until(lambda: len(smtp.messages) >= 1, timeout=20)
            mail = as_mail(smtp.messages[0])
            assert "anna@example.org" in mail.recipients[0]
            assert "Unit 1, Tuinstraat" in mail.subject
            link = find_ack_link(mail.text)
            assert link is not None and link.startswith(f"http://127.0.0.1:{port}/ack/")
            [alarm] = hub.alarms.recent()
            assert alarm.kind is AlarmKind.PERSONAL and alarm.sensor == "pendant-1"
            # The SMTP server has the mail a moment before the hub records the delivery.
            await wait_until(lambda: hub.alarms.get(alarm.id).state is AlarmState.NOTIFIED)  # type: ignore[union-attr]
            # The person opens the link and presses the button, like the demo's mantelzorger.
            person = SimulatedMantelzorger(delay_s=0, jitter_s=0)
            person.on_mail(mail)
            await wait_until(lambda: person.acknowledged or person.failures, timeout=10)
            assert not person.failures
            got = hub.alarms.get(alarm.id)
            assert got is not None and got.state is AlarmState.ACKNOWLEDGED
            assert got.acknowledged_by is not None and "Anna" in got.acknowledged_by
            assert len(smtp.messages) == 1  # one alarm, one mail
        finally:
            sim.stop()
            await asyncio.wait_for(sim_task, 15)


def _hub_process(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "mz", "hub", "run", "--config", str(config)],
            cwd=Path(__file__).parents[2],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _toml(settings: dict[str, object]) -> str:
    lines = []
    for section, values in settings.items():
        assert isinstance(values, dict)
        lines.append(f"[{section}]")
        for k, v in values.items():
            lines.append(f"{k} = {v!r}".replace("'", '"') if isinstance(v, str) else f"{k} = {v}")
    return "\n".join(lines) + "\n"


async def _raise(mosquitto: Mosquitto, alarm_id: str) -> None:
    msg = AlarmMessage(
        id=new_id(),
        dwelling="dw-001",
        ts=time.time(),
        action="raise",
        alarm_id=alarm_id,
        kind=AlarmKind.PERSONAL,
        severity=Severity.HIGH,
        sensor="pendant-1",
    )
    topic, payload = encode(msg)
    async with aiomqtt.Client(
        "127.0.0.1", mosquitto.port, username="dw-001", password="pw-dw-001", identifier="dw-001"
    ) as c:
        await c.publish(topic, payload, qos=1)


async def test_a_sigkilled_hub_loses_no_open_alarm_and_mails_nobody_twice(
    mosquitto: Mosquitto, smtp: SmtpSink, tmp_path: Path
) -> None:
    data_dir = tmp_path / "hub"
    seed(data_dir, smtp)
    port = free_port()
    config = tmp_path / "hub.toml"
    settings = hub_settings(mosquitto, smtp, data_dir, port)
    # The second alarm of the dwelling waits for the fold window after the first mail
    # (docs/alerts.md, "Folding"): a short one, which the restarted hub must honour too.
    settings["mail"] = {**cast(dict[str, object], settings["mail"]), "fold_window_s": 5}
    config.write_text(_toml(settings))
    log = tmp_path / "hub.log"
    first, second = new_id(), new_id()
    proc = _hub_process(config, log)
    try:
        await wait_until(lambda: "hub running" in log.read_text(), timeout=30)
        await _raise(mosquitto, first)
        with hub_store(data_dir) as store:

            def notified(alarm_id: str) -> bool:
                rec = store.get(alarm_id)
                return rec is not None and rec.notified_at is not None

            # Killed once the delivery is on record (a kill between the SMTP server's
            # "250" and that record leaves the row 'unknown': never resent blindly).
            await wait_until(lambda: notified(first), timeout=20)
            assert len(smtp.messages) == 1
            proc.kill()  # no goodbye: whatever was in memory is gone
            proc.wait(timeout=10)
            await _raise(mosquitto, second)  # raised while the hub is down
            await _raise(mosquitto, first)  # and the edge replays the first one
            proc = _hub_process(config, log)
            await wait_until(lambda: notified(second), timeout=30)
            first_rec = store.get(first)
            assert first_rec is not None and first_rec.state is AlarmState.NOTIFIED  # still open
        # Exactly one mail per alarm: the restart re-sent nothing and the replay raised nothing.
        await wait_until(lambda: len(smtp.messages) >= 2, timeout=5)
        async with httpx.AsyncClient() as http:
            r = await http.get(f"http://127.0.0.1:{port}/api/v1/health")
            assert r.status_code == 200
        assert len(smtp.messages) == 2, [m["Subject"] for m in smtp.messages]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, log.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
