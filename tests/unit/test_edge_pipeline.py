"""The agent's pipeline: frames -> readings batches, alarms, events, detector findings."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from edge.config import EdgeSettings, load_settings
from edge.detection import Finding
from edge.health import HealthTracker
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from edge.spool import Spool
from sensors import contract
from sensors.codecs.bthome import SERVICE_UUID, BTHomePayload, encode_advertisement
from sensors.readings import Advertisement, ButtonPress, Reading, SerialLine

PENDANT = "A4:C1:38:00:00:01"
ROOM = "A4:C1:38:00:00:02"
T0 = 1_700_000_000.0


class Recorder:
    """A detector that records what it is fed and finds a fall on a motion reading."""

    name = "recorder"

    def __init__(self) -> None:
        self.fed: list[Reading] = []
        self.advanced: list[float] = []

    def update(self, readings: Sequence[Reading], t: float) -> Sequence[Finding]:
        self.fed.extend(readings)
        if any(r.quantity == "motion" and r.value for r in readings):
            return [
                Finding(
                    "fall_confirmed",
                    t,
                    readings[0].sensor,
                    {"p": 0.9},
                    alarm=contract.AlarmKind.FALL,
                )
            ]
        return []

    def advance(self, t: float) -> Sequence[Finding]:
        self.advanced.append(t)
        return []


@pytest.fixture
def settings() -> EdgeSettings:
    return load_settings(
        None,
        dwelling="dw-001",
        password="pw",
        broker_url="mqtt://127.0.0.1",
        silence_s=10,
        devices=[
            {"id": "pendant-1", "kind": "pendant", "address": PENDANT},
            {"id": "room-1", "kind": "bthome", "address": ROOM, "silence_s": 5},
            {"id": "wearable-1", "kind": "wearable", "transport": "serial", "port": "/dev/ttyX"},
        ],
    )


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "s.sqlite", max_messages=1000, max_bytes=10**7) as s:
        yield s


def spooled(spool: Spool) -> list[contract.Message]:
    return [contract.decode(i.topic, i.payload)[1] for i in spool.peek(1000)]


def make(settings: EdgeSettings, spool: Spool, detector: Recorder | None = None) -> Pipeline:
    health = HealthTracker(((d.id, d.kind, settings.silence_for(d)) for d in settings.devices), T0)
    return Pipeline(settings, Outbox(spool), health, detectors=[detector] if detector else [])


def test_press_raises_one_personal_alarm_despite_repeats(
    settings: EdgeSettings, spool: Spool
) -> None:
    p = make(settings, spool)
    adv = encode_advertisement(
        PENDANT, BTHomePayload(packet_id=1, battery=80, button=ButtonPress.PRESS), t=T0
    )
    for _ in range(3):
        p.handle(adv)
    msgs = spooled(spool)
    assert len(msgs) == 1
    alarm = msgs[0]
    assert isinstance(alarm, contract.AlarmMessage)
    assert (alarm.kind, alarm.severity, alarm.sensor, alarm.ts) == (
        contract.AlarmKind.PERSONAL,
        contract.Severity.HIGH,
        "pendant-1",
        T0,
    )
    assert p.stats.duplicates == 2


def test_readings_batched_on_tick(settings: EdgeSettings, spool: Spool) -> None:
    p = make(settings, spool)
    for i in range(3):
        p.handle(
            encode_advertisement(ROOM, BTHomePayload(packet_id=i, temperature=20 + i), t=T0 + i)
        )
    assert spool.depth == 0  # nothing until the batch period ends
    p.tick(T0 + 3)
    (batch,) = spooled(spool)
    assert isinstance(batch, contract.ReadingsBatch)
    assert [(r.quantity, r.value) for r in batch.readings] == [
        ("temperature", 20.0),
        ("temperature", 21.0),
        ("temperature", 22.0),
    ]
    p.tick(T0 + 4)
    assert spool.depth == 1  # no empty batches


def test_button_on_a_room_sensor_is_an_event_not_an_alarm(
    settings: EdgeSettings, spool: Spool
) -> None:
    p = make(settings, spool)
    p.handle(encode_advertisement(ROOM, BTHomePayload(packet_id=1, button=ButtonPress.PRESS), t=T0))
    (event,) = spooled(spool)
    assert isinstance(event, contract.Event) and event.kind == "button"


def test_detector_hook(settings: EdgeSettings, spool: Spool) -> None:
    det = Recorder()
    p = make(settings, spool, det)
    p.handle(encode_advertisement(ROOM, BTHomePayload(packet_id=1, motion=True), t=T0))
    p.tick(T0 + 1)
    assert [r.quantity for r in det.fed] == ["motion"]
    assert det.advanced == [T0 + 1]
    kinds = [type(m).__name__ for m in spooled(spool)]
    assert kinds == ["Event", "AlarmMessage", "ReadingsBatch"]
    alarm = spooled(spool)[1]
    assert isinstance(alarm, contract.AlarmMessage) and alarm.kind is contract.AlarmKind.FALL


def test_undecodable_and_foreign_frames_are_counted_not_fatal(
    settings: EdgeSettings, spool: Spool
) -> None:
    p = make(settings, spool)
    p.handle(Advertisement(PENDANT, {SERVICE_UUID: b"\x40\x02\xc4"}, -60, T0))  # truncated
    p.handle(
        Advertisement("00:11:22:33:44:55", {SERVICE_UUID: b"\x40\x01\x50"}, -60, T0)
    )  # a neighbour's
    p.handle(SerialLine("/dev/ttyX", b"HR=72", T0))  # no wearable codec registered yet
    assert dict(p.stats.decode_errors) == {"bthome": 1, "wearable": 1}
    assert p.stats.unknown_source == 1
    assert spool.depth == 0


def test_silence_and_recovery_become_events_and_status(
    settings: EdgeSettings, spool: Spool
) -> None:
    p = make(settings, spool)
    p.handle(encode_advertisement(ROOM, BTHomePayload(packet_id=1, battery=55), t=T0 + 1))
    states = {s.sensor: s for s in p.health.snapshot(T0 + 2)}
    assert states["room-1"].state == "ok" and states["room-1"].battery == 55
    assert states["pendant-1"].state == "starting"
    p.tick(T0 + 7)  # room-1: 6 s > its 5 s
    p.tick(T0 + 11)  # pendant never heard of within its 10 s
    states = {s.sensor: s for s in p.health.snapshot(T0 + 11)}
    assert states["room-1"].state == "silent" and states["pendant-1"].state == "silent"
    p.handle(encode_advertisement(ROOM, BTHomePayload(packet_id=2, battery=55), t=T0 + 12))
    p.tick(T0 + 12)
    assert {s.sensor: s.state for s in p.health.snapshot(T0 + 12)}["room-1"] == "ok"
    # Back for ten minutes: "back" (edge.supervision.SILENT_CLEAR_S).
    for k in range(1, 11):
        p.handle(
            encode_advertisement(
                ROOM, BTHomePayload(packet_id=2 + k, battery=55), t=T0 + 12 + k * 60
            )
        )
        p.tick(T0 + 12 + k * 60)
    events = [(m.kind, m.sensor) for m in spooled(spool) if isinstance(m, contract.Event)]
    assert events == [
        ("sensor_silent", "room-1"),
        ("sensor_silent", "pendant-1"),
        ("sensor_silent", "wearable-1"),
        ("sensor_back", "room-1"),
    ]
    p.health.set_failed(["pendant-1"], True)
    assert {s.sensor: s.state for s in p.health.snapshot(T0 + 12)}["pendant-1"] == "failed"
