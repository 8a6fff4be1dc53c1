"""The broker tells the hub when a dwelling vanishes: the retained last will."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensors import contract
from simulators.dwelling import SimulatedDwelling
from tests.edge_fixtures import hub_subscriber, running_dwelling, scenario, settings_for
from tests.servers import Mosquitto, wait_until

pytestmark = pytest.mark.integration


async def test_last_will_when_connection_is_killed(mosquitto: Mosquitto, tmp_path: Path) -> None:
    sc = scenario(room_interval=0.2)
    settings = settings_for(sc, mosquitto, tmp_path, heartbeat_s=30.0)
    async with hub_subscriber(mosquitto) as hub:
        dw = SimulatedDwelling(settings, sc)
        async with running_dwelling(dw):
            await wait_until(lambda: any(s.online for s in hub.of(contract.Status)), timeout=10)
            # The link dies hard and stays dead: the agent cannot say goodbye itself.
            dw.network_down("reset")
            await wait_until(lambda: any(not s.online for s in hub.of(contract.Status)), timeout=10)
            will = next(s for s in hub.of(contract.Status) if not s.online)
            assert will.dwelling == "dw-001"

            # Retained: a hub that subscribes only now still learns the dwelling is offline.
            async with hub_subscriber(mosquitto) as late:
                await wait_until(lambda: late.of(contract.Status), timeout=5)
                assert late.of(contract.Status)[-1].online is False

            dw.network_up()
            await wait_until(lambda: hub.of(contract.Status)[-1].online, timeout=10)
