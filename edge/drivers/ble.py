"""BLE advertisement scanning with bleak: passive listening, no connections.

Converts bleak's (BLEDevice, AdvertisementData) into our `Advertisement` right in the
callback, so no bleak type travels further. Needs BlueZ over D-Bus on the Pi; on a
machine without it, starting the scanner fails and the supervisor retries with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from edge.drivers import Emit
from edge.errors import DriverError
from sensors.readings import Advertisement

log = logging.getLogger(__name__)


class BleScanner:
    """One scanner for all BLE devices of the dwelling (there is one radio)."""

    def __init__(
        self,
        addresses: dict[str, str],
        *,
        adapter: str | None = None,
        clock: Callable[[], float] = time.time,
        scanner_backend: type[Any] | None = None,
    ) -> None:
        """`scanner_backend`: bleak's backend seam (`BleakScanner(backend=...)`); None on
        the Pi (BlueZ), a fake radio in the tests."""
        self._addresses = {a.upper(): s for a, s in addresses.items()}  # MAC -> device id
        self._adapter = adapter
        self._clock = clock
        self._scanner_backend = scanner_backend
        self.scanning = asyncio.Event()  # set while the scanner runs (tests, health)

    @property
    def name(self) -> str:
        return "ble"

    @property
    def sensors(self) -> tuple[str, ...]:
        return tuple(self._addresses.values())

    def wanted(self, address: str) -> bool:
        return address.upper() in self._addresses

    async def run(self, emit: Emit) -> None:
        from bleak import BleakScanner
        from bleak.backends.device import BLEDevice
        from bleak.backends.scanner import AdvertisementData
        from bleak.exc import BleakError

        def on_advertisement(device: BLEDevice, data: AdvertisementData) -> None:
            if not self.wanted(device.address):
                return  # neighbours' devices: not ours
            emit(
                Advertisement(
                    address=device.address.upper(),
                    service_data={u.lower(): bytes(b) for u, b in data.service_data.items()},
                    rssi=int(data.rssi),
                    t=self._clock(),
                    name=data.local_name or "",
                )
            )

        kwargs: dict[str, Any] = {"bluez": {"adapter": self._adapter}} if self._adapter else {}
        if self._scanner_backend is not None:
            kwargs["backend"] = self._scanner_backend
        try:
            # Passive scanning would suffice for BTHome, but BlueZ needs extra
            # or_patterns for it; active scanning works everywhere.
            async with BleakScanner(detection_callback=on_advertisement, **kwargs):
                self.scanning.set()
                await asyncio.Event().wait()  # until cancelled; bleak reports no loss
        except (BleakError, OSError) as exc:  # FileNotFoundError: no D-Bus/BlueZ
            raise DriverError(self.name, f"BLE scanner failed: {exc!r}") from exc
        finally:
            self.scanning.clear()
