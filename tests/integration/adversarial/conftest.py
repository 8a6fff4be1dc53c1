"""The adversarial suite's world: the shipped Mosquitto, a real `mz hub run` process, a
real SMTP server, honest dwellings running the real edge agent, a broker-side recorder as
ground truth, and a console prober that must see 200 throughout.

Dwellings: dw-001 and dw-002 are honest; dw-003 is the stolen (hostile) Pi — registered,
with its own genuine credentials, which the attacker uses in every way the broker lets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest

from alerts.model import AlarmRecord, Contact
from hub.config import OPS_DB
from hub.context import Dwelling, Operator
from hub.dedup import Deduplicator
from hub.registry import SqliteRegistry
from hub.sql.schema import open_sqlite_store
from sensors import contract
from sensors.errors import ContractError
from tests.edge_fixtures import subscribed
from tests.ops_store import hub_store
from tests.servers import (
    HUB_PASSWORD,
    HUB_USER,
    RECORDER_PASSWORD,
    RECORDER_USER,
    Mosquitto,
    SmtpSink,
    free_port,
    running_mosquitto,
    running_smtp,
    wait_until,
)

ROOT = Path(__file__).parents[3]
SECRET = "adversarial-suite-secret-key-0123456789"
HUB_CLIENT_ID = "hub.1"  # the shipped default: the attacker knows it
OPERATOR = ("anja", "anja-operator-pw-1")
HOSTILE = "dw-003"
HONEST = ("dw-001", "dw-002")
CONTACTS = {
    "dw-001": ("c-anna", "Anna de Vries", "anna@example.org"),
    "dw-002": ("c-bram", "Bram Visser", "bram@example.org"),
    "dw-003": ("c-cor", "Cor Smit", "cor@example.org"),
}


@dataclass
class HubProcess:
    """`mz hub run` as a separate process, as it runs in production."""

    data_dir: Path
    config: Path
    log: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        before = self.log.read_text().count("hub running") if self.log.exists() else 0
        with self.log.open("ab") as err:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mz", "hub", "run", "--config", str(self.config)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        deadline = time.monotonic() + 30
        while self.log.read_text().count("hub running") <= before:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"mz hub run did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def logtext(self) -> str:
        return self.log.read_text(errors="replace")

    def alarms(self) -> list[AlarmRecord]:
        with hub_store(self.data_dir) as store:
            return store.recent(10_000)

    def raised_count(self, alarm_id: str) -> int:
        with hub_store(self.data_dir) as store:
            return [w for _, w, _, _ in store.log(alarm_id)].count("raised")

    def processed(self, message_id: str) -> bool:
        engine = open_sqlite_store(self.data_dir / OPS_DB)
        try:
            return Deduplicator(engine).seen(message_id)
        finally:
            engine.dispose()

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, auth=OPERATOR, timeout=10) as http:
            r = await http.get("/api/v1/stats")
            r.raise_for_status()
            out: dict[str, Any] = r.json()
            return out


def seed(data_dir: Path) -> None:
    reg = SqliteRegistry(data_dir / OPS_DB)
    for i, dw in enumerate((*HONEST, HOSTILE), start=1):
        reg.add_dwelling(Dwelling(dw, f"Unit {i}, Tuinstraat"))
        cid, name, email = CONTACTS[dw]
        reg.add_contact(Contact(cid, dw, name, email, "nl"))
    reg.add_operator(Operator(OPERATOR[0], "operator", "Anja de Boer"), OPERATOR[1])
    reg.close()


def write_config(
    hub: HubProcess, mosquitto: Mosquitto, smtp: SmtpSink, *, broker_extra: str = ""
) -> None:
    hub.config.write_text(
        f"""log_level = "INFO"
[broker]
url = "{mosquitto.url}"
username = "{HUB_USER}"
password = "{HUB_PASSWORD}"
client_id = "{HUB_CLIENT_ID}"
{broker_extra}
[data]
dir = "{hub.data_dir}"
[console]
port = {hub.port}
public_url = "{hub.url}"
secret_key = "{SECRET}"
[mail]
url = "mailto://127.0.0.1:{smtp.port}?from=alarm@mz.test&mode=insecure"
[routing]
step_wait_s = 3600
"""
    )


@dataclass
class Recorder:
    """Every message the broker accepted, as a persistent subscriber sees it: the ground
    truth that what the hub processed is compared with."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)

    def alarms(self, dwelling: str | None = None) -> list[contract.AlarmMessage]:
        out = []
        for topic, payload in self.messages:
            try:
                _, msg = contract.decode(topic, payload)
            except ContractError:
                continue
            if isinstance(msg, contract.AlarmMessage) and dwelling in (None, msg.dwelling):
                out.append(msg)
        return out


@contextlib.asynccontextmanager
async def recording(mosquitto: Mosquitto) -> AsyncIterator[Recorder]:
    rec = Recorder()

    async def keep(_: aiomqtt.Client, msg: aiomqtt.Message) -> None:
        payload = msg.payload
        assert isinstance(payload, bytes)
        rec.messages.append((str(msg.topic), payload))

    async with subscribed(
        mosquitto,
        keep,
        username=RECORDER_USER,
        password=RECORDER_PASSWORD,
        identifier="recorder",
        clean_session=False,
        retry_s=0.1,
    ):
        yield rec


