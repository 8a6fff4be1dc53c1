"""The BLE drivers (`edge.drivers.ble`, `edge.drivers.gatt`) below bleak: the real
`BleakScanner`, `BleakClient` and bleak-retry-connector over a fake radio at bleak's
backend seam (`tests.ble_radio`), so the drivers run in every test run, not only on a Pi.
What the fake radio delivers are the exact bytes devices send, and the real decoders read
them: a BTHome v2 temperature frame (bthome-ble's own test payload `40 02 ca 09`, 25.06 degC)
and the Bluetooth SIG characteristics (Nordic's Android-BLE-Common-Library test bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest

from edge.backoff import Backoff
from edge.drivers.ble import BleScanner
from edge.drivers.gatt import ConnectionSlots, GattHealthDevice, GattWearable
from edge.errors import DriverError
from sensors.codecs.ble_health import (
    BATTERY_LEVEL,
    BATTERY_SERVICE,
    BLOOD_PRESSURE_MEASUREMENT,
    BLOOD_PRESSURE_SERVICE,
    HEALTH_THERMOMETER_SERVICE,
    HEART_RATE_MEASUREMENT,
    HEART_RATE_SERVICE,
    PLX_CONTINUOUS_MEASUREMENT,
    PULSE_OXIMETER_SERVICE,
    TEMPERATURE_MEASUREMENT,
    WEIGHT_MEASUREMENT,
    WEIGHT_SCALE_SERVICE,
    health_readings,
)
from sensors.codecs.bthome import BTHomeDecoder
from sensors.readings import Advertisement, Frame, Notification
from tests.ble_radio import FakeRadio
from tests.servers import wait_until

T0 = 1_790_000_000.0
BTHOME = "0000fcd2-0000-1000-8000-00805f9b34fb"
CUFF = "AA:BB:CC:DD:EE:01"
BAND = "AA:BB:CC:DD:EE:02"
NORDIC_BP_FULL = bytes.fromhex("1e8a00580078000000041114293b3c00012700")
NORDIC_BP_MINIMAL = bytes.fromhex("00bdf00b009ff0")
NORDIC_TEMP = bytes.fromhex("06b00e00fedc070c050b321b04")

CUFF_LAYOUT = {
    BLOOD_PRESSURE_SERVICE: {BLOOD_PRESSURE_MEASUREMENT: ["indicate"]},
    BATTERY_SERVICE: {BATTERY_LEVEL: ["read", "notify"]},
}
BAND_LAYOUT = {
    HEART_RATE_SERVICE: {HEART_RATE_MEASUREMENT: ["notify"]},
    PULSE_OXIMETER_SERVICE: {PLX_CONTINUOUS_MEASUREMENT: ["notify"]},
}


@contextlib.asynccontextmanager
async def running(coro: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(coro)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, DriverError):
            await task


# ------------------------------------------------------------------------ BLE scanner


async def test_scanner_turns_advertisements_into_ours_and_ignores_neighbours() -> None:
    radio = FakeRadio()
    sensor = radio.add("a4:c1:38:00:00:01")
    neighbour = radio.add("A4:C1:38:00:00:99")
    frames: list[Frame] = []
    scanner = BleScanner(
        {"a4:c1:38:00:00:01": "room-1"}, clock=lambda: T0, scanner_backend=radio.scanner_backend
    )
    async with running(scanner.run(frames.append)):
        await asyncio.wait_for(scanner.scanning.wait(), 5)
        neighbour.advertise(service_data={BTHOME: b"\x40\x02\xca\x09"})
        sensor.advertise(
            service_data={BTHOME.upper(): b"\x40\x02\xca\x09"}, name="SBHT-003C", rssi=-71
        )
        await wait_until(lambda: frames)
    (adv,) = frames
    assert adv == Advertisement(
        "A4:C1:38:00:00:01", {BTHOME: b"\x40\x02\xca\x09"}, -71, T0, "SBHT-003C"
    )
    assert isinstance(adv, Advertisement)
    decoded = BTHomeDecoder("room-1").decode(adv)
    assert decoded is not None
    ((quantity, value),) = [(r.quantity, r.value) for r in decoded.readings]
    assert quantity == "temperature" and value == pytest.approx(25.06)
    assert not radio.scanners  # the scan stopped with the driver


async def test_scanner_without_a_radio_fails_as_a_driver_error() -> None:
    radio = FakeRadio()

    class NoBlueZ(radio.scanner_backend):  # type: ignore[name-defined,misc]
        async def start(self) -> None:
            raise FileNotFoundError("/run/dbus/system_bus_socket")

    scanner = BleScanner({"A4:C1:38:00:00:01": "room-1"}, scanner_backend=NoBlueZ)
    with pytest.raises(DriverError, match="BLE scanner failed"):
        await asyncio.wait_for(scanner.run(lambda f: None), 5)


# ---------------------------------------------------------------------------- wearable


async def test_wearable_subscribes_on_one_connection_and_tags_each_notification() -> None:
    radio = FakeRadio()
    band = radio.add(BAND, BAND_LAYOUT)
    band.advertising = True
    frames: list[Frame] = []
    driver = GattWearable(
        "band-1",
        BAND.lower(),
        None,
        health=[HEART_RATE_MEASUREMENT.upper(), PLX_CONTINUOUS_MEASUREMENT],
        clock=lambda: T0,
        client_backend=radio.client_backend,
        scanner_backend=radio.scanner_backend,
    )
    task = asyncio.create_task(driver.run(frames.append))
    await asyncio.wait_for(driver.connected.wait(), 5)
    assert set(band.subscriptions) == {HEART_RATE_MEASUREMENT, PLX_CONTINUOUS_MEASUREMENT}
    band.send(PLX_CONTINUOUS_MEASUREMENT, b"\x00\x61\x00\x48\x00")
    band.send(HEART_RATE_MEASUREMENT, b"\x06\x48")
    assert frames == [
        Notification(BAND, PLX_CONTINUOUS_MEASUREMENT, b"\x00\x61\x00\x48\x00", T0),
        Notification(BAND, HEART_RATE_MEASUREMENT, b"\x06\x48", T0),
    ]
    band.drop()  # the link drops: run ends with DriverError, the supervisor reconnects
    with pytest.raises(DriverError, match="disconnected"):
        await asyncio.wait_for(task, 5)
    assert not driver.connected.is_set() and not radio.connected


async def test_wearable_fails_clearly_on_a_characteristic_the_device_lacks() -> None:
    radio = FakeRadio()
    radio.add(BAND, BAND_LAYOUT).advertising = True
    other = "0000fff1-0000-1000-8000-00805f9b34fb"
    driver = GattWearable(
        "band-1",
        BAND,
        None,
        health=[HEART_RATE_MEASUREMENT, other],
        client_backend=radio.client_backend,
        scanner_backend=radio.scanner_backend,
    )
    with pytest.raises(DriverError, match=f"cannot subscribe to {other}: the device has no"):
        await asyncio.wait_for(driver.run(lambda f: None), 5)
    assert not radio.connected  # let go of the connection


async def test_wearable_out_of_range_is_a_driver_error() -> None:
    radio = FakeRadio()
    radio.add(BAND, BAND_LAYOUT)  # not advertising
    driver = GattWearable(
        "band-1",
        BAND,
        None,
        health=[HEART_RATE_MEASUREMENT],
        client_backend=radio.client_backend,
        scanner_backend=radio.scanner_backend,
        find_timeout_s=0.1,
    )
    with pytest.raises(DriverError, match="not found"):
        await asyncio.wait_for(driver.run(lambda f: None), 5)


def test_driver_needs_something_to_subscribe_to() -> None:
    with pytest.raises(ValueError, match="no characteristic"):
        GattWearable("band-1", BAND, None)
    with pytest.raises(ValueError, match="twice"):
        GattWearable("band-1", BAND, HEART_RATE_MEASUREMENT, health=[HEART_RATE_MEASUREMENT])
    with pytest.raises(ValueError, match="no characteristic"):
        GattHealthDevice("cuff-1", CUFF, [])


# ------------------------------------------------------------------ spot-check devices


def _cuff_driver(radio: FakeRadio, **kw: Any) -> GattHealthDevice:
    return GattHealthDevice(
        "cuff-1",
        CUFF,
        [BLOOD_PRESSURE_MEASUREMENT.upper(), BATTERY_LEVEL],
        clock=lambda: T0,
        client_backend=radio.client_backend,
        scanner_backend=radio.scanner_backend,
        find_timeout_s=0.05,
        **kw,
    )


async def test_cuff_connects_when_it_turns_up_and_its_indications_decode() -> None:
    radio = FakeRadio()
    cuff = radio.add(CUFF, CUFF_LAYOUT)
    frames: list[Frame] = []
    driver = _cuff_driver(radio)
    async with running(driver.run(frames.append)) as task:
        # Out of sight: the driver keeps looking, it is not a failure.
        await wait_until(lambda: radio.scans >= 3)
        assert not task.done() and driver.sessions == 0 and cuff.connects == 0
        cuff.advertising = True  # the resident took a measurement
        await wait_until(lambda: cuff.subscribed(BLOOD_PRESSURE_MEASUREMENT))
        assert cuff.subscribed(BATTERY_LEVEL)
        cuff.send(BLOOD_PRESSURE_MEASUREMENT, NORDIC_BP_MINIMAL)  # an indication
        cuff.send(BATTERY_LEVEL, b"\x57")
        cuff.advertising = False
        cuff.drop()  # done: the cuff disconnects
        await wait_until(lambda: not driver.connected.is_set())
        assert not task.done()  # and the driver waits for the next measurement
        cuff.advertising = True
        await wait_until(lambda: driver.sessions == 2 and cuff.subscribed(BATTERY_LEVEL))
        cuff.send(BLOOD_PRESSURE_MEASUREMENT, NORDIC_BP_FULL)
    assert frames == [
        Notification(CUFF, BLOOD_PRESSURE_MEASUREMENT, NORDIC_BP_MINIMAL, T0),
        Notification(CUFF, BATTERY_LEVEL, b"\x57", T0),
        Notification(CUFF, BLOOD_PRESSURE_MEASUREMENT, NORDIC_BP_FULL, T0),
    ]
    assert not radio.connected
    first = health_readings("cuff-1", BLOOD_PRESSURE_MEASUREMENT, frames[0].data, T0)  # type: ignore[union-attr]
    assert {r.quantity: r.value for r in first.readings} == {
        "sbp": pytest.approx(18.9),
        "dbp": 11.0,
        "status": 0.0,
    }


async def test_a_quiet_device_gives_its_slot_back() -> None:
    radio = FakeRadio()
    scale = radio.add(CUFF, {WEIGHT_SCALE_SERVICE: {WEIGHT_MEASUREMENT: ["indicate"]}})
    scale.advertising = True
    driver = GattHealthDevice(
        "scale-1",
        CUFF,
        [WEIGHT_MEASUREMENT],
        client_backend=radio.client_backend,
        scanner_backend=radio.scanner_backend,
        find_timeout_s=0.05,
        idle_disconnect_s=0.2,
    )
    frames: list[Frame] = []
    async with running(driver.run(frames.append)):
        await wait_until(lambda: scale.subscribed(WEIGHT_MEASUREMENT))
        scale.send(WEIGHT_MEASUREMENT, bytes([0x00, 0xB0, 0x36]))  # 70.00 kg
        # It stays connected but says nothing more: the driver lets go (and reconnects
        # while it keeps advertising).
        await wait_until(lambda: driver.sessions >= 2)
    assert frames[0] == Notification(
        CUFF, WEIGHT_MEASUREMENT, bytes([0x00, 0xB0, 0x36]), frames[0].t
    )


async def test_failed_connects_back_off_and_then_connect() -> None:
    radio = FakeRadio()
    cuff = radio.add(CUFF, CUFF_LAYOUT)
    cuff.fail_message = "[org.bluez.Error.Failed] Operation already in progress"
    # bleak-retry-connector makes a few attempts per connect (4 today): whole connects fail.
    cuff.fail_connects = 8
    cuff.advertising = True
    driver = _cuff_driver(radio, backoff=Backoff(0.01, 0.05, random.Random(1)))
    async with running(driver.run(lambda f: None)) as task:
        await wait_until(lambda: driver.connected.is_set(), timeout=20)
        assert not task.done()
    # every failed attempt reached the device, then the one that worked
    assert driver.connect_failures >= 1 and cuff.connects == 8 + 1


async def test_a_transient_bluez_failure_is_retried_within_one_connect() -> None:
    radio = FakeRadio()
    cuff = radio.add(CUFF, CUFF_LAYOUT)
    cuff.fail_connects = 1  # le-connection-abort-by-local, as a Pi sees daily
    cuff.advertising = True
    driver = _cuff_driver(radio)
    async with running(driver.run(lambda f: None)):
        await wait_until(lambda: driver.connected.is_set())
    assert driver.connect_failures == 0 and cuff.connects == 2


async def test_a_read_only_battery_level_is_read_once_per_connection() -> None:
    radio = FakeRadio()
    thermo = radio.add(
        CUFF,
        {
            HEALTH_THERMOMETER_SERVICE: {TEMPERATURE_MEASUREMENT: ["indicate"]},
            BATTERY_SERVICE: {BATTERY_LEVEL: ["read"]},
        },
    )
    thermo.values[BATTERY_LEVEL] = b"\x2a"
    thermo.advertising = True
    frames: list[Frame] = []
    driver = GattHealthDevice(
        "thermo-1",
        CUFF,
        [TEMPERATURE_MEASUREMENT, BATTERY_LEVEL],
        clock=lambda: T0,
        client_backend=radio.client_backend,
        scanner_backend=radio.scanner_backend,
    )
    async with running(driver.run(frames.append)):
        await wait_until(lambda: driver.connected.is_set())
        thermo.send(TEMPERATURE_MEASUREMENT, NORDIC_TEMP)
    assert frames == [
        Notification(CUFF, BATTERY_LEVEL, b"\x2a", T0),
        Notification(CUFF, TEMPERATURE_MEASUREMENT, NORDIC_TEMP, T0),
    ]


async def test_a_characteristic_it_cannot_hear_from_is_refused_by_name() -> None:
    radio = FakeRadio()
    thermo = radio.add(CUFF, {HEALTH_THERMOMETER_SERVICE: {TEMPERATURE_MEASUREMENT: ["write"]}})
    thermo.advertising = True
    driver = GattHealthDevice(
        "thermo-1",
        CUFF,
        [TEMPERATURE_MEASUREMENT],
        client_backend=radio.client_backend,
        scanner_backend=radio.scanner_backend,
    )
    with pytest.raises(DriverError, match="neither notifies, indicates nor reads") as err:
        await asyncio.wait_for(driver.run(lambda f: None), 5)
    assert not err.value.retryable and not radio.connected


async def test_connections_are_capped_and_a_waiting_device_gets_the_freed_slot() -> None:
    radio = FakeRadio()
    slots = ConnectionSlots(2)
    layout = {HEALTH_THERMOMETER_SERVICE: {TEMPERATURE_MEASUREMENT: ["indicate"]}}
    devices = [radio.add(f"AA:BB:CC:DD:EE:1{i}", layout) for i in range(3)]
    drivers = [
        GattHealthDevice(
            f"thermo-{i}",
            p.address,
            [TEMPERATURE_MEASUREMENT],
            slots=slots,
            client_backend=radio.client_backend,
            scanner_backend=radio.scanner_backend,
            find_timeout_s=0.05,
        )
        for i, p in enumerate(devices)
    ]
    frames: list[Frame] = []
    for p in devices:
        p.advertising = True
    async with contextlib.AsyncExitStack() as stack:
        for d in drivers:
            await stack.enter_async_context(running(d.run(frames.append)))
        await wait_until(lambda: len(radio.connected) == 2)
        waiting = next(p for p in devices if p.address not in radio.connected)
        first = next(p for p in devices if p.address in radio.connected)
        first.send(TEMPERATURE_MEASUREMENT, NORDIC_TEMP)
        first.advertising = False
        first.drop()  # its slot frees up
        await wait_until(lambda: waiting.subscribed(TEMPERATURE_MEASUREMENT))
        waiting.send(TEMPERATURE_MEASUREMENT, NORDIC_TEMP)
    assert radio.peak == 2 and slots.peak == 2 and slots.in_use == 0
    assert [f.address for f in frames] == [first.address, waiting.address]  # type: ignore[union-attr]
