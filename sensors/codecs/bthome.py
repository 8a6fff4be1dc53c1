"""BTHome v2 (https://bthome.io/format/) service data: encode ourselves, decode with bthome-ble.

Encoding is our own small table so that simulators send exactly the bytes a real device
sends; decoding goes through the real `bthome_ble` parser (the one Home Assistant uses),
so the two sides cross-check each other in the round-trip tests.

Pure: no I/O, no clock. `BTHomeDecoder` keeps a little state per device (the last packet
id) because BTHome devices repeat each advertisement several times for reliability and a
repeated button press must not raise a second alarm.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from sensors.errors import DecodeError
from sensors.readings import Advertisement, ButtonEvent, ButtonPress, DecodedFrame, Reading

SERVICE_UUID: Final = "0000fcd2-0000-1000-8000-00805f9b34fb"  # 0xFCD2, BTHome v2
DEVICE_KIND: Final = "bthome"

# Device-information byte: bit 0 encrypted, bit 2 trigger-based ("sleepy": sends only on
# events plus a slow keep-alive), bits 5-7 BTHome version (2).
_INFO_VERSION_2: Final = 2 << 5
_INFO_ENCRYPTED: Final = 1 << 0
_INFO_TRIGGER_BASED: Final = 1 << 2

# BTHome v2 object ids we send; objects must appear in ascending id order (spec).
OBJ_PACKET_ID: Final = 0x00  # uint8
OBJ_BATTERY: Final = 0x01  # uint8, %
OBJ_TEMPERATURE: Final = 0x02  # sint16, 0.01 degC
OBJ_HUMIDITY: Final = 0x03  # uint16, 0.01 %
OBJ_ILLUMINANCE: Final = 0x05  # uint24, 0.01 lux
OBJ_MASS: Final = 0x06  # uint16, 0.01 kg (a bathroom scale)
OBJ_OPENING: Final = 0x11  # uint8, 0 closed / 1 open (a door or window contact)
OBJ_DOOR: Final = 0x1A  # uint8, 0 closed / 1 open
OBJ_MOTION: Final = 0x21  # uint8, 0/1
OBJ_OCCUPANCY: Final = 0x23  # uint8, 0 clear / 1 detected (a bed or chair mat)
OBJ_WINDOW: Final = 0x2D  # uint8, 0 closed / 1 open
OBJ_BUTTON: Final = 0x3A  # uint8 event

_BUTTON_CODE: Final[dict[ButtonPress, int]] = {
    ButtonPress.PRESS: 0x01,
    ButtonPress.DOUBLE_PRESS: 0x02,
    ButtonPress.TRIPLE_PRESS: 0x03,
    ButtonPress.LONG_PRESS: 0x04,
    ButtonPress.LONG_DOUBLE_PRESS: 0x05,
    ButtonPress.LONG_TRIPLE_PRESS: 0x06,
    ButtonPress.HOLD_PRESS: 0x80,
    ButtonPress.HOLD_RELEASE: 0x81,
}

# bthome_ble entity keys -> our reading quantities (units: %, degC, %, lux, 0/1).
_QUANTITY_BY_KEY: Final[dict[str, str]] = {
    "battery": "battery",
    "temperature": "temperature",
    "humidity": "humidity",
    "illuminance": "illuminance",
    "motion": "motion",
    "mass": "weight",  # kg
    "opening": "opening",
    "door": "door",
    "window": "window",
    "occupancy": "occupancy",
}

# BTHome recommends treating an equal packet id within a few seconds as a repeat; the
# bthome_ble parser uses 4 s and a forward window of 64 ids, and so do we.
DUPLICATE_WINDOW_S: Final = 4.0


@dataclass(frozen=True, slots=True)
class BTHomePayload:
    """The objects of one BTHome v2 advertisement that we know how to encode."""

    packet_id: int | None = None
    battery: int | None = None  # percent, 0..100
    temperature: float | None = None  # degC
    humidity: float | None = None  # %
    illuminance: float | None = None  # lux
    motion: bool | None = None
    button: ButtonPress | None = None
    trigger_based: bool = False
    # Added later: keyword-only in practice (positional callers know the fields above).
    mass: float | None = None  # kg
    opening: bool | None = None
    door: bool | None = None
    occupancy: bool | None = None
    window: bool | None = None


def encode_service_data(payload: BTHomePayload) -> bytes:
    """The service data bytes (under UUID 0xFCD2) a BTHome v2 device would advertise."""
    info = _INFO_VERSION_2 | (_INFO_TRIGGER_BASED if payload.trigger_based else 0)
    out = bytearray([info])
    try:
        if payload.packet_id is not None:
            out += struct.pack("<BB", OBJ_PACKET_ID, payload.packet_id)
        if payload.battery is not None:
            if not 0 <= payload.battery <= 100:
                raise ValueError(f"battery {payload.battery} % out of range")
            out += struct.pack("<BB", OBJ_BATTERY, payload.battery)
        if payload.temperature is not None:
            out += struct.pack("<Bh", OBJ_TEMPERATURE, round(payload.temperature * 100))
        if payload.humidity is not None:
            out += struct.pack("<BH", OBJ_HUMIDITY, round(payload.humidity * 100))
        if payload.illuminance is not None:
            lux = round(payload.illuminance * 100)
            out += bytes([OBJ_ILLUMINANCE]) + lux.to_bytes(3, "little")
        if payload.mass is not None:
            out += struct.pack("<BH", OBJ_MASS, round(payload.mass * 100))
        if payload.opening is not None:
            out += struct.pack("<BB", OBJ_OPENING, int(payload.opening))
        if payload.door is not None:
            out += struct.pack("<BB", OBJ_DOOR, int(payload.door))
        if payload.motion is not None:
            out += struct.pack("<BB", OBJ_MOTION, int(payload.motion))
        if payload.occupancy is not None:
            out += struct.pack("<BB", OBJ_OCCUPANCY, int(payload.occupancy))
        if payload.window is not None:
            out += struct.pack("<BB", OBJ_WINDOW, int(payload.window))
        if payload.button is not None:
            out += struct.pack("<BB", OBJ_BUTTON, _BUTTON_CODE[payload.button])
    except (struct.error, OverflowError) as exc:
        raise ValueError(f"value out of range for BTHome: {exc}") from exc
    return bytes(out)


def encode_advertisement(
    address: str, payload: BTHomePayload, *, t: float, rssi: int = -60, name: str = ""
) -> Advertisement:
    """A whole advertisement as our BLE driver would yield it."""
    return Advertisement(
        address=address.upper(),
        service_data={SERVICE_UUID: encode_service_data(payload)},
        rssi=rssi,
        t=t,
        name=name,
    )


def _check_framing(data: bytes) -> None:
    """Reject what bthome_ble would silently truncate: unknown ids, short objects.

    The parser stops at the first object it cannot frame and returns what came before,
    which would turn a corrupt frame into a plausible partial one; we want an error.
    """
    from bthome_ble.const import MEAS_TYPES

    if not data:
        raise DecodeError(DEVICE_KIND, "empty service data")
    info = data[0]
    if (info >> 5) & 7 != 2:
        raise DecodeError(DEVICE_KIND, f"not BTHome v2 (device info byte {info:#04x})")
    if info & _INFO_ENCRYPTED:
        raise DecodeError(DEVICE_KIND, "encrypted advertisement and no bind key configured")
    if info & 0x02:  # bit 1: MAC included, a v1 feature that v2 reserves
        raise DecodeError(DEVICE_KIND, "reserved bit 1 set in device info byte")
    payload, i = data[1:], 0
    if not payload:
        raise DecodeError(DEVICE_KIND, "no objects")
    while i < len(payload):
        obj = payload[i]
        meas = MEAS_TYPES.get(obj)
        if meas is None:
            raise DecodeError(DEVICE_KIND, f"unknown object id {obj:#04x} at offset {i + 1}")
        if meas.data_format in ("raw", "string", "command"):
            if i + 1 >= len(payload):
                raise DecodeError(DEVICE_KIND, f"object {obj:#04x} lacks its length byte")
            length = payload[i + 1]
            if meas.data_format == "command":  # low 5 bits: argument length, plus the opcode
                length = (length & 0x1F) + 1
            i += 2 + length
        else:
            i += 1 + int(meas.data_length)
        if i > len(payload):
            raise DecodeError(DEVICE_KIND, f"object {obj:#04x} truncated")


def decode_advertisement(sensor: str, adv: Advertisement) -> DecodedFrame:
    """Decode one advertisement's BTHome v2 service data with the real bthome_ble parser.

    Stateless (no duplicate filtering: see `BTHomeDecoder`). Raises DecodeError for
    anything that is not a well-formed, unencrypted BTHome v2 frame.
    """
    data = adv.service_data.get(SERVICE_UUID)
    if data is None:
        raise DecodeError(DEVICE_KIND, "no BTHome service data (UUID 0xFCD2)")
    _check_framing(data)

    from bleak.backends.device import BLEDevice
    from bthome_ble import BTHomeBluetoothDeviceData
    from habluetooth import BluetoothServiceInfoBleak

    # bthome_ble wants Home Assistant's service-info object; we build it by hand (no
    # scanner involved). A fresh parser per frame makes entity_values hold exactly this
    # frame's objects: a long-lived one keeps every value it ever saw.
    info = BluetoothServiceInfoBleak(
        name=adv.name or adv.address,
        address=adv.address,
        rssi=adv.rssi,
        manufacturer_data={},
        service_data={SERVICE_UUID: bytes(data)},
        service_uuids=[SERVICE_UUID],
        source="mz-edge",
        device=BLEDevice(adv.address, adv.name or None, None),
        advertisement=None,
        connectable=False,
        time=adv.t,
        tx_power=None,
    )
    parser = BTHomeBluetoothDeviceData()
    try:
        update = parser.update(info)
    except (ValueError, IndexError, KeyError, struct.error) as exc:
        raise DecodeError(DEVICE_KIND, f"bthome_ble rejected frame: {exc!r}") from exc

    readings: list[Reading] = []
    battery: float | None = None
    packet_id: int | None = None
    values: dict[str, float] = {}
    for key, sv in update.entity_values.items():
        if isinstance(sv.native_value, int | float):
            values[key.key] = float(sv.native_value)
    for key, bv in update.binary_entity_values.items():
        if bv.native_value is not None:
            values[key.key] = float(bool(bv.native_value))
    for name, value in sorted(values.items()):
        if name == "packet_id":
            packet_id = int(value)
        elif name in _QUANTITY_BY_KEY:
            readings.append(Reading(sensor, _QUANTITY_BY_KEY[name], adv.t, value))
            if name == "battery":
                battery = value
    buttons: list[ButtonEvent] = []
    for key, ev in update.events.items():
        if key.key.startswith("button"):
            try:
                buttons.append(ButtonEvent(sensor, ButtonPress(ev.event_type), adv.t))
            except ValueError as exc:
                raise DecodeError(DEVICE_KIND, f"unknown button event {ev.event_type!r}") from exc
    if not readings and not buttons and packet_id is None:
        raise DecodeError(DEVICE_KIND, "frame carried no object we understand")
    return DecodedFrame(
        sensor=sensor,
        t=adv.t,
        readings=tuple(readings),
        buttons=tuple(buttons),
        battery=battery,
        packet_id=packet_id,
    )


class BTHomeDecoder:
    """Per-device decoder that drops the repeats of an advertisement (same packet id)."""

    __slots__ = ("_last_id", "_last_t", "sensor")

    def __init__(self, sensor: str) -> None:
        self.sensor = sensor
        self._last_id: int | None = None
        self._last_t = 0.0

    def decode(self, adv: Advertisement) -> DecodedFrame | None:
        """The decoded frame, or None when `adv` repeats one already seen."""
        frame = decode_advertisement(self.sensor, adv)
        pid = frame.packet_id
        if pid is None:
            return frame
        last = self._last_id
        if last is not None and adv.t - self._last_t <= DUPLICATE_WINDOW_S:
            ahead = (pid - last) % 256
            # Same id, or an id "behind" the last one (re-ordered through a proxy): a repeat.
            if ahead == 0 or ahead >= 64:
                return None
        self._last_id, self._last_t = pid, adv.t
        return frame
