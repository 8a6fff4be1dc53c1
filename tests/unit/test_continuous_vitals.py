"""Continuous heart rate and SpO2 from a wearable (Bluetooth SIG GATT formats): the device
config, the GATT driver's subscriptions, the pipeline's routing by characteristic, NEWS2 on
continuous data, the simulated health band and its scenario keys."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from edge.config import EdgeSettings, load_settings
from edge.detection import Finding
from edge.detectors.vitals import Quantity, Source
from edge.drivers.gatt import ACCEL_CHARACTERISTIC, GattWearable
from edge.errors import ConfigError
from edge.health import HealthTracker
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from edge.spool import Spool
from edge.vitals_adapter import VitalsAdapter, vital_readings
from sensors import contract
from sensors.codecs.ble_health import (
    HEART_RATE_MEASUREMENT,
    PLX_CONTINUOUS_MEASUREMENT,
    HeartRateMeasurement,
    PlxContinuous,
    SensorContact,
    decode_heart_rate,
    decode_plx_continuous,
    encode_heart_rate,
    encode_plx_continuous,
)
from sensors.readings import Notification, Reading
from simulators.devices.health_band import SimulatedHealthBand
from simulators.dwelling import _device_config
from simulators.residents.vitals import ContinuousVitals, Drift, VitalsParams
from simulators.scenario import ScenarioError, parse_scenario

# Settings made here without a spool path keep the agent's state files in tmp_path.
pytestmark = pytest.mark.usefixtures("edge_state_in_tmp")


BAND = "C2:00:00:00:00:01"
WEARABLE = "C2:00:00:00:00:02"
T0 = 1_700_000_000.0
BAND_DEVICE: dict[str, Any] = {
    "id": "band-1",
    "kind": "wearable",
    "address": BAND,
    "accelerometer": False,
    "health": ["heart_rate", "plx_continuous"],
    "role": "vitals",
}


def settings(*devices: dict[str, Any], **extra: Any) -> EdgeSettings:
    return load_settings(
        None,
        dwelling="dw-001",
        password="pw",
        broker_url="mqtt://127.0.0.1",
        devices=list(devices) or [BAND_DEVICE],
        **extra,
    )


# ------------------------------------------------------------------------------ config


def test_band_config() -> None:
    (band,) = settings().devices
    assert band.health == ["heart_rate", "plx_continuous"] and not band.accelerometer
    (wearable,) = settings({"id": "w-1", "kind": "wearable", "address": WEARABLE}).devices
    assert wearable.accelerometer and wearable.health == []  # as before: accelerometer only


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ({"kind": "bthome", "health": ["heart_rate"]}, "are for a wearable"),
        ({"kind": "bthome", "accelerometer": False}, "are for a wearable"),
        ({"kind": "wearable", "accelerometer": False}, "needs health characteristics"),
        (
            {"kind": "wearable", "accelerometer": False, "health": ["heart_rate"],
             "characteristic": ACCEL_CHARACTERISTIC},
            "accelerometer = false",
        ),
        ({"kind": "wearable", "role": "vitals"}, "a vitals wearable needs health"),
        ({"kind": "wearable", "health": ["heart_rate", "heart_rate"]}, "twice"),
        ({"kind": "wearable", "health": ["blood_pressure"]}, "health"),
    ],
)  # fmt: skip
def test_bad_health_config_is_refused_clearly(device: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings({"id": "d-1", "address": BAND, **device})


def test_default_drivers_and_detectors_for_a_band() -> None:
    from edge.app import default_detectors, default_drivers

    s = settings(BAND_DEVICE, {"id": "w-1", "kind": "wearable", "address": WEARABLE})
    band, wearable = default_drivers(s)
    assert isinstance(band, GattWearable) and isinstance(wearable, GattWearable)
    assert band.characteristics == (HEART_RATE_MEASUREMENT, PLX_CONTINUOUS_MEASUREMENT)
    assert wearable.characteristics == (ACCEL_CHARACTERISTIC,)
    names = [d.name for d in default_detectors(s, T0)]
    assert names == ["vitals", "trends"]
    # Without a vitals source: no NEWS2, no trends (the band's readings still go to the hub).
    plain = settings({**BAND_DEVICE, "role": None})
    assert [d.name for d in default_detectors(plain, T0)] == []


# ------------------------------------------------------------------------------ driver
# The GATT driver itself runs below bleak in tests/unit/test_ble_drivers.py.


# ---------------------------------------------------------------------------- pipeline


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.fed: list[Reading] = []

    def update(self, readings: Sequence[Reading], t: float) -> Sequence[Finding]:
        self.fed.extend(readings)
        return []

    def advance(self, t: float) -> Sequence[Finding]:
        return []


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "s.sqlite", max_messages=1000, max_bytes=10**7) as s:
        yield s


def pipeline(s: EdgeSettings, spool: Spool, det: Recorder) -> Pipeline:
    health = HealthTracker(((d.id, d.kind, s.silence_for(d)) for d in s.devices), T0)
    return Pipeline(s, Outbox(spool), health, detectors=[det])


def batches(spool: Spool) -> list[tuple[str, str, float]]:
    out = []
    for item in spool.peek(1000):
        msg = contract.decode(item.topic, item.payload)[1]
        if isinstance(msg, contract.ReadingsBatch):
            out += [(r.sensor, r.quantity, r.value) for r in msg.readings]
    return out


def test_health_notifications_reach_hub_and_detectors(spool: Spool) -> None:
    det = Recorder()
    p = pipeline(settings(), spool, det)
    hr = encode_heart_rate(HeartRateMeasurement(72, SensorContact.DETECTED, rr_1024=(853,)))
    plx = encode_plx_continuous(PlxContinuous(97.0, 71.0))
    p.handle(Notification(BAND, HEART_RATE_MEASUREMENT, hr, T0))
    p.handle(Notification(BAND, PLX_CONTINUOUS_MEASUREMENT.upper(), plx, T0 + 1))
    p.tick(T0 + 2)
    assert batches(spool) == [
        ("band-1", "hr", 72.0),
        ("band-1", "spo2", 97.0),
        ("band-1", "hr", 71.0),
    ]
    assert [(r.quantity, r.value) for r in det.fed] == [
        ("hr", 72.0),
        ("status", 0.0),
        ("spo2", 97.0),
        ("hr", 71.0),
        ("status", 0.0),
    ]
    assert p.health.snapshot(T0 + 2)[0].state == "ok"
    assert p.fall_monitors == {}  # a band without accelerometer has no fall chain


def test_unusable_frames_are_kept_from_the_hub_but_shown_to_detectors(spool: Spool) -> None:
    det = Recorder()
    p = pipeline(settings(), spool, det)
    off = encode_heart_rate(HeartRateMeasurement(0, SensorContact.NOT_DETECTED))
    p.handle(Notification(BAND, HEART_RATE_MEASUREMENT, off, T0))
    p.tick(T0 + 1)
    assert batches(spool) == []
    assert p.stats.unusable_readings == 1
    assert [(r.quantity, r.value) for r in det.fed] == [("hr", 0.0), ("status", 1.0)]


def test_malformed_and_unknown_notifications_are_counted_not_fatal(spool: Spool) -> None:
    det = Recorder()
    p = pipeline(settings(), spool, det)
    p.handle(Notification(BAND, HEART_RATE_MEASUREMENT, b"\x01\x48", T0))  # u16 cut short
    p.handle(Notification(BAND, ACCEL_CHARACTERISTIC, b"\x01" * 20, T0))  # no accelerometer
    p.handle(Notification("C2:00:00:00:00:09", HEART_RATE_MEASUREMENT, b"\x00\x48", T0))
    assert p.stats.decode_errors["ble_health"] == 1
    assert p.stats.unknown_source == 2
    assert det.fed == []


def test_a_wearable_with_accelerometer_and_heart_rate_routes_by_characteristic(
    spool: Spool,
) -> None:
    det = Recorder()
    s = settings({"id": "w-1", "kind": "wearable", "address": WEARABLE, "health": ["heart_rate"]})
    p = pipeline(s, spool, det)
    assert set(p.fall_monitors) == {"w-1"}
    p.handle(Notification(WEARABLE, HEART_RATE_MEASUREMENT, b"\x00\x48", T0))
    p.handle(Notification(WEARABLE, ACCEL_CHARACTERISTIC, b"\x07", T0))  # to the fall chain
    assert p.stats.decode_errors["wearable"] == 1  # the accelerometer codec saw it
    assert [r.quantity for r in det.fed] == ["hr", "status"]


# ------------------------------------------------------------------------ NEWS2 adapter


def band_frames(t: float, hr: float, spo2: float, status: int = 0) -> list[Reading]:
    return [
        Reading("band-1", "spo2", t, spo2),
        Reading("band-1", "hr", t, hr),
        Reading("band-1", "status", t, float(status)),
    ]


def test_band_readings_are_continuous_and_spot_checks_are_not() -> None:
    s = settings(BAND_DEVICE, {"id": "ox-1", "kind": "vitals", "transport": "serial", "port": "x"})
    adapter = VitalsAdapter.from_settings(s)
    assert adapter is not None and adapter.continuous == {"band-1"}
    vitals = vital_readings(
        [*band_frames(T0, 70, 97), Reading("ox-1", "hr", T0, 70.0)],
        adapter.sensors,
        adapter.continuous,
    )
    assert [(v.sensor, v.source) for v in vitals] == [
        ("band-1", Source.CONTINUOUS),
        ("band-1", Source.CONTINUOUS),
        ("ox-1", Source.SPOT),
    ]


def test_continuous_deterioration_raises_a_vitals_alarm_after_the_window_fills() -> None:
    adapter = VitalsAdapter.from_settings(settings())
    assert adapter is not None
    found: list[Finding] = []
    for k in range(100):  # healthy, 1 Hz: not yet enough of the 5-min window
        found += adapter.update(band_frames(T0 + k, 72, 97), T0 + k)
    assert adapter.pipeline.current().hr is None  # needs >= 5 samples over half the window
    for k in range(100, 400):
        found += adapter.update(band_frames(T0 + k, 72, 97), T0 + k)
    assert (adapter.pipeline.current().hr, adapter.pipeline.current().spo2) == (72, 97)
    bands = [f.detail["band"] for f in found if f.kind == "news2_band_changed"]
    assert bands == ["zero"] and not [f for f in found if f.alarm and f.on]
    found = []
    t1 = T0 + 400
    for k in range(400):  # HR 135 (3 points), SpO2 90 (3 points): 6 with a red flag
        found += adapter.update(band_frames(t1 + k, 135, 90), t1 + k)
    (alarm,) = [f for f in found if f.alarm is not None and f.on]
    assert alarm.kind == "vitals_alarm" and alarm.severity is contract.Severity.HIGH
    last = adapter.pipeline.last
    assert last is not None and (last.score, last.red_flag, last.band.value) == (6, True, "medium")
    assert [f.detail["band"] for f in found if f.kind == "news2_band_changed"][-1] == "medium"
    # a single 3-second artefact does not move the windowed median
    assert alarm.t - t1 > 100


def test_unusable_continuous_readings_are_reported_once_per_run() -> None:
    adapter = VitalsAdapter.from_settings(settings())
    assert adapter is not None
    found: list[Finding] = []
    for k in range(60):  # off the wrist for a minute, 1 Hz
        found += adapter.update(band_frames(T0 + k, 0, float("nan"), status=1), T0 + k)
    invalid = [f for f in found if f.kind == "reading_invalid"]
    assert [(f.detail["quantity"], f.detail["reason"], f.detail["status"]) for f in invalid] == [
        ("spo2", "device_status", 1),
        ("hr", "device_status", 1),
    ]
    assert adapter.invalid_suppressed == 118
    # Worn again for a moment (an oximeter's flagged pulse rate may alternate with a
    # strap's good one): still the same run, nothing new.
    adapter.update(band_frames(T0 + 61, 70, 97), T0 + 61)
    again = adapter.update(band_frames(T0 + 62, 0, float("nan"), status=1), T0 + 62)
    assert [f for f in again if f.kind == "reading_invalid"] == []
    # Worn for longer than the gap, then off again: a new run is reported.
    for k in range(63, 500):
        adapter.update(band_frames(T0 + k, 70, 97), T0 + k)
    again = adapter.update(band_frames(T0 + 500, 0, float("nan"), status=1), T0 + 500)
    assert len([f for f in again if f.kind == "reading_invalid"]) == 2


# ------------------------------------------------------------------------ simulation


def test_simulated_band_sends_what_the_real_decoder_reads() -> None:
    signal = ContinuousVitals(T0, seed=3, params=VitalsParams(hr_rest=70, spo2=96))
    band = SimulatedHealthBand("band-1", BAND, signal)
    out = dict(band.notifications(T0 + 3600 * 10))
    hr = decode_heart_rate(out[HEART_RATE_MEASUREMENT])
    plx = decode_plx_continuous(out[PLX_CONTINUOUS_MEASUREMENT])
    assert hr.contact is SensorContact.DETECTED and 60 <= hr.bpm <= 100 and hr.rr_1024
    assert isinstance(plx.spo2, float) and 93 <= plx.spo2 <= 99 and plx.status_ok
    band.set(hr=135, spo2=89)
    out = dict(band.notifications(T0 + 3600 * 10 + 1))
    assert decode_heart_rate(out[HEART_RATE_MEASUREMENT]).bpm > 125
    band.set(worn=False)
    out = dict(band.notifications(T0 + 3600 * 10 + 2))
    assert decode_heart_rate(out[HEART_RATE_MEASUREMENT]).contact is SensorContact.NOT_DETECTED
    assert not decode_plx_continuous(out[PLX_CONTINUOUS_MEASUREMENT]).status_ok
    assert band.sent == 6
    only_hr = SimulatedHealthBand("band-2", BAND, signal, health=["heart_rate"])
    assert [c for c, _ in only_hr.notifications(T0)] == [HEART_RATE_MEASUREMENT]


def test_continuous_vitals_drift_over_days() -> None:
    drift = Drift(Quantity.HR, 5.0, 2)
    start = T0 - T0 % 86400
    signal = ContinuousVitals(start, seed=1, params=VitalsParams(hr_rest=60, drifts=(drift,)))
    night = 2 * 3600.0  # the same hour each day

    def mean_hr(day: int) -> float:
        t = start + day * 86400 + night
        return sum(signal.sample(t + k)[0] for k in range(200)) / 200

    assert abs(mean_hr(1) - mean_hr(0)) < 2
    assert mean_hr(6) - mean_hr(1) == pytest.approx(5.0 * (6.08 - 2), abs=2)


SCENARIO = """
name = "band"
[[devices]]
id = "band-1"
kind = "health_band"
interval_s = 2
{band_extra}
[[events]]
at = 5
action = "vitals"
device = "band-1"
values = {values}
"""


def test_scenario_keys_for_a_health_band() -> None:
    sc = parse_scenario(
        SCENARIO.format(
            band_extra='health = ["heart_rate"]\n'
            'signal = { hr_rest = 70, spo2 = 95, seed = 2, drifts = [{ quantity = "hr", '
            "per_day = 3.0, from_day = 1 }] }",
            values="{ hr = 130, worn = 0 }",
        )
    )
    (band,) = sc.devices
    assert band.health == ["heart_rate"] and band.signal is not None
    assert band.signal.drifts[0].per_day == 3.0
    agent = _device_config(band)
    assert agent["kind"] == "wearable" and agent["role"] == "vitals"
    assert agent["health"] == ["heart_rate"] and agent["accelerometer"] is False
    settings(agent)  # the agent accepts what the simulator configures


@pytest.mark.parametrize(
    ("band_extra", "values", "message"),
    [
        ("", "{ bp = 120 }", "hr, spo2, worn"),
        ("health = []", "{ hr = 1 }", "once"),
        ("signal = { hr_rest = 500 }", "{ hr = 1 }", "hr_rest"),
        ('signal = { drifts = [{ quantity = "weight", per_day = 1 }] }', "{ hr = 1 }", "quantity"),
    ],
)
def test_scenario_refuses_bad_band_keys(band_extra: str, values: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(SCENARIO.format(band_extra=band_extra, values=values))


def test_scenario_refuses_band_keys_elsewhere() -> None:
    bad = '[[devices]]\nid = "p-1"\nkind = "pendant"\nhealth = ["heart_rate"]\n'
    with pytest.raises(ScenarioError, match="health_band"):
        parse_scenario(bad)
    vitals_on_pendant = bad.replace('health = ["heart_rate"]\n', "") + (
        '[[events]]\nat = 1\naction = "vitals"\ndevice = "p-1"\nvalues = { hr = 100 }\n'
    )
    with pytest.raises(ScenarioError, match="needs a health_band"):
        parse_scenario(vitals_on_pendant)
