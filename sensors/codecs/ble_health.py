"""Bluetooth SIG health characteristics over GATT: encode and decode (pure).

Two notified characteristics, as the Bluetooth SIG defines them (GATT Specification
Supplement, "Heart Rate Measurement" and "PLX Continuous Measurement"; Heart Rate
Service 1.0; Pulse Oximeter Service 1.0.1), so that a real heart-rate strap, watch or
pulse oximeter works, and a simulator sends exactly the bytes they send:

**Heart Rate Measurement** (0x2A37, Heart Rate Service 0x180D), little-endian:

| field         | type      | present            | meaning                                      |
|---------------|-----------|--------------------|----------------------------------------------|
| flags         | u8        | always             | bit 0: value is u16 (else u8); bits 1-2:     |
|               |           |                    | sensor contact (see below); bit 3: energy    |
|               |           |                    | expended; bit 4: RR-intervals; 5-7 RFU       |
| heart rate    | u8 or u16 | always             | beats per minute                             |
| energy        | u16       | flags bit 3        | kJ since the last reset (0xFFFF: saturated)  |
| RR-intervals  | n x u16   | flags bit 4        | time between beats, 1/1024 s, oldest first   |

Sensor contact, flags bits 2 and 1: 0b0x not supported, 0b10 supported but **not
detected** (the strap or watch is not on the skin: the value means nothing), 0b11
detected.

**PLX Continuous Measurement** (0x2A5F, Pulse Oximeter Service 0x1822), little-endian:

| field                    | type      | present     | meaning                          |
|--------------------------|-----------|-------------|----------------------------------|
| flags                    | u8        | always      | bit 0: SpO2PR-Fast; bit 1:       |
|                          |           |             | SpO2PR-Slow; bit 2: measurement  |
|                          |           |             | status; bit 3: device and sensor |
|                          |           |             | status; bit 4: pulse amplitude   |
|                          |           |             | index; 5-7 RFU                   |
| SpO2PR-Normal: SpO2, PR  | 2 x SFLOAT| always      | %, beats per minute              |
| SpO2PR-Fast: SpO2, PR    | 2 x SFLOAT| flags bit 0 |                                  |
| SpO2PR-Slow: SpO2, PR    | 2 x SFLOAT| flags bit 1 |                                  |
| measurement status       | u16       | flags bit 2 | `MEAS_*` bits                    |
| device and sensor status | u24       | flags bit 3 | `DEV_*` bits                     |
| pulse amplitude index    | SFLOAT    | flags bit 4 | %                                |

**SFLOAT** (IEEE 11073-20601 SFLOAT-Type, 16 bits): a 4-bit signed exponent (high
nibble) and a 12-bit signed mantissa, value = mantissa x 10^exponent. With exponent 0
the mantissas 0x7FF (NaN), 0x800 (NRes: not at this resolution), 0x7FE (+INFINITY),
0x802 (-INFINITY) and 0x801 (reserved) are special values, decoded as `SFloatSpecial`.

What makes a value unusable (never scored, flagged): a special SFLOAT value, "sensor
contact not detected", or a PLX measurement / device-and-sensor status bit that says the
value is not a settled clinical measurement (`MEAS_UNUSABLE`, `DEV_UNUSABLE`).
`health_readings` turns a notification into our readings with a frame `status` reading
(`STATUS_*` bits, 0 = usable), as the serial vitals line does.

Malformed bytes (too short, trailing bytes, a field declared but missing) raise
`sensors.errors.DecodeError`. Why hand-rolled: the two layouts are small and fixed by the
SIG; the one maintained Python library covering both (`bluetooth-sig`, 0.x) would pull in
msgspec and the SIG's whole YAML registry onto the Pi for ~150 lines of struct unpacking,
and its treatment of special values and of the status bits is not what our validation
needs to be explicit about.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Final

from sensors.errors import DecodeError
from sensors.readings import DecodedFrame, Reading

DEVICE_KIND: Final = "ble_health"


def sig_uuid(short: int) -> str:
    """The 128-bit form of a Bluetooth SIG 16-bit UUID (lower case, as bleak gives it)."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


