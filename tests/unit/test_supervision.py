"""Sensor supervision through the pipeline with injected time: a silent sensor, a low
battery, a contact stuck open and a wearable not worn each raise a technical alarm with
the sensor's id, cancelled with the same alarm id when the sensor recovers."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr

from edge.config import EdgeSettings, load_settings
from edge.drivers.gatt import ACCEL_CHARACTERISTIC
from edge.errors import ConfigError
from edge.health import HealthTracker
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from edge.spool import Spool
from edge.supervision import rules_for
from sensors import contract
from sensors.codecs.bthome import BTHomePayload, encode_advertisement
from sensors.codecs.wearable import encode_frame, frame_from_g
from sensors.readings import Notification

T0 = 1_780_000_000.0
PIR = "A4:C1:38:00:00:02"
DOOR = "A4:C1:38:00:00:03"
WEARABLE = "A4:C1:38:00:00:09"


def settings(**pir: Any) -> EdgeSettings:
    return load_settings(
        None,
        dwelling="dw-001",
        password="pw",
        broker_url="mqtt://127.0.0.1",
        silence_s=86400,
        devices=[
            {"id": "pir-1", "kind": "bthome", "address": PIR, "role": "motion", "room": "living",
             "supervision": {"interval_s": 200, **pir}},
            {"id": "door-1", "kind": "bthome", "address": DOOR, "role": "door",
             "room": "entrance", "supervision": {"stuck_on_s": 3600}},
            {"id": "wearable-1", "kind": "wearable", "address": WEARABLE,
             "supervision": {"not_worn_s": 600}},
        ],
    )  # fmt: skip


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "s.sqlite", max_messages=10_000, max_bytes=10**8) as s:
        yield s


def make(s: EdgeSettings, spool: Spool) -> Pipeline:
    health = HealthTracker(((d.id, d.kind, s.silence_for(d)) for d in s.devices), T0)
    return Pipeline(s, Outbox(spool), health)


def sent(spool: Spool) -> list[contract.Message]:
    return [contract.decode(i.topic, i.payload)[1] for i in spool.peek(10_000)]


def technical(spool: Spool, sensor: str | None = None) -> list[tuple[str, str | None, str, object]]:
    """(action, sensor, alarm id, detail key) of the technical alarm messages (of one
    sensor), in order."""
    return [
        (m.action, m.sensor, m.alarm_id, m.detail.get("key"))
        for m in sent(spool)
        if isinstance(m, contract.AlarmMessage)
        and m.kind is contract.AlarmKind.TECHNICAL
        and (sensor is None or m.sensor == sensor)
    ]


def events(spool: Spool) -> list[tuple[str, str | None]]:
    return [(m.kind, m.sensor) for m in sent(spool) if isinstance(m, contract.Event)]


packets = iter(range(1, 10**6))


def bthome(address: str, t: float, **values: Any) -> Any:
    return encode_advertisement(
        address, BTHomePayload(packet_id=next(packets) % 256, **values), t=t
    )


def test_defaults_per_kind_and_role() -> None:
    devices = [
        {"id": "pir-1", "kind": "bthome", "address": PIR, "role": "motion", "room": "hall"},
        {"id": "temp-1", "kind": "bthome", "address": DOOR},
        {"id": "wearable-1", "kind": "wearable", "address": WEARABLE},
        {"id": "pendant-1", "kind": "pendant", "address": "A4:C1:38:00:00:01"},
        {"id": "vitals-1", "kind": "vitals", "transport": "serial", "port": "/dev/ttyS0"},
    ]
    s = load_settings(
        None, dwelling="dw-001", password="pw", broker_url="mqtt://127.0.0.1", devices=devices
    )
    pir, temp, wearable, pendant, gateway = (rules_for(s, d) for d in s.devices)
    # Silent limits by kind: a PIR speaks on change plus a slow keep-alive, a pendant now
    # and then, a vital-signs gateway once or twice a day; the others every few seconds.
    assert [r.silent_s for r in (pir, temp, wearable, pendant, gateway)] == [
        86400,
        300,
        300,
        7200,
        129600,
    ]
    assert (pir.low_battery_pct, pir.stuck_on_s) == (20, 7200)
    assert math.isinf(pir.not_worn_s) and math.isinf(temp.stuck_on_s)
    assert wearable.not_worn_s == 3 * 3600 and math.isinf(wearable.stuck_on_s)
    # The agent's silence_s, when set, is every device's; interval_s: 3 missed reports.
    s = load_settings(
        None, dwelling="dw-001", password="pw", broker_url="mqtt://127.0.0.1",
        devices=devices, silence_s=600,
    )  # fmt: skip
    assert {rules_for(s, d).silent_s for d in s.devices} == {600}
    assert rules_for(settings(), settings().devices[0]).silent_s == 600


def test_silent_sensor_raises_a_technical_alarm_and_its_return_cancels_it(
    spool: Spool,
) -> None:
    p = make(settings(), spool)
    p.handle(bthome(PIR, T0 + 1, battery=80))
    p.tick(T0 + 600)  # 599 s quiet: inside 3 x 200 s
    assert technical(spool) == []
    p.tick(T0 + 602)
    ((action, sensor, aid, key),) = technical(spool)
    assert (action, sensor, key) == ("raise", "pir-1", "sensor_silent")
    alarm = next(m for m in sent(spool) if isinstance(m, contract.AlarmMessage))
    assert alarm.detail["silent_s"] == 601 and alarm.severity is contract.Severity.MEDIUM
    for k in range(10):
        p.tick(T0 + 610 + k)  # still silent: the book says nothing more
    assert len(technical(spool)) == 1
    p.handle(bthome(PIR, T0 + 700, battery=80))
    p.tick(T0 + 701)
    assert {s.sensor: s.state for s in p.health.snapshot(T0 + 701)}["pir-1"] == "ok"
    # Back, but at the edge of range: gone again within ten minutes is the same alarm.
    p.tick(T0 + 1302)
    p.handle(bthome(PIR, T0 + 1400, battery=80))
    for k in range(0, 600, 100):
        p.handle(bthome(PIR, T0 + 1400 + k, battery=80))
        p.tick(T0 + 1401 + k)
    assert len(technical(spool)) == 1
    p.tick(T0 + 1401 + 599)
    assert len(technical(spool)) == 1
    p.tick(T0 + 1401 + 600)  # back for ten minutes: cleared
    assert technical(spool) == [
        ("raise", "pir-1", aid, "sensor_silent"),
        ("cancel", "pir-1", aid, "sensor_silent"),
    ]
    assert events(spool) == [("sensor_silent", "pir-1"), ("sensor_back", "pir-1")]


def test_low_battery_with_hysteresis_then_a_new_battery(spool: Spool) -> None:
    p = make(settings(), spool)
    p.handle(bthome(PIR, T0 + 1, battery=21))
    p.tick(T0 + 2)
    assert technical(spool) == []
    p.handle(bthome(PIR, T0 + 3, battery=19))
    p.tick(T0 + 4)
    ((_, sensor, aid, key),) = technical(spool)
    assert (sensor, key) == ("pir-1", "battery_low")
    p.handle(bthome(PIR, T0 + 5, battery=22))  # a warm battery reads a little higher
    p.tick(T0 + 6)
    assert len(technical(spool)) == 1
    p.handle(bthome(PIR, T0 + 7, battery=100))
    p.tick(T0 + 8)
    assert technical(spool)[-1] == ("cancel", "pir-1", aid, "battery_low")


def test_low_battery_limit_is_per_sensor_and_zero_turns_it_off(spool: Spool) -> None:
    p = make(settings(low_battery_pct=0), spool)
    p.handle(bthome(PIR, T0 + 1, battery=3))
    p.tick(T0 + 2)
    assert technical(spool) == []


def test_contact_stuck_open_then_closed(spool: Spool) -> None:
    p = make(settings(), spool)
    for k in range(0, 3700, 60):  # the contact repeats "open" in every advertisement
        p.handle(bthome(DOOR, T0 + k, opening=True))
        p.tick(T0 + k + 1)
    ((_, sensor, aid, key),) = technical(spool, "door-1")
    assert (sensor, key) == ("door-1", "sensor_stuck")
    p.handle(bthome(DOOR, T0 + 3700, opening=False))
    p.tick(T0 + 3701)
    assert technical(spool, "door-1")[-1] == ("cancel", "door-1", aid, "sensor_stuck")
    assert ("sensor_unstuck", "door-1") in events(spool)


def wearable_frames(start: float, seconds: float, swing_g: float) -> Iterator[Notification]:
    """50 Hz frames, 10 samples each; `swing_g`: the amplitude of a 1.5 Hz swing of |a|."""
    for k in range(round(seconds * 5)):
        t_dev = k * 0.2
        tt = t_dev + np.arange(10) / 50.0
        z = 1.0 + swing_g * np.sin(2 * np.pi * 1.5 * tt)
        a = np.column_stack([np.zeros(10), np.zeros(10), z])
        data = encode_frame(frame_from_g(k, 1_000 + round(t_dev * 1000), 1.0 / 50.0, a))
        yield Notification(WEARABLE, ACCEL_CHARACTERISTIC, data, start + t_dev + 0.2)


def test_wearable_lying_still_is_not_worn_until_it_moves(spool: Spool) -> None:
    p = make(settings(), spool)
    for frame in wearable_frames(T0 + 590, 5.0, swing_g=0.0):  # on the bedside table
        p.handle(frame)
    p.tick(T0 + 599)
    assert technical(spool, "wearable-1") == []
    p.tick(T0 + 601)
    ((_, sensor, aid, key),) = technical(spool, "wearable-1")
    assert (sensor, key) == ("wearable-1", "not_worn")
    for frame in wearable_frames(T0 + 700, 5.0, swing_g=0.2):  # put on, walking about
        p.handle(frame)
    p.tick(T0 + 706)
    assert technical(spool, "wearable-1")[-1] == ("cancel", "wearable-1", aid, "not_worn")
    assert ("worn_again", "wearable-1") in events(spool)


def test_alarms_false_keeps_the_events_only(spool: Spool) -> None:
    p = make(settings(alarms=False), spool)
    p.handle(bthome(PIR, T0 + 1, battery=80))
    for k in range(5):
        p.tick(T0 + 700 + k)
    p.handle(bthome(PIR, T0 + 800, battery=80))
    p.tick(T0 + 801)
    p.handle(bthome(PIR, T0 + 1300, battery=80))
    p.tick(T0 + 1401)
    assert [t for t in technical(spool) if t[1] == "pir-1"] == []
    assert [e for e in events(spool) if e[1] == "pir-1"] == [
        ("sensor_silent", "pir-1"),
        ("sensor_back", "pir-1"),
    ]


def test_a_restarted_agent_cancels_a_silent_alarm_only_when_the_sensor_is_back(
    tmp_path: Path,
) -> None:
    s = settings()
    path = tmp_path / "s.sqlite"
    with Spool(path, max_messages=10_000, max_bytes=10**8) as spool:
        p = make(s, spool)
        p.tick(T0 + 700)  # never heard of since the start
        ((_, _, aid, _),) = technical(spool)
    with Spool(path, max_messages=10_000, max_bytes=10**8) as spool:
        health = HealthTracker(((d.id, d.kind, s.silence_for(d)) for d in s.devices), T0 + 800)
        p = Pipeline(s, Outbox(spool), health)
        p.tick(T0 + 801)  # knows nothing yet: no cancel, no second alarm
        assert len(technical(spool)) == 1
        p.handle(bthome(PIR, T0 + 802))
        p.tick(T0 + 803)
        assert technical(spool)[-1] == ("cancel", "pir-1", aid, "sensor_silent")


@pytest.mark.parametrize(
    ("supervision", "error"),
    [
        ({"not_worn_s": 600}, "not_worn_s is for a wearable"),
        ({"low_battery_pct": 120}, "low_battery_pct"),
        ({"stuck_on_s": -1}, "stuck_on_s"),
        ({"interval_s": 0}, "interval_s"),
        ({"silent_s": 60}, "silent_s"),  # not a key: a typo is an error, not ignored
    ],
)
def test_bad_supervision_settings_are_refused_with_the_key(
    supervision: dict[str, Any], error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        load_settings(
            None, dwelling="dw-001", password="pw", broker_url="mqtt://127.0.0.1",
            devices=[{"id": "pir-1", "kind": "bthome", "address": PIR, "role": "motion",
                      "room": "hall", "supervision": supervision}],
        )  # fmt: skip


KEY = "0123456789abcdef0123456789abcdef"


def test_a_played_back_frame_raises_frames_refused_until_the_sensor_is_fine_again(
    spool: Spool,
) -> None:
    """An encrypted PIR's frame recorded and played back: refused for its counter, and a
    technical alarm says so (someone is replaying frames near the dwelling, or the device
    is locked out); once nothing has been refused for 10 minutes and the sensor's own
    frames are accepted, it is cancelled with the same id."""
    s = settings()
    keyed = s.model_copy(
        update={
            "devices": [
                d.model_copy(update={"bind_key": SecretStr(KEY)}) if d.id == "pir-1" else d
                for d in s.devices
            ]
        }
    )
    p = make(keyed, spool)
    key = bytes.fromhex(KEY)

    def frame(counter: int, t: float) -> Any:
        payload = BTHomePayload(packet_id=counter % 256, motion=True)
        return encode_advertisement(PIR, payload, t=t, key=key, counter=counter)

    p.handle(frame(500, T0))
    p.handle(frame(501, T0 + 60))
    p.tick(T0 + 61)
    assert technical(spool, "pir-1") == []
    p.handle(frame(500, T0 + 120))  # the recording, played back
    p.tick(T0 + 121)
    ((_, sensor, aid, key_name),) = technical(spool, "pir-1")
    assert (sensor, key_name) == ("pir-1", "frames_refused")
    assert p.stats.replays == 1
    for k in range(1, 12):  # its own frames, one a minute
        p.handle(frame(501 + k, T0 + 120 + 60 * k))
        p.tick(T0 + 121 + 60 * k)
    assert technical(spool, "pir-1")[-1] == ("cancel", "pir-1", aid, "frames_refused")
    assert ("frames_accepted", "pir-1") in events(spool)