@dataclass
class ConsoleProbe:
    """An operator with the console open: every page fetched over and over; any answer
    but 200 is a failure of the suite."""

    url: str
    pages: tuple[str, ...] = ("/", "/dwellings", "/dwellings/dw-001", "/dwellings/dw-003")
    fetched: int = 0
    failures: list[tuple[str, int]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=20) as http:
            await login(http)
            while not stop.is_set():
                for page in self.pages:
                    r = await http.get(page)
                    self.fetched += 1
                    if r.status_code != 200 or "login" in str(r.url):
                        self.failures.append((page, r.status_code))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.3)


async def login(http: httpx.AsyncClient, who: tuple[str, str] = OPERATOR) -> httpx.Response:
    page = await http.get("/login")
    csrf = re.search(r'name="csrf"[^>]*value="([^"]+)"', page.text)
    assert csrf is not None, page.text[:500]
    return await http.post(
        "/login",
        data={"username": who[0], "password": who[1], "csrf": csrf.group(1), "next": "/"},
        follow_redirects=True,
    )


@contextlib.asynccontextmanager
async def probing(hub: HubProcess) -> AsyncIterator[ConsoleProbe]:
    probe = ConsoleProbe(hub.url)
    stop = asyncio.Event()
    task = asyncio.create_task(probe.run(stop))
    try:
        await wait_until(lambda: probe.fetched > 0 or task.done(), timeout=20)
        if task.done():
            task.result()
        yield probe
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert probe.failures == [], probe.failures[:10]


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with running_smtp() as sink:
        yield sink


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    d = tmp_path / "mosquitto"
    d.mkdir()
    # The shipped configuration, with the hub's queue bound made small enough that a
    # flood test overflows it with thousands of messages instead of 100,000.
    with running_mosquitto(d, overrides={"max_queued_messages": "3000"}) as b:
        yield b


@pytest.fixture
def hub(broker: Mosquitto, smtp: SmtpSink, tmp_path: Path) -> Iterator[HubProcess]:
    data_dir = tmp_path / "hub"
    seed(data_dir)
    h = HubProcess(data_dir, tmp_path / "hub.toml", tmp_path / "hub.log", free_port())
    write_config(h, broker, smtp)
    h.start()
    try:
        yield h
    finally:
        h.stop()


def hostile_client(broker: Mosquitto, **kw: Any) -> aiomqtt.Client:
    """The stolen Pi's own, genuine credentials."""
    kw.setdefault("identifier", HOSTILE)
    return aiomqtt.Client(
        "127.0.0.1", broker.port, username=HOSTILE, password=f"pw-{HOSTILE}", **kw
    )


def alarm_message(dwelling: str, **detail: Any) -> contract.AlarmMessage:
    return contract.AlarmMessage(
        id=contract.new_id(),
        dwelling=dwelling,
        ts=time.time(),
        action="raise",
        alarm_id=contract.new_id(),
        kind=contract.AlarmKind.PERSONAL,
        severity=contract.Severity.HIGH,
        sensor="pendant-1",
        detail=detail,
    )


def raw(topic_dwelling: str, channel: str, obj: dict[str, Any]) -> tuple[str, bytes]:
    return f"mz/v1/{topic_dwelling}/{channel}", json.dumps(obj).encode()


def honest(broker: Mosquitto, tmp_path: Path, dwelling: str, **overrides: Any) -> Any:
    """An honest dwelling: the real edge agent with a simulated pendant and room sensor."""
    from simulators.dwelling import SimulatedDwelling
    from tests.edge_fixtures import scenario, settings_for

    sc = scenario(room_interval=0.2)
    settings = settings_for(
        sc, broker, tmp_path, dwelling, **{"heartbeat_s": 5.0, "batch_s": 0.5, **overrides}
    )
    return SimulatedDwelling(settings, sc)


def honest_alarms(recorder: Recorder, dwelling: str) -> dict[str, contract.AlarmMessage]:
    """The honest dwelling's alarms the broker accepted, by alarm id."""
    return {m.alarm_id: m for m in recorder.alarms(dwelling) if m.action == "raise"}


def assert_each_raised_once(
    hub: HubProcess, alarm_ids: list[str], dwelling: str = "dw-001"
) -> None:
    """0 lost, 0 duplicates: the dwelling's alarms at the hub are exactly the alarms its
    edge raised (the broker-side record), one record each, and each was mailed to the
    family in at most one first-round notification (an alarm raised twice under a second
    id, or notified twice, fails here)."""
    counts = {a: hub.raised_count(a) for a in alarm_ids}
    assert all(n == 1 for n in counts.values()), counts
    at_hub = sorted(a.id for a in hub.alarms() if a.dwelling == dwelling and a.source == "edge")
    assert at_hub == sorted(alarm_ids), (at_hub, alarm_ids)
    with hub_store(hub.data_dir) as store:
        for alarm_id in alarm_ids:
            first = [r for r in store.outbox(alarm_id) if r.round == 0]
            assert len(first) <= 1, first


async def flood(
    client: aiomqtt.Client, messages: list[tuple[str, bytes]], window: int = 500
) -> None:
    """Publish `messages` at QoS 1 as fast as the broker takes them (PUBACKed)."""
    client.pending_calls_threshold = 10 * window
    for i in range(0, len(messages), window):
        await asyncio.gather(
            *(client.publish(t, p, qos=1, timeout=60) for t, p in messages[i : i + window])
        )


def batch_payload(dwelling: str, n_readings: int, t: float) -> tuple[str, bytes]:
    readings = [
        contract.Reading(
            sensor="room-1", quantity="temperature", t=t - i / 1000, value=20.0 + (i % 10)
        )
        for i in range(n_readings)
    ]
    return contract.encode(
        contract.ReadingsBatch(id=contract.new_id(), dwelling=dwelling, ts=t, readings=readings)
    )
