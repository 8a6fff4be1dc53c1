"""Bluetooth SIG spot-check devices through the real agent and a real broker: a simulated
blood-pressure cuff (kPa) and thermometer (degF) indicate their exact bytes -> GATT link ->
pipeline -> `sensors.codecs.ble_health` -> readings at the hub, and NEWS2; a measurement the
cuff itself calls unreliable (cuff fit loose) never reaches the hub as a reading.

(The real GATT driver below bleak: tests/unit/test_ble_drivers.py and
test_gatt_health_devices.py; here the simulated link stands in for it, as for every
simulated wearable.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.vitals_adapter import VitalsAdapter
from sensors import contract
from simulators.dwelling import SimulatedDwelling
from simulators.scenario import parse_scenario
from tests.edge_fixtures import hub_subscriber, running_dwelling, settings_for
from tests.servers import Mosquitto, wait_until

pytestmark = pytest.mark.integration

SCENARIO = """
name = "gatt-spot-checks"
[[devices]]
id = "cuff-1"
kind = "gatt"
measures = "blood_pressure"
units = "kpa"
battery = 64
[[devices]]
id = "thermo-1"
kind = "gatt"
measures = "thermometer"
units = "fahrenheit"
[[events]]
at = 0.2
action = "measure"
device = "cuff-1"
values = { sbp = 182, dbp = 104, hr = 88 }
problems = ["cuff_loose"]
[[events]]
at = 0.4
action = "measure"
device = "cuff-1"
values = { sbp = 128, dbp = 82, hr = 71 }
[[events]]
at = 0.6
action = "measure"
device = "thermo-1"
values = { temperature = 38.9 }
"""


def _readings(hub: object) -> list[tuple[str, str, float]]:
    return [
        (r.sensor, r.quantity, round(r.value, 1))
        for b in hub.of(contract.ReadingsBatch)  # type: ignore[attr-defined]
        for r in b.readings
    ]


async def test_cuff_and_thermometer_reach_the_hub_and_news2(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    sc = parse_scenario(SCENARIO)
    settings = settings_for(sc, mosquitto, tmp_path)
    assert [(d.kind, d.health, d.role) for d in settings.devices] == [
        ("gatt", ["blood_pressure", "battery"], "vitals"),
        ("gatt", ["thermometer", "battery"], "vitals"),
    ]
    dw = SimulatedDwelling(settings, sc)
    async with hub_subscriber(mosquitto) as hub, running_dwelling(dw):

        def invalid() -> list[contract.Event]:
            return [e for e in hub.of(contract.Event) if e.kind == "reading_invalid"]

        await wait_until(
            lambda: ("thermo-1", "temperature", 38.9) in _readings(hub) and invalid(),
            timeout=15,
        )
        agent = dw.agent
        assert agent is not None
        vitals = next(d for d in agent.pipeline.detectors if isinstance(d, VitalsAdapter))
        assert vitals.sensors == {"cuff-1", "thermo-1"}
        assert {e.sensor for e in invalid()} == {"cuff-1"}
    got = _readings(hub)
    # 128/82 mmHg through 0.1 kPa steps; 38.9 degC through degF; the loose-cuff 182/104 never.
    assert [r for r in got if r[1] in ("sbp", "dbp", "hr")] == [
        ("cuff-1", "sbp", 128.3),
        ("cuff-1", "dbp", 81.8),
        ("cuff-1", "hr", 71.0),
    ]
    assert ("cuff-1", "battery", 64.0) in got
    assert agent.pipeline.stats.unusable_readings == 1
