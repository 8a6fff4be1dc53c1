"""A failing driver is restarted; a silent device shows up as "silent" in the status."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensors import contract
from simulators.dwelling import SimulatedDwelling
from tests.edge_fixtures import hub_subscriber, running_dwelling, scenario, settings_for
from tests.servers import Mosquitto, wait_until

pytestmark = pytest.mark.integration


async def test_radio_failure_restart_and_silent_device(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    sc = scenario(
        room_interval=0.05,
        extra="""
[[events]]
at = 0.5
action = "radio_fail"
[[events]]
at = 0.5
action = "stop"
device = "pendant-1"
""",
    )
    settings = settings_for(sc, mosquitto, tmp_path, silence_s=1.0)
    async with hub_subscriber(mosquitto) as hub:
        dw = SimulatedDwelling(settings, sc)
        async with running_dwelling(dw):
            await wait_until(
                lambda: dw.agent is not None and dw.state.driver_restarts.get("ble"), timeout=10
            )
            readings = dw.state.readings
            await wait_until(lambda: dw.state.readings > readings + 10, timeout=10)  # back up

            def pendant_state(s: contract.Status) -> str:
                return next(x.state for x in s.sensors if x.sensor == "pendant-1")

            await wait_until(
                lambda: any(pendant_state(s) == "silent" for s in hub.of(contract.Status)),
                timeout=10,
            )
            room = next(x for x in hub.of(contract.Status)[-1].sensors if x.sensor == "room-1")
            assert room.state == "ok" and room.battery == 90
            await wait_until(
                lambda: any(
                    e.kind == "sensor_silent" and e.sensor == "pendant-1"
                    for e in hub.of(contract.Event)
                ),
                timeout=5,
            )
