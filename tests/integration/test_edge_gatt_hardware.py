"""The real GATT wearable driver against a real wearable (opt-in: MZ_HARDWARE=1, BlueZ).

Set MZ_WEARABLE_ADDRESS to the MAC of a wearable that notifies accelerometer frames
(`sensors.codecs.wearable`) on `edge.drivers.gatt.ACCEL_CHARACTERISTIC` (or set
MZ_WEARABLE_CHARACTERISTIC); the test waits for a notification that decodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest

from edge.drivers.gatt import ACCEL_CHARACTERISTIC, GattWearable
from sensors.codecs.wearable import decode_frame
from sensors.readings import Frame, Notification
from tests.servers import wait_until

pytestmark = [
    pytest.mark.hardware,
    pytest.mark.skipif(
        os.environ.get("MZ_HARDWARE") != "1" or not os.environ.get("MZ_WEARABLE_ADDRESS"),
        reason="hardware test: set MZ_HARDWARE=1 and MZ_WEARABLE_ADDRESS on a Pi with BlueZ",
    ),
]


async def test_wearable_notifies_decodable_frames() -> None:
    address = os.environ["MZ_WEARABLE_ADDRESS"].upper()
    char = os.environ.get("MZ_WEARABLE_CHARACTERISTIC", ACCEL_CHARACTERISTIC)
    frames: list[Frame] = []
    driver = GattWearable("hw-wearable", address, char)
    task = asyncio.create_task(driver.run(frames.append))
    try:
        await wait_until(lambda: len(frames) >= 5 or task.done(), timeout=60)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    first = frames[0]
    assert isinstance(first, Notification) and first.address == address
    assert decode_frame(first.data).counts