HEART_RATE_SERVICE: Final = sig_uuid(0x180D)
HEART_RATE_MEASUREMENT: Final = sig_uuid(0x2A37)
PULSE_OXIMETER_SERVICE: Final = sig_uuid(0x1822)
PLX_CONTINUOUS_MEASUREMENT: Final = sig_uuid(0x2A5F)

# Configuration names (edge config `devices[].health`) -> characteristic UUIDs.
CHARACTERISTICS: Final[dict[str, str]] = {
    "heart_rate": HEART_RATE_MEASUREMENT,
    "plx_continuous": PLX_CONTINUOUS_MEASUREMENT,
}

# ----------------------------------------------------------------------------- SFLOAT


class SFloatSpecial(Enum):
    """IEEE 11073-20601 SFLOAT special values (exponent 0; the raw 16-bit value)."""

    NAN = 0x07FF
    NRES = 0x0800  # not at this resolution
    POSITIVE_INFINITY = 0x07FE
    NEGATIVE_INFINITY = 0x0802
    RESERVED = 0x0801


SFloatValue = float | SFloatSpecial

_SPECIAL_BY_RAW: Final = {s.value: s for s in SFloatSpecial}
_MANTISSA_MAX: Final = 2045  # +-2046.. are the special mantissas: never encode them
_EXP_MIN: Final = -8
_EXP_MAX: Final = 7


def decode_sfloat(raw: int) -> SFloatValue:
    """A 16-bit SFLOAT -> its number, or the special value it is."""
    if not 0 <= raw <= 0xFFFF:
        raise ValueError(f"SFLOAT {raw} outside 16 bits")
    special = _SPECIAL_BY_RAW.get(raw)  # exponent nibble 0 and a special mantissa
    if special is not None:
        return special
    mantissa = raw & 0x0FFF
    if mantissa >= 0x0800:
        mantissa -= 0x1000
    exponent = raw >> 12
    if exponent >= 0x8:
        exponent -= 0x10
    # Divide for negative exponents: 975 / 10 is 97.5, 975 * 0.1 is 97.50000000000001.
    return float(mantissa * 10**exponent) if exponent >= 0 else mantissa / 10**-exponent


def encode_sfloat(value: SFloatValue, decimals: int = 1) -> int:
    """`value` as a 16-bit SFLOAT, to `decimals` decimals at most (trailing zeros dropped:
    97.0 -> mantissa 97, exponent 0). NaN and +-inf floats become the special values."""
    if isinstance(value, SFloatSpecial):
        return int(value.value)
    if math.isnan(value):
        return int(SFloatSpecial.NAN.value)
    if math.isinf(value):
        special = SFloatSpecial.POSITIVE_INFINITY if value > 0 else SFloatSpecial.NEGATIVE_INFINITY
        return int(special.value)
    if not -_EXP_MAX <= decimals <= -_EXP_MIN:
        raise ValueError(f"decimals {decimals} outside {-_EXP_MAX}..{-_EXP_MIN}")
    exponent = -decimals
    mantissa = round(value * 10.0**decimals)
    while mantissa != 0 and mantissa % 10 == 0 and exponent < _EXP_MAX:
        mantissa //= 10
        exponent += 1
    if mantissa == 0:
        exponent = 0
    while abs(mantissa) > _MANTISSA_MAX:  # too many digits: lose resolution, as NRes says
        mantissa = round(mantissa / 10)
        exponent += 1
    if exponent > _EXP_MAX:
        raise ValueError(f"{value} is too large for an SFLOAT")
    return ((exponent & 0xF) << 12) | (mantissa & 0x0FFF)


def sfloat_number(value: SFloatValue) -> float | None:
    """The number, or None for a special value."""
    return None if isinstance(value, SFloatSpecial) else value


# ------------------------------------------------------------------------ heart rate


class SensorContact(IntEnum):
    """Heart Rate Measurement flags bits 2..1."""

    NOT_SUPPORTED = 0
    NOT_DETECTED = 2
    DETECTED = 3


