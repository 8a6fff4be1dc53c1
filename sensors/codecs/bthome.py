"""BTHome v2 (https://bthome.io/format/) service data: encode ourselves, decode with bthome-ble.

Encoding is our own small table so that simulators send exactly the bytes a real device
sends; decoding goes through the real `bthome_ble` parser (the one Home Assistant uses),
so the two sides cross-check each other in the round-trip tests, and bthome-ble's own test
payloads (tests/data/bthome_ble_v2_vectors.json) are fed to our decoder.

What we add around the parser, at the boundary:

- **units**: mass in pounds (object 0x07) becomes kg; every quantity leaves in the units
  of `sensors.readings` (degC, %, lux, kg, V, degrees).
- **repeated instances** (two thermometers in one frame) are kept apart: the first keeps
  the plain quantity, the n-th becomes `{quantity}_{n}` (`sensors.plausibility.instance_base`).
- **buttons**: every event, with its index in a multi-button frame (`ButtonEvent.index`);
  the hold event 0xFE that Shelly BLU firmware before 1.0.20 sends is a hold press (the
  parser drops it); an unknown event code is counted in `skipped`, never silently lost.
- **partial frames**: an object id the parser does not know ends what can be framed; the
  objects before it are kept and the rest is counted in `skipped` (so are objects we do not
  use, such as pressure). A frame with nothing readable raises `DecodeError`.
- **encryption** (AES-CCM, device-info bit 0): with the device's 16-byte bind key the frame
  is authenticated and decrypted (nonce: MAC, UUID 0xFCD2, device-info byte, counter) with
  `cryptography`'s AES-CCM, the primitive bthome_ble uses (the plaintext is what we frame;
  the tests cross-check both ways against bthome_ble's own decryption and captures);
  without one, or with the wrong one, it raises. `BTHomeDecoder` refuses a replayed or
  stale counter (`StaleCounterError`, counted by the edge) and a plaintext frame from a
  device that has a bind key (a downgrade).
- **plausibility**: readings outside their physical range (`sensors.plausibility`) go to
  `DecodedFrame.rejected`, never to `readings`.

Pure: no I/O, no clock. `BTHomeDecoder` keeps a little state per device (the last packet
id and encryption counter) because BTHome devices repeat each advertisement several times
for reliability and a repeated button press must not raise a second alarm.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Final

from sensors import plausibility
from sensors.errors import DecodeError, StaleCounterError
from sensors.readings import Advertisement, ButtonEvent, ButtonPress, DecodedFrame, Reading

SERVICE_UUID: Final = "0000fcd2-0000-1000-8000-00805f9b34fb"  # 0xFCD2, BTHome v2
DEVICE_KIND: Final = "bthome"

# Device-information byte: bit 0 encrypted, bit 1 MAC included (6 bytes, reversed, after
# this byte), bit 2 trigger-based ("sleepy": sends only on events plus a slow keep-alive),
# bits 5-7 BTHome version (2).
_INFO_VERSION_2: Final = 2 << 5
_INFO_ENCRYPTED: Final = 1 << 0
_INFO_MAC_INCLUDED: Final = 1 << 1
_INFO_TRIGGER_BASED: Final = 1 << 2
_UUID16_LE: Final = b"\xd2\xfc"
BIND_KEY_BYTES: Final = 16
_MIC_BYTES: Final = 4
_COUNTER_BYTES: Final = 4

# BTHome v2 object ids we send; objects must appear in ascending id order (spec).
OBJ_PACKET_ID: Final = 0x00  # uint8
OBJ_BATTERY: Final = 0x01  # uint8, %
OBJ_TEMPERATURE: Final = 0x02  # sint16, 0.01 degC
OBJ_HUMIDITY: Final = 0x03  # uint16, 0.01 %
OBJ_ILLUMINANCE: Final = 0x05  # uint24, 0.01 lux
OBJ_MASS: Final = 0x06  # uint16, 0.01 kg (a bathroom scale)
OBJ_MASS_LB: Final = 0x07  # uint16, 0.01 lb
OBJ_VOLTAGE: Final = 0x0C  # uint16, 0.001 V
OBJ_OPENING: Final = 0x11  # uint8, 0 closed / 1 open (a door or window contact)
OBJ_MOISTURE: Final = 0x14  # uint16, 0.01 %
OBJ_DOOR: Final = 0x1A  # uint8, 0 closed / 1 open
OBJ_WET: Final = 0x20  # uint8, binary moisture: 0 dry / 1 wet
OBJ_MOTION: Final = 0x21  # uint8, 0/1
OBJ_OCCUPANCY: Final = 0x23  # uint8, 0 clear / 1 detected (a bed or chair mat)
OBJ_PRESENCE: Final = 0x25  # uint8, 0/1
OBJ_VIBRATION: Final = 0x2C  # uint8, 0/1
OBJ_WINDOW: Final = 0x2D  # uint8, 0 closed / 1 open
OBJ_BUTTON: Final = 0x3A  # uint8 event
OBJ_TILT: Final = 0x3F  # sint16, 0.1 degree (BTHome "rotation": a window's tilt)

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
_BUTTON_NONE: Final = 0x00  # "no event" (the other buttons of a multi-button frame)
_BUTTON_HOLD_LEGACY: Final = 0xFE  # Shelly BLU firmware < 1.0.20: hold
_PRESS_BY_CODE: Final[dict[int, ButtonPress]] = {
    **{code: press for press, code in _BUTTON_CODE.items()},
    _BUTTON_HOLD_LEGACY: ButtonPress.HOLD_PRESS,
}

# bthome_ble entity keys -> our reading quantities (units: see the module doc).
_QUANTITY_BY_KEY: Final[dict[str, str]] = {
    "battery": "battery",
    "temperature": "temperature",
    "humidity": "humidity",
    "illuminance": "illuminance",
    "mass": "weight",  # kg (pounds converted)
    "voltage": "voltage",
    "moisture": "moisture",  # %
    "rotation": "tilt",  # degrees
}
_BINARY_QUANTITY_BY_KEY: Final[dict[str, str]] = {
    "motion": "motion",
    "opening": "opening",
    "door": "door",
    "window": "window",
    "occupancy": "occupancy",
    "presence": "presence",
    "vibration": "vibration",
    "moisture": "wet",
}
_LB_IN_KG: Final = 0.45359237  # exact, by definition of the international pound
_KEY_INSTANCE_RE: Final = re.compile(r"^(?P<key>.+?)_(?P<n>[0-9]+)$")
_NOT_READINGS: Final = frozenset({"packet_id", "signal_strength"})

# BTHome recommends treating an equal packet id within a few seconds as a repeat; the
# bthome_ble parser uses 4 s and a forward window of 64 ids, and so do we.
DUPLICATE_WINDOW_S: Final = 4.0
# A counter this low after one at least this high is a device that restarted its counter
# (battery change), as bthome_ble allows; any other decrease is a replay. Counted.
COUNTER_RESTART_BELOW: Final = 100


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
    mass_lb: float | None = None  # lb (object 0x07: a scale set to pounds)
    voltage: float | None = None  # V
    moisture: float | None = None  # %
    wet: bool | None = None
    presence: bool | None = None
    vibration: bool | None = None
    tilt: float | None = None  # degrees
    # A multi-button device (a Shelly BLU RC Button 4): one event per button, None for
    # "no event"; sent after `button` if both are given.
    buttons: tuple[ButtonPress | None, ...] = ()


def _objects(payload: BTHomePayload) -> bytes:
    out = bytearray()

    def put(obj: int, fmt: str, value: float | int | None, scale: float = 1) -> None:
        if value is not None:
            out.extend(struct.pack("<B" + fmt, obj, round(value * scale)))

    put(OBJ_PACKET_ID, "B", payload.packet_id)
    if payload.battery is not None and not 0 <= payload.battery <= 100:
        raise ValueError(f"battery {payload.battery} % out of range")
    put(OBJ_BATTERY, "B", payload.battery)
    put(OBJ_TEMPERATURE, "h", payload.temperature, 100)
    put(OBJ_HUMIDITY, "H", payload.humidity, 100)
    if payload.illuminance is not None:
        lux = round(payload.illuminance * 100)
        out.extend(bytes([OBJ_ILLUMINANCE]) + lux.to_bytes(3, "little"))
    put(OBJ_MASS, "H", payload.mass, 100)
    put(OBJ_MASS_LB, "H", payload.mass_lb, 100)
    put(OBJ_VOLTAGE, "H", payload.voltage, 1000)
    put(OBJ_OPENING, "B", payload.opening)
    put(OBJ_MOISTURE, "H", payload.moisture, 100)
    put(OBJ_DOOR, "B", payload.door)
    put(OBJ_WET, "B", payload.wet)
    put(OBJ_MOTION, "B", payload.motion)
    put(OBJ_OCCUPANCY, "B", payload.occupancy)
    put(OBJ_PRESENCE, "B", payload.presence)
    put(OBJ_VIBRATION, "B", payload.vibration)
    put(OBJ_WINDOW, "B", payload.window)
    if payload.button is not None:
        put(OBJ_BUTTON, "B", _BUTTON_CODE[payload.button])
    for press in payload.buttons:
        put(OBJ_BUTTON, "B", _BUTTON_NONE if press is None else _BUTTON_CODE[press])
    put(OBJ_TILT, "h", payload.tilt, 10)
    return bytes(out)


def _mac_bytes(address: str) -> bytes:
    try:
        mac = bytes.fromhex(address.replace(":", "").replace("-", ""))
    except ValueError as exc:
        raise ValueError(f"not a MAC address: {address!r}") from exc
    if len(mac) != 6:
        raise ValueError(f"not a MAC address: {address!r}")
    return mac


def _nonce(mac: bytes, info: int, counter: bytes) -> bytes:
    # BTHome v2: MAC (6, as written) + UUID16 (2, little-endian) + device info (1) +
    # counter (4): 13 bytes.
    return mac + _UUID16_LE + bytes([info]) + counter


def parse_bind_key(text: str) -> bytes:
    """A bind key as installers write it (32 hex digits) -> its 16 bytes."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError as exc:
        raise ValueError("a bind key is 32 hexadecimal digits") from exc
    if len(key) != BIND_KEY_BYTES:
        raise ValueError(f"a bind key is 32 hexadecimal digits, not {len(key) * 2}")
    return key


