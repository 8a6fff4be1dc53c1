"""The hub's ingest against a real Mosquitto (production ACL) and the real alarm service."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, cast

import aiomqtt
import pytest
from pydantic import SecretStr

from alerts.model import AlarmChange, AlarmKind, AlarmState
from alerts.service import AlarmService
from hub.app import Hub, build_hub
from hub.config import (
    OPS_DB,
    BrokerSettings,
    ConsoleSection,
    DataSettings,
    HubSettings,
    PresenceSettings,
)
from hub.context import Dwelling
from hub.dead_letters import MAX_ATTEMPTS, DeadLetters
from hub.presence import OFFLINE_KEY
from hub.registry import SqliteRegistry
from hub.storage.sqlite import SqliteTimeSeriesStore
from sensors.contract import (
    AlarmMessage,
    Channel,
    Event,
    Message,
    Reading,
    ReadingsBatch,
    Severity,
    Status,
    encode,
    new_id,
    topic_for,
)
from tests.servers import (
    HUB_PASSWORD,
    HUB_USER,
    Mosquitto,
    hub_running,
    running_mosquitto,
    wait_until,
)

pytestmark = pytest.mark.integration

# An hour ago: the hub refuses message times more than 7 days from its clock.
T0 = float(int(time.time()) - 3600)
SECRET = "integration-test-secret-key-0123456789"
OFFLINE_GRACE_S = 1.0


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "hub-data"
    reg = SqliteRegistry(d / OPS_DB)
    for i in (1, 2, 3):  # dw-004 and dw-005 have broker credentials but are not registered
        reg.add_dwelling(Dwelling(f"dw-{i:03d}", f"Unit {i}"))
    reg.close()
    return d


def make_settings(
    mosquitto: Mosquitto,
    data_dir: Path,
    *,
    console: bool = False,
    shared: bool = True,
    protocol: Literal["3.1.1", "5"] = "3.1.1",
    client_id: str = "hub.test",
) -> HubSettings:
    return HubSettings(
        broker=BrokerSettings(
            url=mosquitto.url,
            username=HUB_USER,
            password=SecretStr(HUB_PASSWORD),
            client_id=client_id,
            shared_subscriptions=shared,
            protocol=protocol,
            reconnect_max_s=0.5,
        ),
        data=DataSettings(dir=data_dir),
        console=ConsoleSection(enabled=console, port=0, secret_key=SecretStr(SECRET)),
        # A short grace after a last will (90 s in production) keeps these tests short.
        presence=PresenceSettings(
            heartbeat_factor=3.0, check_interval_s=0.05, offline_grace_s=OFFLINE_GRACE_S
        ),
    )


@asynccontextmanager
async def dwelling(
    mosquitto: Mosquitto, dw: str = "dw-001", **kw: Any
) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(
        "127.0.0.1", mosquitto.port, username=dw, password=f"pw-{dw}", identifier=dw, **kw
    ) as client:
        yield client


async def publish(client: aiomqtt.Client, msg: Message, *, retain: bool = False) -> None:
    topic, payload = encode(msg)
    await client.publish(topic, payload, qos=1, retain=retain)


def batch(dw: str, t: float, value: float = 60.0, msg_id: str | None = None) -> ReadingsBatch:
    return ReadingsBatch(
        id=msg_id or new_id(),
        dwelling=dw,
        ts=t,
        readings=[Reading(sensor="hr-1", quantity="illuminance", t=t, value=value)],
    )


def alarm(
    alarm_id: str, msg_id: str | None = None, action: Literal["raise", "cancel"] = "raise"
) -> AlarmMessage:
    return AlarmMessage(
        id=msg_id or new_id(),
        dwelling="dw-001",
        ts=T0,
        action=action,
        alarm_id=alarm_id,
        kind=AlarmKind.FALL,
        severity=Severity.HIGH,
    )


def status(dw: str, online: bool, ts: float, heartbeat_s: float = 0.5) -> Status:
    return Status(id=new_id(), dwelling=dw, ts=ts, online=online, heartbeat_s=heartbeat_s)


async def points(hub: Hub, dw: str = "dw-001") -> int:
    return len(await hub.store.series(dw, "hr-1", "illuminance", 0, 1e12))


def counting(hub: Hub) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        return await points(hub)

    return count


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "plain"])
async def test_readings_land_in_the_store(
    mosquitto: Mosquitto, data_dir: Path, shared: bool
) -> None:
    async with hub_running(make_settings(mosquitto, data_dir, shared=shared)) as hub:
        async with dwelling(mosquitto) as dw:
            for i in range(5):
                await publish(dw, batch("dw-001", T0 + i, 60 + i))
        await wait_until(lambda: hub.stats.get("accepted.readings") == 5)
        got = await hub.store.series("dw-001", "hr-1", "illuminance", 0, 1e12)
        assert [p.value for p in got] == [60, 61, 62, 63, 64]
        assert hub.stats.get("points") == 5


async def test_bad_messages_are_rejected_per_reason_and_good_ones_still_processed(
    mosquitto: Mosquitto, data_dir: Path
) -> None:
    good = batch("dw-001", T0)
    topic, payload = encode(good)
    nan_payload = payload.replace(b'"value":60.0', b'"value":NaN')
    assert nan_payload != payload
    spoofed = encode(batch("dw-002", T0))[1]  # body names dw-002, sent by dw-001 on its topic
    async with hub_running(make_settings(mosquitto, data_dir)) as hub:
        async with dwelling(mosquitto) as dw, dwelling(mosquitto, "dw-004") as stranger:
            await dw.publish(topic, b"{not json", qos=1)
            await dw.publish(topic, nan_payload, qos=1)
            await dw.publish(topic, spoofed, qos=1)
            await dw.publish(topic, payload.replace(b'"v":1', b'"v":2'), qos=1)
            await dw.publish(topic, b'{"v":1,"id":"abcdefgh12","dwelling":"dw-001"}', qos=1)
            await dw.publish(topic, payload, qos=1)
            await publish(stranger, batch("dw-004", T0))
            # The ACL drops a publish under another dwelling's prefix before the hub sees it.
            await dw.publish(
                topic_for("dw-002", Channel.READINGS), encode(batch("dw-002", T0))[1], qos=1
            )
            await publish(dw, batch("dw-001", T0 + 1))
        await wait_until(lambda: hub.stats.get("accepted.readings") == 2)
        await wait_until(lambda: hub.stats.get("rejected.unknown_dwelling") == 1)
        counters = hub.stats.counters()
        for reason in ("bad_json", "non_finite", "dwelling_mismatch", "unknown_version", "schema"):
            assert counters.get(f"rejected.{reason}") == 1, (reason, counters)
        assert await points(hub, "dw-002") == 0
        assert await points(hub) == 2


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_messages_published_while_the_hub_is_down_arrive_after_restart(
    mosquitto: Mosquitto, data_dir: Path, protocol: Literal["3.1.1", "5"]
) -> None:
    settings = make_settings(mosquitto, data_dir, protocol=protocol)
    async with hub_running(settings) as hub:
        async with dwelling(mosquitto) as dw:
            await publish(dw, batch("dw-001", T0))
        await wait_until(counting(hub))
    async with dwelling(mosquitto) as dw:  # the hub is down
        for i in range(1, 4):
            await publish(dw, batch("dw-001", T0 + i))
    async with hub_running(settings) as hub:
        await wait_until(lambda: hub.stats.get("accepted.readings") == 3)
        assert await points(hub) == 4


async def test_a_message_whose_processing_fails_is_not_acknowledged_and_comes_again(
    mosquitto: Mosquitto, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PUBACK only after durable processing: a failed write is redelivered by the broker."""
    async with hub_running(make_settings(mosquitto, data_dir)) as hub:
        real_write = hub.store.write_points
        failures = 0

        async def flaky(pts: Any) -> None:
            nonlocal failures
            if failures == 0:
                failures += 1
                from hub.errors import StorageError

                raise StorageError("disk full (simulated)")
            await real_write(pts)

        monkeypatch.setattr(hub.store, "write_points", flaky)
        async with dwelling(mosquitto) as dw:
            await publish(dw, batch("dw-001", T0))
            await publish(dw, batch("dw-001", T0 + 1))
        await wait_until(lambda: hub.stats.get("accepted.readings") == 2, timeout=15)
        assert failures == 1 and hub.stats.get("failed") == 1
        assert await points(hub) == 2


