"""Early warning wired into the real agent: a simulated resident's ambient sensors (BTHome
binary sensors) and spot checks (serial vitals gateway) -> routine detector and NEWS2 ->
the hub, with the routine's learned state pre-learned on disk and loaded at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.routine_adapter import RoutineAdapter
from sensors import contract
from simulators.dwelling import SimulatedDwelling
from simulators.scenario import load_scenario
from tests.edge_fixtures import hub_subscriber, running_dwelling, settings_for
from tests.servers import Mosquitto, wait_until

pytestmark = pytest.mark.integration

SCENARIO = Path(__file__).parents[2] / "simulators/scenarios/resident_day.toml"


async def test_resident_day_news2_alarm_and_learned_routine(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    # 100x: the NEWS2 spot checks at 300 s come after 3 s; the resident's own day too.
    sc = load_scenario(SCENARIO).model_copy(update={"speed": 100.0})
    settings = settings_for(sc, mosquitto, tmp_path)
    dw = SimulatedDwelling(settings, sc)

    def vitals_alarms() -> list[contract.AlarmMessage]:
        # Other alarms may come first at some hours (the resident's day follows the wall
        # clock); the spot check's NEWS2 alarm must come regardless.
        return [a for a in hub.of(contract.AlarmMessage) if a.kind is contract.AlarmKind.VITALS]

    async with hub_subscriber(mosquitto) as hub, running_dwelling(dw):
        await wait_until(vitals_alarms, timeout=12)
        agent = dw.agent
        assert agent is not None
        routine = next(d for d in agent.pipeline.detectors if isinstance(d, RoutineAdapter))
        # The state the simulator pre-learned was loaded by the agent (not a cold start).
        assert settings.routine_state_path.is_file()
        assert len(routine.model.days) >= 10
        assert routine.model.thresholds.learned

        def quantities() -> set[str]:
            return {r.quantity for b in hub.of(contract.ReadingsBatch) for r in b.readings}

        # Ambient sensors' states and the spot checks reach the hub as readings.
        await wait_until(lambda: {"occupancy", "sbp", "hr"} <= quantities(), timeout=5)
    alarm = vitals_alarms()[0]
    assert alarm.action == "raise"
    bands = [e for e in hub.of(contract.Event) if e.kind == "news2_band_changed"]
    assert bands and bands[-1].detail["partial"] is True  # rr and ACVPU are not measured