def encode_service_data(
    payload: BTHomePayload,
    *,
    key: bytes | None = None,
    address: str | None = None,
    counter: int = 0,
) -> bytes:
    """The service data bytes (under UUID 0xFCD2) a BTHome v2 device would advertise.

    With a bind `key` the objects are encrypted as BTHome v2 devices do (AES-CCM, 4-byte
    MIC; `address` is the device's MAC, `counter` its 32-bit frame counter)."""
    info = _INFO_VERSION_2 | (_INFO_TRIGGER_BASED if payload.trigger_based else 0)
    try:
        objects = _objects(payload)
    except (struct.error, OverflowError) as exc:
        raise ValueError(f"value out of range for BTHome: {exc}") from exc
    if key is None:
        return bytes([info]) + objects
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    if address is None:
        raise ValueError("encrypting needs the device address (it is part of the nonce)")
    if len(key) != BIND_KEY_BYTES:
        raise ValueError("a bind key is 16 bytes")
    if not 0 <= counter <= 0xFFFFFFFF:
        raise ValueError(f"counter {counter} outside 32 bits")
    info |= _INFO_ENCRYPTED
    count = counter.to_bytes(_COUNTER_BYTES, "little")
    sealed = AESCCM(key, tag_length=_MIC_BYTES).encrypt(
        _nonce(_mac_bytes(address), info, count), objects, None
    )
    return bytes([info]) + sealed[:-_MIC_BYTES] + count + sealed[-_MIC_BYTES:]