async def test_a_redelivered_alarm_is_raised_once_also_across_a_restart(
    mosquitto: Mosquitto, data_dir: Path
) -> None:
    settings = make_settings(mosquitto, data_dir)
    alarm_id = uuid.uuid4().hex
    first = alarm(alarm_id)
    raised: list[str] = []

    def listen(change: AlarmChange) -> None:
        if change.what == "raised":
            raised.append(change.alarm.id)

    async with hub_running(settings) as hub:
        service = cast(AlarmService, hub.alarms)
        service.add_listener(listen)
        async with dwelling(mosquitto) as dw:
            await publish(dw, first)
            await publish(dw, first)  # redelivered: same message id
            await publish(dw, alarm(alarm_id))  # replayed by the edge: same alarm, new id
        await wait_until(lambda: hub.stats.get("accepted.alarms") == 2)
        assert hub.stats.get("duplicate") == 1
        assert raised == [alarm_id]
        rec = service.get(alarm_id)
        assert rec is not None and rec.state in (AlarmState.RAISED, AlarmState.NOTIFIED)

    async with hub_running(settings) as hub:
        service = cast(AlarmService, hub.alarms)
        service.add_listener(listen)
        async with dwelling(mosquitto) as dw:
            await publish(dw, first)
            await publish(dw, alarm(alarm_id))
        await wait_until(lambda: hub.stats.get("duplicate") + hub.stats.get("accepted.alarms") == 2)
        assert hub.stats.get("duplicate") == 1
        assert raised == [alarm_id]
        assert [a.id for a in service.open_alarms() if a.id == alarm_id] == [alarm_id]


