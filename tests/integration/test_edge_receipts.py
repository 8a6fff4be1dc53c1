"""End-to-end receipts on real Mosquitto: an alarm stays in the edge's spool after the
broker's PUBACK until the hub confirms it, so a broker that loses it cannot lose it for
good; and after an outage the alarm goes before the readings backlog."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge.app import EdgeAgent
from edge.spool import Priority
from sensors import contract
from simulators.dwelling import SimulatedDwelling
from tests.edge_fixtures import Hub, hub_subscriber, running_dwelling, scenario, settings_for
from tests.servers import HUB_PASSWORD, HUB_USER, Mosquitto, wait_until

pytestmark = pytest.mark.integration


async def send_receipt(broker: Mosquitto, dwelling: str, message_id: str) -> None:
    """Publish the hub's receipt for one alarm message, as the hub's broker user."""
    receipt = contract.receipt_command(dwelling, message_id, time.time())
    topic, payload = contract.encode(receipt)
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, username=HUB_USER, password=HUB_PASSWORD, timeout=5
    ) as client:
        await client.publish(topic, payload, qos=1, timeout=5)


def copies(hub: Hub, message_id: str) -> int:
    return sum(1 for m in hub.of(contract.AlarmMessage) if m.id == message_id)


def alarm_rows(agent: EdgeAgent) -> int:
    return sum(1 for i in agent.spool.peek(100_000) if i.priority is Priority.ALARM)


async def readings_pass(hub: Hub, n: int) -> None:
    """Wait for `n` more readings batches (20 a second here): time passes, and anything
    the agent published before them has arrived (one connection, one order)."""
    seen = len(hub.of(contract.ReadingsBatch))
    await wait_until(lambda: len(hub.of(contract.ReadingsBatch)) >= seen + n, timeout=20)


async def test_alarm_without_receipt_is_resent_until_the_hub_receipts_it(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    sc = scenario(room_interval=0.05)
    settings = settings_for(
        sc, mosquitto, tmp_path, receipt_timeout_s=0.3, receipt_max_interval_s=0.6
    )
    async with hub_subscriber(mosquitto, receipts=False) as hub:
        dw = SimulatedDwelling(settings, sc)
        async with running_dwelling(dw):
            await wait_until(lambda: dw.agent is not None and dw.state.connected, timeout=10)
            dw.press("pendant-1")
            await wait_until(lambda: hub.of(contract.AlarmMessage), timeout=10)
            first = hub.of(contract.AlarmMessage)[0]
            # PUBACKed, yet kept: resent after 0.3 s, then 0.6 s (the cap), ...
            await wait_until(lambda: copies(hub, first.id) >= 3, timeout=10)
            assert dw.state.awaiting_receipt == 1 and dw.state.spool_depth >= 1
            assert all(m == first for m in hub.of(contract.AlarmMessage))  # the same message

            await send_receipt(mosquitto, dw.dwelling, first.id)
            await wait_until(lambda: dw.state.awaiting_receipt == 0, timeout=10)
            assert dw.agent is not None and alarm_rows(dw.agent) == 0
            await readings_pass(hub, 5)  # a resend already under way when it came is in
            resent = copies(hub, first.id)
            await readings_pass(hub, 40)  # two seconds: three resend intervals
            assert copies(hub, first.id) == resent
            stats = dw.agent.publisher.stats
            assert stats.receipts == 1 and stats.resends >= 2 and stats.awaiting == 0


async def test_a_reconnect_resends_awaiting_alarms_at_once(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    sc = scenario(room_interval=0.05)
    # Resend timer far away: only the new connection can explain a second copy.
    settings = settings_for(
        sc, mosquitto, tmp_path, receipt_timeout_s=600, receipt_max_interval_s=600
    )
    async with hub_subscriber(mosquitto, receipts=False) as hub:
        dw = SimulatedDwelling(settings, sc)
        async with running_dwelling(dw):
            await wait_until(lambda: dw.agent is not None and dw.state.connected, timeout=10)
            dw.press("pendant-1")
            await wait_until(lambda: dw.state.awaiting_receipt == 1, timeout=10)
            (raised,) = hub.of(contract.AlarmMessage)
            connects = dw.state.connects

            dw.network_down("reset")
            await wait_until(lambda: not dw.state.connected, timeout=10)
            dw.network_up()
            await wait_until(lambda: dw.state.connects > connects, timeout=15)
            await wait_until(lambda: copies(hub, raised.id) == 2, timeout=10)

            await send_receipt(mosquitto, dw.dwelling, raised.id)
            await wait_until(lambda: dw.state.awaiting_receipt == 0, timeout=10)
            assert dw.agent is not None and alarm_rows(dw.agent) == 0


def crash_losing_the_queue(broker: Mosquitto) -> None:
    """SIGKILL the broker and delete its persistence file: what it had queued is gone, as
    after a crash before its periodic save. Then start it again on the same port."""
    assert broker.proc is not None
    broker.proc.kill()
    broker.proc.wait(timeout=10)
    broker.proc = None
    (broker.workdir / "mosquitto.db").unlink(missing_ok=True)
    broker.start()


@pytest.mark.parametrize("receipts", [True, False], ids=["receipts", "puback-only"])
async def test_alarm_reaches_the_hub_though_the_broker_lost_its_queue(
    mosquitto: Mosquitto, tmp_path: Path, receipts: bool
) -> None:
    sc = scenario(room_interval=0.05)
    settings = settings_for(
        sc,
        mosquitto,
        tmp_path,
        receipt_timeout_s=1.0 if receipts else 0,
        receipt_max_interval_s=1.0,
    )
    # The hub has a persistent session but is down (restarting): the broker queues for it.
    async with hub_subscriber(mosquitto, persistent=True):
        pass
    dw = SimulatedDwelling(settings, sc)
    async with running_dwelling(dw):
        await wait_until(lambda: dw.agent is not None and dw.state.connected, timeout=10)
        agent = dw.agent
        assert agent is not None
        dw.press("pendant-1")
        # The broker has PUBACKed the alarm (it is queued for the hub, and only there).
        if receipts:
            await wait_until(lambda: dw.state.awaiting_receipt == 1, timeout=10)
        else:
            await wait_until(
                lambda: dw.state.alarms_raised == 1 and alarm_rows(agent) == 0, timeout=10
            )
        await asyncio.to_thread(crash_losing_the_queue, mosquitto)

        async with hub_subscriber(mosquitto, persistent=True) as hub:
            if receipts:
                await wait_until(lambda: hub.of(contract.AlarmMessage), timeout=15)
                await wait_until(lambda: dw.state.awaiting_receipt == 0, timeout=10)
                assert alarm_rows(agent) == 0
                assert len({m.alarm_id for m in hub.of(contract.AlarmMessage)}) == 1
            else:
                # What the PUBACK alone gives: readings made after the crash arrive, the
                # alarm never does.
                await wait_until(lambda: dw.state.connected, timeout=15)
                await readings_pass(hub, 40)
                assert not hub.of(contract.AlarmMessage)


def backlog_batch(i: int) -> contract.ReadingsBatch:
    reading = contract.Reading(sensor="room-1", quantity="temperature", t=1.7e9 + i, value=20.5)
    return contract.ReadingsBatch(
        id=contract.new_id(), dwelling="dw-001", ts=1.7e9 + i, readings=[reading]
    )


async def test_after_an_outage_the_alarm_goes_before_the_readings_backlog(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    sc = scenario(room_interval=1.0)
    settings = settings_for(sc, mosquitto, tmp_path)
    async with hub_subscriber(mosquitto) as hub:
        dw = SimulatedDwelling(settings, sc)
        async with running_dwelling(dw):
            await wait_until(lambda: dw.agent is not None and dw.state.connected, timeout=10)
            agent = dw.agent
            assert agent is not None
            dw.network_down("reset")
            await wait_until(lambda: not dw.state.connected, timeout=10)
            # Hours of readings at the production rate, then the pendant.
            backlog = [backlog_batch(i) for i in range(500)]
            for b in backlog:
                agent.outbox.put(b)
            dw.press("pendant-1")
            await wait_until(lambda: alarm_rows(agent) == 1, timeout=10)
            before = len(hub.messages)

            dw.network_up()
            wanted = {b.id for b in backlog}
            await wait_until(lambda: wanted <= set(hub.first_seen_ids()), timeout=30)
            await wait_until(lambda: dw.state.awaiting_receipt == 0, timeout=10)
        # The status is published at connect, before the spool drains; of the spooled
        # messages the broker receives after the outage, the alarm is the first.
        after = [m for m in hub.messages[before:] if not isinstance(m, contract.Status)]
        assert isinstance(after[0], contract.AlarmMessage), [type(m).__name__ for m in after[:5]]
        assert after[0].kind is contract.AlarmKind.PERSONAL
        replayed = [m.id for m in after if m.id in wanted]
        assert list(dict.fromkeys(replayed)) == [b.id for b in backlog]  # in the order made


async def test_replay_of_a_backlog_is_paced(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = scenario(room_interval=1.0)
    settings = settings_for(sc, mosquitto, tmp_path, replay_per_s=50.0, replay_burst=5)
    # The pace is the edge's to keep, so it is timed where the edge hands each message to
    # its MQTT client: arrival times at a subscriber also carry the broker's and the
    # test's own scheduling, which bunches them on a loaded machine.
    sent: dict[str, float] = {}
    publish = aiomqtt.Client.publish

    async def timed_publish(
        self: aiomqtt.Client, topic: str, payload: Any = None, **kw: Any
    ) -> None:
        if isinstance(payload, bytes) and "/readings" in topic:
            _, msg = contract.decode(topic, payload)
            sent.setdefault(msg.id, time.monotonic())
        await publish(self, topic, payload, **kw)

    monkeypatch.setattr(aiomqtt.Client, "publish", timed_publish)
    async with hub_subscriber(mosquitto) as hub:
        dw = SimulatedDwelling(settings, sc)
        async with running_dwelling(dw):
            await wait_until(lambda: dw.agent is not None and dw.state.connected, timeout=10)
            agent = dw.agent
            assert agent is not None
            dw.network_down("reset")
            await wait_until(lambda: not dw.state.connected, timeout=10)
            backlog = [backlog_batch(i) for i in range(100)]
            for b in backlog:
                agent.outbox.put(b)
            dw.network_up()
            wanted = {b.id for b in backlog}
            # Every one of them reaches the hub...
            await wait_until(lambda: wanted <= {m.id for m in hub.messages}, timeout=20)
    times = sorted(sent[b.id] for b in backlog)
    # ...100 at 50/s with a burst of 5: at least (100 - 5) / 50 = 1.9 s from first to last.
    assert times[-1] - times[0] >= 1.8
    # ...and never more than the burst plus the rate in any half second.
    for i, t in enumerate(times):
        in_half_second = sum(1 for u in times[i:] if u - t <= 0.5)
        assert in_half_second <= 5 + 25 + 2  # (slack: a publish that waits for its turn)
