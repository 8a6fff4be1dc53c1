"""The Bluetooth SIG spot-check characteristics (blood pressure, thermometer, weight scale,
PLX spot-check, battery) and the one dispatch `decode_characteristic`: bytes in, whole
object and readings out.

Sources of the byte examples (each test says which):
- [Nordic] NordicSemiconductor/Android-BLE-Common-Library, ble-common/src/test/.../
  bps/BloodPressureMeasurementDataCallbackTest.java and ht/TemperatureMeasurementData
  CallbackTest.java: the bytes and the values Nordic's parser reads from them.
- [bluetooth-sig] RonanB96/bluetooth-sig-python, tests/gatt/characteristics/
  test_weight_measurement.py (weights, time stamp, user id, BMI, height) and
  test_blood_pressure_measurement.py. Where that project reads the bytes otherwise
  than the SIG specification does, the test says so and follows the specification:
  its SFLOATs use a biased exponent (0x8078 read as 120; IEEE 11073-20601's exponent is
  two's complement, so 0x8078 is 120 x 10^-8), and it gives BMI and height one flag
  each (the Weight Measurement has one flag, bit 3, for both).
- [GSS] Bluetooth SIG GATT Specification Supplement field layouts, by hand (PLX
  Spot-Check Measurement, FLOAT specials, Battery Level).
"""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.codecs.ble_health import (
    BATTERY_LEVEL,
    BLOOD_PRESSURE_MEASUREMENT,
    DEV_SENSOR_DISPLACED,
    HEART_RATE_MEASUREMENT,
    MEAS_EARLY_ESTIMATE,
    MEAS_ONGOING,
    MEAS_VALIDATED,
    PHYSICAL_RANGE,
    PLX_CONTINUOUS_MEASUREMENT,
    PLX_SPOT_CHECK_MEASUREMENT,
    STATUS_DEVICE,
    STATUS_MEASUREMENT,
    STATUS_OUT_OF_RANGE,
    STATUS_SPECIAL_VALUE,
    SUPPORTED,
    TEMPERATURE_MEASUREMENT,
    WEIGHT_MEASUREMENT,
    PlxContinuous,
    PlxSpotCheck,
    SFloatSpecial,
    decode_characteristic,
    decode_plx_spot_check,
    encode_plx_continuous,
    encode_plx_spot_check,
    health_readings,
    measured_at,
)
from sensors.codecs.ieee11073 import decode_float, encode_float
from sensors.codecs.sig_spot_check import (
    BP_BODY_MOVEMENT,
    BP_CUFF_LOOSE,
    BP_IMPROPER_POSITION,
    BP_IRREGULAR_PULSE,
    BP_PULSE_BELOW_RANGE,
    BloodPressureMeasurement,
    DateTime,
    TemperatureMeasurement,
    TemperatureType,
    WeightMeasurement,
    decode_blood_pressure,
    decode_temperature,
    decode_weight,
    encode_blood_pressure,
    encode_temperature,
    encode_weight,
)
from sensors.contract import QUANTITY_RANGES
from sensors.errors import DecodeError


def _values(uuid: str, data: bytes) -> dict[str, float]:
    return {r.quantity: r.value for r in decode_characteristic(uuid, data)}


# ---------------------------------------------------------------------- blood pressure

NORDIC_BP_FULL = bytes.fromhex("1e8a00580078000000041114293b3c00012700")
NORDIC_BP_SOME = bytes.fromhex("15bdf00b009ff03c001200")
NORDIC_BP_MINIMAL = bytes.fromhex("00bdf00b009ff0")


