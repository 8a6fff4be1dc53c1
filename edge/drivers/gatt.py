"""A connected BLE wearable: one GATT connection, notifications in, frames out.

    driver = GattWearable("wearable-1", "AA:BB:CC:DD:EE:FF", ACCEL_CHARACTERISTIC,
                          health=(HEART_RATE_MEASUREMENT, PLX_CONTINUOUS_MEASUREMENT))
    await driver.run(emit)   # emits `Notification` frames; raises DriverError when the link drops

Unlike BTHome sensors (advertisements, one shared scanner) a wearable streams 20-200 Hz of
samples, which only fits a connection: the driver finds the device, connects with
bleak-retry-connector's `establish_connection` (it retries the transient BlueZ failures a
Pi sees every day: "le-connection-abort-by-local", "br-connection-canceled", ...),
subscribes to every characteristic the device config lists on that one connection (the
accelerometer frames for the fall chain; the Bluetooth SIG Heart Rate Measurement and
PLX Continuous Measurement when the wearable has them) and emits each notification as
our own `Notification`, tagged with the characteristic it came from so the pipeline
picks the codec. No bleak type leaves this module (the characteristic is bound per
subscription, not read from bleak's object). On a disconnect `run` raises
`DriverError`; the agent's supervisor reconnects with jittered backoff, and the wearable
codec's device clock tells the detector about the gap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from edge.drivers import Emit
from edge.errors import DriverError
from sensors.readings import Notification

log = logging.getLogger(__name__)

# The accelerometer-burst characteristic of our wearable profile (vendor-specific 128-bit
# UUID; the frame format is in `sensors.codecs.wearable`).
ACCEL_CHARACTERISTIC: Final = "4d5a0002-6d7a-4f6e-9a6c-6d6f62696c65"
# BlueZ only knows a device it has seen advertise; a wearable advertises every ~1 s while
# unconnected, so 20 s covers a few missed ones.
FIND_TIMEOUT_S: Final = 20.0


class GattWearable:
    """One wearable over its own GATT connection (one driver per wearable)."""

    def __init__(
        self,
        sensor: str,
        address: str,
        characteristic: str | None = ACCEL_CHARACTERISTIC,
        *,
        health: Sequence[str] = (),
        adapter: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`characteristic`: the accelerometer's (None: a band without one); `health`:
        further characteristics (128-bit UUIDs) notified on the same connection."""
        self._sensor = sensor
        self.address = address.upper()
        self.characteristic = characteristic.lower() if characteristic else None
        chars = ([self.characteristic] if self.characteristic else []) + [c.lower() for c in health]
        if not chars:
            raise ValueError(f"{sensor}: no characteristic to subscribe to")
        if len(set(chars)) != len(chars):
            raise ValueError(f"{sensor}: a characteristic is listed twice")
        self.characteristics: tuple[str, ...] = tuple(chars)
        self._adapter = adapter
        self._clock = clock
        self.connected = asyncio.Event()  # set while subscribed (tests, health)

    @property
    def name(self) -> str:
        return f"gatt:{self.address}"

    @property
    def sensors(self) -> tuple[str, ...]:
        return (self._sensor,)

    def _frame(self, characteristic: str, data: bytes | bytearray) -> Notification:
        # Reception time is read here, at the boundary, like the BLE scanner does.
        return Notification(self.address, characteristic, bytes(data), self._clock())

    async def run(self, emit: Emit) -> None:
        from bleak import BleakClient, BleakScanner
        from bleak.exc import BleakError
        from bleak_retry_connector import BleakNotFoundError, establish_connection

        kwargs: dict[str, Any] = {"adapter": self._adapter} if self._adapter else {}
        lost = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_disconnect(_client: BleakClient) -> None:
            # bleak calls this from its own callback; hop onto the loop to set the event.
            loop.call_soon_threadsafe(lost.set)

        def on_notify(characteristic: str) -> Callable[[Any, bytearray], None]:
            # One callback per subscription, so the characteristic comes from our config.
            def callback(_char: Any, data: bytearray) -> None:
                emit(self._frame(characteristic, data))

            return callback

        try:
            device = await BleakScanner.find_device_by_address(
                self.address, timeout=FIND_TIMEOUT_S, **kwargs
            )
            if device is None:
                raise DriverError(self.name, "wearable not found (out of range or off?)")
            client = await establish_connection(
                BleakClient, device, self._sensor, disconnected_callback=on_disconnect
            )
        except (BleakError, BleakNotFoundError, OSError, TimeoutError) as exc:
            raise DriverError(self.name, f"cannot connect: {exc!r}") from exc
        try:
            for char in self.characteristics:
                try:
                    await client.start_notify(char, on_notify(char))
                except (BleakError, OSError) as exc:
                    # Also what a configured characteristic the device lacks gives.
                    raise DriverError(self.name, f"cannot subscribe to {char}: {exc!r}") from exc
            self.connected.set()
            log.info(
                "%s: connected, notifications on %s", self.name, ", ".join(self.characteristics)
            )
            await lost.wait()
            raise DriverError(self.name, "wearable disconnected")
        finally:
            self.connected.clear()
            try:
                await client.disconnect()
            except (BleakError, OSError) as exc:  # already gone: nothing left to close
                log.debug("%s: disconnect failed: %r", self.name, exc)