def encode_advertisement(
    address: str,
    payload: BTHomePayload,
    *,
    t: float,
    rssi: int = -60,
    name: str = "",
    key: bytes | None = None,
    counter: int = 0,
) -> Advertisement:
    """A whole advertisement as our BLE driver would yield it (encrypted with `key`)."""
    return Advertisement(
        address=address.upper(),
        service_data={
            SERVICE_UUID: encode_service_data(payload, key=key, address=address, counter=counter)
        },
        rssi=rssi,
        t=t,
        name=name,
    )


# --------------------------------------------------------------------------- decoding


@dataclass(frozen=True, slots=True)
class _Framed:
    """The readable part of a frame's plaintext objects, and what could not be read."""

    objects: tuple[tuple[int, bytes], ...]  # (object id, value bytes), in frame order
    raw: bytes  # the bytes of `objects`, as sent
    skipped: tuple[str, ...]


def _frame_objects(payload: bytes) -> _Framed:
    """Split the objects the way bthome_ble does, and stop where it would stop.

    The parser silently returns what came before an object it cannot frame (an unknown
    id, a truncated value); we keep that too, but say what was cut off."""
    from bthome_ble.const import MEAS_TYPES

    objects: list[tuple[int, bytes]] = []
    i = 0
    skipped: list[str] = []
    while i < len(payload):
        obj = payload[i]
        meas = MEAS_TYPES.get(obj)
        if meas is None:
            skipped.append(f"unknown object 0x{obj:02x} at offset {i} ({len(payload) - i} bytes)")
            break
        if meas.data_format in ("raw", "string", "command"):
            if i + 1 >= len(payload):
                skipped.append(f"object 0x{obj:02x} at offset {i} lacks its length byte")
                break
            length = payload[i + 1]
            if meas.data_format == "command":  # low 5 bits: argument length, plus the opcode
                length = (length & 0x1F) + 1
            start = i + 2
        else:
            length, start = int(meas.data_length), i + 1
        if length == 0 or start + length > len(payload):
            skipped.append(f"object 0x{obj:02x} at offset {i} truncated")
            break
        objects.append((obj, payload[start : start + length]))
        i = start + length
    # `i` only moves past complete objects: it is where the readable part ends.
    return _Framed(tuple(objects), payload[:i], tuple(skipped))