def test_blood_pressure_nordic_full() -> None:  # [Nordic] onBloodPressureMeasurementReceived_full
    m = decode_blood_pressure(NORDIC_BP_FULL)
    assert (m.systolic, m.diastolic, m.mean_arterial, m.kpa) == (138.0, 88.0, 120.0, False)
    assert m.pulse_rate == 60.0 and m.user_id == 1
    assert m.timestamp == DateTime(0, 4, 17, 20, 41, 59)
    assert m.timestamp.as_datetime() is None  # year 0: "not known"
    assert m.status == (
        BP_BODY_MOVEMENT | BP_CUFF_LOOSE | BP_IRREGULAR_PULSE | BP_IMPROPER_POSITION
    )
    assert decode_blood_pressure(encode_blood_pressure(m)) == m  # ours: canonical SFLOATs
    # Body movement, cuff loose, improper position: the cuff says "unreliable".
    values = _values("2a35", NORDIC_BP_FULL)
    assert values["status"] == STATUS_MEASUREMENT
    assert (values["sbp"], values["dbp"], values["hr"]) == (138.0, 88.0, 60.0)


def test_blood_pressure_nordic_kpa_pulse_below_range() -> None:  # [Nordic] ..._some
    m = decode_blood_pressure(NORDIC_BP_SOME)
    assert m.kpa and m.systolic == pytest.approx(18.9) and m.diastolic == 11.0
    assert m.mean_arterial == pytest.approx(15.9) and m.pulse_rate == 60.0
    assert m.user_id is None and m.timestamp is None
    assert m.status == BP_CUFF_LOOSE | BP_PULSE_BELOW_RANGE
    values = _values(BLOOD_PRESSURE_MEASUREMENT, NORDIC_BP_SOME)
    # kPa -> mmHg at the boundary; the pulse rate the cuff calls out of range is dropped
    assert values["sbp"] == pytest.approx(141.76, abs=0.01)
    assert values["dbp"] == pytest.approx(82.51, abs=0.01)
    assert "hr" not in values and values["status"] == STATUS_MEASUREMENT


def test_blood_pressure_nordic_minimal_is_usable() -> None:  # [Nordic] ..._minimal
    values = _values("0x2A35", NORDIC_BP_MINIMAL)
    assert values == {"sbp": pytest.approx(18.9), "dbp": 11.0, "status": 0.0}


