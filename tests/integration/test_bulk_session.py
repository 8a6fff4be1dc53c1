"""hub.bulk_session on a real Mosquitto: a message taken and not acknowledged comes again
on the next session, an acknowledged one does not; a broker that goes away ends the
session with MqttError (as the aiomqtt sessions do); wrong credentials are refused."""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest

from hub.bulk_session import BulkSession
from hub.config import BrokerSettings
from sensors import contract
from tests.integration.test_mqtt_internals import publish_as_dw001
from tests.servers import HUB_PASSWORD, HUB_USER, Mosquitto

TOPIC = "mz/v1/+/readings"


def settings(mosquitto: Mosquitto, password: str = HUB_PASSWORD) -> BrokerSettings:
    return BrokerSettings(url=mosquitto.url, username=HUB_USER, password=password)


async def take(mosquitto: Mosquitto, *, acknowledge: bool) -> list[str]:
    async with BulkSession(settings(mosquitto), "hub.bulk-test", None) as session:
        await session.subscribe([TOPIC])
        got = await asyncio.wait_for(session.batch(100, asyncio.Event()), 10)
        if acknowledge:
            for m in got:
                session.ack(m)
        return [m.payload.decode() for m in got]


def batch(ts: float) -> contract.ReadingsBatch:
    return contract.ReadingsBatch(id=contract.new_id(), dwelling="dw-001", ts=ts, readings=[])


async def test_taken_messages_come_again_until_acknowledged(mosquitto: Mosquitto) -> None:
    async with BulkSession(settings(mosquitto), "hub.bulk-test", None) as first:
        await first.subscribe([TOPIC])  # the persistent session and its filter
    msg = batch(1.0)
    await publish_as_dw001(mosquitto, msg)
    assert any(msg.id in p for p in await take(mosquitto, acknowledge=False))
    assert any(msg.id in p for p in await take(mosquitto, acknowledge=True))  # again
    follow = batch(2.0)
    await publish_as_dw001(mosquitto, follow)
    got = await take(mosquitto, acknowledge=True)
    assert any(follow.id in p for p in got) and not any(msg.id in p for p in got)


async def test_stop_returns_an_empty_batch(mosquitto: Mosquitto) -> None:
    stop = asyncio.Event()
    async with BulkSession(settings(mosquitto), "hub.bulk-test", None) as session:
        await session.subscribe([TOPIC])
        waiting = asyncio.create_task(session.batch(100, stop))
        stop.set()
        assert await asyncio.wait_for(waiting, 10) == []


async def test_a_broker_that_goes_away_ends_the_session(mosquitto: Mosquitto) -> None:
    async with BulkSession(settings(mosquitto), "hub.bulk-test", None) as session:
        await session.subscribe([TOPIC])
        waiting = asyncio.create_task(session.batch(100, asyncio.Event()))
        mosquitto.stop()
        with pytest.raises(aiomqtt.MqttError):
            await asyncio.wait_for(waiting, 10)


async def test_wrong_credentials_are_refused(mosquitto: Mosquitto) -> None:
    with pytest.raises(aiomqtt.MqttError, match="refused"):
        async with BulkSession(settings(mosquitto, "wrong"), "hub.bulk-test", None):
            pass