def _address_bytes(address: str) -> bytes:
    # Only a MAC-included or encrypted frame needs the address as bytes (bleak on macOS
    # names devices by UUID: their plaintext frames still decode).
    try:
        return _mac_bytes(address)
    except ValueError as exc:
        raise DecodeError(DEVICE_KIND, str(exc)) from exc


@dataclass(frozen=True, slots=True)
class _Plain:
    info: int  # device-info byte, encryption and MAC bits cleared
    payload: bytes  # the plaintext objects
    counter: int | None  # the encryption counter (None: not encrypted)


def _open(data: bytes, address: str, key: bytes | None) -> _Plain:
    """Check the device-info byte, strip an included MAC and decrypt."""
    if not data:
        raise DecodeError(DEVICE_KIND, "empty service data")
    info = data[0]
    if (info >> 5) & 7 != 2:
        raise DecodeError(DEVICE_KIND, f"not BTHome v2 (device info byte {info:#04x})")
    body = data[1:]
    if info & _INFO_MAC_INCLUDED:
        if len(body) < 6:
            raise DecodeError(DEVICE_KIND, "MAC-included bit set but the MAC is missing")
        if body[:6] != _address_bytes(address)[::-1]:  # the payload carries it reversed
            # The advertiser's address is what names the device: a frame claiming another
            # device's MAC is not this device's.
            raise DecodeError(DEVICE_KIND, "MAC in the payload is not the advertiser's address")
        body = body[6:]
    plain_info = info & ~(_INFO_ENCRYPTED | _INFO_MAC_INCLUDED)
    if not info & _INFO_ENCRYPTED:
        if key is not None:
            raise DecodeError(
                DEVICE_KIND, "plaintext frame from a device with a bind key (downgrade refused)"
            )
        return _Plain(plain_info, body, None)
    if key is None:
        raise DecodeError(DEVICE_KIND, "encrypted advertisement and no bind key configured")
    if len(body) < 1 + _COUNTER_BYTES + _MIC_BYTES:
        raise DecodeError(DEVICE_KIND, f"encrypted frame of {len(data)} bytes is too short")
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    sealed, count, mic = body[:-8], body[-8:-4], body[-4:]
    try:
        plain = AESCCM(key, tag_length=_MIC_BYTES).decrypt(
            _nonce(_address_bytes(address), info, count), sealed + mic, None
        )
    except InvalidTag as exc:
        raise DecodeError(
            DEVICE_KIND, "encrypted frame does not authenticate (wrong bind key or corrupt)"
        ) from exc
    return _Plain(plain_info, plain, int.from_bytes(count, "little"))


