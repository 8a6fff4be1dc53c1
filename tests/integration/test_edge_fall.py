"""A real recorded fall end to end: wearable bytes -> agent -> detector -> policy -> hub.

The simulated wearable replays SisFall F05/SA01 trial 1 ("fall forward while jogging
caused by a trip") from 2 s into the recording, through the real wearable codec and the
same driver interface as the GATT driver; the real fall detector confirms it about 6 s
later, and the (shortened) cancel window decides the rest.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sensors import contract
from sensors.readings import ButtonPress
from simulators.datasets import dataset_path
from simulators.dwelling import SimulatedDwelling
from simulators.scenario import parse_scenario
from tests.edge_fixtures import hub_subscriber, running_dwelling, settings_for
from tests.servers import Mosquitto, wait_until

pytestmark = pytest.mark.integration

# Long enough for the press to be sent inside it, short enough for a quick test.
CANCEL_WINDOW_S = 1.5
FALL_SCENARIO = """
name = "fall"
speed = 10.0
[[devices]]
id = "pendant-1"
kind = "pendant"
interval_s = 5
[[devices]]
id = "wearable-1"
kind = "wearable"
mount = "waist"
[[events]]
at = 5
action = "replay"
device = "wearable-1"
replay = { code = "F05", subject = "SA01", trial = 1, start_s = 2.0 }
"""


@pytest.fixture(autouse=True)
def _dataset() -> None:
    path = dataset_path()
    if not path.is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{path} is missing on CI")
        pytest.skip(f"{path} not here (shared fall datasets; MZ_DATASETS)")


def _dwelling(mosquitto: Mosquitto, tmp_path: Path) -> SimulatedDwelling:
    sc = parse_scenario(FALL_SCENARIO)
    settings = settings_for(
        sc, mosquitto, tmp_path, fall={"cancel_window_s": CANCEL_WINDOW_S, "long_lie_s": 300}
    )
    return SimulatedDwelling(settings, sc)


def _events(hub: object, kind: str) -> list[contract.Event]:
    return [e for e in hub.of(contract.Event) if e.kind == kind]  # type: ignore[attr-defined]


async def test_recorded_fall_raises_fall_alarm_after_cancel_window(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    dw = _dwelling(mosquitto, tmp_path)
    async with hub_subscriber(mosquitto) as hub, running_dwelling(dw):
        await wait_until(lambda: hub.of(contract.AlarmMessage), timeout=14)
        confirmed = _events(hub, "fall_confirmed")
        assert dw.state.fall == {"wearable-1": "alarmed"}
    alarm = hub.of(contract.AlarmMessage)[0]
    assert alarm.action == "raise"
    assert alarm.kind is contract.AlarmKind.FALL
    assert alarm.severity is contract.Severity.HIGH
    assert alarm.sensor == "wearable-1"
    assert len(confirmed) == 1
    # Raised when the window ran out, not before.
    assert alarm.ts - confirmed[0].ts == pytest.approx(CANCEL_WINDOW_S, abs=0.01)
    assert confirmed[0].detail["cancel_window_s"] == CANCEL_WINDOW_S
    # The raw accelerometer never goes to the hub, only the 1 Hz activity summary.
    quantities = {
        (r.sensor, r.quantity) for b in hub.of(contract.ReadingsBatch) for r in b.readings
    }
    assert ("wearable-1", "activity") in quantities
    assert {q for s, q in quantities if s == "wearable-1"} == {"activity"}


async def test_long_press_in_the_window_cancels_the_fall(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    dw = _dwelling(mosquitto, tmp_path)
    async with hub_subscriber(mosquitto) as hub, running_dwelling(dw):
        await wait_until(lambda: dw.state.fall.get("wearable-1") == "pending", timeout=14)
        dw.press("pendant-1", ButtonPress.LONG_PRESS)
        await wait_until(lambda: _events(hub, "fall_cancelled"), timeout=5)
        assert dw.state.fall == {"wearable-1": "idle"}
        assert dw.state.alarms_raised == 0
    cancelled = _events(hub, "fall_cancelled")[0]
    assert cancelled.detail["reason"] == "button"
    assert cancelled.detail["after_alarm"] is False
    # The long press said "I'm OK": it raised no personal alarm either.
    assert not hub.of(contract.AlarmMessage)