_HR_U16: Final = 0x01
_HR_CONTACT_SHIFT: Final = 1
_HR_ENERGY: Final = 0x08
_HR_RR: Final = 0x10
RR_UNIT_S: Final = 1 / 1024


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    bpm: int  # 0..65535 (u8 unless `u16_format` or > 255)
    contact: SensorContact = SensorContact.NOT_SUPPORTED
    energy_kj: int | None = None  # u16
    rr_1024: tuple[int, ...] = ()  # RR-intervals in 1/1024 s, oldest first
    u16_format: bool = False  # send the value as u16 even when it fits a u8

    @property
    def rr_s(self) -> tuple[float, ...]:
        return tuple(r * RR_UNIT_S for r in self.rr_1024)

    @property
    def usable(self) -> bool:
        return self.contact is not SensorContact.NOT_DETECTED


def encode_heart_rate(m: HeartRateMeasurement) -> bytes:
    """The Heart Rate Measurement value a sensor notifies for `m`."""
    u16 = m.u16_format or m.bpm > 0xFF
    if not 0 <= m.bpm <= 0xFFFF:
        raise ValueError(f"heart rate {m.bpm} outside u16")
    flags = (_HR_U16 if u16 else 0) | (int(m.contact) << _HR_CONTACT_SHIFT)
    body = struct.pack("<H" if u16 else "<B", m.bpm)
    if m.energy_kj is not None:
        if not 0 <= m.energy_kj <= 0xFFFF:
            raise ValueError(f"energy {m.energy_kj} kJ outside u16")
        flags |= _HR_ENERGY
        body += struct.pack("<H", m.energy_kj)
    if m.rr_1024:
        if not all(0 <= r <= 0xFFFF for r in m.rr_1024):
            raise ValueError("RR-interval outside u16")
        flags |= _HR_RR
        body += struct.pack(f"<{len(m.rr_1024)}H", *m.rr_1024)
    return bytes([flags]) + body


def decode_heart_rate(data: bytes) -> HeartRateMeasurement:
    """Parse a Heart Rate Measurement notification. Raises DecodeError if malformed."""
    if len(data) < 2:
        raise DecodeError(DEVICE_KIND, f"heart rate measurement of {len(data)} bytes")
    flags = data[0]  # RFU bits 5-7 are ignored, as the Core spec asks of a receiver
    pos = 1
    if flags & _HR_U16:
        if len(data) < 3:
            raise DecodeError(DEVICE_KIND, "u16 heart rate declared, 1 byte present")
        (bpm,) = struct.unpack_from("<H", data, pos)
        pos += 2
    else:
        bpm = data[pos]
        pos += 1
    bits = (flags >> _HR_CONTACT_SHIFT) & 0b11
    contact = SensorContact(bits) if bits >= 2 else SensorContact.NOT_SUPPORTED
    energy = None
    if flags & _HR_ENERGY:
        if len(data) < pos + 2:
            raise DecodeError(DEVICE_KIND, "energy expended declared but missing")
        (energy,) = struct.unpack_from("<H", data, pos)
        pos += 2
    rest = len(data) - pos
    rr: tuple[int, ...] = ()
    if flags & _HR_RR:
        if rest == 0 or rest % 2:
            raise DecodeError(DEVICE_KIND, f"RR-intervals declared, {rest} bytes left")
        rr = struct.unpack_from(f"<{rest // 2}H", data, pos)
    elif rest:
        raise DecodeError(DEVICE_KIND, f"{rest} unexpected trailing bytes")
    return HeartRateMeasurement(bpm, contact, energy, rr, bool(flags & _HR_U16))


# ------------------------------------------------------------------ pulse oximetry

_PLX_FAST: Final = 0x01
_PLX_SLOW: Final = 0x02
_PLX_MEAS_STATUS: Final = 0x04
_PLX_DEV_STATUS: Final = 0x08
_PLX_PAI: Final = 0x10

