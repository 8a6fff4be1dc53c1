"""The agent over TLS (mqtts:// with ca_file) to a Mosquitto TLS listener."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from sensors import contract
from simulators.dwelling import SimulatedDwelling, dwelling_settings
from tests.edge_fixtures import FAST, running_dwelling, scenario
from tests.servers import HUB_PASSWORD, HUB_USER, running_mosquitto, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    d = tmp_path / "tls"
    d.mkdir()
    with running_mosquitto(d, tls=True) as broker:
        assert broker.tls_port is not None
        yield broker.tls_port, d / "ca.crt"


async def test_alarm_over_tls(tls_broker: tuple[int, Path], tmp_path: Path) -> None:
    port, ca = tls_broker
    sc = scenario(room_interval=0.2)
    settings = dwelling_settings(
        sc,
        dwelling="dw-004",
        password="pw-dw-004",
        broker_url=f"mqtts://localhost:{port}",
        spool_path=tmp_path / "spool.sqlite",
        ca_file=str(ca),
        **FAST,
    )
    assert settings.tls
    got: list[contract.Message] = []
    ctx = ssl.create_default_context(cafile=str(ca))
    async with aiomqtt.Client(
        "localhost", port, username=HUB_USER, password=HUB_PASSWORD, tls_context=ctx
    ) as hub:
        await hub.subscribe("mz/v1/dw-004/alarms", qos=1)
        dw = SimulatedDwelling(settings, sc)
        async with running_dwelling(dw):
            await wait_until(lambda: dw.state.connected, timeout=10)
            dw.press("pendant-1")
            async with asyncio.timeout(10):
                async for msg in hub.messages:
                    got.append(contract.decode(str(msg.topic), msg.payload)[1])
                    break
    assert isinstance(got[0], contract.AlarmMessage)
