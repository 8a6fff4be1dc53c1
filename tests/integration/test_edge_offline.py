"""Store and forward: nothing measured while the broker or the network is gone is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sensors import contract
from simulators.dwelling import SimulatedDwelling
from tests.edge_fixtures import (
    Hub,
    hub_subscriber,
    record_outbox,
    running_dwelling,
    scenario,
    settings_for,
)
from tests.servers import Mosquitto, wait_until

pytestmark = pytest.mark.integration


def assert_all_arrived_in_order(made: list[contract.Message], hub: Hub) -> None:
    made_ids = [m.id for m in made]
    got = hub.first_seen_ids()
    got_spooled = [i for i in got if i in set(made_ids)]
    missing = set(made_ids) - set(got_spooled)
    assert not missing, f"{len(missing)} of {len(made_ids)} spooled messages never arrived"
    # Per channel, first arrivals are in the order the agent made (spooled) them.
    for cls in (contract.ReadingsBatch, contract.Event, contract.AlarmMessage):
        made_c = [m.id for m in made if isinstance(m, cls)]
        got_c = [i for i in hub.first_seen_ids(cls) if i in set(made_c)]
        assert got_c == made_c, f"{cls.__name__} out of order"


@pytest.mark.parametrize("mode", ["blackhole", "reset"])
async def test_network_cut_spools_then_replays_in_order(
    mosquitto: Mosquitto, tmp_path: Path, mode: str
) -> None:
    # Room sensor at 50 Hz and 20 batches/s: three seconds offline spool ~60 batches,
    # the volume of an hour offline at the production 1 batch/s compressed in time.
    sc = scenario(room_interval=0.02)
    settings = settings_for(sc, mosquitto, tmp_path)
    async with hub_subscriber(mosquitto) as hub:
        dw = SimulatedDwelling(settings, sc)
        async with running_dwelling(dw):
            await wait_until(lambda: dw.agent is not None and dw.state.connected, timeout=10)
            assert dw.agent is not None
            made = record_outbox(dw.agent)
            await wait_until(lambda: len(hub.of(contract.ReadingsBatch)) >= 3, timeout=10)

            dw.network_down(mode)  # type: ignore[arg-type]
            await wait_until(lambda: not dw.state.connected, timeout=10)
            dw.press("pendant-1")  # an alarm raised while offline waits in the spool
            await wait_until(lambda: dw.state.spool_depth >= 60, timeout=15)
            assert not hub.of(contract.AlarmMessage)

            dw.network_up()
            await wait_until(lambda: dw.state.connected and dw.state.spool_depth == 0, timeout=15)
            await wait_until(lambda: {m.id for m in made} <= set(hub.first_seen_ids()), timeout=10)
        assert dw.state.spool_dropped == 0
        assert dw.state.connects >= 2
        # The last batch is made and flushed at stop: wait for it too.
        await wait_until(lambda: {m.id for m in made} <= set(hub.first_seen_ids()), timeout=10)
    assert_all_arrived_in_order(made, hub)
    assert len(hub.of(contract.AlarmMessage)) >= 1


async def test_broker_restart_mid_stream_loses_nothing(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    sc = scenario(room_interval=0.02)
    settings = settings_for(sc, mosquitto, tmp_path)
    # A persistent hub session: what arrives while the hub is reconnecting is queued.
    async with hub_subscriber(mosquitto, persistent=True) as hub:
        dw = SimulatedDwelling(settings, sc)
        async with running_dwelling(dw):
            await wait_until(lambda: dw.agent is not None and dw.state.connected, timeout=10)
            assert dw.agent is not None
            made = record_outbox(dw.agent)
            await wait_until(lambda: len(hub.of(contract.ReadingsBatch)) >= 5, timeout=10)
            connects = dw.state.connects

            await asyncio.to_thread(mosquitto.stop)
            await wait_until(lambda: not dw.state.connected, timeout=10)
            await wait_until(lambda: dw.state.spool_depth >= 10, timeout=10)
            await asyncio.to_thread(mosquitto.start)

            await wait_until(
                lambda: dw.state.connects > connects and dw.state.spool_depth == 0, timeout=15
            )
        await wait_until(lambda: {m.id for m in made} <= set(hub.first_seen_ids()), timeout=10)
    assert_all_arrived_in_order(made, hub)
