"""The spool forgets a message only after the broker's PUBACK (checked with a frozen broker)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiomqtt
import pytest

from sensors import contract
from simulators.dwelling import SimulatedDwelling
from tests.edge_fixtures import hub_subscriber, running_dwelling, scenario, settings_for
from tests.servers import Mosquitto, wait_until

pytestmark = pytest.mark.integration


@contextmanager
def frozen(broker: Mosquitto) -> Iterator[None]:
    """SIGSTOP the broker: TCP still accepts our bytes (kernel buffers), nothing answers."""
    assert broker.proc is not None
    os.kill(broker.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(broker.proc.pid, signal.SIGCONT)


async def test_aiomqtt_qos1_publish_waits_for_puback(mosquitto: Mosquitto) -> None:
    """The premise of the spool: aiomqtt 2.5's publish(qos=1) returns on PUBACK, not on send."""
    async with aiomqtt.Client(
        "127.0.0.1",
        mosquitto.port,
        username="dw-003",
        password="pw-dw-003",
        identifier="dw-003",
        timeout=5,
    ) as client:
        await client.publish("mz/v1/dw-003/events", b"{}", qos=1, timeout=5)  # answered: returns
        with frozen(mosquitto), pytest.raises(aiomqtt.MqttError, match="timed out"):
            await client.publish("mz/v1/dw-003/events", b"{}", qos=1, timeout=0.5)


async def test_spool_keeps_unacknowledged_messages(mosquitto: Mosquitto, tmp_path: Path) -> None:
    sc = scenario(room_interval=0.05)
    settings = settings_for(sc, mosquitto, tmp_path, keepalive_s=60, ack_timeout_s=30.0)
    async with hub_subscriber(mosquitto) as hub:
        dw = SimulatedDwelling(settings, sc)
        async with running_dwelling(dw):
            await wait_until(lambda: dw.agent is not None and dw.state.published > 0, timeout=10)
            with frozen(mosquitto):
                dw.press("pendant-1")
                # PUBACKs already on their way when the broker froze settle meanwhile.
                await wait_until(lambda: dw.state.spool_depth >= 20, timeout=10)
                published = dw.state.published
                await wait_until(lambda: dw.state.spool_depth >= 40, timeout=10)
                assert dw.state.published == published  # nothing acknowledged, nothing deleted
                assert dw.state.connected  # the TCP connection itself looks fine
            await wait_until(lambda: dw.state.spool_depth == 0, timeout=10)
            await wait_until(lambda: hub.of(contract.AlarmMessage), timeout=10)
