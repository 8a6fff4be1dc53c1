"""A fake Bluetooth radio at bleak's backend seam, for the BLE drivers in every test run.

bleak selects a platform backend (BlueZ over D-Bus on the Pi) behind `BleakScanner` and
`BleakClient`; both take `backend=` to replace it. `FakeRadio` provides the two backend
classes, so the real `BleakScanner`, `BleakClient`, bleak-retry-connector's
`establish_connection` and our drivers run unchanged above them. Only the radio is fake:

- advertisements reach the scanner the way bleak's own backends deliver them
  (`create_or_update_device` + `call_detection_callbacks` with a `BLEDevice` and an
  `AdvertisementData`), as Home Assistant's `inject_bluetooth_service_info` does one
  level higher;
- a `Peripheral` is a GATT server: services and characteristics with their properties
  (notify / indicate / read), values pushed to the subscribed client through the
  callback bleak registered, connection failures and unsolicited disconnects on demand.

    radio = FakeRadio()
    cuff = radio.add("AA:BB:CC:DD:EE:01", {BP_SERVICE: {BP_MEASUREMENT: ["indicate"]}})
    driver = GattHealthDevice(..., client_backend=radio.client_backend,
                              scanner_backend=radio.scanner_backend)
    cuff.advertising = True          # the cuff turns up
    await wait_until(lambda: cuff.subscribed(BP_MEASUREMENT))
    cuff.send(BP_MEASUREMENT, data)  # an indication
    cuff.drop()                      # the cuff disconnects
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError

# service UUID -> characteristic UUID -> properties ("notify", "indicate", "read", ...)
Layout = dict[str, dict[str, list[str]]]


class Peripheral:
    """One BLE device: what it advertises and its GATT server."""

    def __init__(self, radio: FakeRadio, address: str, layout: Layout) -> None:
        self.radio = radio
        self.address = address.upper()
        self.layout = layout
        self.name: str | None = None
        self.service_data: dict[str, bytes] = {}
        self.rssi = -60
        self._advertising = False
        self.fail_connects = 0  # the next n connects fail with `fail_message`
        self.fail_message = "[org.bluez.Error.Failed] le-connection-abort-by-local"
        self.connects = 0  # connection attempts that reached the device
        self.client: FakeClientBackend | None = None
        self.values: dict[str, bytes] = {}  # readable values
        self.subscriptions: dict[str, NotifyCallback] = {}

    @property
    def advertising(self) -> bool:
        return self._advertising

    @advertising.setter
    def advertising(self, on: bool) -> None:
        self._advertising = on
        if on:
            self.advertise()

    def advertise(self, **changes: Any) -> None:
        """One advertisement to every running scanner (`service_data=`, `name=`, `rssi=`
        change what it says first)."""
        for key, value in changes.items():
            setattr(self, key, value)
        for scanner in list(self.radio.scanners):
            scanner.hear(self, once=True)

    def subscribed(self, characteristic: str) -> bool:
        return characteristic in self.subscriptions

    def send(self, characteristic: str, data: bytes) -> None:
        """A notification or indication of `characteristic` to the connected client."""
        callback = self.subscriptions.get(characteristic)
        if callback is None:
            raise AssertionError(f"{self.address}: nobody subscribed to {characteristic}")
        callback(bytearray(data))

    def drop(self) -> None:
        """The device ends the connection (walked away, switched off, done)."""
        client = self.client
        if client is None:
            raise AssertionError(f"{self.address}: not connected")
        client.lost()


class FakeScannerBackend(BaseBleakScanner):
    """bleak scanner backend over the fake radio (bound to a radio by `FakeRadio`)."""

    radio: FakeRadio

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        **_kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)

    async def start(self) -> None:
        self.seen_devices = {}
        self.radio.scans += 1
        self.radio.scanners.append(self)
        # Devices already advertising are heard as soon as the scan runs (a device
        # advertises every 100 ms - 1 s).
        loop = asyncio.get_running_loop()
        for p in list(self.radio.peripherals.values()):
            if p.advertising:
                loop.call_soon(self.hear, p)

    async def stop(self) -> None:
        if self in self.radio.scanners:
            self.radio.scanners.remove(self)

    def hear(self, p: Peripheral, *, once: bool = False) -> None:
        if self not in self.radio.scanners or not (p.advertising or once):
            return
        adv = AdvertisementData(
            local_name=p.name,
            manufacturer_data={},
            service_data=dict(p.service_data),
            service_uuids=list(p.layout),
            tx_power=None,
            rssi=p.rssi,
            platform_data=(),
        )
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        device = self.create_or_update_device(p.address, p.address, p.name, None, adv)
        self.call_detection_callbacks(device, adv)


class FakeClientBackend(BaseBleakClient):
    """bleak client backend over the fake radio (bound to a radio by `FakeRadio`)."""

    radio: FakeRadio

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float = 10.0,
        **_kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._connected = False
        self._peripheral: Peripheral | None = None

    @property
    def name(self) -> str:
        return self.address

    @property
    def mtu_size(self) -> int:
        return 23

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        p = self.radio.peripherals.get(self.address.upper())
        if p is None or not p.advertising:
            raise BleakDeviceNotFoundError(self.address, f"Device with address {self.address}")
        p.connects += 1
        if p.fail_connects > 0:
            p.fail_connects -= 1
            raise BleakError(p.fail_message)
        self.services = _services(p.layout)
        self._peripheral = p
        self._connected = True
        p.client = self
        self.radio.connected.add(p.address)
        self.radio.peak = max(self.radio.peak, len(self.radio.connected))

    def _forget(self) -> None:
        p = self._peripheral
        self._connected = False
        if p is not None and p.client is self:
            p.client = None
            p.subscriptions.clear()
            self.radio.connected.discard(p.address)

    async def disconnect(self) -> None:
        self._forget()

    def lost(self) -> None:
        """Unsolicited disconnect: bleak reports it through the disconnected callback."""
        self._forget()
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def unpair(self) -> None:
        return None

    @property
    def is_connected(self) -> bool:
        return self._connected

    def _p(self) -> Peripheral:
        if not self._connected or self._peripheral is None:
            raise BleakError("Not connected")
        return self._peripheral

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(self._p().values.get(characteristic.uuid, b""))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        raise BleakError("descriptors are not simulated")

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        self._p().values[characteristic.uuid] = bytes(data)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        raise BleakError("descriptors are not simulated")

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        p = self._p()
        if not {"notify", "indicate"} & set(characteristic.properties):
            # what BlueZ answers for a characteristic without notify or indicate
            raise BleakError("[org.bluez.Error.NotSupported] Operation is not supported")
        p.subscriptions[characteristic.uuid] = callback

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._p().subscriptions.pop(characteristic.uuid, None)


def _services(layout: Layout) -> BleakGATTServiceCollection:
    services = BleakGATTServiceCollection()
    handle = 1
    for service_uuid, chars in layout.items():
        service = BleakGATTService(None, handle, service_uuid)
        services.add_service(service)
        handle += 1
        for char_uuid, props in chars.items():
            char = BleakGATTCharacteristic(
                None,
                handle,
                char_uuid,
                props,  # type: ignore[arg-type]
                lambda: 20,
                service,
            )
            services.add_characteristic(char)
            handle += 2  # value + CCCD
    return services


class FakeRadio:
    """The air around the dwelling's adapter: peripherals and the scans listening."""

    def __init__(self) -> None:
        self.peripherals: dict[str, Peripheral] = {}
        self.scanners: list[FakeScannerBackend] = []
        self.connected: set[str] = set()
        self.peak = 0  # most connections ever open at once
        self.scans = 0  # scans started (a driver looking for its device starts one each time)
        radio = self
        self.scanner_backend: type[FakeScannerBackend] = type(
            "FakeScannerBackend", (FakeScannerBackend,), {"radio": radio}
        )
        self.client_backend: type[FakeClientBackend] = type(
            "FakeClientBackend", (FakeClientBackend,), {"radio": radio}
        )

    def add(self, address: str, layout: Layout | None = None) -> Peripheral:
        p = Peripheral(self, address, layout or {})
        self.peripherals[p.address] = p
        return p
