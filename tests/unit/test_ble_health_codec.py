"""The Bluetooth SIG health codec: Heart Rate Measurement, PLX Continuous Measurement and
IEEE 11073 SFLOAT, bytes in, whole object out (and back).

Sources of the byte examples (each test says which):
- [GSS] Bluetooth SIG, GATT Specification Supplement, sections "Heart Rate Measurement"
  (flags bit 0 u16 value, bits 1-2 sensor contact, bit 3 energy expended, bit 4
  RR-intervals in 1/1024 s) and "PLX Continuous Measurement" (flags bits 0-4: SpO2PR-Fast,
  SpO2PR-Slow, measurement status u16, device and sensor status u24, pulse amplitude
  index; the measurement-status and device-and-sensor-status bit assignments); Heart Rate
  Service 1.0 and Pulse Oximeter Service 1.0.1 for which characteristic is notified.
- [11073] IEEE 11073-20601, SFLOAT-Type: 4-bit exponent, 12-bit mantissa, both two's
  complement; the special values NaN 0x07FF, NRes 0x0800, +INF 0x07FE, -INF 0x0802,
  reserved 0x0801.
The bytes were worked out by hand from those field definitions. The first heart-rate
example also appears, decoded the same way, in the README of the `ble_gatt_parser` Dart
package (an independent implementation), which is a cross-check, not the authority.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.codecs.ble_health import (
    DEV_EXTENDED_DISPLAY_UPDATE,
    DEV_LOW_PERFUSION,
    DEV_SENSOR_UNCONNECTED,
    HEART_RATE_MEASUREMENT,
    MEAS_FULLY_QUALIFIED,
    MEAS_QUESTIONABLE,
    MEAS_VALIDATED,
    PLX_CONTINUOUS_MEASUREMENT,
    STATUS_DEVICE,
    STATUS_MEASUREMENT,
    STATUS_NO_CONTACT,
    STATUS_SPECIAL_VALUE,
    HeartRateMeasurement,
    PlxContinuous,
    SensorContact,
    SFloatSpecial,
    decode_heart_rate,
    decode_plx_continuous,
    decode_sfloat,
    encode_heart_rate,
    encode_plx_continuous,
    encode_sfloat,
    health_readings,
    sig_uuid,
)
from sensors.errors import DecodeError

# ------------------------------------------------------------------------------ SFLOAT


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (0x0061, 97.0),  # [11073] exponent 0, mantissa 97
        (0xF3CF, 97.5),  # exponent -1 (0xF), mantissa 0x3CF = 975
        (0xF16F, 36.7),  # exponent -1, mantissa 0x16F = 367 (a body temperature)
        (0x0FFF, -1.0),  # exponent 0, mantissa 0xFFF = -1 (two's complement)
        (0x0801 + 0x1000, -20470.0),  # exponent 1, mantissa 0x801 = -2047: a number
        (0x1005, 50.0),  # exponent 1, mantissa 5
        (0xE0C8, 2.0),  # exponent -2, mantissa 200
        (0x87FD, 2045e-8),  # exponent -8 (smallest), mantissa 2045 (largest finite)
        (0x0000, 0.0),
    ],
)
def test_sfloat_numbers(raw: int, value: float) -> None:  # [11073]
    assert decode_sfloat(raw) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("raw", "special"),
    [
        (0x07FF, SFloatSpecial.NAN),
        (0x0800, SFloatSpecial.NRES),
        (0x07FE, SFloatSpecial.POSITIVE_INFINITY),
        (0x0802, SFloatSpecial.NEGATIVE_INFINITY),
        (0x0801, SFloatSpecial.RESERVED),
    ],
)
def test_sfloat_special_values(raw: int, special: SFloatSpecial) -> None:  # [11073]
    assert decode_sfloat(raw) is special
    assert encode_sfloat(special) == raw


def test_sfloat_encoding_is_canonical() -> None:
    assert encode_sfloat(97.0) == 0x0061  # whole numbers as exponent 0, as oximeters send
    assert encode_sfloat(97.5) == 0xF3CF
    assert encode_sfloat(0.0) == 0x0000
    assert encode_sfloat(math.nan) == 0x07FF
    assert encode_sfloat(math.inf) == 0x07FE
    assert encode_sfloat(-math.inf) == 0x0802
    assert encode_sfloat(123456.0) == 0x24D3  # too many digits: 1235 x 10^2
    with pytest.raises(ValueError, match="too large"):
        encode_sfloat(1e12)
    with pytest.raises(ValueError, match="outside 16 bits"):
        decode_sfloat(0x10000)


@given(st.integers(-2045, 2045), st.integers(-8, 7))
def test_sfloat_round_trip(mantissa: int, exponent: int) -> None:
    raw = ((exponent & 0xF) << 12) | (mantissa & 0xFFF)
    value = decode_sfloat(raw)
    assert isinstance(value, float)
    assert decode_sfloat(encode_sfloat(value, decimals=8)) == pytest.approx(value, rel=1e-9)


# -------------------------------------------------------------------------- heart rate


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # [GSS] flags 0x00: u8 value, contact not supported, nothing else. 72 bpm.
        (bytes([0x00, 0x48]), HeartRateMeasurement(72)),
        # flags 0x06: contact supported and detected (bits 2 and 1).
        (bytes([0x06, 0x48]), HeartRateMeasurement(72, SensorContact.DETECTED)),
        # flags 0x04: contact supported, NOT detected (bit 2 only).
        (bytes([0x04, 0x00]), HeartRateMeasurement(0, SensorContact.NOT_DETECTED)),
        # flags 0x02: bit 1 without bit 2 still means "not supported".
        (bytes([0x02, 0x48]), HeartRateMeasurement(72, SensorContact.NOT_SUPPORTED)),
        # flags 0x01: u16 value 0x012C = 300 bpm (little-endian).
        (bytes([0x01, 0x2C, 0x01]), HeartRateMeasurement(300, u16_format=True)),
        # flags 0x01: u16 format for a value that fits a u8 (some sensors always do this).
        (bytes([0x01, 0x48, 0x00]), HeartRateMeasurement(72, u16_format=True)),
        # flags 0x08: energy expended 0x0123 = 291 kJ.
        (bytes([0x08, 0x48, 0x23, 0x01]), HeartRateMeasurement(72, energy_kj=291)),
        # flags 0x16: contact detected + RR-intervals: 80 bpm, RR 0x0400 = 1024/1024 s =
        # 1.0 s and 0x0380 = 896/1024 s = 0.875 s (the ble_gatt_parser README example).
        (
            bytes([0x16, 0x50, 0x00, 0x04, 0x80, 0x03]),
            HeartRateMeasurement(80, SensorContact.DETECTED, rr_1024=(1024, 896)),
        ),
        # flags 0x1F: everything: u16 70 bpm, contact detected, energy 10 kJ, 2 RR.
        (
            bytes([0x1F, 0x46, 0x00, 0x0A, 0x00, 0x6E, 0x03, 0x70, 0x03]),
            HeartRateMeasurement(70, SensorContact.DETECTED, 10, (878, 880), u16_format=True),
        ),
        # flags 0xE6: RFU bits 5-7 set are ignored by a receiver (Core spec, RFU fields).
        (bytes([0xE6, 0x48]), HeartRateMeasurement(72, SensorContact.DETECTED)),
    ],
)
def test_heart_rate_spec_examples(data: bytes, expected: HeartRateMeasurement) -> None:
    assert decode_heart_rate(data) == expected


def test_heart_rate_rr_intervals_in_seconds() -> None:
    m = decode_heart_rate(bytes([0x16, 0x50, 0x00, 0x04, 0x80, 0x03]))
    assert m.rr_s == (1.0, 0.875)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes([0x00]),  # no value
        bytes([0x01, 0x48]),  # u16 declared, one byte
        bytes([0x08, 0x48, 0x01]),  # energy declared, one byte
        bytes([0x10, 0x48]),  # RR declared, none there
        bytes([0x10, 0x48, 0x00, 0x04, 0x80]),  # RR: odd byte count
        bytes([0x00, 0x48, 0x00]),  # trailing byte nothing declared
    ],
)
def test_heart_rate_malformed(data: bytes) -> None:
    with pytest.raises(DecodeError) as err:
        decode_heart_rate(data)
    assert err.value.device_kind == "ble_health"


@given(
    st.integers(0, 0xFFFF),
    st.sampled_from(list(SensorContact)),
    st.none() | st.integers(0, 0xFFFF),
    st.lists(st.integers(0, 0xFFFF), max_size=8).map(tuple),
    st.booleans(),
)
def test_heart_rate_round_trip(
    bpm: int, contact: SensorContact, energy: int | None, rr: tuple[int, ...], u16: bool
) -> None:
    m = HeartRateMeasurement(bpm, contact, energy, rr, u16 or bpm > 0xFF)
    assert decode_heart_rate(encode_heart_rate(m)) == m


# ---------------------------------------------------------------------- pulse oximetry


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # [GSS] flags 0x00: SpO2PR-Normal only: SpO2 0x0061 = 97 %, PR 0x0048 = 72 /min.
        (bytes([0x00, 0x61, 0x00, 0x48, 0x00]), PlxContinuous(97.0, 72.0)),
        # flags 0x01: + SpO2PR-Fast 96 %, 74 /min.
        (
            bytes([0x01, 0x61, 0x00, 0x48, 0x00, 0x60, 0x00, 0x4A, 0x00]),
            PlxContinuous(97.0, 72.0, fast=(96.0, 74.0)),
        ),
        # flags 0x02: + SpO2PR-Slow 97.5 % (0xF3CF), 71 /min.
        (
            bytes([0x02, 0x61, 0x00, 0x48, 0x00, 0xCF, 0xF3, 0x47, 0x00]),
            PlxContinuous(97.0, 72.0, slow=(97.5, 71.0)),
        ),
        # flags 0x04: + measurement status 0x0180 (validated, fully qualified).
        (
            bytes([0x04, 0x61, 0x00, 0x48, 0x00, 0x80, 0x01]),
            PlxContinuous(97.0, 72.0, measurement_status=MEAS_VALIDATED | MEAS_FULLY_QUALIFIED),
        ),
        # flags 0x08: + device and sensor status u24 0x000020 (low perfusion).
        (
            bytes([0x08, 0x61, 0x00, 0x48, 0x00, 0x20, 0x00, 0x00]),
            PlxContinuous(97.0, 72.0, device_status=DEV_LOW_PERFUSION),
        ),
        # flags 0x10: + pulse amplitude index 0xE141 = 321 x 10^-2 = 3.21 %.
        (
            bytes([0x10, 0x61, 0x00, 0x48, 0x00, 0x41, 0xE1]),
            PlxContinuous(97.0, 72.0, pulse_amplitude_index=3.21),
        ),
        # flags 0x1F: every optional field, in the order the spec lists them.
        (
            bytes.fromhex(
                "1f 6100 4800"  # flags, normal SpO2 97, PR 72
                " 6000 4a00"  # fast: 96, 74
                " cff3 4700"  # slow: 97.5, 71
                " 8000"  # measurement status: validated
                " 010000"  # device status: extended display update
                " 41e1"  # PAI 3.21
            ),
            PlxContinuous(
                97.0,
                72.0,
                (96.0, 74.0),
                (97.5, 71.0),
                MEAS_VALIDATED,
                DEV_EXTENDED_DISPLAY_UPDATE,
                3.21,
            ),
        ),
        # flags 0x00 with NaN SpO2 (0x07FF) and NRes pulse rate (0x0800): special values.
        (
            bytes([0x00, 0xFF, 0x07, 0x00, 0x08]),
            PlxContinuous(SFloatSpecial.NAN, SFloatSpecial.NRES),
        ),
        # RFU flag bits 5-7 are ignored.
        (bytes([0xE0, 0x61, 0x00, 0x48, 0x00]), PlxContinuous(97.0, 72.0)),
    ],
)
def test_plx_continuous_spec_examples(data: bytes, expected: PlxContinuous) -> None:
    assert decode_plx_continuous(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes([0x00, 0x61, 0x00, 0x48]),  # PR cut short
        bytes([0x01, 0x61, 0x00, 0x48, 0x00]),  # fast declared, missing
        bytes([0x04, 0x61, 0x00, 0x48, 0x00, 0x80]),  # measurement status cut short
        bytes([0x08, 0x61, 0x00, 0x48, 0x00, 0x20, 0x00]),  # device status is 3 bytes
        bytes([0x00, 0x61, 0x00, 0x48, 0x00, 0x00]),  # trailing byte
    ],
)
def test_plx_continuous_malformed(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_plx_continuous(data)


_sfloat_values = st.sampled_from(list(SFloatSpecial)) | st.integers(0, 1000).map(lambda n: n / 10)


@given(
    _sfloat_values,
    _sfloat_values,
    st.none() | st.tuples(_sfloat_values, _sfloat_values),
    st.none() | st.tuples(_sfloat_values, _sfloat_values),
    st.none() | st.integers(0, 0xFFFF),
    st.none() | st.integers(0, 0xFFFFFF),
    st.none() | st.integers(0, 2000).map(lambda n: n / 100),
)
def test_plx_continuous_round_trip(
    spo2: float | SFloatSpecial,
    pr: float | SFloatSpecial,
    fast: tuple[float | SFloatSpecial, float | SFloatSpecial] | None,
    slow: tuple[float | SFloatSpecial, float | SFloatSpecial] | None,
    meas: int | None,
    dev: int | None,
    pai: float | None,
) -> None:
    m = PlxContinuous(spo2, pr, fast, slow, meas, dev, pai)
    assert decode_plx_continuous(encode_plx_continuous(m)) == m


# ------------------------------------------------------------------------ readings


def test_uuids_are_the_sig_base_uuid_forms() -> None:
    assert HEART_RATE_MEASUREMENT == "00002a37-0000-1000-8000-00805f9b34fb"
    assert sig_uuid(0x2A5F) == PLX_CONTINUOUS_MEASUREMENT


def _values(frame_readings: tuple[object, ...]) -> dict[str, float]:
    return {r.quantity: r.value for r in frame_readings}  # type: ignore[attr-defined]


def test_readings_of_a_good_heart_rate_and_plx_frame() -> None:
    hr = health_readings("band-1", HEART_RATE_MEASUREMENT, bytes([0x06, 0x48]), 10.0)
    assert _values(hr.readings) == {"hr": 72.0, "status": 0.0}
    assert hr.sensor == "band-1" and hr.t == 10.0
    plx = health_readings(
        "band-1", PLX_CONTINUOUS_MEASUREMENT, bytes([0x00, 0x61, 0x00, 0x48, 0x00]), 11.0
    )
    assert _values(plx.readings) == {"spo2": 97.0, "hr": 72.0, "status": 0.0}


@pytest.mark.parametrize(
    ("characteristic", "data", "status"),
    [
        # contact supported, not detected: the band is off the skin
        (HEART_RATE_MEASUREMENT, bytes([0x04, 0x48]), STATUS_NO_CONTACT),
        # special values (NaN SpO2, +INF PR)
        (PLX_CONTINUOUS_MEASUREMENT, bytes([0x00, 0xFF, 0x07, 0xFE, 0x07]), STATUS_SPECIAL_VALUE),
        # questionable measurement
        (
            PLX_CONTINUOUS_MEASUREMENT,
            bytes([0x04, 0x61, 0x00, 0x48, 0x00]) + MEAS_QUESTIONABLE.to_bytes(2, "little"),
            STATUS_MEASUREMENT,
        ),
        # sensor unconnected to user
        (
            PLX_CONTINUOUS_MEASUREMENT,
            bytes([0x08, 0x61, 0x00, 0x48, 0x00]) + DEV_SENSOR_UNCONNECTED.to_bytes(3, "little"),
            STATUS_DEVICE,
        ),
    ],
)
def test_unusable_frames_are_flagged(characteristic: str, data: bytes, status: int) -> None:
    frame = health_readings("band-1", characteristic, data, 1.0)
    assert _values(frame.readings)["status"] == status


def test_good_status_bits_do_not_flag() -> None:
    # validated + fully qualified; the display-update bit is a display matter
    data = encode_plx_continuous(
        PlxContinuous(
            97.0,
            72.0,
            measurement_status=MEAS_VALIDATED | MEAS_FULLY_QUALIFIED,
            device_status=DEV_EXTENDED_DISPLAY_UPDATE,
        )
    )
    frame = health_readings("band-1", PLX_CONTINUOUS_MEASUREMENT, data, 1.0)
    assert _values(frame.readings)["status"] == 0


def test_special_value_becomes_nan_reading() -> None:
    data = encode_plx_continuous(PlxContinuous(SFloatSpecial.NRES, 70.0))
    values = _values(health_readings("b", PLX_CONTINUOUS_MEASUREMENT, data, 1.0).readings)
    assert math.isnan(values["spo2"]) and values["hr"] == 70.0
    assert values["status"] == STATUS_SPECIAL_VALUE


def test_unknown_characteristic_and_malformed_bytes_raise() -> None:
    with pytest.raises(DecodeError, match="not a health characteristic"):
        health_readings("b", sig_uuid(0x2A6E), b"\x50\x00", 1.0)  # environmental temperature
    with pytest.raises(DecodeError):
        health_readings("b", PLX_CONTINUOUS_MEASUREMENT, b"\x00\x61", 1.0)
