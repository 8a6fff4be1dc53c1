"""The demo's embedded broker (amqtt) enforces the same credentials and ACL as Mosquitto."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiomqtt
import pytest

from simulators.broker import EmbeddedBroker
from tests.servers import free_port


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    b = EmbeddedBroker(port=free_port(), users={"hub": "hub-pw", "dw-001": "pw-1"})
    await b.start()
    try:
        yield b
    finally:
        await b.stop()


def _client(b: EmbeddedBroker, user: str, pw: str, **kw: object) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", b.port, username=user, password=pw, **kw)  # type: ignore[arg-type]


async def test_wrong_password_is_refused(broker: EmbeddedBroker) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with _client(broker, "dw-001", "wrong"):
            pass


async def test_spoofed_topic_dropped_and_offline_hub_session_queued(broker: EmbeddedBroker) -> None:
    # The hub has a persistent session, then goes away.
    async with _client(broker, "hub", "hub-pw", identifier="hub-t", clean_session=False) as hub:
        await hub.subscribe("mz/v1/+/alarms", qos=1)
    async with _client(broker, "dw-001", "pw-1") as dw:
        await dw.publish("mz/v1/dw-002/alarms", b"spoofed", qos=1)
        await dw.publish("mz/v1/dw-001/alarms", b"own", qos=1)
    # When it comes back it receives what was published meanwhile, and not the spoof.
    async with _client(broker, "hub", "hub-pw", identifier="hub-t", clean_session=False) as hub:
        async for msg in hub.messages:
            assert (str(msg.topic), msg.payload) == ("mz/v1/dw-001/alarms", b"own")
            break