@pytest.mark.parametrize(
    "data",
    [
        bytes([1, 2, 3, 4, 5, 6]),  # [Nordic] onInvalidDataReceived_toShort
        bytes([3, 2, 3, 4, 5, 6, 7]),  # [Nordic] ..._noTimestamp: time stamp flagged, absent
        NORDIC_BP_FULL[:-1],  # status declared, one byte of it
        NORDIC_BP_MINIMAL + b"\x00",  # trailing byte
    ],
)
def test_blood_pressure_malformed(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_characteristic("2a35", data)


def test_irregular_pulse_alone_keeps_the_pressures() -> None:
    data = encode_blood_pressure(
        BloodPressureMeasurement(132.0, 84.0, 100.0, pulse_rate=71.0, status=BP_IRREGULAR_PULSE)
    )
    assert _values("2a35", data) == {"sbp": 132.0, "dbp": 84.0, "hr": 71.0, "status": 0.0}


def test_blood_pressure_special_value_is_not_a_number() -> None:
    data = encode_blood_pressure(BloodPressureMeasurement(SFloatSpecial.NAN, 80.0, 90.0))
    values = _values("2a35", data)
    assert math.isnan(values["sbp"]) and values["status"] == STATUS_SPECIAL_VALUE


def test_bluetooth_sig_python_bp_bytes_read_by_the_standard() -> None:
    # [bluetooth-sig] "Basic 120/80 mmHg": 0x8078 there is 120 (a biased exponent); per
    # IEEE 11073-20601 the exponent nibble 0x8 is -8. We follow the standard.
    m = decode_blood_pressure(bytes([0x00, 0x78, 0x80, 0x50, 0x80, 0x5A, 0x80]))
    assert m.systolic == pytest.approx(120e-8) and m.diastolic == pytest.approx(80e-8)


# -------------------------------------------------------------------------- thermometer

NORDIC_TEMP = bytes.fromhex("06b00e00fedc070c050b321b04")


def test_temperature_nordic() -> None:  # [Nordic] onTemperatureMeasurementReceived
    m = decode_temperature(NORDIC_TEMP)
    assert m.value == pytest.approx(37.60) and not m.fahrenheit
    assert m.timestamp is not None
    assert m.timestamp.as_datetime() == dt.datetime(2012, 12, 5, 11, 50, 27)  # noqa: DTZ001
    assert m.type == TemperatureType.FINGER
    assert decode_temperature(encode_temperature(m)) == m
    assert _values("2a1c", NORDIC_TEMP) == {"temperature": pytest.approx(37.6), "status": 0.0}


def test_temperature_nordic_truncated() -> None:  # [Nordic] onInvalidDataReceived
    with pytest.raises(DecodeError, match="temperature type"):
        decode_characteristic("2a1c", NORDIC_TEMP[:-1])


def test_fahrenheit_is_converted() -> None:
    data = encode_temperature(TemperatureMeasurement(98.6, fahrenheit=True))
    assert _values("2a1c", data)["temperature"] == pytest.approx(37.0)


@pytest.mark.parametrize(
    ("raw", "special"),
    [
        (0x007FFFFF, SFloatSpecial.NAN),  # [GSS] FLOAT specials
        (0x00800000, SFloatSpecial.NRES),
        (0x007FFFFE, SFloatSpecial.POSITIVE_INFINITY),
        (0x00800002, SFloatSpecial.NEGATIVE_INFINITY),
        (0x00800001, SFloatSpecial.RESERVED),
    ],
)
def test_float_specials_are_never_a_temperature(raw: int, special: SFloatSpecial) -> None:
    assert decode_float(raw) is special
    assert encode_float(special) == raw
    values = _values("2a1c", bytes([0x00]) + raw.to_bytes(4, "little"))
    assert math.isnan(values["temperature"]) and values["status"] == STATUS_SPECIAL_VALUE


def test_room_air_from_a_body_thermometer_is_out_of_range() -> None:
    data = encode_temperature(TemperatureMeasurement(-3.5))
    assert _values("2a1c", data)["status"] == STATUS_OUT_OF_RANGE


# ------------------------------------------------------------------------ weight scale


@pytest.mark.parametrize(
    ("data", "kg", "expected"),
    [
        # [bluetooth-sig] test 1: 14000 x 0.005 kg
        (bytes([0x00, 0xB0, 0x36]), 70.0, WeightMeasurement(14000)),
        # [bluetooth-sig] test 2: 15700 x 0.01 lb = 157 lb
        (bytes([0x01, 0x54, 0x3D]), 157 * 0.45359237, WeightMeasurement(15700, imperial=True)),
        # [bluetooth-sig] test 3: with a time stamp
        (
            bytes([0x02, 0xB0, 0x36, 0xE7, 0x07, 0x0C, 0x19, 0x0E, 0x1E, 0x2D]),
            70.0,
            WeightMeasurement(14000, timestamp=DateTime(2023, 12, 25, 14, 30, 45)),
        ),
        # [bluetooth-sig] test 6: imperial, everything (their RFU bit 4 is ignored)
        (
            bytes.fromhex("1f543de7070c190e1e2d03f500a802"),
            157 * 0.45359237,
            WeightMeasurement(15700, True, DateTime(2023, 12, 25, 14, 30, 45), 3, 245, 680),
        ),
    ],
)
def test_weight_bluetooth_sig_python(data: bytes, kg: float, expected: WeightMeasurement) -> None:
    m = decode_weight(data)
    assert m == expected
    assert m.weight_kg == pytest.approx(kg)
    assert _values("2a9d", data) == {"weight": pytest.approx(kg), "status": 0.0}


def test_weight_bmi_and_height_units() -> None:  # [bluetooth-sig] test 6
    m = decode_weight(bytes.fromhex("1f543de7070c190e1e2d03f500a802"))
    assert m.bmi == pytest.approx(24.5) and m.height_m == pytest.approx(68 * 0.0254)
    si = WeightMeasurement(14000, bmi_raw=245, height_raw=1750)
    assert decode_weight(encode_weight(si)).height_m == pytest.approx(1.75)


@pytest.mark.parametrize(
    "data",
    [
        bytes([0x0C, 0xB0, 0x36, 0x05, 0xF5, 0x00]),  # [bluetooth-sig] test 4: BMI w/o height
        bytes([0x10, 0xB0, 0x36, 0xD6, 0x06]),  # [bluetooth-sig] test 5: bit 4 is RFU
        bytes([0x00, 0x01]),  # [bluetooth-sig] too short
        bytes([0x00]),
    ],
)
def test_weight_layouts_the_sig_does_not_define_are_refused(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_characteristic("2a9d", data)


def test_weight_unsuccessful_is_not_a_weight() -> None:
    values = _values("2a9d", bytes([0x00, 0xFF, 0xFF]))
    assert math.isnan(values["weight"]) and values["status"] == STATUS_SPECIAL_VALUE


# ----------------------------------------------------------------- PLX spot-check


def test_plx_spot_check_layout() -> None:  # [GSS]
    # flags: time stamp, measurement status, device and sensor status, PAI
    # 97 %, 72 bpm, 2026-12-04 18:00:00, validated, no device status, PAI 2.5 %
    data = bytes.fromhex("0f" "6100" "4800" "ea070c04120000" "8000" "000000" "19f0")  # fmt: skip
    m = decode_plx_spot_check(data)
    assert m == PlxSpotCheck(97.0, 72.0, DateTime(2026, 12, 4, 18, 0, 0), MEAS_VALIDATED, 0, 2.5)
    assert encode_plx_spot_check(m) == data
    assert _values("2a5e", data) == {"spo2": 97.0, "hr": 72.0, "status": 0.0}


def test_measurement_ongoing_voids_a_spot_check_not_a_continuous_reading() -> None:
    spot = encode_plx_spot_check(PlxSpotCheck(95.0, 70.0, measurement_status=MEAS_ONGOING))
    assert _values("2a5e", spot)["status"] == STATUS_MEASUREMENT
    # A continuous oximeter sets "measurement ongoing" in every notification.
    cont = encode_plx_continuous(PlxContinuous(95.0, 70.0, measurement_status=MEAS_ONGOING))
    assert _values("2a5f", cont) == {"spo2": 95.0, "hr": 70.0, "status": 0.0}
    early = encode_plx_continuous(
        PlxContinuous(95.0, 70.0, measurement_status=MEAS_ONGOING | MEAS_EARLY_ESTIMATE)
    )
    assert _values("2a5f", early)["status"] == STATUS_MEASUREMENT


def test_sensor_displaced_makes_a_spot_check_invalid() -> None:
    data = encode_plx_spot_check(PlxSpotCheck(99.0, 64.0, device_status=DEV_SENSOR_DISPLACED))
    assert _values("2a5e", data)["status"] == STATUS_DEVICE


def test_negative_spo2_with_a_clean_status_is_not_a_reading() -> None:
    # The issue's example: -0.0007 % (mantissa -7, exponent -4) with no status bit set.
    data = bytes([0x00]) + (0xCFF9).to_bytes(2, "little") + (72).to_bytes(2, "little")
    values = _values("2a5f", data)
    assert values["spo2"] == pytest.approx(-0.0007)
    assert values["status"] == STATUS_OUT_OF_RANGE


def test_heart_rate_beyond_physical_sense_is_flagged() -> None:
    values = _values("2a37", bytes([0x01, 0xFF, 0xFF]))  # u16 65535 bpm
    assert values["status"] == STATUS_OUT_OF_RANGE


# ------------------------------------------------------------------------------ battery


def test_battery_level() -> None:  # [GSS] Battery Level: u8 percent, 101..255 reserved
    frame = health_readings("cuff-1", BATTERY_LEVEL, b"\x57", 5.0)
    assert frame.battery == 87.0
    assert [(r.quantity, r.value) for r in frame.readings] == [("battery", 87.0)]
    with pytest.raises(DecodeError, match="167 % outside"):
        decode_characteristic("2a19", bytes([167]))
    with pytest.raises(DecodeError):
        decode_characteristic("2a19", b"\x50\x00")


# -------------------------------------------------------------------- the dispatch


@pytest.mark.parametrize(
    "uuid",
    ["2a35", "2A35", "0x2a35", "00002a35", "00002A35-0000-1000-8000-00805F9B34FB"],
)
def test_uuid_forms(uuid: str) -> None:
    assert _values(uuid, NORDIC_BP_MINIMAL)["dbp"] == 11.0


@pytest.mark.parametrize("uuid", ["2a6e", "4d5a0002-6d7a-4f6e-9a6c-6d6f62696c65", "zz", ""])
def test_unknown_or_bad_uuid(uuid: str) -> None:
    with pytest.raises(DecodeError):
        decode_characteristic(uuid, b"\x00\x00\x00")


def test_readings_carry_sensor_and_time() -> None:
    (first, *_rest) = decode_characteristic("2a37", b"\x06\x48", sensor="band-1", t=12.5)
    assert (first.sensor, first.quantity, first.t, first.value) == ("band-1", "hr", 12.5, 72.0)


# ------------------------------------------------------------------------ round trips

_dates = st.builds(
    DateTime,
    st.integers(0, 9999),
    st.integers(0, 12),
    st.integers(0, 31),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
)
_sfloat = st.one_of(st.integers(-2045, 2045).map(float), st.sampled_from(list(SFloatSpecial)))


@given(
    st.builds(
        BloodPressureMeasurement,
        _sfloat, _sfloat, _sfloat, st.booleans(), st.none() | _dates, st.none() | _sfloat,
        st.none() | st.integers(0, 255), st.none() | st.integers(0, 0xFFFF),
    )
)  # fmt: skip
def test_blood_pressure_round_trip(m: BloodPressureMeasurement) -> None:
    assert decode_blood_pressure(encode_blood_pressure(m)) == m


@given(
    st.one_of(st.integers(-(2**23) + 3, 2**23 - 3).map(lambda n: n / 100)),
    st.booleans(),
    st.none() | _dates,
    st.none() | st.integers(0, 255),
)
def test_temperature_round_trip(
    value: float, fahrenheit: bool, timestamp: DateTime | None, kind: int | None
) -> None:
    m = TemperatureMeasurement(value, fahrenheit, timestamp, kind)
    got = decode_temperature(encode_temperature(m))
    assert got.value == pytest.approx(value, abs=1e-9)
    assert (got.fahrenheit, got.timestamp, got.type) == (fahrenheit, timestamp, kind)


@given(
    st.integers(0, 0xFFFF),
    st.booleans(),
    st.none() | _dates,
    st.none() | st.integers(0, 255),
    st.none() | st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
)
def test_weight_round_trip(
    raw: int, imperial: bool, ts: DateTime | None, user: int | None, bh: tuple[int, int] | None
) -> None:
    m = WeightMeasurement(raw, imperial, ts, user, *(bh or (None, None)))
    assert decode_weight(encode_weight(m)) == m


@given(
    st.builds(
        PlxSpotCheck,
        _sfloat, _sfloat, st.none() | _dates, st.none() | st.integers(0, 0xFFFF),
        st.none() | st.integers(0, 0xFFFFFF), st.none() | _sfloat, st.booleans(),
    )
)  # fmt: skip
def test_plx_spot_check_round_trip(m: PlxSpotCheck) -> None:
    assert decode_plx_spot_check(encode_plx_spot_check(m)) == m


# ---------------------------------------------------------------------------- fuzzing

# Any flags byte followed by 0..40 bytes: short, long and exactly right lengths all come.
_frames = st.tuples(st.integers(0, 255), st.binary(max_size=40)).map(
    lambda fb: bytes([fb[0]]) + fb[1]
)


@settings(max_examples=400)
@given(st.sampled_from(sorted(SUPPORTED)), st.one_of(st.binary(max_size=3), _frames))
def test_fuzz_only_decode_error_escapes_and_nothing_out_of_range_is_valid(
    uuid: str, data: bytes
) -> None:
    try:
        readings = decode_characteristic(uuid, data)
    except DecodeError:
        return
    status = next((r.value for r in readings if r.quantity == "status"), 0.0)
    if status != 0:
        return  # flagged: never a reading (the pipeline keeps it from the hub)
    for r in readings:
        assert math.isfinite(r.value), r
        low, high = QUANTITY_RANGES[r.quantity]
        assert low <= r.value <= high, r
        if r.quantity in PHYSICAL_RANGE:
            p_low, p_high = PHYSICAL_RANGE[r.quantity]
            assert p_low <= r.value <= p_high, r


def test_every_supported_characteristic_is_fuzzed() -> None:
    assert {
        HEART_RATE_MEASUREMENT,
        PLX_CONTINUOUS_MEASUREMENT,
        PLX_SPOT_CHECK_MEASUREMENT,
        BLOOD_PRESSURE_MEASUREMENT,
        TEMPERATURE_MEASUREMENT,
        WEIGHT_MEASUREMENT,
        BATTERY_LEVEL,
    } == SUPPORTED


# ------------------------------------------------------------------------- time stamps

AMS = ZoneInfo("Europe/Amsterdam")
RECEIVED = dt.datetime(2026, 12, 4, 9, 0, 0, tzinfo=AMS).timestamp()


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        # a stored measurement from this morning keeps its own time (08:15 CET)
        (DateTime(2026, 12, 4, 8, 15, 0), RECEIVED - 45 * 60),
        (DateTime(2026, 11, 28, 8, 15, 0), RECEIVED - 6 * 86400 - 45 * 60),
        (DateTime(2000, 1, 1, 0, 5, 0), RECEIVED),  # clock never set
        (DateTime(2026, 12, 4, 11, 0, 0), RECEIVED),  # ahead: clock wrong
        (DateTime(0, 12, 4, 8, 15, 0), RECEIVED),  # year "not known"
        (DateTime(2026, 2, 30, 8, 15, 0), RECEIVED),  # no such date
        (None, RECEIVED),
    ],
)
def test_measured_at(stamp: DateTime | None, expected: float) -> None:
    assert measured_at(stamp, RECEIVED, AMS) == expected
    assert measured_at(stamp, RECEIVED, None) == RECEIVED  # no zone: reception time


def test_readings_carry_the_measurement_time() -> None:
    stamp = DateTime(2026, 12, 4, 8, 15, 0)
    bp = encode_blood_pressure(BloodPressureMeasurement(128.0, 82.0, 97.0, timestamp=stamp))
    frame = health_readings("cuff-1", BLOOD_PRESSURE_MEASUREMENT, bp, RECEIVED, tz=AMS)
    assert {r.t for r in frame.readings} == {RECEIVED - 45 * 60}
    # A spot-check oximeter that says its clock was never set: reception time.
    spot = encode_plx_spot_check(PlxSpotCheck(97.0, 70.0, timestamp=stamp, clock_not_set=True))
    frame = health_readings("ox-1", PLX_SPOT_CHECK_MEASUREMENT, spot, RECEIVED, tz=AMS)
    assert {r.t for r in frame.readings} == {RECEIVED}