# Measurement Status (u16); bits 0-4 are RFU.
MEAS_ONGOING: Final = 1 << 5
MEAS_EARLY_ESTIMATE: Final = 1 << 6
MEAS_VALIDATED: Final = 1 << 7
MEAS_FULLY_QUALIFIED: Final = 1 << 8
MEAS_FROM_STORAGE: Final = 1 << 9
MEAS_DEMONSTRATION: Final = 1 << 10
MEAS_TESTING: Final = 1 << 11
MEAS_CALIBRATION_ONGOING: Final = 1 << 12
MEAS_UNAVAILABLE: Final = 1 << 13
MEAS_QUESTIONABLE: Final = 1 << 14
MEAS_INVALID: Final = 1 << 15
# Not a settled measurement of this resident: not scored. (Validated, fully qualified
# and from-storage say nothing against the value.)
MEAS_UNUSABLE: Final = (
    MEAS_ONGOING
    | MEAS_EARLY_ESTIMATE
    | MEAS_DEMONSTRATION
    | MEAS_TESTING
    | MEAS_CALIBRATION_ONGOING
    | MEAS_UNAVAILABLE
    | MEAS_QUESTIONABLE
    | MEAS_INVALID
)

# Device and Sensor Status (u24); bits 16-23 are RFU.
DEV_EXTENDED_DISPLAY_UPDATE: Final = 1 << 0
DEV_EQUIPMENT_MALFUNCTION: Final = 1 << 1
DEV_SIGNAL_PROCESSING_IRREGULARITY: Final = 1 << 2
DEV_INADEQUATE_SIGNAL: Final = 1 << 3
DEV_POOR_SIGNAL: Final = 1 << 4
DEV_LOW_PERFUSION: Final = 1 << 5
DEV_ERRATIC_SIGNAL: Final = 1 << 6
DEV_NONPULSATILE_SIGNAL: Final = 1 << 7
DEV_QUESTIONABLE_PULSE: Final = 1 << 8
DEV_SIGNAL_ANALYSIS_ONGOING: Final = 1 << 9
DEV_SENSOR_INTERFERENCE: Final = 1 << 10
DEV_SENSOR_UNCONNECTED: Final = 1 << 11  # "sensor unconnected to user"
DEV_UNKNOWN_SENSOR: Final = 1 << 12
DEV_SENSOR_DISPLACED: Final = 1 << 13
DEV_SENSOR_MALFUNCTIONING: Final = 1 << 14
DEV_SENSOR_DISCONNECTED: Final = 1 << 15
# Everything but "extended display update ongoing" (a display matter) says the signal or
# the sensor cannot be trusted.
DEV_UNUSABLE: Final = 0xFFFF & ~DEV_EXTENDED_DISPLAY_UPDATE


@dataclass(frozen=True, slots=True)
class PlxContinuous:
    spo2: SFloatValue  # %, SpO2PR-Normal
    pulse_rate: SFloatValue  # beats per minute
    fast: tuple[SFloatValue, SFloatValue] | None = None  # SpO2PR-Fast (SpO2, PR)
    slow: tuple[SFloatValue, SFloatValue] | None = None  # SpO2PR-Slow (SpO2, PR)
    measurement_status: int | None = None  # u16, `MEAS_*`
    device_status: int | None = None  # u24, `DEV_*`
    pulse_amplitude_index: SFloatValue | None = None  # %

    @property
    def status_ok(self) -> bool:
        return not ((self.measurement_status or 0) & MEAS_UNUSABLE) and not (
            (self.device_status or 0) & DEV_UNUSABLE
        )


def encode_plx_continuous(m: PlxContinuous) -> bytes:
    """The PLX Continuous Measurement value an oximeter notifies for `m` (SpO2 and pulse
    rate to one decimal at most; whole numbers go as exponent 0, as oximeters send)."""
    flags = 0
    values = [m.spo2, m.pulse_rate]
    if m.fast is not None:
        flags |= _PLX_FAST
        values += m.fast
    if m.slow is not None:
        flags |= _PLX_SLOW
        values += m.slow
    body = struct.pack(f"<{len(values)}H", *(encode_sfloat(v) for v in values))
    if m.measurement_status is not None:
        if not 0 <= m.measurement_status <= 0xFFFF:
            raise ValueError("measurement status outside u16")
        flags |= _PLX_MEAS_STATUS
        body += struct.pack("<H", m.measurement_status)
    if m.device_status is not None:
        if not 0 <= m.device_status <= 0xFFFFFF:
            raise ValueError("device and sensor status outside u24")
        flags |= _PLX_DEV_STATUS
        body += m.device_status.to_bytes(3, "little")
    if m.pulse_amplitude_index is not None:
        flags |= _PLX_PAI
        body += struct.pack("<H", encode_sfloat(m.pulse_amplitude_index, 2))
    return bytes([flags]) + body