def _parse(adv: Advertisement, frame: bytes) -> object:
    """bthome_ble's SensorUpdate for an unencrypted frame (built by hand: no scanner)."""
    from bleak.backends.device import BLEDevice
    from bthome_ble import BTHomeBluetoothDeviceData
    from habluetooth import BluetoothServiceInfoBleak

    info = BluetoothServiceInfoBleak(
        name=adv.name or adv.address,
        address=adv.address,
        rssi=adv.rssi,
        manufacturer_data={},
        service_data={SERVICE_UUID: frame},
        service_uuids=[SERVICE_UUID],
        source="mz-edge",
        device=BLEDevice(adv.address, adv.name or None, None),
        advertisement=None,
        connectable=False,
        time=adv.t,
        tx_power=None,
    )
    # A fresh parser per frame makes entity_values hold exactly this frame's objects (a
    # long-lived one keeps every value it ever saw); duplicates are ours to filter.
    try:
        return BTHomeBluetoothDeviceData().update(info)
    except (ValueError, IndexError, KeyError, struct.error) as exc:
        raise DecodeError(DEVICE_KIND, f"bthome_ble rejected frame: {exc!r}") from exc


def _instance(key: str) -> tuple[str, int]:
    m = _KEY_INSTANCE_RE.match(key)
    return (m["key"], int(m["n"])) if m else (key, 1)


def _quantity(name: str, n: int) -> str:
    return name if n == 1 else f"{name}_{n}"


def _decode(sensor: str, adv: Advertisement, key: bytes | None) -> tuple[DecodedFrame, int | None]:
    data = adv.service_data.get(SERVICE_UUID)
    if data is None:
        raise DecodeError(DEVICE_KIND, "no BTHome service data (UUID 0xFCD2)")
    plain = _open(bytes(data), adv.address, key)
    if not plain.payload:
        raise DecodeError(DEVICE_KIND, "no objects")
    framed = _frame_objects(plain.payload)
    if not framed.objects:
        raise DecodeError(DEVICE_KIND, "; ".join(framed.skipped) or "no objects")
    update = _parse(adv, bytes([plain.info]) + framed.raw)
    from sensor_state_data import SensorUpdate, Units

    assert isinstance(update, SensorUpdate)
    skipped = list(framed.skipped)
    readings: list[Reading] = []
    packet_id: int | None = None
    for dkey, sv in update.entity_values.items():
        name, n = _instance(dkey.key)
        value = sv.native_value
        if dkey.key == "packet_id" and isinstance(value, int | float):
            packet_id = int(value)
            continue
        if name in _NOT_READINGS:
            continue
        quantity = _QUANTITY_BY_KEY.get(name)
        if quantity is None or not isinstance(value, int | float):
            skipped.append(f"{dkey.key} (not used)")
            continue
        v = float(value)
        desc = update.entity_descriptions.get(dkey)
        if desc is not None and desc.native_unit_of_measurement == Units.MASS_POUNDS:
            v = round(v * _LB_IN_KG, 3)
        readings.append(Reading(sensor, _quantity(quantity, n), adv.t, v))
    for dkey, bv in update.binary_entity_values.items():
        name, n = _instance(dkey.key)
        quantity = _BINARY_QUANTITY_BY_KEY.get(name)
        if quantity is None or bv.native_value is None:
            skipped.append(f"{dkey.key} (not used)")
            continue
        readings.append(
            Reading(sensor, _quantity(quantity, n), adv.t, float(bool(bv.native_value)))
        )
    for dkey in update.events:
        if not dkey.key.startswith("button"):
            skipped.append(f"{dkey.key} event (not used)")
    buttons = _buttons(sensor, adv.t, framed, skipped)
    readings.sort(key=lambda r: r.quantity)
    battery = next((r.value for r in readings if r.quantity == "battery"), None)
    if not readings and not buttons and packet_id is None:
        raise DecodeError(DEVICE_KIND, "frame carried no object we understand")
    frame = DecodedFrame(
        sensor=sensor,
        t=adv.t,
        readings=tuple(readings),
        buttons=tuple(buttons),
        battery=battery,
        packet_id=packet_id,
        skipped=tuple(skipped),
    )
    return plausibility.screen(frame), plain.counter


