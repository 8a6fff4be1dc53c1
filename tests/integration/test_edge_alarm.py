"""A pendant press travels end to end: BTHome bytes -> agent -> spool -> broker -> hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensors import contract
from simulators.dwelling import SimulatedDwelling
from tests.edge_fixtures import hub_subscriber, running_dwelling, scenario, settings_for
from tests.servers import Mosquitto, wait_until

pytestmark = pytest.mark.integration


async def test_button_press_raises_personal_alarm_at_the_hub(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    sc = scenario(room_interval=0.2)
    wanted = {"temperature", "humidity", "battery", "motion"}

    def quantities() -> set[str]:
        return {r.quantity for b in hub.of(contract.ReadingsBatch) for r in b.readings}

    async with hub_subscriber(mosquitto) as hub:
        dw = SimulatedDwelling(settings_for(sc, mosquitto, tmp_path), sc)
        async with running_dwelling(dw):
            await wait_until(lambda: dw.state.connected, timeout=10)
            dw.press("pendant-1")
            await wait_until(lambda: hub.of(contract.AlarmMessage), timeout=10)
            # Readings decoded by the real bthome_ble parser reach the hub too.
            await wait_until(lambda: wanted <= quantities(), timeout=5)
            # The pendant repeats each advertisement 3 times; one press is one alarm.
            assert dw.state.alarms_raised == 1
        # A clean stop says online=False itself (no will needed).
        await wait_until(lambda: not hub.of(contract.Status)[-1].online, timeout=5)
    alarms = hub.of(contract.AlarmMessage)
    assert len({a.alarm_id for a in alarms}) == 1
    alarm = alarms[0]
    assert alarm.dwelling == "dw-001"
    assert alarm.action == "raise"
    assert alarm.kind is contract.AlarmKind.PERSONAL
    assert alarm.severity is contract.Severity.HIGH
    assert alarm.sensor == "pendant-1"
    assert alarm.detail == {"press": "press"}
    # Status: online at connect, with the health of every sensor.
    statuses = hub.of(contract.Status)
    assert statuses[0].online
    assert {s.sensor for s in statuses[-1].sensors} == {"pendant-1", "room-1"}


async def test_scenario_press_within_first_minute(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """The shipped example scenario, sped up: its press arrives as an alarm."""
    from simulators.scenario import load_scenario

    sc = load_scenario(Path(__file__).parents[2] / "simulators/scenarios/pendant_press.toml")
    sc = sc.model_copy(update={"speed": 20.0})
    dw = SimulatedDwelling(settings_for(sc, mosquitto, tmp_path), sc)
    async with hub_subscriber(mosquitto) as hub, running_dwelling(dw):
        await wait_until(lambda: hub.of(contract.AlarmMessage), timeout=10)
    assert hub.of(contract.AlarmMessage)[0].kind is contract.AlarmKind.PERSONAL
