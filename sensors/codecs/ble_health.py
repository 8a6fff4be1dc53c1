"""Bluetooth SIG health characteristics over GATT: encode, decode, and our readings (pure).

The characteristics as the Bluetooth SIG defines them (GATT Specification Supplement;
Heart Rate Service 1.0; Pulse Oximeter Service 1.0.1; Blood Pressure, Health Thermometer
and Weight Scale Services), so that a real strap, watch, oximeter, cuff, thermometer or
scale works, and a simulator sends exactly the bytes they send. Here: Heart Rate
Measurement, PLX Continuous and PLX Spot-Check Measurement, Battery Level, and the one
dispatch `decode_characteristic(uuid, data)` over all of them; Blood Pressure, Temperature
and Weight Measurement are in `sensors.codecs.sig_spot_check`, SFLOAT / FLOAT in
`sensors.codecs.ieee11073`.

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

**PLX Spot-Check Measurement** (0x2A5E, indicated): flags u8 (bit 0: time stamp; bit 1:
measurement status; bit 2: device and sensor status; bit 3: pulse amplitude index; bit 4:
device clock not set), SpO2 and PR as SFLOATs, then the flagged fields in that order (time
stamp: 7-byte Date Time; statuses as in the continuous measurement).

**Battery Level** (0x2A19): u8 percent; 101-255 are reserved (refused).

**SFLOAT** (IEEE 11073-20601 SFLOAT-Type, 16 bits): a 4-bit signed exponent (high
nibble) and a 12-bit signed mantissa, value = mantissa x 10^exponent. With exponent 0
the mantissas 0x7FF (NaN), 0x800 (NRes: not at this resolution), 0x7FE (+INFINITY),
0x802 (-INFINITY) and 0x801 (reserved) are special values, decoded as `SFloatSpecial`.

What makes a value unusable (never scored, flagged): a special value, "sensor contact
not detected", a PLX measurement / device-and-sensor status bit that says the value is not
a settled clinical measurement (`MEAS_UNUSABLE` for a spot check; for a continuous
oximeter `MEAS_UNUSABLE_CONTINUOUS`, without "measurement ongoing", which continuous
oximeters set throughout; `DEV_UNUSABLE`), a cuff's body movement / loose cuff / improper
position, or a value outside `PHYSICAL_RANGE`.
`health_readings` turns a notification into our readings with a frame `status` reading
(`STATUS_*` bits, 0 = usable), as the serial vitals line does.

Malformed bytes (too short, trailing bytes, a field declared but missing) raise
`sensors.errors.DecodeError`. Why hand-rolled: the layouts are small and fixed by the
SIG; the one maintained Python library covering them (`bluetooth-sig`, 0.x) would pull in
msgspec and the SIG's whole YAML registry onto the Pi for a few hundred lines of struct
unpacking, its treatment of special values and of the status bits is not what our
validation needs to be explicit about, and its test vectors read SFLOAT with a biased
exponent (0x8078 as 120, where IEEE 11073-20601 says 120 x 10^-8).
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from sensors.codecs.ieee11073 import SFloatSpecial as SFloatSpecial
from sensors.codecs.ieee11073 import SFloatValue as SFloatValue
from sensors.codecs.ieee11073 import decode_sfloat as decode_sfloat
from sensors.codecs.ieee11073 import encode_sfloat as encode_sfloat
from sensors.codecs.ieee11073 import sfloat_number as sfloat_number
from sensors.codecs.sig_spot_check import (
    BP_PULSE_RANGE_MASK,
    BP_UNRELIABLE,
    DateTime,
    decode_blood_pressure,
    decode_date_time,
    decode_temperature,
    decode_weight,
    encode_date_time,
    pressure_mmhg,
)
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
PLX_SPOT_CHECK_MEASUREMENT: Final = sig_uuid(0x2A5E)
BLOOD_PRESSURE_SERVICE: Final = sig_uuid(0x1810)
BLOOD_PRESSURE_MEASUREMENT: Final = sig_uuid(0x2A35)
HEALTH_THERMOMETER_SERVICE: Final = sig_uuid(0x1809)
TEMPERATURE_MEASUREMENT: Final = sig_uuid(0x2A1C)
WEIGHT_SCALE_SERVICE: Final = sig_uuid(0x181D)
WEIGHT_MEASUREMENT: Final = sig_uuid(0x2A9D)
BATTERY_SERVICE: Final = sig_uuid(0x180F)
BATTERY_LEVEL: Final = sig_uuid(0x2A19)

# Configuration names (edge config `devices[].health`) -> characteristic UUIDs.
CHARACTERISTICS: Final[dict[str, str]] = {
    "heart_rate": HEART_RATE_MEASUREMENT,
    "plx_continuous": PLX_CONTINUOUS_MEASUREMENT,
    "plx_spot_check": PLX_SPOT_CHECK_MEASUREMENT,
    "blood_pressure": BLOOD_PRESSURE_MEASUREMENT,
    "thermometer": TEMPERATURE_MEASUREMENT,
    "weight": WEIGHT_MEASUREMENT,
    "battery": BATTERY_LEVEL,
}

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
# and from-storage say nothing against the value.) This is the spot-check set: a spot
# check still "ongoing" has no final value yet.
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
# A continuous oximeter is, by its nature, always measuring: real ones (and the PLX
# profile's own examples) set "measurement ongoing" in every notification, so it says
# nothing against a continuous value.
MEAS_UNUSABLE_CONTINUOUS: Final = MEAS_UNUSABLE & ~MEAS_ONGOING

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
        return not ((self.measurement_status or 0) & MEAS_UNUSABLE_CONTINUOUS) and not (
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


# ---------------------------------------------------------------- PLX spot-check

_SPOT_TIME: Final = 0x01
_SPOT_MEAS_STATUS: Final = 0x02
_SPOT_DEV_STATUS: Final = 0x04
_SPOT_PAI: Final = 0x08
_SPOT_CLOCK_NOT_SET: Final = 0x10


@dataclass(frozen=True, slots=True)
class PlxSpotCheck:
    spo2: SFloatValue  # %
    pulse_rate: SFloatValue  # beats per minute
    timestamp: DateTime | None = None
    measurement_status: int | None = None  # u16, `MEAS_*`
    device_status: int | None = None  # u24, `DEV_*`
    pulse_amplitude_index: SFloatValue | None = None  # %
    clock_not_set: bool = False  # the oximeter's clock was never set: ignore `timestamp`


def encode_plx_spot_check(m: PlxSpotCheck) -> bytes:
    """The PLX Spot-Check Measurement value an oximeter indicates for `m`."""
    flags = _SPOT_CLOCK_NOT_SET if m.clock_not_set else 0
    body = struct.pack("<2H", encode_sfloat(m.spo2), encode_sfloat(m.pulse_rate))
    if m.timestamp is not None:
        flags |= _SPOT_TIME
        body += encode_date_time(m.timestamp)
    if m.measurement_status is not None:
        flags |= _SPOT_MEAS_STATUS
        body += struct.pack("<H", m.measurement_status)
    if m.device_status is not None:
        flags |= _SPOT_DEV_STATUS
        body += m.device_status.to_bytes(3, "little")
    if m.pulse_amplitude_index is not None:
        flags |= _SPOT_PAI
        body += struct.pack("<H", encode_sfloat(m.pulse_amplitude_index, 2))
    return bytes([flags]) + body


def decode_plx_spot_check(data: bytes) -> PlxSpotCheck:
    """Parse a PLX Spot-Check Measurement indication. Raises DecodeError if malformed."""
    if len(data) < 5:
        raise DecodeError(DEVICE_KIND, f"PLX spot-check measurement of {len(data)} bytes")
    flags = data[0]  # RFU bits 5-7 ignored
    want = (
        5
        + (7 if flags & _SPOT_TIME else 0)
        + (2 if flags & _SPOT_MEAS_STATUS else 0)
        + (3 if flags & _SPOT_DEV_STATUS else 0)
        + (2 if flags & _SPOT_PAI else 0)
    )
    if len(data) != want:
        raise DecodeError(
            DEVICE_KIND,
            f"PLX spot-check measurement of {len(data)} bytes, flags 0x{flags:02x} want {want}",
        )
    spo2, pr = (decode_sfloat(v) for v in struct.unpack_from("<2H", data, 1))
    pos = 5
    timestamp = None
    if flags & _SPOT_TIME:
        timestamp = decode_date_time(data, pos)
        pos += 7
    meas = None
    if flags & _SPOT_MEAS_STATUS:
        (meas,) = struct.unpack_from("<H", data, pos)
        pos += 2
    dev = None
    if flags & _SPOT_DEV_STATUS:
        dev = int.from_bytes(data[pos : pos + 3], "little")
        pos += 3
    pai = decode_sfloat(struct.unpack_from("<H", data, pos)[0]) if flags & _SPOT_PAI else None
    return PlxSpotCheck(spo2, pr, timestamp, meas, dev, pai, bool(flags & _SPOT_CLOCK_NOT_SET))


# ----------------------------------------------------------------------- battery


def decode_battery_level(data: bytes) -> int:
    """Battery Level (0x2A19): one u8, percent; 101-255 are reserved, so refused."""
    if len(data) != 1:
        raise DecodeError(DEVICE_KIND, f"battery level of {len(data)} bytes")
    if data[0] > 100:
        raise DecodeError(DEVICE_KIND, f"battery level {data[0]} % outside 0..100")
    return data[0]


# ------------------------------------------------------------------ our readings

# Frame `status` bits (the `status` reading; 0 = the frame's values are usable).
STATUS_NO_CONTACT: Final = 0x01  # heart rate: sensor contact supported, not detected
STATUS_SPECIAL_VALUE: Final = 0x02  # a special value (NaN, NRes, +-INF, reserved; a
# scale's "measurement unsuccessful")
STATUS_MEASUREMENT: Final = 0x04  # the device's measurement status says unreliable:
# PLX `MEAS_UNUSABLE` bits; blood pressure `BP_UNRELIABLE` (body movement, cuff loose,
# improper measurement position)
STATUS_DEVICE: Final = 0x08  # PLX device and sensor status: `DEV_UNUSABLE` bits
STATUS_OUT_OF_RANGE: Final = 0x10  # a value outside physical sense (below)

# What a value can physically be, whatever the device: outside it the frame is flagged,
# never a reading. (Whether it is plausible for a resident is the plausibility check's
# business; this only keeps nonsense such as a negative SpO2 or a 65535 bpm heart rate
# from being a number at all.) Inside `sensors.contract.QUANTITY_RANGES`.
PHYSICAL_RANGE: Final[dict[str, tuple[float, float]]] = {
    "hr": (0.0, 350.0),  # beats/min
    "spo2": (0.0, 100.0),  # %
    "sbp": (0.0, 350.0),  # mmHg
    "dbp": (0.0, 350.0),  # mmHg
    "temperature": (10.0, 50.0),  # degC, from a body thermometer
    "weight": (0.0, 500.0),  # kg
}


def _number(v: SFloatValue) -> float:
    n = sfloat_number(v)
    return math.nan if n is None else n


def _special(*values: SFloatValue | None) -> bool:
    return any(isinstance(v, SFloatSpecial) for v in values)


_Decoded = tuple[dict[str, float], int, DateTime | None]  # values, status, time stamp


def _heart_rate(data: bytes) -> _Decoded:
    hr = decode_heart_rate(data)
    return {"hr": float(hr.bpm)}, 0 if hr.usable else STATUS_NO_CONTACT, None


def _plx_status(meas: int | None, dev: int | None, meas_unusable: int) -> int:
    status = STATUS_MEASUREMENT if (meas or 0) & meas_unusable else 0
    return status | (STATUS_DEVICE if (dev or 0) & DEV_UNUSABLE else 0)


def _plx_continuous(data: bytes) -> _Decoded:
    plx = decode_plx_continuous(data)
    status = STATUS_SPECIAL_VALUE if _special(plx.spo2, plx.pulse_rate) else 0
    status |= _plx_status(plx.measurement_status, plx.device_status, MEAS_UNUSABLE_CONTINUOUS)
    return {"spo2": _number(plx.spo2), "hr": _number(plx.pulse_rate)}, status, None


def _plx_spot_check(data: bytes) -> _Decoded:
    plx = decode_plx_spot_check(data)
    status = STATUS_SPECIAL_VALUE if _special(plx.spo2, plx.pulse_rate) else 0
    status |= _plx_status(plx.measurement_status, plx.device_status, MEAS_UNUSABLE)
    values = {"spo2": _number(plx.spo2), "hr": _number(plx.pulse_rate)}
    return values, status, None if plx.clock_not_set else plx.timestamp


def _blood_pressure(data: bytes) -> _Decoded:
    bp = decode_blood_pressure(data)
    status = STATUS_SPECIAL_VALUE if _special(bp.systolic, bp.diastolic) else 0
    if (bp.status or 0) & BP_UNRELIABLE:
        status |= STATUS_MEASUREMENT
    values = {
        "sbp": _number(pressure_mmhg(bp.systolic, bp.kpa)),
        "dbp": _number(pressure_mmhg(bp.diastolic, bp.kpa)),
    }
    # The pulse rate is kept only when it is a number the cuff vouches for; a special
    # value or "out of range" drops it without spoiling the pressures.
    pulse = bp.pulse_rate
    if pulse is not None and not _special(pulse) and not (bp.status or 0) & BP_PULSE_RANGE_MASK:
        values["hr"] = _number(pulse)
    return values, status, bp.timestamp


def _temperature(data: bytes) -> _Decoded:
    m = decode_temperature(data)
    status = STATUS_SPECIAL_VALUE if _special(m.value) else 0
    return {"temperature": _number(m.celsius)}, status, m.timestamp


def _weight(data: bytes) -> _Decoded:
    m = decode_weight(data)
    kg = m.weight_kg
    status = 0 if kg is not None else STATUS_SPECIAL_VALUE
    return {"weight": math.nan if kg is None else kg}, status, m.timestamp


_DECODERS: Final[dict[str, Callable[[bytes], _Decoded]]] = {
    HEART_RATE_MEASUREMENT: _heart_rate,
    PLX_CONTINUOUS_MEASUREMENT: _plx_continuous,
    PLX_SPOT_CHECK_MEASUREMENT: _plx_spot_check,
    BLOOD_PRESSURE_MEASUREMENT: _blood_pressure,
    TEMPERATURE_MEASUREMENT: _temperature,
    WEIGHT_MEASUREMENT: _weight,
}


# A device's time stamp is believed when it is at most this old (the wire contract's
# window) and at most this far ahead of the reception time; otherwise its clock is wrong
# (never set: 2000-01-01, year 0) and the reading is timed at reception.
STORED_MAX_AGE_S: Final = 7 * 86400.0
DEVICE_CLOCK_AHEAD_S: Final = 600.0


def measured_at(stamp: DateTime | None, t: float, tz: dt.tzinfo | None) -> float:
    """When a measurement was taken: its time stamp (the device's wall clock in the
    dwelling's zone `tz`) when it is believable, else the reception time `t`. A cuff or
    scale indicates its stored measurements on connection: they keep their own times,
    so an old one is never scored as fresh."""
    local = stamp.as_datetime() if stamp is not None else None
    if local is None or tz is None:
        return t
    device_t = local.replace(tzinfo=tz).timestamp()
    if t - STORED_MAX_AGE_S <= device_t <= t + DEVICE_CLOCK_AHEAD_S:
        return device_t
    return t


def health_readings(
    sensor: str, characteristic: str, data: bytes, t: float, *, tz: dt.tzinfo | None = None
) -> DecodedFrame:
    """One notification or indication -> readings plus the frame's `status`.

    Heart rate: `hr`; PLX continuous and spot-check: `spo2`, `hr` (the pulse rate, as the
    serial oximeter's is); blood pressure: `sbp`, `dbp` in mmHg (kPa converted) and `hr`
    when the cuff sent a pulse rate it vouches for; thermometer: `temperature` in degC
    (degF converted); scale: `weight` in kg (lb converted). Battery Level gives a
    `battery` reading (and `DecodedFrame.battery`), no status.

    A special value becomes a NaN reading and sets `STATUS_SPECIAL_VALUE`; a value outside
    `PHYSICAL_RANGE` sets `STATUS_OUT_OF_RANGE`; every value of a frame with a non-zero
    status is unusable. With the dwelling's time zone `tz`, a measurement's own time
    stamp times its readings (`measured_at`); without, or for a characteristic without
    one, `t` (reception) does. Raises DecodeError on malformed bytes or an unknown
    characteristic.
    """
    if characteristic == BATTERY_LEVEL:
        level = float(decode_battery_level(data))
        return DecodedFrame(sensor, t, (Reading(sensor, "battery", t, level),), battery=level)
    decoder = _DECODERS.get(characteristic)
    if decoder is None:
        raise DecodeError(DEVICE_KIND, f"not a health characteristic: {characteristic}")
    values, status, stamp = decoder(data)
    for quantity, value in values.items():
        low, high = PHYSICAL_RANGE[quantity]
        if math.isfinite(value) and not low <= value <= high:
            status |= STATUS_OUT_OF_RANGE
    at = measured_at(stamp, t, tz)
    readings = [Reading(sensor, q, at, v) for q, v in values.items()]
    readings.append(Reading(sensor, "status", at, float(status)))
    return DecodedFrame(sensor=sensor, t=t, readings=tuple(readings))


# ------------------------------------------------------------------ one entry point

_SIG_BASE_SUFFIX: Final = "-0000-1000-8000-00805f9b34fb"


def characteristic_uuid(uuid: str) -> str:
    """A characteristic UUID as we key it (128-bit, lower case) from what an installer
    types: "2a35", "0x2A35", "00002a35" or the full form. Raises DecodeError if it is
    none of these."""
    u = uuid.strip().lower().removeprefix("0x")
    if len(u) in (4, 8) and all(c in "0123456789abcdef" for c in u):
        return sig_uuid(int(u, 16)) if len(u) == 4 else f"{u}{_SIG_BASE_SUFFIX}"
    parts = u.split("-")
    if [len(p) for p in parts] == [8, 4, 4, 4, 12] and all(
        c in "0123456789abcdef" for c in u.replace("-", "")
    ):
        return u
    raise DecodeError(DEVICE_KIND, f"not a characteristic UUID: {uuid!r}")


def decode_characteristic(
    uuid: str, data: bytes, *, sensor: str = "gatt", t: float = 0.0
) -> list[Reading]:
    """The one dispatch for every GATT characteristic we decode (what `mz decode gatt`
    prints): the readings of `health_readings`, `status` included. Unknown UUID or
    malformed bytes: DecodeError."""
    char = characteristic_uuid(uuid)
    if char not in SUPPORTED:
        raise DecodeError(DEVICE_KIND, f"no decoder for characteristic {uuid!r}")
    return list(health_readings(sensor, char, bytes(data), t).readings)


SUPPORTED: Final = frozenset(CHARACTERISTICS.values())