def _buttons(sensor: str, t: float, framed: _Framed, skipped: list[str]) -> list[ButtonEvent]:
    """Button events from the framed objects: bthome_ble's table plus the legacy hold.

    The index is the button's position among the frame's button objects (from 1), as
    bthome_ble names them (`button_2`), when the frame has more than one."""
    codes = [value[0] for obj, value in framed.objects if obj == OBJ_BUTTON]
    out: list[ButtonEvent] = []
    for i, code in enumerate(codes, start=1):
        index = i if len(codes) > 1 else None
        if code == _BUTTON_NONE:
            continue
        press = _PRESS_BY_CODE.get(code)
        if press is None:
            skipped.append(
                f"button{'' if index is None else f'_{index}'} event 0x{code:02x} (unknown)"
            )
            continue
        out.append(ButtonEvent(sensor, press, t, index))
    return out


def decode_advertisement(
    sensor: str, adv: Advertisement, *, key: bytes | None = None
) -> DecodedFrame:
    """Decode one advertisement's BTHome v2 service data with the real bthome_ble parser.

    Stateless (no duplicate or replay filtering: see `BTHomeDecoder`). `key` is the
    device's bind key if it encrypts. Raises DecodeError for anything that is not a
    BTHome v2 frame with at least one readable object.
    """
    return _decode(sensor, adv, key)[0]


class BTHomeDecoder:
    """Per-device decoder: drops the repeats of an advertisement (same packet id, or the
    same encrypted bytes), and refuses replayed or stale encryption counters."""

    __slots__ = (
        "_key",
        "_last_counter",
        "_last_counter_t",
        "_last_data",
        "_last_id",
        "_last_t",
        "counter_restarts",
        "replays",
        "sensor",
    )

    def __init__(self, sensor: str, *, key: bytes | None = None) -> None:
        self.sensor = sensor
        self._key = key
        self._last_id: int | None = None
        self._last_t = 0.0
        self._last_counter: int | None = None
        self._last_counter_t = 0.0
        self._last_data = b""
        self.replays = 0  # frames refused for a replayed or stale counter
        self.counter_restarts = 0  # counters accepted as a device restart

    @property
    def last_counter(self) -> int | None:
        """The newest encryption counter accepted (None: no encrypted frame yet)."""
        return self._last_counter

    def resume(self, counter: int) -> None:
        """Go on from `counter`, accepted by an earlier run (`edge.counter_book`): a frame
        at or below it is a replay. Never moves the counter back."""
        if self._last_counter is None or counter > self._last_counter:
            self._last_counter = counter
            self._last_data = b""  # not a repeat of anything: the same counter is refused

    def decode(self, adv: Advertisement) -> DecodedFrame | None:
        """The decoded frame, or None when `adv` repeats one already seen.

        Raises StaleCounterError for an encrypted frame whose counter is not newer than
        the last accepted one (and is not the device's own repeat of it)."""
        frame, counter = _decode(self.sensor, adv, self._key)
        if counter is not None and not self._counter_ok(counter, adv):
            return None
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

    def _counter_ok(self, counter: int, adv: Advertisement) -> bool:
        last = self._last_counter
        data = bytes(adv.service_data[SERVICE_UUID])
        if last is not None and counter <= last:
            repeat = counter == last and data == self._last_data
            if repeat and adv.t - self._last_counter_t <= DUPLICATE_WINDOW_S:
                return False  # the device's own repeat of its last frame
            # A restart goes from a high counter to a low one; below the threshold already,
            # a lower counter is a replay of the device's first frames.
            if not counter < COUNTER_RESTART_BELOW <= last:
                self.replays += 1
                raise StaleCounterError(
                    DEVICE_KIND, f"encryption counter {counter} not after {last}: replayed or stale"
                )
            self.counter_restarts += 1  # a device that restarted counting (battery change)
        self._last_counter, self._last_data = counter, data
        self._last_counter_t = adv.t
        return True
