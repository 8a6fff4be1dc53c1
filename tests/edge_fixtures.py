"""Helpers for the edge agent's tests: a hub-side subscriber and simulated dwellings."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt

from edge.app import EdgeAgent
from edge.config import EdgeSettings
from edge.outbox import Outbox
from sensors import contract
from simulators.dwelling import SimulatedDwelling, dwelling_settings
from simulators.scenario import Scenario, parse_scenario
from tests.servers import HUB_PASSWORD, HUB_USER, Mosquitto

# Fast timings so that outages are noticed in about a second, not a minute.
FAST: dict[str, Any] = {
    "batch_s": 0.05,
    "heartbeat_s": 1.0,
    "keepalive_s": 1,
    "ack_timeout_s": 2.0,
    "connect_timeout_s": 1.0,
    "reconnect_min_s": 0.05,
    "reconnect_max_s": 0.5,
    "driver_backoff_min_s": 0.05,
    "driver_backoff_max_s": 0.2,
    "shutdown_flush_s": 5.0,
    # 20 batches/s here (the production 1/s compressed 20x): pace the replay alike.
    "replay_per_s": 400.0,
}


@dataclass
class Hub:
    """Everything the hub would receive from the dwellings, decoded with the wire contract."""

    messages: list[contract.Message] = field(default_factory=list)
    receipted: list[str] = field(default_factory=list)  # alarm message ids it receipted

    def of(self, cls: type[Any], dwelling: str | None = None) -> list[Any]:
        return [
            m
            for m in self.messages
            if isinstance(m, cls) and (dwelling is None or m.dwelling == dwelling)
        ]

    def first_seen_ids(self, cls: type[Any] | None = None) -> list[str]:
        """Message ids in order of first arrival (redeliveries are harmless: ids dedupe)."""
        seen: dict[str, None] = {}
        for m in self.messages:
            if cls is None or isinstance(m, cls):
                seen.setdefault(m.id, None)
        return list(seen)


OnMessage = Callable[[aiomqtt.Client, aiomqtt.Message], Awaitable[None]]
CHANNELS = ("readings", "events", "alarms", "status")


@contextlib.asynccontextmanager
async def subscribed(
    broker: Mosquitto,
    on_message: OnMessage,
    *,
    username: str,
    password: str,
    identifier: str | None = None,
    clean_session: bool = True,
    retry_s: float = 0.05,
) -> AsyncIterator[None]:
    """A subscriber to every dwelling's readings, events, alarms and status that
    reconnects (a broker restart) until the block ends; `on_message` sees each message."""
    ready = asyncio.Event()

    async def session() -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1",
                    broker.port,
                    username=username,
                    password=password,
                    identifier=identifier,
                    clean_session=clean_session,
                    timeout=2,
                ) as client:
                    client.pending_calls_threshold = 100_000
                    for channel in CHANNELS:
                        await client.subscribe(f"mz/v1/+/{channel}", qos=1)
                    ready.set()
                    async for msg in client.messages:
                        await on_message(client, msg)
            except aiomqtt.MqttError:
                await asyncio.sleep(retry_s)

    task = asyncio.create_task(session())
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def hub_subscriber(
    broker: Mosquitto, *, persistent: bool = False, receipts: bool = True
) -> AsyncIterator[Hub]:
    """Subscribe as the hub to every dwelling. `persistent`: a session that survives the
    broker restarting (reconnects and gets what was queued for it). `receipts`: answer
    every alarm with the hub's receipt, as the real hub does (its own receipts are not
    recorded)."""
    hub = Hub()

    async def on_message(client: aiomqtt.Client, msg: aiomqtt.Message) -> None:
        _, decoded = contract.decode(str(msg.topic), msg.payload)
        if isinstance(decoded, contract.Command) and decoded.name == contract.RECEIPT_COMMAND:
            return
        hub.messages.append(decoded)
        if receipts and isinstance(decoded, contract.AlarmMessage):
            receipt = contract.receipt_command(decoded.dwelling, decoded.id, time.time())
            topic, payload = contract.encode(receipt)
            await client.publish(topic, payload, qos=1)
            hub.receipted.append(decoded.id)

    async with subscribed(
        broker,
        on_message,
        username=HUB_USER,
        password=HUB_PASSWORD,
        identifier="hub-test" if persistent else None,
        clean_session=not persistent,
    ):
        yield hub


def record_outbox(agent: EdgeAgent) -> list[contract.Message]:
    """Spy on what the agent spools, in spool order."""
    made: list[contract.Message] = []
    outbox: Outbox = agent.outbox
    original = outbox.put

    def put(msg: Any) -> int | None:
        made.append(msg)
        return original(msg)

    outbox.put = put  # type: ignore[method-assign]
    return made


SCENARIO = """
name = "test"
[[devices]]
id = "pendant-1"
kind = "pendant"
interval_s = 0.5
[[devices]]
id = "room-1"
kind = "bthome"
interval_s = {room_interval}
"""


def scenario(room_interval: float = 0.05, extra: str = "") -> Scenario:
    return parse_scenario(SCENARIO.format(room_interval=room_interval) + extra)


def settings_for(
    sc: Scenario, broker: Mosquitto, tmp_path: Path, dwelling: str = "dw-001", **overrides: Any
) -> EdgeSettings:
    n = dwelling.removeprefix("dw-")
    return dwelling_settings(
        sc,
        dwelling=dwelling,
        password=f"pw-dw-{n}",
        broker_url=broker.url,
        spool_path=tmp_path / f"{dwelling}.sqlite",
        **{**FAST, **overrides},
    )


@contextlib.asynccontextmanager
async def running_dwelling(dw: SimulatedDwelling) -> AsyncIterator[SimulatedDwelling]:
    task = asyncio.create_task(dw.run())
    try:
        await asyncio.wait_for(dw.started.wait(), 10)
        yield dw
    finally:
        dw.stop()
        await asyncio.wait_for(task, 20)
