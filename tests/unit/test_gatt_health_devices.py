"""Bluetooth SIG spot-check devices over GATT end to end at the edge: the device config
(`kind = "gatt"`), the drivers the agent builds for it, the simulated devices' exact bytes,
and a simulated cuff on the fake radio (`tests.ble_radio`) -> the real GATT driver -> the
real pipeline -> readings for the hub and NEWS2."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge.app import default_drivers
from edge.config import GATT_SILENCE_S, EdgeSettings, load_settings
from edge.detectors.vitals import Quantity
from edge.drivers.ble import BleScanner
from edge.drivers.gatt import GattHealthDevice, GattWearable
from edge.errors import ConfigError
from edge.health import HealthTracker
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from edge.spool import Spool
from edge.vitals_adapter import VitalsAdapter
from sensors import contract
from sensors.codecs.ble_health import (
    BATTERY_LEVEL,
    BLOOD_PRESSURE_MEASUREMENT,
    STATUS_DEVICE,
    STATUS_MEASUREMENT,
    STATUS_SPECIAL_VALUE,
    TEMPERATURE_MEASUREMENT,
    WEIGHT_MEASUREMENT,
    health_readings,
)
from sensors.codecs.sig_spot_check import decode_blood_pressure, decode_temperature
from sensors.readings import Frame, Notification
from simulators.devices.gatt_health import SimulatedSpotCheckDevice
from tests.ble_radio import FakeRadio
from tests.servers import wait_until

# Settings made here without a spool path keep the agent's state files in tmp_path.
pytestmark = pytest.mark.usefixtures("edge_state_in_tmp")


T0 = 1_790_000_000.0
CUFF = "C3:00:00:00:00:01"
WHEN = dt.datetime(2026, 12, 4, 8, 15, 0)  # noqa: DTZ001 - a device's wall clock
CUFF_DEVICE: dict[str, Any] = {
    "id": "cuff-1",
    "kind": "gatt",
    "address": CUFF,
    "health": ["blood_pressure", "battery"],
}


def settings(*devices: dict[str, Any], **extra: Any) -> EdgeSettings:
    return load_settings(
        None,
        dwelling="dw-001",
        password="pw",
        broker_url="mqtt://127.0.0.1",
        devices=list(devices) or [CUFF_DEVICE],
        **extra,
    )


# ------------------------------------------------------------------------------ config


def test_a_gatt_device_is_a_vitals_device_that_is_rarely_heard() -> None:
    s = settings()
    (cuff,) = s.devices
    assert cuff.role == "vitals" and cuff.health == ["blood_pressure", "battery"]
    assert s.silence_for(cuff) == GATT_SILENCE_S  # not "silent" after 5 minutes
    assert s.silence_for(settings({**CUFF_DEVICE, "silence_s": 600}).devices[0]) == 600


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ({"health": []}, "needs health"),
        ({"health": ["battery"]}, "needs health"),
        ({"role": "motion", "room": "hall"}, "role 'vitals'"),
        ({"transport": "serial", "port": "/dev/ttyUSB0"}, "BLE device"),
        ({"mount": "wrist"}, "for a wearable"),
        ({"health": ["blood_pressure", "blood_pressure"]}, "twice"),
        ({"health": ["spirometer"]}, "health"),
    ],
)
def test_bad_gatt_config_is_refused_clearly(device: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings({**CUFF_DEVICE, **device})


def test_wearables_may_not_take_every_connection_slot() -> None:
    bands = [
        {"id": f"w-{i}", "kind": "wearable", "address": f"C3:00:00:00:01:0{i}"} for i in range(3)
    ]
    settings(*bands)  # 3 wearables, 3 slots: fine
    with pytest.raises(ConfigError, match="leaving none for the gatt devices"):
        settings(CUFF_DEVICE, *bands)
    settings(CUFF_DEVICE, *bands, gatt_max_connections=4)


def test_default_drivers_share_one_set_of_connection_slots() -> None:
    s = settings(
        CUFF_DEVICE,
        {"id": "scale-1", "kind": "gatt", "address": "C3:00:00:00:00:02", "health": ["weight"]},
        {"id": "w-1", "kind": "wearable", "address": "C3:00:00:00:00:03"},
        {"id": "room-1", "kind": "bthome", "address": "C3:00:00:00:00:04"},
    )
    scanner, cuff, scale, w = default_drivers(s)  # in config order
    assert isinstance(scanner, BleScanner) and scanner.sensors == ("room-1",)
    assert isinstance(cuff, GattHealthDevice) and isinstance(scale, GattHealthDevice)
    assert isinstance(w, GattWearable)
    assert cuff.characteristics == (BLOOD_PRESSURE_MEASUREMENT, BATTERY_LEVEL)
    assert scale.characteristics == (WEIGHT_MEASUREMENT,)
    assert cuff._link.slots is scale._link.slots is w._link.slots
    assert cuff._link.slots is not None and cuff._link.slots.limit == 3


# ------------------------------------------------------------------ simulated devices


def _values(device: SimulatedSpotCheckDevice, *args: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for char, data in device.measure(*args):
        out |= {r.quantity: r.value for r in health_readings(device.id, char, data, T0).readings}
    return out


@pytest.mark.parametrize("kpa", [False, True])
def test_simulated_cuff_sends_what_the_decoder_reads(kpa: bool) -> None:
    cuff = SimulatedSpotCheckDevice("cuff-1", CUFF, "blood_pressure", kpa=kpa, user_id=1)
    (bp, _battery) = cuff.measure({"sbp": 128, "dbp": 82, "hr": 71}, WHEN)
    m = decode_blood_pressure(bp[1])
    assert m.kpa is kpa and m.user_id == 1 and m.timestamp is not None
    assert m.timestamp.as_datetime() == WHEN
    values = _values(cuff, {"sbp": 128, "dbp": 82, "hr": 71})
    tolerance = 0.4 if kpa else 0  # 0.1 kPa resolution
    assert values["sbp"] == pytest.approx(128, abs=tolerance)
    assert values["dbp"] == pytest.approx(82, abs=tolerance)
    assert (values["hr"], values["battery"], values["status"]) == (71, 100, 0)


@pytest.mark.parametrize("fahrenheit", [False, True])
def test_simulated_thermometer(fahrenheit: bool) -> None:
    thermo = SimulatedSpotCheckDevice("t-1", CUFF, "thermometer", fahrenheit=fahrenheit)
    (char, data), _ = thermo.measure({"temperature": 38.4}, WHEN)
    assert char == TEMPERATURE_MEASUREMENT and decode_temperature(data).fahrenheit is fahrenheit
    values = _values(thermo, {"temperature": 38.4})
    assert values["temperature"] == pytest.approx(38.4, abs=0.03) and values["status"] == 0


@pytest.mark.parametrize("imperial", [False, True])
def test_simulated_scale(imperial: bool) -> None:
    scale = SimulatedSpotCheckDevice("s-1", CUFF, "weight", imperial=imperial)
    values = _values(scale, {"weight": 71.3})
    assert values["weight"] == pytest.approx(71.3, abs=0.005) and values["status"] == 0


@pytest.mark.parametrize(
    ("kind", "values", "problems", "status"),
    [
        ("blood_pressure", {"sbp": 150, "dbp": 95}, ["cuff_loose"], STATUS_MEASUREMENT),
        ("blood_pressure", {"sbp": 150, "dbp": 95}, ["body_movement"], STATUS_MEASUREMENT),
        ("blood_pressure", {"sbp": 150, "dbp": 95}, ["nan"], STATUS_SPECIAL_VALUE),
        ("plx_spot_check", {"spo2": 96, "hr": 70}, ["sensor_displaced"], STATUS_DEVICE),
        ("plx_spot_check", {"spo2": 96, "hr": 70}, ["ongoing"], STATUS_MEASUREMENT),
        ("plx_spot_check", {"spo2": 96, "hr": 70}, [], 0),
        ("weight", {"weight": 80}, ["unsuccessful"], STATUS_SPECIAL_VALUE),
    ],
)
def test_what_the_device_reports_as_unreliable_flags_the_reading(
    kind: Any, values: dict[str, float], problems: list[str], status: int
) -> None:
    device = SimulatedSpotCheckDevice("d-1", CUFF, kind)
    assert _values(device, values, None, problems)["status"] == status


# ----------------------------------------------- simulated cuff -> driver -> pipeline


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "s.sqlite", max_messages=1000, max_bytes=10**7) as s:
        yield s


def _batches(spool: Spool) -> list[tuple[str, str, float]]:
    out = []
    for item in spool.peek(1000):
        msg = contract.decode(item.topic, item.payload)[1]
        if isinstance(msg, contract.ReadingsBatch):
            out += [(r.sensor, r.quantity, round(r.value, 1)) for r in msg.readings]
    return out


async def test_a_cuff_measurement_reaches_the_hub_and_news2(spool: Spool) -> None:
    s = settings()
    vitals = VitalsAdapter.from_settings(s)
    assert vitals is not None
    health = HealthTracker(((d.id, d.kind, s.silence_for(d)) for d in s.devices), T0)
    pipeline = Pipeline(s, Outbox(spool), health, detectors=[vitals])
    sim = SimulatedSpotCheckDevice("cuff-1", CUFF, "blood_pressure", kpa=True, battery=64)
    radio = FakeRadio()
    peripheral = radio.add(CUFF, sim.layout)
    (cuff_driver,) = default_drivers(s)
    assert isinstance(cuff_driver, GattHealthDevice)
    driver = GattHealthDevice(
        "cuff-1",
        CUFF,
        cuff_driver.characteristics,
        clock=lambda: T0,
        client_backend=radio.client_backend,
        scanner_backend=radio.scanner_backend,
        find_timeout_s=0.05,
    )
    frames: list[Frame] = []
    task = asyncio.create_task(driver.run(frames.append))
    try:
        peripheral.advertising = True
        await wait_until(lambda: peripheral.subscribed(BLOOD_PRESSURE_MEASUREMENT))
        for char, data in sim.measure({"sbp": 128, "dbp": 82, "hr": 71}, WHEN):
            peripheral.send(char, data)
        for char, data in sim.measure({"sbp": 190, "dbp": 120, "hr": 90}, WHEN, ["cuff_loose"]):
            peripheral.send(char, data)
        peripheral.drop()
        await wait_until(lambda: len(frames) == 4)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for f in frames:
        pipeline.handle(f)
    pipeline.tick(T0 + 1)
    # 128/82 from kPa (0.1 kPa steps), pulse, battery; the loose-cuff 190/120 is not a reading.
    assert _batches(spool) == [
        ("cuff-1", "sbp", 128.3),
        ("cuff-1", "dbp", 81.8),
        ("cuff-1", "hr", 71.0),
        ("cuff-1", "battery", 64.0),
        ("cuff-1", "battery", 64.0),
    ]
    assert pipeline.stats.unusable_readings == 1
    assert vitals.pipeline.value(Quantity.SBP) == pytest.approx(128.3, abs=0.1)
    (state,) = health.snapshot(T0 + 1)
    assert state.state == "ok" and state.battery == 64


def test_a_stored_measurement_keeps_its_own_time_in_the_pipeline(spool: Spool) -> None:
    s = settings(timezone="Europe/Amsterdam")
    health = HealthTracker(((d.id, d.kind, s.silence_for(d)) for d in s.devices), T0)
    pipeline = Pipeline(s, Outbox(spool), health)
    received = dt.datetime(2026, 12, 4, 9, 0, tzinfo=ZoneInfo("Europe/Amsterdam")).timestamp()
    cuff = SimulatedSpotCheckDevice("cuff-1", CUFF, "blood_pressure")
    # The cuff's memory: taken at 08:15, sent when the edge connected at 09:00.
    ((char, data), _battery) = cuff.measure({"sbp": 128, "dbp": 82}, WHEN)
    pipeline.handle(Notification(CUFF, char, data, received))
    pipeline.tick(received + 1)
    times = set()
    for item in spool.peek(1000):
        msg = contract.decode(item.topic, item.payload)[1]
        if isinstance(msg, contract.ReadingsBatch):
            times |= {r.t for r in msg.readings}
    assert times == {received - 45 * 60}


# ------------------------------------------------------------------------- scenarios

_GATT_SCENARIO = """
[[devices]]
id = "cuff-1"
kind = "gatt"
measures = "blood_pressure"
{extra}
[[devices]]
id = "vitals-1"
kind = "vitals"
[[events]]
at = 1
action = "measure"
device = "{device}"
values = {values}
{event_extra}
"""


def _scenario(
    extra: str = "",
    device: str = "cuff-1",
    values: str = "{ sbp = 120, dbp = 80 }",
    event: str = "",
) -> Any:
    from simulators.scenario import parse_scenario

    return parse_scenario(
        _GATT_SCENARIO.format(extra=extra, device=device, values=values, event_extra=event)
    )


def test_scenario_gatt_device_and_measure() -> None:
    sc = _scenario('units = "kpa"', event='problems = ["cuff_loose"]')
    (cuff, _gw) = sc.devices
    assert (cuff.kind, cuff.measures, cuff.units) == ("gatt", "blood_pressure", "kpa")
    assert sc.events[0].problems == ["cuff_loose"]
    from simulators.dwelling import _device_config

    assert _device_config(cuff) == {
        "id": "cuff-1",
        "transport": "ble",
        "address": cuff.mac,
        "kind": "gatt",
        "health": ["blood_pressure", "battery"],
    }


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"extra": 'units = "lb"'}, "units 'lb' are for a weight"),
        ({"values": "{ temperature = 37 }"}, "a blood_pressure measurement takes"),
        ({"values": "{ sbp = 120 }"}, "a blood_pressure measurement takes"),
        ({"device": "vitals-1", "event": 'problems = ["nan"]'}, "problems are for a gatt"),
    ],
)
def test_scenario_refuses_bad_gatt_entries(kw: dict[str, str], message: str) -> None:
    from simulators.scenario import ScenarioError

    with pytest.raises(ScenarioError, match=message):
        _scenario(**kw)