async def test_status_retained_gives_online_last_will_gives_offline_and_a_technical_alarm(
    mosquitto: Mosquitto, data_dir: Path
) -> None:
    # Like the edge: the will is made at connect time, before the status it follows.
    will_topic, will_payload = encode(status("dw-002", False, T0 - 1))
    will = aiomqtt.Will(will_topic, will_payload, qos=1, retain=True)
    # The dwelling is up before the hub: the hub learns it from the retained status.
    client = aiomqtt.Client(
        "127.0.0.1",
        mosquitto.port,
        username="dw-002",
        password="pw-dw-002",
        identifier="dw-002",
        will=will,
    )
    await client.__aenter__()
    try:
        await publish(client, status("dw-002", True, T0, heartbeat_s=60), retain=True)
        async with hub_running(make_settings(mosquitto, data_dir)) as hub:
            service = cast(AlarmService, hub.alarms)

            def online() -> bool | None:
                s = hub.presence.state("dw-002")
                return s is not None and s.online

            await wait_until(online)
            assert service.store.open_technical("dw-002", OFFLINE_KEY) is None
            # The connection dies without a DISCONNECT: the broker publishes the will.
            client._client.socket().shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
            await wait_until(lambda: hub.presence.state("dw-002").offline_since is not None)  # type: ignore[union-attr]
            assert online()  # the will starts the grace: the edge may be reconnecting
            await wait_until(lambda: not online())
            await wait_until(
                lambda: service.store.open_technical("dw-002", OFFLINE_KEY) is not None
            )
            health = {h.dwelling: h for h in hub.presence.board()}["dw-002"]
            assert health.online is False

            # Coming back clears it.
            async with dwelling(mosquitto, "dw-002") as dw:
                await publish(dw, status("dw-002", True, T0 + 2, heartbeat_s=60), retain=True)
            await wait_until(online)
            await wait_until(lambda: service.store.open_technical("dw-002", OFFLINE_KEY) is None)
    finally:
        with contextlib.suppress(aiomqtt.MqttError):  # the socket is gone already
            await client.__aexit__(None, None, None)


