"""The demo's embedded broker (amqtt) enforces the same credentials and ACL as Mosquitto."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiomqtt
import pytest

from simulators.broker import EmbeddedBroker
from tests.servers import free_port


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    b = EmbeddedBroker(
        port=free_port(), users={"hub.1": "hub-pw", "dw-001": "pw-1", "dw-002": "pw-2"}
    )
    await b.start()
    try:
        yield b
    finally:
        await b.stop()


def _client(b: EmbeddedBroker, user: str, pw: str, **kw: object) -> aiomqtt.Client:
    if not user.startswith("hub."):
        kw.setdefault("identifier", user)  # a dwelling's client id is bound to its account
    return aiomqtt.Client("127.0.0.1", b.port, username=user, password=pw, **kw)  # type: ignore[arg-type]


async def test_wrong_password_is_refused(broker: EmbeddedBroker) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with _client(broker, "dw-001", "wrong"):
            pass


async def test_a_dwelling_cannot_take_another_client_id(broker: EmbeddedBroker) -> None:
    for identifier in ("hub-t", "dw-002", "mz-hub-1"):
        with pytest.raises(aiomqtt.MqttError):
            async with _client(broker, "dw-001", "pw-1", identifier=identifier):
                pass


async def test_a_dwelling_reads_nothing_but_its_commands(broker: EmbeddedBroker) -> None:
    async with _client(broker, "dw-001", "pw-1") as dw:
        for topic in ("#", "mz/v1/+/alarms", "$share/mz-hub/mz/v1/+/alarms"):
            await dw.subscribe(topic, qos=1)
        await dw.subscribe("mz/v1/dw-001/cmd/+", qos=1)
        # What must not reach dw-001 is sent first: a leak would be its first message.
        async with _client(broker, "dw-002", "pw-2") as other:
            await other.publish("mz/v1/dw-002/alarms", b"x", qos=1)
        async with _client(broker, "hub.1", "hub-pw") as hub:
            await hub.publish("mz/v1/dw-002/cmd/test", b"other", qos=1)
            await hub.publish("mz/v1/dw-001/cmd/test", b"mine", qos=1)
        async for msg in dw.messages:
            assert (str(msg.topic), msg.payload) == ("mz/v1/dw-001/cmd/test", b"mine")
            break


async def test_spoofed_topic_dropped_and_offline_hub_session_queued(broker: EmbeddedBroker) -> None:
    # The hub has a persistent session, then goes away.
    async with _client(broker, "hub.1", "hub-pw", identifier="hub-t", clean_session=False) as hub:
        await hub.subscribe("mz/v1/+/alarms", qos=1)
    async with _client(broker, "dw-001", "pw-1") as dw:
        await dw.publish("mz/v1/dw-002/alarms", b"spoofed", qos=1)
        await dw.publish("mz/v1/dw-001/alarms", b"own", qos=1)
    # When it comes back it receives what was published meanwhile, and not the spoof.
    async with _client(broker, "hub.1", "hub-pw", identifier="hub-t", clean_session=False) as hub:
        async for msg in hub.messages:
            assert (str(msg.topic), msg.payload) == ("mz/v1/dw-001/alarms", b"own")
            break


async def test_no_message_lost_while_other_clients_subscribe() -> None:
    """amqtt 0.12 iterates its subscription table across awaits; a subscribe arriving
    meanwhile used to drop the message being broadcast (the demo's dwellings connect
    while others publish). Every message must still arrive."""

    n = 500
    users = {f"dw-{i:03d}": f"pw-{i}" for i in range(2, 22)}
    broker = EmbeddedBroker(port=free_port(), users={"hub.1": "hub-pw", "dw-001": "pw-1", **users})
    await broker.start()
    got: list[bytes] = []
    try:
        await _churn_and_count(broker, users, n, got)
    finally:
        await broker.stop()
    assert sorted(int(p) for p in got) == list(range(n))


async def _churn_and_count(
    broker: EmbeddedBroker, users: dict[str, str], n: int, got: list[bytes]
) -> None:
    import asyncio

    # A second hub worker that is away: the broker queues for its persistent session,
    # awaiting inside its broadcast loop, which is when a concurrent subscribe bit.
    async with _client(broker, "hub.1", "hub-pw", identifier="hub-away", clean_session=False) as c:
        await c.subscribe("mz/v1/+/readings", qos=1)
    async with _client(broker, "hub.1", "hub-pw") as hub:
        await hub.subscribe("mz/v1/+/readings", qos=1)

        async def churn(user: str, pw: str) -> None:
            for k in range(5):
                async with _client(broker, user, pw) as c:
                    await c.subscribe(f"mz/v1/{user}/cmd/c{k}", qos=1)

        async def produce() -> None:
            async with _client(broker, "dw-001", "pw-1") as dw:
                for i in range(n):
                    await dw.publish("mz/v1/dw-001/readings", str(i).encode(), qos=1)

        async def consume() -> None:
            async for msg in hub.messages:
                got.append(bytes(msg.payload))
                if len(got) == n:
                    return

        consumer = asyncio.create_task(consume())
        await asyncio.gather(produce(), *(churn(u, p) for u, p in users.items()))
        await asyncio.wait_for(consumer, 20)