def decode_plx_continuous(data: bytes) -> PlxContinuous:
    """Parse a PLX Continuous Measurement notification. Raises DecodeError if malformed."""
    if not data:
        raise DecodeError(DEVICE_KIND, "empty PLX continuous measurement")
    flags = data[0]  # RFU bits 5-7 ignored
    want = (
        1
        + 4
        + (4 if flags & _PLX_FAST else 0)
        + (4 if flags & _PLX_SLOW else 0)
        + (2 if flags & _PLX_MEAS_STATUS else 0)
        + (3 if flags & _PLX_DEV_STATUS else 0)
        + (2 if flags & _PLX_PAI else 0)
    )
    if len(data) != want:
        raise DecodeError(
            DEVICE_KIND,
            f"PLX continuous measurement of {len(data)} bytes, flags 0x{flags:02x} want {want}",
        )
    pos = 1

    def sfloat() -> SFloatValue:
        nonlocal pos
        (raw,) = struct.unpack_from("<H", data, pos)
        pos += 2
        return decode_sfloat(raw)

    spo2, pr = sfloat(), sfloat()
    fast = (sfloat(), sfloat()) if flags & _PLX_FAST else None
    slow = (sfloat(), sfloat()) if flags & _PLX_SLOW else None
    meas = None
    if flags & _PLX_MEAS_STATUS:
        (meas,) = struct.unpack_from("<H", data, pos)
        pos += 2
    dev = None
    if flags & _PLX_DEV_STATUS:
        dev = int.from_bytes(data[pos : pos + 3], "little")
        pos += 3
    pai = sfloat() if flags & _PLX_PAI else None
    return PlxContinuous(spo2, pr, fast, slow, meas, dev, pai)


# ------------------------------------------------------------------ our readings

# Frame `status` bits (the `status` reading; 0 = the frame's values are usable).
STATUS_NO_CONTACT: Final = 0x01  # heart rate: sensor contact supported, not detected
STATUS_SPECIAL_VALUE: Final = 0x02  # an SFLOAT special value (NaN, NRes, +-INF, reserved)
STATUS_MEASUREMENT: Final = 0x04  # PLX measurement status: `MEAS_UNUSABLE` bits
STATUS_DEVICE: Final = 0x08  # PLX device and sensor status: `DEV_UNUSABLE` bits


def _number(v: SFloatValue) -> float:
    n = sfloat_number(v)
    return math.nan if n is None else n


def health_readings(sensor: str, characteristic: str, data: bytes, t: float) -> DecodedFrame:
    """One notification -> readings (`hr` and/or `spo2`, plus the frame's `status`).

    A special SFLOAT value becomes a NaN reading and sets `STATUS_SPECIAL_VALUE`; every
    value of a frame with a non-zero status is unusable. The PLX pulse rate is `hr`, as
    the serial oximeter's is. Raises DecodeError on malformed bytes or an unknown
    characteristic.
    """
    status = 0
    if characteristic == HEART_RATE_MEASUREMENT:
        hr = decode_heart_rate(data)
        if not hr.usable:
            status |= STATUS_NO_CONTACT
        values = {"hr": float(hr.bpm)}
    elif characteristic == PLX_CONTINUOUS_MEASUREMENT:
        plx = decode_plx_continuous(data)
        if any(isinstance(v, SFloatSpecial) for v in (plx.spo2, plx.pulse_rate)):
            status |= STATUS_SPECIAL_VALUE
        if (plx.measurement_status or 0) & MEAS_UNUSABLE:
            status |= STATUS_MEASUREMENT
        if (plx.device_status or 0) & DEV_UNUSABLE:
            status |= STATUS_DEVICE
        values = {"spo2": _number(plx.spo2), "hr": _number(plx.pulse_rate)}
    else:
        raise DecodeError(DEVICE_KIND, f"not a health characteristic: {characteristic}")
    readings = [Reading(sensor, q, t, v) for q, v in values.items()]
    readings.append(Reading(sensor, "status", t, float(status)))
    return DecodedFrame(sensor=sensor, t=t, readings=tuple(readings))