async def test_silence_past_the_heartbeat_timeout_raises_offline(
    mosquitto: Mosquitto, data_dir: Path
) -> None:
    async with hub_running(make_settings(mosquitto, data_dir)) as hub:
        service = cast(AlarmService, hub.alarms)
        async with dwelling(mosquitto, "dw-003") as dw:
            await publish(dw, status("dw-003", True, T0, heartbeat_s=0.2))
            await wait_until(lambda: (s := hub.presence.state("dw-003")) is not None and s.online)
            # no more messages: offline after 3 x 0.2 s
            await wait_until(
                lambda: service.store.open_technical("dw-003", OFFLINE_KEY) is not None
            )
            rec = service.store.open_technical("dw-003", OFFLINE_KEY)
            assert rec is not None and rec.detail.get("reason") == "heartbeat_timeout"
            await publish(dw, batch("dw-003", T0 + 1))
            await wait_until(lambda: service.store.open_technical("dw-003", OFFLINE_KEY) is None)


def descendants(pid: int) -> set[int]:
    """The processes below `pid` (from /proc)."""
    parent_of: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent_of[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parent_of.items() if parent in frontier}
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to read its exit counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _hub_process(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "hub", "run", "--config", str(config)],
            cwd=Path(__file__).parents[2],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


