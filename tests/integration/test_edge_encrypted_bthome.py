"""Encrypted BTHome end to end: the simulator's AES-CCM bytes -> agent (bind key from its
config) -> broker -> hub, and the agent's own config is what makes them readable."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sensors import contract
from simulators.devices.pendant import SimulatedPendant
from simulators.dwelling import SimulatedDwelling
from simulators.scenario import parse_scenario
from tests.edge_fixtures import hub_subscriber, running_dwelling, settings_for
from tests.servers import Mosquitto, wait_until

pytestmark = pytest.mark.integration

SCENARIO = """
name = "encrypted"
[[devices]]
id = "pendant-1"
kind = "pendant"
interval_s = 0.5
encrypted = true
[[devices]]
id = "room-1"
kind = "bthome"
interval_s = 0.2
encrypted = true
"""


async def test_encrypted_pendant_and_room_sensor_reach_the_hub(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    sc = parse_scenario(SCENARIO)
    settings = settings_for(sc, mosquitto, tmp_path)
    keys = {d.id: d.bind_key_bytes() for d in settings.devices}
    assert keys == {d.id: d.bind_key for d in sc.devices} and None not in keys.values()

    def quantities() -> set[str]:
        return {r.quantity for b in hub.of(contract.ReadingsBatch) for r in b.readings}

    async with hub_subscriber(mosquitto) as hub:
        dw = SimulatedDwelling(settings, sc)
        async with running_dwelling(dw):
            await wait_until(lambda: dw.state.connected, timeout=10)
            dw.press("pendant-1")
            await wait_until(lambda: hub.of(contract.AlarmMessage), timeout=10)
            await wait_until(lambda: {"temperature", "humidity"} <= quantities(), timeout=5)
            assert dw.state.alarms_raised == 1  # three copies of one press: one alarm
            assert dw.agent is not None
            stats = dw.agent.pipeline.stats
            assert stats.decode_errors == {} and stats.replays == 0
    (alarm,) = {a.alarm_id: a for a in hub.of(contract.AlarmMessage)}.values()
    assert alarm.sensor == "pendant-1" and alarm.detail == {"press": "press"}


async def test_without_the_bind_key_the_agent_reads_nothing(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The same encrypted devices, the agent configured without keys: every frame is a
    counted decode error, no alarm and no reading."""
    sc = parse_scenario(SCENARIO)
    settings = settings_for(sc, mosquitto, tmp_path)
    keyless = settings.model_copy(
        update={"devices": [d.model_copy(update={"bind_key": None}) for d in settings.devices]}
    )
    dw = SimulatedDwelling(keyless, sc)
    async with running_dwelling(dw):
        await wait_until(lambda: dw.state.connected, timeout=10)
        dw.press("pendant-1")
        # Every copy sent so far, the press's three included (the radio is a FIFO).
        emitted = sum(d.sent * d.repeats for d in dw.devices.values())
        assert dw.agent is not None
        stats = dw.agent.pipeline.stats
        await wait_until(lambda: stats.decode_errors["bthome"] >= emitted, timeout=10)
        assert stats.alarms == [] and stats.readings == 0


async def test_a_press_recorded_off_the_air_is_refused_after_the_agent_restarts(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """An attacker in radio range records the pendant's encrypted press and plays it back
    after the agent has restarted: the agent kept the counters (edge.counter_book), so
    the recording raises no personal alarm; it is counted as a replay and a technical
    alarm (`frames_refused`) tells the hub someone is playing frames back."""
    sc = parse_scenario(SCENARIO)
    settings = settings_for(sc, mosquitto, tmp_path)
    async with hub_subscriber(mosquitto) as hub:
        dw = SimulatedDwelling(settings, sc)
        async with running_dwelling(dw):
            await wait_until(lambda: dw.state.connected, timeout=10)
            pendant = dw.devices["pendant-1"]
            assert isinstance(pendant, SimulatedPendant)
            recorded = pendant.press(dw.clock())
            dw.radio.transmit(recorded)
            await wait_until(lambda: len(hub.of(contract.AlarmMessage)) >= 1, timeout=10)
        first = {a.alarm_id for a in hub.of(contract.AlarmMessage)}
        again = SimulatedDwelling(settings, sc)  # the same spool: a restarted agent
        for device_id, device in again.devices.items():  # the same devices count on
            device.counter = dw.devices[device_id].counter
        async with running_dwelling(again):
            await wait_until(lambda: again.state.connected, timeout=10)
            assert again.agent is not None
            stats = again.agent.pipeline.stats

            def kinds() -> list[contract.AlarmKind]:
                return [a.kind for a in stats.alarms]

            again.radio.transmit([replace(a, t=again.clock()) for a in recorded])
            await wait_until(lambda: stats.replays >= len(recorded), timeout=10)
            assert stats.replays == len(recorded)
            # No personal alarm; the technical one says frames were played back.
            await wait_until(lambda: contract.AlarmKind.TECHNICAL in kinds(), timeout=10)
            assert contract.AlarmKind.PERSONAL not in kinds()
            again.press("pendant-1")  # the resident's own next press still gets through
            await wait_until(lambda: contract.AlarmKind.PERSONAL in kinds(), timeout=10)
            await wait_until(
                lambda: (
                    {
                        (a.kind, a.detail.get("key"))
                        for a in hub.of(contract.AlarmMessage)
                        if a.alarm_id not in first
                    }
                    >= {
                        (contract.AlarmKind.PERSONAL, None),
                        (contract.AlarmKind.TECHNICAL, "frames_refused"),
                    }
                ),
                timeout=10,
            )
