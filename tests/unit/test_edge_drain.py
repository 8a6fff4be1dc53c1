"""The publisher's drain against a stand-in broker, on a fake monotonic clock: alarms
first, receipts and their resend schedule, readings replay paced, normal flow unslowed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from edge.config import load_settings
from edge.outbox import Outbox, Spooled
from edge.spool import Spool
from edge.transport import Publisher
from sensors import contract
from tests.servers import wait_until

DW = "dw-001"


@dataclass
class FakeClock:
    t: float = 0.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Incoming:
    topic: str
    payload: bytes


@dataclass
class FakeBroker:
    """Stands in for aiomqtt.Client: every publish is acknowledged at once and recorded;
    `deliver` hands the agent a message on a topic it subscribed to."""

    got: list[contract.Message] = field(default_factory=list)
    inbox: asyncio.Queue[Incoming] = field(default_factory=asyncio.Queue)

    async def publish(self, topic: str, payload: bytes, **_: Any) -> None:
        self.got.append(contract.decode(topic, payload)[1])

    def deliver(self, msg: contract.Message) -> None:
        self.inbox.put_nowait(Incoming(*contract.encode(msg)))

    @property
    def messages(self) -> AsyncIterator[Incoming]:
        async def gen() -> AsyncIterator[Incoming]:
            while True:
                yield await self.inbox.get()

        return gen()

    def of(self, cls: type[Any]) -> list[Any]:
        return [m for m in self.got if isinstance(m, cls)]


def batch(i: int) -> contract.ReadingsBatch:
    reading = contract.Reading(sensor="room-1", quantity="temperature", t=1.7e9 + i, value=20.0)
    return contract.ReadingsBatch(
        id=contract.new_id(), dwelling=DW, ts=1.7e9 + i, readings=[reading]
    )


def event(kind: str = "button") -> contract.Event:
    return contract.Event(id=contract.new_id(), dwelling=DW, ts=1.7e9, kind=kind)


def alarm() -> contract.AlarmMessage:
    return contract.AlarmMessage(
        id=contract.new_id(),
        dwelling=DW,
        ts=1.7e9,
        action="raise",
        alarm_id=contract.new_id(),
        kind=contract.AlarmKind.PERSONAL,
        severity=contract.Severity.HIGH,
    )


@dataclass
class Rig:
    outbox: Outbox
    publisher: Publisher
    broker: FakeBroker
    clock: FakeClock

    def at(self, t: float) -> None:
        """Let time pass (the drain is nudged, as a timer would wake it)."""
        self.clock.t = t
        self.outbox.wake.set()

    async def barrier(self) -> None:
        """Wait until the drain has run past now: an event put now has been published."""
        probe = event("probe")
        self.outbox.put(probe)
        await wait_until(lambda: any(m.id == probe.id for m in self.broker.got), timeout=5)


def no_status(online: bool) -> contract.Status:
    raise AssertionError("the drain and the command loop publish no status")


@contextlib.asynccontextmanager
async def rig(tmp_path: Path, **overrides: Any) -> AsyncIterator[Rig]:
    settings = load_settings(
        None,
        dwelling=DW,
        password="pw",
        broker_url="mqtt://127.0.0.1",
        spool={"path": str(tmp_path / "spool.sqlite")},
        **overrides,
    )
    clock = FakeClock()
    with Spool(settings.spool.path, max_messages=10_000, max_bytes=10**8) as spool:
        outbox = Outbox(spool)
        publisher = Publisher(settings, outbox, no_status, clock=clock)
        broker = FakeBroker()
        client = cast(Any, broker)
        tasks = [
            asyncio.create_task(publisher._drain(client)),
            asyncio.create_task(publisher._commands(client)),
        ]
        try:
            yield Rig(outbox, publisher, broker, clock)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_alarms_and_events_first_then_readings_in_order(tmp_path: Path) -> None:
    settings_path = tmp_path / "spool.sqlite"
    # Spooled before the publisher starts (an outage): drained by class, each in order.
    with Spool(settings_path, max_messages=10_000, max_bytes=10**8) as spool:
        pre = Outbox(spool)
        made: list[Spooled] = []
        for i in range(100):
            made.append(batch(i))
            if i % 40 == 20:
                made.append(event())
            if i % 50 == 30:
                made.append(alarm())
        for m in made:
            pre.put(m)
    async with rig(tmp_path, replay_per_s=0) as r:
        await wait_until(lambda: len(r.broker.got) == len(made), timeout=10)
        got = r.broker.got
    order: dict[type, int] = {
        contract.AlarmMessage: 0,
        contract.Event: 1,
        contract.ReadingsBatch: 2,
    }
    expected = sorted(made, key=lambda m: order.get(type(m), 2))  # stable: seq order in a class
    assert [m.id for m in got] == [m.id for m in expected]


async def test_unconfirmed_alarm_is_resent_on_a_doubling_schedule_until_receipted(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, receipt_timeout_s=30, receipt_max_interval_s=120) as r:
        raised = alarm()
        r.outbox.put(raised)

        def copies() -> int:
            return sum(1 for m in r.broker.of(contract.AlarmMessage) if m.id == raised.id)

        await wait_until(lambda: copies() == 1)
        spool = r.outbox.spool
        assert (spool.awaiting, spool.depth, r.publisher.stats.awaiting) == (1, 1, 1)
        assert r.outbox.drained.is_set()  # sent: a shutdown flush does not wait for it
        schedule = [(29.9, 1), (30.0, 2), (89.9, 2), (90.0, 3), (209.9, 3), (210.0, 4)]
        schedule += [(329.9, 4), (330.0, 5)]  # capped at 120 s
        for t, n in schedule:
            r.at(t)
            if copies() < n:
                await wait_until(lambda n=n: copies() == n)
            await r.barrier()
            assert copies() == n, f"at {t} s"
        assert r.publisher.stats.resends == 4

        r.broker.deliver(contract.receipt_command(DW, raised.id, 1.7e9))
        await wait_until(lambda: spool.awaiting == 0)
        assert spool.depth == 0
        assert (r.publisher.stats.receipts, r.publisher.stats.awaiting) == (1, 0)
        r.broker.deliver(contract.receipt_command(DW, raised.id, 1.7e9))  # a repeat: ignored
        await wait_until(lambda: r.publisher.stats.receipts_unknown == 1)
        r.at(10_000.0)
        await r.barrier()
        assert copies() == 5


async def test_other_commands_still_reach_the_handler(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        seen: list[contract.Command] = []
        r.publisher.on_command = seen.append
        cmd = contract.Command(id=contract.new_id(), dwelling=DW, ts=1.7e9, name="silence")
        r.broker.deliver(contract.receipt_command(DW, "not-ours-1", 1.7e9))
        r.broker.deliver(cmd)
        await wait_until(lambda: seen)
        assert [c.id for c in seen] == [cmd.id]  # the receipt did not go to the handler
        assert r.publisher.stats.receipts_unknown == 1


async def test_receipts_off_deletes_alarms_at_puback(tmp_path: Path) -> None:
    async with rig(tmp_path, receipt_timeout_s=0) as r:
        r.outbox.put(alarm())
        await wait_until(lambda: r.broker.of(contract.AlarmMessage))
        await r.barrier()
        assert r.outbox.spool.depth == 0 and r.outbox.spool.awaiting == 0


async def test_readings_replay_is_paced_and_alarms_are_not(tmp_path: Path) -> None:
    async with rig(tmp_path, replay_per_s=20, replay_burst=10) as r:
        for i in range(200):
            r.outbox.put(batch(i))

        def readings() -> int:
            return len(r.broker.of(contract.ReadingsBatch))

        # The burst at once, then 20 a second of (fake) time, never more; time that passes
        # idle saves up at most the burst.
        steps = [(0.0, 10), (0.5, 20), (0.5, 20), (1.0, 30), (3.0, 40)]
        steps += [(3.0 + 0.05 * k, 40 + k) for k in range(1, 41)]
        for t, n in steps:
            r.at(t)
            await wait_until(lambda n=n: readings() >= n)
            await r.barrier()
            assert readings() == n, f"at {t} s"
        # While the readings wait for the pace, alarms and events go at once.
        made = [alarm() for _ in range(5)] + [event() for _ in range(40)]
        for m in made:
            r.outbox.put(m)
        await wait_until(lambda: {m.id for m in made} <= {m.id for m in r.broker.got})
        assert readings() == 80
        ids = [m.id for m in r.broker.of(contract.ReadingsBatch)]
        assert len(set(ids)) == len(ids)  # none twice


async def test_normal_flow_is_not_slowed_by_the_pace(tmp_path: Path) -> None:
    async with rig(tmp_path, replay_per_s=20, replay_burst=10) as r:
        # 1 batch/s, the production rate, and a one-off 5 at once: each goes at once.
        for i in range(60):
            r.at(float(i))
            r.outbox.put(batch(i))
            await wait_until(lambda i=i: len(r.broker.of(contract.ReadingsBatch)) == i + 1)
        for j in range(5):
            r.outbox.put(batch(100 + j))
        await wait_until(lambda: len(r.broker.of(contract.ReadingsBatch)) == 65)


@pytest.mark.parametrize("reconnects", [1, 2])
async def test_a_new_connection_resends_every_awaiting_alarm(
    tmp_path: Path, reconnects: int
) -> None:
    async with rig(tmp_path, receipt_timeout_s=300, receipt_max_interval_s=600) as r:
        made = [alarm(), alarm()]
        for m in made:
            r.outbox.put(m)
        await wait_until(lambda: len(r.broker.of(contract.AlarmMessage)) == 2)
        for k in range(reconnects):
            # What _serve does on every connect, before the drain starts.
            assert r.outbox.spool.resend_all(r.clock()) == 2
            r.outbox.wake.set()
            await wait_until(lambda k=k: len(r.broker.of(contract.AlarmMessage)) == 2 * (k + 2))


async def test_the_hubs_resend_command_sends_every_awaiting_alarm_at_once(tmp_path: Path) -> None:
    """The hub's alarms session came (back) up: what the broker held for it may be gone."""
    async with rig(tmp_path, receipt_timeout_s=300, receipt_max_interval_s=600) as r:
        made = [alarm(), alarm()]
        for m in made:
            r.outbox.put(m)
        await wait_until(lambda: len(r.broker.of(contract.AlarmMessage)) == 2)
        r.broker.deliver(contract.resend_command(DW, 1.7e9))  # long before any resend is due
        await wait_until(lambda: len(r.broker.of(contract.AlarmMessage)) == 4)
        assert [m.id for m in r.broker.of(contract.AlarmMessage)[2:]] == [m.id for m in made]
        r.broker.deliver(contract.receipt_command(DW, made[0].id, 1.7e9))
        r.broker.deliver(contract.resend_command(DW, 1.7e9))
        await wait_until(lambda: len(r.broker.of(contract.AlarmMessage)) == 5)
        assert r.broker.of(contract.AlarmMessage)[4].id == made[1].id
