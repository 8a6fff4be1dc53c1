"""The readings session on a real Mosquitto, in both its forms: in-process on paho's
thread (hub.bulk_session) and in a child process of its own (hub.readings_receiver).
A message taken and not acknowledged comes again on the next session, an acknowledged
one does not; a broker that goes away ends the session with MqttError (as the aiomqtt
sessions do); wrong credentials are refused; a receiver process that dies ends the
session, and what it had passed on unacknowledged comes again."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Literal

import aiomqtt
import pytest

from hub.bulk_session import BulkSession
from hub.config import BrokerSettings
from hub.readings_receiver import ReceiverSession
from sensors import contract
from tests.integration.test_mqtt_internals import publish_as_dw001
from tests.servers import HUB_PASSWORD, HUB_USER, Mosquitto

TOPIC = "mz/v1/+/readings"


Where = Literal["thread", "process"]


@pytest.fixture(params=["thread", "process"])
def where(request: pytest.FixtureRequest) -> Where:
    return request.param  # type: ignore[no-any-return]


def settings(mosquitto: Mosquitto, password: str = HUB_PASSWORD) -> BrokerSettings:
    return BrokerSettings(url=mosquitto.url, username=HUB_USER, password=password)


def session_of(
    where: Where, mosquitto: Mosquitto, password: str = HUB_PASSWORD
) -> BulkSession | ReceiverSession:
    b = settings(mosquitto, password)
    if where == "thread":
        return BulkSession(b, "hub.bulk-test", None)
    return ReceiverSession(b, "hub.bulk-test")


async def take(mosquitto: Mosquitto, where: Where, *, acknowledge: bool) -> list[str]:
    async with session_of(where, mosquitto) as session:
        await session.subscribe([TOPIC])
        got = await asyncio.wait_for(session.batch(100, asyncio.Event()), 10)
        if acknowledge:
            for m in got:
                session.ack(m)
        return [m.payload.decode() for m in got]


def batch(ts: float) -> contract.ReadingsBatch:
    return contract.ReadingsBatch(id=contract.new_id(), dwelling="dw-001", ts=ts, readings=[])


async def test_taken_messages_come_again_until_acknowledged(
    mosquitto: Mosquitto, where: Where
) -> None:
    async with session_of(where, mosquitto) as first:
        await first.subscribe([TOPIC])  # the persistent session and its filter
    msg = batch(1.0)
    await publish_as_dw001(mosquitto, msg)
    assert any(msg.id in p for p in await take(mosquitto, where, acknowledge=False))
    assert any(msg.id in p for p in await take(mosquitto, where, acknowledge=True))  # again
    follow = batch(2.0)
    await publish_as_dw001(mosquitto, follow)
    got = await take(mosquitto, where, acknowledge=True)
    assert any(follow.id in p for p in got) and not any(msg.id in p for p in got)


async def test_stop_returns_an_empty_batch(mosquitto: Mosquitto, where: Where) -> None:
    stop = asyncio.Event()
    async with session_of(where, mosquitto) as session:
        await session.subscribe([TOPIC])
        waiting = asyncio.create_task(session.batch(100, stop))
        stop.set()
        assert await asyncio.wait_for(waiting, 10) == []


async def test_a_broker_that_goes_away_ends_the_session(mosquitto: Mosquitto, where: Where) -> None:
    async with session_of(where, mosquitto) as session:
        await session.subscribe([TOPIC])
        waiting = asyncio.create_task(session.batch(100, asyncio.Event()))
        mosquitto.stop()
        with pytest.raises(aiomqtt.MqttError):
            await asyncio.wait_for(waiting, 10)


async def test_wrong_credentials_are_refused(mosquitto: Mosquitto, where: Where) -> None:
    with pytest.raises(aiomqtt.MqttError, match="refused"):
        async with session_of(where, mosquitto, "wrong"):
            pass


async def test_a_filter_the_account_may_not_read_is_refused(
    mosquitto: Mosquitto, where: Where
) -> None:
    async with session_of(where, mosquitto) as session:
        with pytest.raises(aiomqtt.MqttError, match="refused"):
            await session.subscribe(["#"])


async def test_a_receiver_process_that_dies_ends_the_session(mosquitto: Mosquitto) -> None:
    async with session_of("process", mosquitto) as first:
        await first.subscribe([TOPIC])
    msg = batch(3.0)
    await publish_as_dw001(mosquitto, msg)
    async with ReceiverSession(settings(mosquitto), "hub.bulk-test") as session:
        got = await asyncio.wait_for(session.batch(100, asyncio.Event()), 10)
        assert any(msg.id in m.payload.decode() for m in got)
        assert session.pid is not None
        os.kill(session.pid, signal.SIGKILL)  # before the hub acknowledged anything
        with pytest.raises(aiomqtt.MqttError, match="ended"):
            await asyncio.wait_for(session.batch(100, asyncio.Event()), 10)
    assert any(msg.id in p for p in await take(mosquitto, "process", acknowledge=True))
