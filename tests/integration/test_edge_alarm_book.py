"""The alarm book across an agent restart, on real Mosquitto: an agent raises an inactivity,
a vitals and a fall alarm and stops; a new agent on the same spool file sees each
condition clear and cancels each alarm with the id the first agent gave it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge.app import EdgeAgent
from edge.config import EdgeSettings, load_settings
from edge.detectors.fall_alarm import FallAlarmConfig
from edge.drivers.gatt import ACCEL_CHARACTERISTIC
from edge.fall_monitor import FallMonitor
from sensors import contract
from sensors.codecs.bthome import BTHomePayload, encode_advertisement
from sensors.codecs.vitals_line import encode_line
from sensors.readings import ButtonPress, Notification, SerialLine
from tests.edge_fixtures import FAST, Hub, hub_subscriber
from tests.servers import Mosquitto, wait_until
from tests.unit.test_fall_monitor import ScriptedDetector, still_frame

pytestmark = pytest.mark.integration

TZ = "Europe/Amsterdam"
# A Tuesday, 10:00 in the dwelling: the resident is up; no time-of-day rule is near.
T0 = datetime(2026, 3, 10, 10, 0, tzinfo=ZoneInfo(TZ)).timestamp()
PENDANT = "A4:C1:38:00:00:01"
PIR = "A4:C1:38:00:00:02"
WEARABLE = "A4:C1:38:00:00:09"
PORT = "/dev/ttyVITALS"


class Clock:
    """The agents' clock, moved by the test (the ticker reads it every batch)."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def settings(broker: Mosquitto, tmp_path: Path) -> EdgeSettings:
    fast: dict[str, Any] = {**FAST, "silence_s": 10 * 86400.0}  # supervision is not the topic
    return load_settings(
        None,
        dwelling="dw-001",
        password="pw-dw-001",
        broker_url=broker.url,
        timezone=TZ,
        spool={"path": str(tmp_path / "spool.sqlite")},
        devices=[
            {"id": "pendant-1", "kind": "pendant", "address": PENDANT},
            {"id": "pir-1", "kind": "bthome", "address": PIR, "role": "motion", "room": "living"},
            # Still frames: it would be "not worn" after 3 h (tests/unit/test_supervision.py).
            {
                "id": "wearable-1",
                "kind": "wearable",
                "address": WEARABLE,
                "supervision": {"not_worn_s": 0},
            },
            {"id": "vitals-1", "kind": "vitals", "transport": "serial", "port": PORT},
        ],
        **fast,
    )


@contextlib.asynccontextmanager
async def running(s: EdgeSettings, clock: Clock) -> AsyncIterator[EdgeAgent]:
    agent = EdgeAgent(s, drivers=[], clock=clock)
    task = asyncio.create_task(agent.run())
    try:
        await wait_until(lambda: agent.state.connected, timeout=10)
        yield agent
    finally:
        agent.stop()
        await asyncio.wait_for(task, 20)


def vitals(t: float, **values: float) -> SerialLine:
    return SerialLine(PORT, encode_line("ox", {**values, "status": 0}), t)


def motion(packet: int, value: bool, t: float) -> Any:
    return encode_advertisement(PIR, BTHomePayload(packet_id=packet, motion=value), t=t)


def wearable_frames(start: float, seconds: float) -> Iterator[Notification]:
    for k in range(round(seconds * 5)):  # 50 Hz, 10 samples a frame
        t_dev = k * 0.2
        yield Notification(
            WEARABLE, ACCEL_CHARACTERISTIC, still_frame(k, t_dev), start + t_dev + 0.2
        )


def raised(hub: Hub, kind: contract.AlarmKind) -> list[contract.AlarmMessage]:
    return [m for m in hub.of(contract.AlarmMessage) if m.kind is kind and m.action == "raise"]


def cancelled(hub: Hub) -> set[str]:
    return {m.alarm_id for m in hub.of(contract.AlarmMessage) if m.action == "cancel"}


async def test_a_restarted_agent_cancels_the_alarms_the_previous_one_raised(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    s = settings(mosquitto, tmp_path)
    clock = Clock(T0)
    async with hub_subscriber(mosquitto) as hub:
        async with running(s, clock) as first:
            p = first.pipeline
            p.handle(motion(1, True, T0))  # seen in the living room at 10:00
            p.handle(motion(2, False, T0 + 60))
            clock.t = t6 = T0 + 6 * 3600  # silent since: inactivity by the care-plan default
            await wait_until(lambda: raised(hub, contract.AlarmKind.INACTIVITY), timeout=10)
            # The fall chain's detector is scripted (no recording needed): a fall confirmed
            # 2 s into the wearable's stream, the alarm when the 30 s window runs out.
            p.fall_monitors["wearable-1"] = FallMonitor(
                "wearable-1",
                FallAlarmConfig(cancel_window_s=30.0),
                detector=ScriptedDetector(impact=t6 + 1.0, confirm_at=t6 + 2.0),
            )
            for frame in wearable_frames(t6, 3.0):
                p.handle(frame)
            p.handle(vitals(t6 + 5, spo2=88, hr=135))  # NEWS2: 3 + 3 (a red flag)
            clock.t = t6 + 60
            await wait_until(lambda: raised(hub, contract.AlarmKind.FALL), timeout=10)
            await wait_until(lambda: raised(hub, contract.AlarmKind.VITALS), timeout=10)
        ids = {
            k: [m.alarm_id for m in raised(hub, k)]
            for k in (
                contract.AlarmKind.FALL,
                contract.AlarmKind.VITALS,
                contract.AlarmKind.INACTIVITY,
            )
        }
        assert all(len(v) == 1 for v in ids.values()), ids
        assert not cancelled(hub)
        opened = {e.alarm_id for e in first.pipeline.book.open_alarms()}
        assert opened == {v[0] for v in ids.values()}

        # A new agent object on the same spool file: the conditions clear one by one.
        clock.t += 60
        async with running(s, clock) as second:
            assert {e.alarm_id for e in second.pipeline.book.open_alarms()} == opened
            p = second.pipeline
            t = clock.t
            p.handle(motion(3, True, t))  # the resident is seen again
            p.handle(vitals(t + 1, spo2=97, hr=72))  # fine now
            # "Ik ben oke": the pendant's long press withdraws the fall alarm, which this
            # agent's fall monitor never saw (no personal alarm either).
            p.handle(
                encode_advertisement(
                    PENDANT, BTHomePayload(packet_id=1, button=ButtonPress.LONG_PRESS), t=t + 2
                )
            )
            await wait_until(lambda: cancelled(hub) >= opened, timeout=10)
            assert not second.pipeline.book.open_alarms()
            assert not raised(hub, contract.AlarmKind.PERSONAL)
            cancels = {m.alarm_id: m for m in hub.of(contract.AlarmMessage) if m.action == "cancel"}
            for kind, (aid,) in ids.items():
                assert cancels[aid].kind is kind  # the original id, kind (and severity)
            # The events that tell of it were spooled in the same commits; alarms are sent
            # first, so they may arrive a little later.
            told = {"inactivity_cancelled", "vitals_alarm_cancelled", "fall_cancelled"}
            await wait_until(lambda: told <= {e.kind for e in hub.of(contract.Event)}, timeout=10)
