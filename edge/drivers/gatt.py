"""Connected BLE devices: GATT connections, notifications and indications in, frames out.

    slots = ConnectionSlots(3)
    wearable = GattWearable("wearable-1", "AA:BB:CC:DD:EE:FF", ACCEL_CHARACTERISTIC,
                            health=(HEART_RATE_MEASUREMENT,), slots=slots)
    cuff = GattHealthDevice("cuff-1", "AA:BB:CC:DD:EE:01", (BLOOD_PRESSURE_MEASUREMENT,),
                            slots=slots)
    await wearable.run(emit)  # emits `Notification`s; raises DriverError when the link drops
    await cuff.run(emit)      # runs until cancelled: connects whenever the cuff turns up

Two kinds of device, one way of talking to them:

- a **wearable** streams 20-200 Hz of samples (and its heart rate, SpO2) and is meant to
  stay connected: `GattWearable.run` raises `DriverError` when the link drops, and the
  agent's supervisor reconnects with jittered backoff (the wearable codec's device clock
  tells the detector about the gap);
- a **spot-check device** (blood-pressure cuff, thermometer, scale, spot-check oximeter)
  advertises only around a measurement, indicates it (and any stored ones) to whoever
  is connected, and then disconnects or falls silent. Being out of sight is its normal
  state, not a fault: `GattHealthDevice.run` looks for it again and again, connects when
  it turns up, takes what it indicates, lets go of the connection when the device goes
  quiet, and retries failed connects with its own jittered backoff. It raises
  `DriverError` only for what a retry cannot mend (a configured characteristic the
  device does not have).

Each finds the device (BlueZ only knows a device it has seen advertise), takes a slot of
the shared `ConnectionSlots` (the adapter's cap on concurrent connections; ESPHome's
Bluetooth proxies have the same), connects with bleak-retry-connector's
`establish_connection` (it retries the transient BlueZ failures a Pi sees every day:
"le-connection-abort-by-local", "br-connection-canceled", ...), subscribes to every
configured characteristic on that one connection and emits each value as our own
`Notification`, tagged with the characteristic it came from so the pipeline picks the
codec. bleak's `start_notify` enables notifications or indications, whichever the
characteristic has (the CCCD write differs; bleak and BlueZ do it); a read-only one (a
Battery Level, often) is read once per connection; one that does none of these is
refused by name before subscribing. No bleak type leaves this module (the
characteristic is bound per subscription, not read from bleak's object).

`client_backend` / `scanner_backend` are bleak's own backend seam (`BleakClient(...,
backend=...)`, `BleakScanner(..., backend=...)`): None on the Pi (BlueZ); the tests pass
a fake radio there, so everything above it - bleak, bleak-retry-connector and this module
- runs in CI as it does on the Pi.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypedDict, Unpack

from edge.backoff import Backoff
from edge.drivers import Emit
from edge.errors import DriverError
from sensors.readings import Notification

if TYPE_CHECKING:
    from bleak import BleakClient

log = logging.getLogger(__name__)

# The accelerometer-burst characteristic of our wearable profile (vendor-specific 128-bit
# UUID; the frame format is in `sensors.codecs.wearable`).
ACCEL_CHARACTERISTIC: Final = "4d5a0002-6d7a-4f6e-9a6c-6d6f62696c65"
# BlueZ only knows a device it has seen advertise; a wearable advertises every ~1 s while
# unconnected, so 20 s covers a few missed ones.
FIND_TIMEOUT_S: Final = 20.0
# A spot-check device that has said nothing for this long after connecting (or after its
# last indication) has nothing more to say: let go of the slot. A cuff indicates its
# measurement (and stored ones) within a second or two of the connection.
IDLE_DISCONNECT_S: Final = 30.0
# Default cap on concurrent GATT connections (the Pi's on-board adapter holds a few; an
# ESPHome proxy has 3 slots).
DEFAULT_MAX_CONNECTIONS: Final = 3


class ConnectionSlots:
    """The adapter's connection slots, shared by every GATT driver of the agent: at most
    `limit` connections at once; a driver waits for a free slot before connecting."""

    def __init__(self, limit: int = DEFAULT_MAX_CONNECTIONS) -> None:
        if limit < 1:
            raise ValueError("at least one connection slot")
        self.limit = limit
        self._sem = asyncio.Semaphore(limit)
        self.in_use = 0
        self.peak = 0  # the most ever held at once (tests, status)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._sem:
            self.in_use += 1
            self.peak = max(self.peak, self.in_use)
            try:
                yield
            finally:
                self.in_use -= 1


def _check_characteristics(sensor: str, chars: Sequence[str]) -> tuple[str, ...]:
    if not chars:
        raise ValueError(f"{sensor}: no characteristic to subscribe to")
    if len(set(chars)) != len(chars):
        raise ValueError(f"{sensor}: a characteristic is listed twice")
    return tuple(chars)


class LinkOptions(TypedDict, total=False):
    """How a GATT driver reaches its device (every key optional)."""

    adapter: str | None  # BlueZ adapter ("hci1"); None: the default
    clock: Callable[[], float]  # reception time (default `time.time`)
    slots: ConnectionSlots | None  # the agent's shared connection cap
    client_backend: type[Any] | None  # bleak backend seams (tests: a fake radio)
    scanner_backend: type[Any] | None
    find_timeout_s: float  # how long one scan looks for the device


class _Link:
    """What both drivers share: find, take a slot, connect, subscribe, let go."""

    def __init__(
        self,
        sensor: str,
        address: str,
        characteristics: tuple[str, ...],
        **options: Unpack[LinkOptions],
    ) -> None:
        self.sensor = sensor
        self.address = address.upper()
        self.characteristics = characteristics
        self.clock = options.get("clock", time.time)
        self.slots = options.get("slots")
        self.find_timeout_s = options.get("find_timeout_s", FIND_TIMEOUT_S)
        self._scanner_kwargs: dict[str, Any] = {}
        self._client_kwargs: dict[str, Any] = {}
        adapter = options.get("adapter")
        if adapter:
            self._scanner_kwargs["bluez"] = {"adapter": adapter}
            self._client_kwargs["bluez"] = {"adapter": adapter}
        scanner_backend = options.get("scanner_backend")
        if scanner_backend is not None:
            self._scanner_kwargs["backend"] = scanner_backend
        client_backend = options.get("client_backend")
        if client_backend is not None:
            self._client_kwargs["backend"] = client_backend

    @property
    def name(self) -> str:
        return f"gatt:{self.address}"

    async def find(self) -> Any | None:
        """The BLEDevice, or None when it did not advertise within the find timeout."""
        from bleak import BleakScanner
        from bleak.exc import BleakError

        try:
            return await BleakScanner.find_device_by_address(
                self.address, timeout=self.find_timeout_s, **self._scanner_kwargs
            )
        except (BleakError, OSError) as exc:  # FileNotFoundError: no D-Bus/BlueZ
            raise DriverError(self.name, f"cannot scan: {exc!r}") from exc

    @contextlib.asynccontextmanager
    async def session(
        self, device: Any, emit: Emit, lost: asyncio.Event, heard: Callable[[], None]
    ) -> AsyncIterator[None]:
        """Connected and subscribed to every characteristic inside; `lost` is set when the
        device drops the link, `heard` called on every value. Connection failures raise
        DriverError (retryable); a missing characteristic DriverError(retryable=False)."""
        from bleak import BleakClient
        from bleak.exc import BleakError
        from bleak_retry_connector import BleakNotFoundError, establish_connection

        loop = asyncio.get_running_loop()

        def on_disconnect(_client: BleakClient) -> None:
            # bleak calls this from its own callback; hop onto the loop to set the event.
            loop.call_soon_threadsafe(lost.set)

        def on_value(characteristic: str) -> Callable[[Any, bytearray], None]:
            # One callback per subscription, so the characteristic comes from our config.
            def callback(_char: Any, data: bytearray) -> None:
                heard()
                # Reception time is read here, at the boundary, like the BLE scanner does.
                emit(Notification(self.address, characteristic, bytes(data), self.clock()))

            return callback

        async with self.slots.slot() if self.slots else contextlib.nullcontext():
            try:
                client = await establish_connection(
                    BleakClient,
                    device,
                    self.sensor,
                    disconnected_callback=on_disconnect,
                    **self._client_kwargs,
                )
            except (BleakError, BleakNotFoundError, OSError, TimeoutError) as exc:
                raise DriverError(self.name, f"cannot connect: {exc!r}") from exc
            try:
                modes = []
                for char in self.characteristics:
                    modes.append(f"{char} ({await self._subscribe(client, char, on_value(char))})")
                log.info("%s: connected, subscribed to %s", self.name, ", ".join(modes))
                yield
            finally:
                try:
                    await client.disconnect()
                except (BleakError, OSError) as exc:  # already gone: nothing left to close
                    log.debug("%s: disconnect failed: %r", self.name, exc)

    async def _subscribe(
        self, client: BleakClient, char: str, callback: Callable[[Any, bytearray], None]
    ) -> str:
        from bleak.exc import BleakError

        found = client.services.get_characteristic(char)
        if found is None:
            raise DriverError(
                self.name,
                f"cannot subscribe to {char}: the device has no such characteristic",
                retryable=False,
            )
        props = set(found.properties)
        if not props & {"notify", "indicate"}:
            if "read" not in props:
                raise DriverError(
                    self.name,
                    f"cannot subscribe to {char}: it neither notifies, indicates nor reads"
                    f" ({', '.join(sorted(props))})",
                    retryable=False,
                )
            # Many devices' Battery Level is read-only: read it once per connection.
            try:
                callback(found, await client.read_gatt_char(char))
            except (BleakError, OSError) as exc:
                raise DriverError(self.name, f"cannot read {char}: {exc!r}") from exc
            return "read once"
        try:
            await client.start_notify(char, callback)
        except (BleakError, OSError) as exc:
            raise DriverError(self.name, f"cannot subscribe to {char}: {exc!r}") from exc
        return "indications" if "indicate" in props and "notify" not in props else "notifications"


class _GattDriver:
    """One device over its own GATT connection (one driver per device)."""

    def __init__(
        self, sensor: str, address: str, characteristics: Sequence[str], options: LinkOptions
    ) -> None:
        self._sensor = sensor
        self.characteristics = _check_characteristics(sensor, [c.lower() for c in characteristics])
        self._link = _Link(sensor, address, self.characteristics, **options)
        self.address = self._link.address
        self.connected = asyncio.Event()  # set while subscribed (tests, health)

    @property
    def name(self) -> str:
        return self._link.name

    @property
    def sensors(self) -> tuple[str, ...]:
        return (self._sensor,)


class GattWearable(_GattDriver):
    """A wearable, kept connected: a lost link is a DriverError for the supervisor."""

    def __init__(
        self,
        sensor: str,
        address: str,
        characteristic: str | None = ACCEL_CHARACTERISTIC,
        *,
        health: Sequence[str] = (),
        **options: Unpack[LinkOptions],
    ) -> None:
        """`characteristic`: the accelerometer's (None: a band without one); `health`:
        further characteristics (128-bit UUIDs) notified on the same connection."""
        self.characteristic = characteristic.lower() if characteristic else None
        accel = [self.characteristic] if self.characteristic else []
        super().__init__(sensor, address, [*accel, *health], options)

    async def run(self, emit: Emit) -> None:
        device = await self._link.find()
        if device is None:
            raise DriverError(self.name, "wearable not found (out of range or off?)")
        lost = asyncio.Event()
        try:
            async with self._link.session(device, emit, lost, lambda: None):
                self.connected.set()
                await lost.wait()
                raise DriverError(self.name, "wearable disconnected")
        finally:
            self.connected.clear()


class GattHealthDevice(_GattDriver):
    """A spot-check health device (cuff, thermometer, scale, spot-check oximeter): connects
    whenever it turns up, for as long as it has something to say."""

    def __init__(
        self,
        sensor: str,
        address: str,
        characteristics: Sequence[str],
        *,
        idle_disconnect_s: float = IDLE_DISCONNECT_S,
        backoff: Backoff | None = None,
        **options: Unpack[LinkOptions],
    ) -> None:
        super().__init__(sensor, address, characteristics, options)
        self.idle_s = idle_disconnect_s
        # Connect failures: 1 s, 2 s, ... up to a minute (jittered); reset by a session
        # that delivered a value. A device out of sight costs no backoff: finding it is a
        # scan that waits by itself.
        self.backoff = backoff or Backoff(1.0, 60.0)
        self.sessions = 0  # connections that subscribed (tests, status)
        self.connect_failures = 0

    async def run(self, emit: Emit) -> None:
        while True:
            device = await self._link.find()
            if device is None:
                log.debug("%s: not in sight", self.name)
                continue
            try:
                delivered = await self._session(device, emit)
            except DriverError as exc:
                if not exc.retryable:
                    raise
                self.connect_failures += 1
                delay = self.backoff.next()
                log.info("%s: %s; next try in %.1f s", self.name, exc.detail, delay)
                await asyncio.sleep(delay)
                continue
            if delivered:
                self.backoff.reset()

    async def _session(self, device: Any, emit: Emit) -> bool:
        """One connection; True if the device sent anything."""
        lost = asyncio.Event()
        heard = asyncio.Event()
        values = 0

        def on_value() -> None:
            nonlocal values
            values += 1
            heard.set()

        try:
            async with self._link.session(device, emit, lost, on_value):
                self.connected.set()
                self.sessions += 1
                while not lost.is_set():
                    heard.clear()
                    waiters = {
                        asyncio.ensure_future(lost.wait()),
                        asyncio.ensure_future(heard.wait()),
                    }
                    done, pending = await asyncio.wait(waiters, timeout=self.idle_s)
                    for w in pending:
                        w.cancel()
                    if not done:
                        log.info("%s: quiet for %.0f s, letting go", self.name, self.idle_s)
                        break
        finally:
            self.connected.clear()
        log.info("%s: session ended after %d value(s)", self.name, values)
        return values > 0
