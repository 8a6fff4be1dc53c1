"""Alarms never wait behind readings: 20,000 reading batches are queued at the broker while
the hub is away (as after an outage; a live hub now keeps up with them as they come), then
an alarm; the hub, back, processes the alarm within a second while the readings backlog is
still being worked (the alarm travels on its own subscription and session, hub.ingest)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiomqtt
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alerts.model import AlarmChange
from alerts.service import AlarmService
from hub.context import Dwelling
from sensors import contract
from tests.integration import test_hub_ingest
from tests.integration.test_hub_ingest import make_settings
from tests.servers import TEST_DWELLINGS, Mosquitto, hub_running, wait_until

pytestmark = pytest.mark.timeout(300)
data_dir = test_hub_ingest.data_dir  # the fixture: dw-001..dw-003 registered

BATCHES = 20_000
DWELLINGS = 1000  # 20 batches each: within every dwelling's budget
PUBLISHER, PUBLISHER_PW = "lane-publisher", "lane-publisher-pw"


def publish_backlog(mosquitto: Mosquitto, now: float) -> None:
    """20,000 realistic batches at QoS 1, each PUBACKed by the broker before returning."""
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id="lane-publisher")
    c.username_pw_set(PUBLISHER, PUBLISHER_PW)
    c.max_inflight_messages_set(1000)
    c.connect("127.0.0.1", mosquitto.port)
    c.loop_start()
    try:
        infos = []
        for i in range(BATCHES):
            dw = f"dx-{i % DWELLINGS:04d}"
            t = now - 600 + i // DWELLINGS
            msg = contract.ReadingsBatch(
                id=contract.new_id(),
                dwelling=dw,
                ts=t,
                readings=[
                    contract.Reading(sensor="hr-1", quantity="hr", t=t, value=70.0),
                    contract.Reading(sensor="ox-1", quantity="spo2", t=t, value=97.0),
                ],
            )
            infos.append(c.publish(*contract.encode(msg), qos=1))
        for info in infos:
            info.wait_for_publish(timeout=120)
    finally:
        c.disconnect()
        c.loop_stop()


async def test_an_alarm_after_20000_batches_is_processed_within_a_second(
    mosquitto: Mosquitto, data_dir: Path
) -> None:
    mosquitto.add_publisher(PUBLISHER, PUBLISHER_PW, "mz/v1/+/readings")
    settings = make_settings(mosquitto, data_dir)
    async with hub_running(settings) as hub:  # its persistent sessions, its dwellings
        for i in range(DWELLINGS):
            hub.registry.add_dwelling(Dwelling(f"dx-{i:04d}", f"Unit x{i}"))
    await asyncio.to_thread(publish_backlog, mosquitto, time.time())
    async with hub_running(settings) as hub:
        raised: dict[str, tuple[float, int]] = {}  # when, and how many batches were done

        def listen(change: AlarmChange) -> None:
            if change.what == "raised":
                done = hub.stats.get("accepted.readings")
                raised.setdefault(change.alarm.id, (time.monotonic(), done))

        service = hub.alarms
        assert isinstance(service, AlarmService)
        service.add_listener(listen)
        alarm = contract.AlarmMessage(
            id=contract.new_id(),
            dwelling="dw-001",
            ts=time.time(),
            action="raise",
            alarm_id=contract.new_id(),
            kind=contract.AlarmKind.PERSONAL,
            severity=contract.Severity.HIGH,
        )
        async with aiomqtt.Client(
            "127.0.0.1",
            mosquitto.port,
            username="dw-001",
            password=TEST_DWELLINGS["dw-001"],
            identifier="dw-001",
        ) as dw:
            await dw.publish(*contract.encode(alarm), qos=1)
            sent = time.monotonic()
        await wait_until(lambda: alarm.alarm_id in raised, timeout=30)
        at, done = raised[alarm.alarm_id]
        took, behind = at - sent, BATCHES - done
        print(f"alarm processed {took:.3f} s after its publish; {behind} batches still queued")
        assert took < 1.0
        assert behind > 0  # the readings backlog was still being worked: it did not wait
        await wait_until(lambda: hub.stats.get("accepted.readings") == BATCHES, timeout=120)