async def test_a_sigkilled_hub_loses_nothing(
    mosquitto: Mosquitto, data_dir: Path, tmp_path: Path
) -> None:
    """`mz hub run` killed with SIGKILL mid-stream: after a restart every reading is
    stored once, and an alarm sent around the kill is raised exactly once."""
    config = tmp_path / "hub.toml"
    config.write_text(
        f'[broker]\nurl = "{mosquitto.url}"\nusername = "{HUB_USER}"\npassword = "{HUB_PASSWORD}"\n'
        f'client_id = "hub.kill"\nreconnect_max_s = 0.5\n'
        # The readings session in a child process: killing the hub must not leave it on.
        'readings_receiver = "process"\n'
        f'[data]\ndir = "{data_dir}"\n'
        f'[console]\nenabled = false\nsecret_key = "{SECRET}"\n'
    )
    log = tmp_path / "hub.log"
    n = 400
    alarm_id = uuid.uuid4().hex
    store = SqliteTimeSeriesStore(data_dir / "timeseries.sqlite")
    proc = _hub_process(config, log)
    try:
        # The first run subscribes (creating the persistent session) before we publish.
        await wait_until(lambda: "hub running" in log.read_text(), timeout=20)
        async with dwelling(mosquitto) as dw:
            for i in range(n // 2):
                await publish(dw, batch("dw-001", T0 + i, float(i)))
            await publish(dw, alarm(alarm_id, msg_id=f"alarm-msg-{alarm_id[:8]}"))

            async def some_stored() -> bool:
                return len(await store.series("dw-001", "hr-1", "illuminance", 0, 1e12)) > 10

            await wait_until(some_stored, timeout=20)
            helpers = descendants(proc.pid)  # the readings receiver and its fork server
            assert helpers
            proc.kill()  # most likely mid-stream, with messages in flight
            proc.wait(timeout=10)
            # Nothing of the killed hub lives on (holding its readings session).
            await wait_until(lambda: not any(alive(p) for p in helpers), timeout=10)
            # While the hub is down: the rest, and the alarm replayed (same message id).
            await publish(dw, alarm(alarm_id, msg_id=f"alarm-msg-{alarm_id[:8]}"))
            for i in range(n // 2, n):
                await publish(dw, batch("dw-001", T0 + i, float(i)))
        proc = _hub_process(config, log)

        async def all_stored() -> bool:
            return len(await store.series("dw-001", "hr-1", "illuminance", 0, 1e12)) == n

        await wait_until(all_stored, timeout=30)
        got = await store.series("dw-001", "hr-1", "illuminance", 0, 1e12)
        assert [p.value for p in got] == [float(i) for i in range(n)]

        from alerts.store import AlarmStore
        from tests.ops_store import ops_engine

        engine = ops_engine(data_dir)
        alarms = AlarmStore(engine)
        await wait_until(lambda: alarms.get(alarm_id) is not None, timeout=20)
        assert [w for _, w, _, _ in alarms.log(alarm_id)].count("raised") == 1
        engine.dispose()

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, log.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        await store.close()


async def test_the_hub_serves_the_console_on_its_port(mosquitto: Mosquitto, data_dir: Path) -> None:
    import httpx

    async with hub_running(make_settings(mosquitto, data_dir, console=True)) as hub:
        assert hub.console_port
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{hub.console_port}") as http:
            r = await http.get("/api/v1/health")
            assert r.status_code == 200
            assert (await http.get("/api/v1/dwellings")).status_code != 200  # needs a login


async def test_shipped_broker_config_over_tls_keeps_a_dwelling_to_its_own_topics(
    tmp_path: Path, data_dir: Path
) -> None:
    """deploy/mosquitto as shipped (paths and ports moved to the test's): the hub ingests
    over TLS, and a dwelling's publish under another dwelling's prefix goes nowhere."""
    d = tmp_path / "shipped"
    d.mkdir()
    with running_mosquitto(d, tls=True) as broker:
        assert broker.tls_port is not None
        settings = make_settings(broker, data_dir)
        settings = settings.model_copy(
            update={
                "broker": settings.broker.model_copy(
                    update={"url": f"mqtts://localhost:{broker.tls_port}", "ca_file": d / "ca.crt"}
                )
            }
        )
        async with hub_running(settings) as hub:
            ctx = ssl.create_default_context(cafile=str(d / "ca.crt"))
            async with aiomqtt.Client(
                "localhost",
                broker.tls_port,
                username="dw-001",
                password="pw-dw-001",
                identifier="dw-001",
                tls_context=ctx,
            ) as dw:
                await dw.publish(
                    topic_for("dw-002", Channel.READINGS), encode(batch("dw-002", T0))[1], qos=1
                )
                await publish(dw, batch("dw-001", T0))
            await wait_until(lambda: hub.stats.get("accepted.readings") == 1)
            assert await points(hub) == 1 and await points(hub, "dw-002") == 0


async def test_a_console_port_in_use_is_a_clear_config_error(
    mosquitto: Mosquitto, data_dir: Path
) -> None:
    from hub.errors import ConfigError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = make_settings(mosquitto, data_dir, console=True)
        settings = settings.model_copy(
            update={"console": settings.console.model_copy(update={"port": taken.getsockname()[1]})}
        )
        hub = build_hub(settings)
        try:
            with pytest.raises(ConfigError, match="cannot listen"):
                await hub.run(asyncio.Event())
        finally:
            await hub.close()


async def test_a_message_that_keeps_failing_is_parked_and_the_session_goes_on(
    mosquitto: Mosquitto, data_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """One poison message (its processing fails every time while the stores answer) is
    parked after MAX_ATTEMPTS, acknowledged and counted; the messages behind it are
    processed without the session being dropped for everybody."""
    poison = Event(id=new_id(), dwelling="dw-001", ts=T0, kind="motion_seen")
    good = [Event(id=new_id(), dwelling="dw-001", ts=T0 + i, kind="motion_seen") for i in (1, 2)]
    caplog.set_level("INFO", logger="hub.ingest")
    async with hub_running(make_settings(mosquitto, data_dir)) as hub:
        real_write = hub.store.write_event

        async def poisoned(event: Any) -> None:
            if event.id == poison.id:
                raise ValueError("a bug this message triggers")
            await real_write(event)

        monkeypatch.setattr(hub.store, "write_event", poisoned)
        async with dwelling(mosquitto) as dw:
            for msg in (poison, *good):
                await publish(dw, msg)
        await wait_until(lambda: hub.stats.get("accepted.events") == 2, timeout=20)
        assert hub.stats.get("parked") == 1 and hub.stats.get("failed") == MAX_ATTEMPTS
        [letter] = DeadLetters(hub.sql).parked()
        assert letter.key == poison.id and letter.attempts == MAX_ATTEMPTS
        assert letter.topic == "mz/v1/dw-001/events" and b"motion_seen" in letter.payload
        assert "a bug this message triggers" in letter.error
        assert hub.context.parked is not None and hub.context.parked.parked_count() == 1
        stored = await hub.store.events("dw-001", 0, 1e12)
        assert {e.id for e in stored} == {g.id for g in good}
    ups = [
        r
        for r in caplog.records
        if "MQTT session up" in r.getMessage() and "control" in r.getMessage()
    ]
    assert len(ups) == 1  # never dropped and re-made
