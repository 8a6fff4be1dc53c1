"""The agent over TLS (mqtts:// with ca_file) to a Mosquitto TLS listener."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from sensors import contract
from simulators.dwelling import SimulatedDwelling, dwelling_settings
from tests.edge_fixtures import FAST, running_dwelling, scenario
from tests.servers import (
    HUB_PASSWORD,
    HUB_USER,
    Mosquitto,
    free_port,
    make_test_certs,
    require_binary,
    wait_for_port,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    binary = require_binary("mosquitto", "mosquitto")
    d = tmp_path / "tls"
    d.mkdir()
    ca = make_test_certs(d)
    broker = Mosquitto(binary=binary, workdir=d, port=free_port())
    broker.add_user(HUB_USER, HUB_PASSWORD)
    broker.add_user("dw-004", "pw-dw-004")
    conf = broker._write_config()  # users, ACL, persistence as in production
    tls_port = free_port()
    conf.write_text(
        conf.read_text() + f"listener {tls_port} 127.0.0.1\ncafile {ca}\ncertfile {d}/server.crt\n"
        f"keyfile {d}/server.key\n"
    )
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(tls_port)
        yield tls_port, ca
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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
