"""The real GATT health-device driver against a real device (opt-in: MZ_HARDWARE=1, BlueZ).

Set MZ_GATT_HEALTH_ADDRESS to the MAC of a Bluetooth SIG cuff, thermometer, scale or
spot-check oximeter and MZ_GATT_HEALTH to what it measures (`blood_pressure`,
`thermometer`, `weight`, `plx_spot_check`); take a measurement within two minutes. The
test waits for an indication that decodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest

from edge.drivers.gatt import GattHealthDevice
from sensors.codecs.ble_health import CHARACTERISTICS, health_readings
from sensors.readings import Frame, Notification
from tests.servers import wait_until

pytestmark = [
    pytest.mark.hardware,
    pytest.mark.skipif(
        os.environ.get("MZ_HARDWARE") != "1" or not os.environ.get("MZ_GATT_HEALTH_ADDRESS"),
        reason="hardware test: set MZ_HARDWARE=1 and MZ_GATT_HEALTH_ADDRESS on a Pi with BlueZ",
    ),
]


async def test_health_device_indicates_a_decodable_measurement() -> None:
    address = os.environ["MZ_GATT_HEALTH_ADDRESS"].upper()
    char = CHARACTERISTICS[os.environ.get("MZ_GATT_HEALTH", "blood_pressure")]
    frames: list[Frame] = []
    driver = GattHealthDevice("hw-health", address, [char])
    task = asyncio.create_task(driver.run(frames.append))
    try:
        await wait_until(lambda: frames or task.done(), timeout=120)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    first = frames[0]
    assert isinstance(first, Notification) and first.address == address
    assert health_readings("hw-health", first.characteristic, first.data, first.t).readings
