from __future__ import annotations

import aiomqtt

from tests.servers import RECORDER_PASSWORD, RECORDER_USER, Mosquitto


async def test_dwelling_cannot_publish_under_another_dwelling(mosquitto: Mosquitto) -> None:
    """The broker's ACL, not the hub, decides who may publish where."""
    async with aiomqtt.Client(
        "127.0.0.1", mosquitto.port, username=RECORDER_USER, password=RECORDER_PASSWORD
    ) as rec:
        await rec.subscribe("mz/v1/#", qos=1)
        async with aiomqtt.Client(
            "127.0.0.1",
            mosquitto.port,
            username="dw-001",
            password="pw-dw-001",
            identifier="dw-001",
        ) as dw:
            await dw.publish("mz/v1/dw-002/alarms", b"spoof", qos=1)
            await dw.publish("mz/v1/dw-001/alarms", b"own", qos=1)
        async for msg in rec.messages:
            assert str(msg.topic) == "mz/v1/dw-001/alarms"
            assert msg.payload == b"own"
            break
