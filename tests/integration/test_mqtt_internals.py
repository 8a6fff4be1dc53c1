"""hub.mqtt_acks on a real Mosquitto: with manual acks a message not acknowledged comes
again on the next connection of the persistent session, one acknowledged does not."""

from __future__ import annotations

import aiomqtt

from hub.mqtt_acks import ack, manual_acks
from sensors import contract
from tests.servers import HUB_PASSWORD, HUB_USER, TEST_DWELLINGS, Mosquitto


async def receive_one(mosquitto: Mosquitto, *, acknowledge: bool) -> str:
    client = aiomqtt.Client(
        "127.0.0.1",
        mosquitto.port,
        username=HUB_USER,
        password=HUB_PASSWORD,
        identifier="hub.acks-test",
        clean_session=False,
    )
    manual_acks(client)
    async with client:
        await client.subscribe("mz/v1/+/readings", qos=1)
        async for message in client.messages:
            if acknowledge:
                ack(client, message)
            return str(message.payload)
    raise AssertionError("no message")


async def publish_as_dw001(mosquitto: Mosquitto, msg: contract.ReadingsBatch) -> None:
    async with aiomqtt.Client(
        "127.0.0.1",
        mosquitto.port,
        username="dw-001",
        password=TEST_DWELLINGS["dw-001"],
        identifier="dw-001",
    ) as dw:
        await dw.publish(*contract.encode(msg), qos=1)


async def test_a_message_is_redelivered_until_acknowledged(mosquitto: Mosquitto) -> None:
    async with aiomqtt.Client(
        "127.0.0.1",
        mosquitto.port,
        username=HUB_USER,
        password=HUB_PASSWORD,
        identifier="hub.acks-test",
        clean_session=False,
    ) as first:
        await first.subscribe("mz/v1/+/readings", qos=1)  # the session and its filter
    msg = contract.ReadingsBatch(id=contract.new_id(), dwelling="dw-001", ts=1.0, readings=[])
    await publish_as_dw001(mosquitto, msg)
    first_time = await receive_one(mosquitto, acknowledge=False)
    again = await receive_one(mosquitto, acknowledge=True)  # not acked: here again
    assert msg.id in first_time and msg.id in again
    follow = contract.ReadingsBatch(id=contract.new_id(), dwelling="dw-001", ts=2.0, readings=[])
    await publish_as_dw001(mosquitto, follow)
    assert follow.id in await receive_one(mosquitto, acknowledge=True)  # the acked one is gone
