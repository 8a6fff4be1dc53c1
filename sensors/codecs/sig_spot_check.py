"""Bluetooth SIG spot-check health characteristics: encode and decode (pure).

A blood-pressure cuff, a thermometer and a scale take one measurement and *indicate* it
(an acknowledged notification) to a connected collector, as the Bluetooth SIG defines
them (GATT Specification Supplement; Blood Pressure Service 1.1, Health Thermometer
Service 1.0, Weight Scale Service 1.0). All little-endian:

**Blood Pressure Measurement** (0x2A35, service 0x1810):

| field                  | type    | present     | meaning                                  |
|------------------------|---------|-------------|------------------------------------------|
| flags                  | u8      | always      | bit 0: kPa (else mmHg); bit 1: time      |
|                        |         |             | stamp; bit 2: pulse rate; bit 3: user    |
|                        |         |             | id; bit 4: measurement status; 5-7 RFU   |
| systolic, diastolic,   | 3 x     | always      | in the unit of flags bit 0               |
| mean arterial pressure | SFLOAT  |             |                                          |
| time stamp             | 7 bytes | flags bit 1 | Date Time (below)                        |
| pulse rate             | SFLOAT  | flags bit 2 | beats per minute                         |
| user id                | u8      | flags bit 3 | 0xFF: unknown user                       |
| measurement status     | u16     | flags bit 4 | `BP_*` bits                              |

**Temperature Measurement** (0x2A1C, service 0x1809):

| field       | type    | present     | meaning                                            |
|-------------|---------|-------------|----------------------------------------------------|
| flags       | u8      | always      | bit 0: degF (else degC); bit 1: time stamp; bit 2: |
|             |         |             | temperature type; 3-7 RFU                          |
| temperature | FLOAT   | always      |                                                    |
| time stamp  | 7 bytes | flags bit 1 | Date Time                                          |
| type        | u8      | flags bit 2 | `TemperatureType` (where it was measured)          |

**Weight Measurement** (0x2A9D, service 0x181D):

| field      | type    | present     | meaning                                             |
|------------|---------|-------------|-----------------------------------------------------|
| flags      | u8      | always      | bit 0: imperial (else SI); bit 1: time stamp;       |
|            |         |             | bit 2: user id; bit 3: BMI *and* height; 4-7 RFU    |
| weight     | u16     | always      | 0.005 kg or 0.01 lb; 0xFFFF: measurement            |
|            |         |             | unsuccessful                                        |
| time stamp | 7 bytes | flags bit 1 | Date Time                                           |
| user id    | u8      | flags bit 2 | 0xFF: unknown user                                  |
| BMI        | u16     | flags bit 3 | 0.1 kg/m2                                           |
| height     | u16     | flags bit 3 | 0.001 m or 0.1 inch                                 |

**Date Time** (7 bytes): year u16 (0: not known), month, day (0: not known), hours,
minutes, seconds, each u8: the device's local wall-clock time, no time zone.

Malformed bytes (too short, trailing bytes) raise `sensors.errors.DecodeError`; values
(units, specials, status bits) are the caller's to judge (`sensors.codecs.ble_health`).
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from sensors.codecs.ieee11073 import (
    SFloatSpecial,
    SFloatValue,
    decode_float,
    decode_sfloat,
    encode_float,
    encode_sfloat,
)
from sensors.errors import DecodeError

DEVICE_KIND: Final = "ble_health"

KPA_TO_MMHG: Final = 7.500617  # 1 kPa in mmHg (101.325 kPa = 760 mmHg)
LB_TO_KG: Final = 0.45359237  # exact, by definition
INCH_TO_M: Final = 0.0254
USER_UNKNOWN: Final = 0xFF


def _need(data: bytes, pos: int, n: int, what: str) -> None:
    if len(data) < pos + n:
        raise DecodeError(DEVICE_KIND, f"{what} declared but missing ({len(data)} bytes)")


def _no_trailing(data: bytes, pos: int, what: str) -> None:
    if len(data) != pos:
        raise DecodeError(DEVICE_KIND, f"{what}: {len(data) - pos} unexpected trailing bytes")


# --------------------------------------------------------------------------- Date Time


@dataclass(frozen=True, slots=True)
class DateTime:
    """A Bluetooth SIG Date Time as sent (the device's local time; fields may be 0)."""

    year: int
    month: int
    day: int
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    def as_datetime(self) -> dt.datetime | None:
        """The wall-clock time (naive: the device knows no time zone), or None when the
        device says "not known" (year, month or day 0) or sends an impossible date."""
        if 0 in (self.year, self.month, self.day):
            return None
        try:
            return dt.datetime(  # noqa: DTZ001 - the device's local time, zone unknown
                self.year, self.month, self.day, self.hours, self.minutes, self.seconds
            )
        except ValueError:
            return None


def decode_date_time(data: bytes, pos: int) -> DateTime:
    _need(data, pos, 7, "time stamp")
    year, month, day, hours, minutes, seconds = struct.unpack_from("<HBBBBB", data, pos)
    return DateTime(year, month, day, hours, minutes, seconds)


def encode_date_time(t: DateTime) -> bytes:
    return struct.pack("<HBBBBB", t.year, t.month, t.day, t.hours, t.minutes, t.seconds)


# ---------------------------------------------------------------------- blood pressure

_BP_KPA: Final = 0x01
_BP_TIME: Final = 0x02
_BP_PULSE: Final = 0x04
_BP_USER: Final = 0x08
_BP_STATUS: Final = 0x10

# Measurement Status (u16); bits 6-15 RFU.
BP_BODY_MOVEMENT: Final = 1 << 0
BP_CUFF_LOOSE: Final = 1 << 1  # "cuff fit too loose"
BP_IRREGULAR_PULSE: Final = 1 << 2
BP_PULSE_RANGE_MASK: Final = 0b11 << 3  # 0: in range; 1: above upper; 2: below lower
BP_PULSE_ABOVE_RANGE: Final = 1 << 3
BP_PULSE_BELOW_RANGE: Final = 2 << 3
BP_IMPROPER_POSITION: Final = 1 << 5
# The cuff itself says the pressures cannot be trusted. (An irregular pulse is a finding
# about the resident, not about the measurement: the pressures stand.)
BP_UNRELIABLE: Final = BP_BODY_MOVEMENT | BP_CUFF_LOOSE | BP_IMPROPER_POSITION


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    systolic: SFloatValue
    diastolic: SFloatValue
    mean_arterial: SFloatValue
    kpa: bool = False  # the three pressures in kPa (else mmHg)
    timestamp: DateTime | None = None
    pulse_rate: SFloatValue | None = None  # beats per minute
    user_id: int | None = None
    status: int | None = None  # `BP_*` bits

    @property
    def pulse_out_of_range(self) -> bool:
        """The cuff says its pulse rate is outside what it can measure (or a reserved
        range value): the pulse rate is not a number to keep."""
        return bool((self.status or 0) & BP_PULSE_RANGE_MASK)


def encode_blood_pressure(m: BloodPressureMeasurement) -> bytes:
    flags = _BP_KPA if m.kpa else 0
    body = struct.pack(
        "<3H", *(encode_sfloat(v) for v in (m.systolic, m.diastolic, m.mean_arterial))
    )
    if m.timestamp is not None:
        flags |= _BP_TIME
        body += encode_date_time(m.timestamp)
    if m.pulse_rate is not None:
        flags |= _BP_PULSE
        body += struct.pack("<H", encode_sfloat(m.pulse_rate))
    if m.user_id is not None:
        flags |= _BP_USER
        body += struct.pack("<B", m.user_id)
    if m.status is not None:
        flags |= _BP_STATUS
        body += struct.pack("<H", m.status)
    return bytes([flags]) + body


def decode_blood_pressure(data: bytes) -> BloodPressureMeasurement:
    """Parse a Blood Pressure Measurement indication. Raises DecodeError if malformed."""
    if len(data) < 7:
        raise DecodeError(DEVICE_KIND, f"blood pressure measurement of {len(data)} bytes")
    flags = data[0]  # RFU bits ignored, as the Core spec asks of a receiver
    sys_, dia, mean = (decode_sfloat(v) for v in struct.unpack_from("<3H", data, 1))
    pos = 7
    timestamp = None
    if flags & _BP_TIME:
        timestamp = decode_date_time(data, pos)
        pos += 7
    pulse = None
    if flags & _BP_PULSE:
        _need(data, pos, 2, "pulse rate")
        pulse = decode_sfloat(struct.unpack_from("<H", data, pos)[0])
        pos += 2
    user = None
    if flags & _BP_USER:
        _need(data, pos, 1, "user id")
        user = data[pos]
        pos += 1
    status = None
    if flags & _BP_STATUS:
        _need(data, pos, 2, "measurement status")
        (status,) = struct.unpack_from("<H", data, pos)
        pos += 2
    _no_trailing(data, pos, "blood pressure measurement")
    return BloodPressureMeasurement(
        sys_, dia, mean, bool(flags & _BP_KPA), timestamp, pulse, user, status
    )


def pressure_mmhg(value: SFloatValue, kpa: bool) -> SFloatValue:
    if isinstance(value, SFloatSpecial) or not kpa:
        return value
    return value * KPA_TO_MMHG


# ------------------------------------------------------------------------- thermometer

_T_FAHRENHEIT: Final = 0x01
_T_TIME: Final = 0x02
_T_TYPE: Final = 0x04


class TemperatureType(IntEnum):
    """Where the temperature was taken (Temperature Type characteristic values)."""

    ARMPIT = 1
    BODY = 2  # "body (general)"
    EAR = 3  # ear lobe
    FINGER = 4
    GASTRO_INTESTINAL = 5
    MOUTH = 6
    RECTUM = 7
    TOE = 8
    TYMPANUM = 9  # ear drum


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    value: SFloatValue  # in the unit of `fahrenheit`
    fahrenheit: bool = False
    timestamp: DateTime | None = None
    type: int | None = None  # `TemperatureType` (other values are reserved)

    @property
    def celsius(self) -> SFloatValue:
        if isinstance(self.value, SFloatSpecial) or not self.fahrenheit:
            return self.value
        return (self.value - 32.0) * 5.0 / 9.0


def encode_temperature(m: TemperatureMeasurement) -> bytes:
    flags = _T_FAHRENHEIT if m.fahrenheit else 0
    body = struct.pack("<I", encode_float(m.value))
    if m.timestamp is not None:
        flags |= _T_TIME
        body += encode_date_time(m.timestamp)
    if m.type is not None:
        flags |= _T_TYPE
        body += struct.pack("<B", m.type)
    return bytes([flags]) + body


def decode_temperature(data: bytes) -> TemperatureMeasurement:
    """Parse a Temperature Measurement indication. Raises DecodeError if malformed."""
    if len(data) < 5:
        raise DecodeError(DEVICE_KIND, f"temperature measurement of {len(data)} bytes")
    flags = data[0]
    value = decode_float(struct.unpack_from("<I", data, 1)[0])
    pos = 5
    timestamp = None
    if flags & _T_TIME:
        timestamp = decode_date_time(data, pos)
        pos += 7
    kind = None
    if flags & _T_TYPE:
        _need(data, pos, 1, "temperature type")
        kind = data[pos]
        pos += 1
    _no_trailing(data, pos, "temperature measurement")
    return TemperatureMeasurement(value, bool(flags & _T_FAHRENHEIT), timestamp, kind)


# ------------------------------------------------------------------------ weight scale

_W_IMPERIAL: Final = 0x01
_W_TIME: Final = 0x02
_W_USER: Final = 0x04
_W_BMI_HEIGHT: Final = 0x08
WEIGHT_UNSUCCESSFUL: Final = 0xFFFF  # the scale could not measure


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """Raw units as sent: weight 0.005 kg (SI) or 0.01 lb; BMI 0.1; height 0.001 m or
    0.1 inch."""

    weight_raw: int
    imperial: bool = False
    timestamp: DateTime | None = None
    user_id: int | None = None
    bmi_raw: int | None = None  # present together with height
    height_raw: int | None = None

    @property
    def weight_kg(self) -> float | None:
        """Kilograms, or None when the scale says the measurement was unsuccessful."""
        if self.weight_raw == WEIGHT_UNSUCCESSFUL:
            return None
        return self.weight_raw * 0.01 * LB_TO_KG if self.imperial else self.weight_raw * 0.005

    @property
    def bmi(self) -> float | None:
        return None if self.bmi_raw is None else self.bmi_raw / 10

    @property
    def height_m(self) -> float | None:
        if self.height_raw is None:
            return None
        return self.height_raw * 0.1 * INCH_TO_M if self.imperial else self.height_raw / 1000


def encode_weight(m: WeightMeasurement) -> bytes:
    flags = _W_IMPERIAL if m.imperial else 0
    body = struct.pack("<H", m.weight_raw)
    if m.timestamp is not None:
        flags |= _W_TIME
        body += encode_date_time(m.timestamp)
    if m.user_id is not None:
        flags |= _W_USER
        body += struct.pack("<B", m.user_id)
    if (m.bmi_raw is None) != (m.height_raw is None):
        raise ValueError("BMI and height go together (one flag for both)")
    if m.bmi_raw is not None and m.height_raw is not None:
        flags |= _W_BMI_HEIGHT
        body += struct.pack("<HH", m.bmi_raw, m.height_raw)
    return bytes([flags]) + body


def decode_weight(data: bytes) -> WeightMeasurement:
    """Parse a Weight Measurement indication. Raises DecodeError if malformed."""
    if len(data) < 3:
        raise DecodeError(DEVICE_KIND, f"weight measurement of {len(data)} bytes")
    flags = data[0]
    (weight,) = struct.unpack_from("<H", data, 1)
    pos = 3
    timestamp = None
    if flags & _W_TIME:
        timestamp = decode_date_time(data, pos)
        pos += 7
    user = None
    if flags & _W_USER:
        _need(data, pos, 1, "user id")
        user = data[pos]
        pos += 1
    bmi = height = None
    if flags & _W_BMI_HEIGHT:
        _need(data, pos, 4, "BMI and height")
        bmi, height = struct.unpack_from("<HH", data, pos)
        pos += 4
    _no_trailing(data, pos, "weight measurement")
    return WeightMeasurement(weight, bool(flags & _W_IMPERIAL), timestamp, user, bmi, height)
