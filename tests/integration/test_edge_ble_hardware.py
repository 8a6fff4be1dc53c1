"""The real BLE scanner against a real radio (opt-in: MZ_HARDWARE=1, BlueZ, a BTHome device).

Set MZ_BTHOME_ADDRESS to the MAC of a BTHome v2 device in range (e.g. a Shelly BLU Button
or an ATC-flashed thermometer); the test waits for one decoded advertisement from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest

from edge.drivers.ble import BleScanner
from sensors.codecs.bthome import decode_advertisement
from sensors.readings import Advertisement, Frame
from tests.servers import wait_until

pytestmark = [
    pytest.mark.hardware,
    pytest.mark.skipif(
        os.environ.get("MZ_HARDWARE") != "1" or not os.environ.get("MZ_BTHOME_ADDRESS"),
        reason="hardware test: set MZ_HARDWARE=1 and MZ_BTHOME_ADDRESS on a Pi with BlueZ",
    ),
]


async def test_scanner_sees_a_bthome_device() -> None:
    address = os.environ["MZ_BTHOME_ADDRESS"].upper()
    frames: list[Frame] = []
    task = asyncio.create_task(BleScanner({address: "hw-1"}).run(frames.append))
    try:
        await wait_until(lambda: frames or task.done(), timeout=60)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    adv = frames[0]
    assert isinstance(adv, Advertisement) and adv.address == address
    assert decode_advertisement("hw-1", adv).sensor == "hw-1"
