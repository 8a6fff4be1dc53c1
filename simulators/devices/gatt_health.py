"""Simulated Bluetooth SIG spot-check devices: a blood-pressure cuff, a thermometer, a scale
and a spot-check oximeter, as the exact bytes they indicate.

    cuff = SimulatedSpotCheckDevice("cuff-1", "AA:BB:CC:DD:EE:01", "blood_pressure", kpa=True)
    for characteristic, data in cuff.measure({"sbp": 128, "dbp": 82, "hr": 71}, when):
        ...  # Blood Pressure Measurement (0x2A35) bytes, then Battery Level (0x2A19)

Encoded with `sensors.codecs.ble_health` / `sensors.codecs.sig_spot_check`, so the edge
decodes exactly what a real device sends, in the units the device is set to (kPa, degF,
lb: converted back at the edge's boundary). `problems` are what the device itself reports:
"body_movement", "cuff_loose", "improper_position" (cuff); "sensor_displaced",
"ongoing" (spot-check oximeter: measurement not finished); "unsuccessful" (scale), "nan"
(any: the value is NaN). The time stamp is the device's wall-clock time (no zone).

Pure: no I/O, no clock; `layout` is the GATT server for `tests.ble_radio`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Final, Literal, get_args

from sensors.codecs.ble_health import (
    BATTERY_LEVEL,
    BATTERY_SERVICE,
    BLOOD_PRESSURE_MEASUREMENT,
    BLOOD_PRESSURE_SERVICE,
    DEV_SENSOR_DISPLACED,
    HEALTH_THERMOMETER_SERVICE,
    MEAS_ONGOING,
    MEAS_VALIDATED,
    PLX_SPOT_CHECK_MEASUREMENT,
    PULSE_OXIMETER_SERVICE,
    TEMPERATURE_MEASUREMENT,
    WEIGHT_MEASUREMENT,
    WEIGHT_SCALE_SERVICE,
    PlxSpotCheck,
    SFloatSpecial,
    SFloatValue,
    encode_plx_spot_check,
)
from sensors.codecs.sig_spot_check import (
    BP_BODY_MOVEMENT,
    BP_CUFF_LOOSE,
    BP_IMPROPER_POSITION,
    KPA_TO_MMHG,
    LB_TO_KG,
    WEIGHT_UNSUCCESSFUL,
    BloodPressureMeasurement,
    DateTime,
    TemperatureMeasurement,
    TemperatureType,
    WeightMeasurement,
    encode_blood_pressure,
    encode_temperature,
    encode_weight,
)

SpotKind = Literal["blood_pressure", "thermometer", "weight", "plx_spot_check"]

_SERVICE: Final[dict[str, tuple[str, str]]] = {
    "blood_pressure": (BLOOD_PRESSURE_SERVICE, BLOOD_PRESSURE_MEASUREMENT),
    "thermometer": (HEALTH_THERMOMETER_SERVICE, TEMPERATURE_MEASUREMENT),
    "weight": (WEIGHT_SCALE_SERVICE, WEIGHT_MEASUREMENT),
    "plx_spot_check": (PULSE_OXIMETER_SERVICE, PLX_SPOT_CHECK_MEASUREMENT),
}
# What a device reports as wrong with a measurement (see the module docstring).
Problem = Literal[
    "body_movement",
    "cuff_loose",
    "improper_position",
    "sensor_displaced",
    "ongoing",
    "unsuccessful",
    "nan",
]
PROBLEMS: Final = frozenset(get_args(Problem))


def _stamp(when: dt.datetime | None) -> DateTime | None:
    if when is None:
        return None
    return DateTime(when.year, when.month, when.day, when.hour, when.minute, when.second)


class SimulatedSpotCheckDevice:
    def __init__(
        self,
        device_id: str,
        address: str,
        kind: SpotKind,
        *,
        kpa: bool = False,
        fahrenheit: bool = False,
        imperial: bool = False,
        user_id: int | None = None,
        battery: int = 100,
    ) -> None:
        if kind not in _SERVICE:
            raise ValueError(f"{device_id}: unknown spot-check device kind {kind!r}")
        self.id = device_id
        self.address = address.upper()
        self.kind = kind
        self.kpa = kpa
        self.fahrenheit = fahrenheit
        self.imperial = imperial
        self.user_id = user_id
        self.battery = battery
        self.characteristic = _SERVICE[kind][1]
        self.sent = 0

    @property
    def layout(self) -> dict[str, dict[str, list[str]]]:
        """Its GATT server: the measurement indicates (the SIG makes it indicate-only),
        the battery level is read and notified."""
        service, char = _SERVICE[self.kind]
        return {service: {char: ["indicate"]}, BATTERY_SERVICE: {BATTERY_LEVEL: ["read", "notify"]}}

    def measure(
        self,
        values: dict[str, float],
        when: dt.datetime | None = None,
        problems: Collection[str] = (),
    ) -> list[tuple[str, bytes]]:
        """One measurement: (characteristic, bytes) in the order the device indicates them
        (the measurement, then its battery level)."""
        unknown = set(problems) - PROBLEMS
        if unknown:
            raise ValueError(f"{self.id}: unknown problems {sorted(unknown)}")
        data = getattr(self, f"_{self.kind}")(values, _stamp(when), frozenset(problems))
        self.sent += 1
        return [(self.characteristic, data), (BATTERY_LEVEL, bytes([self.battery]))]

    def _blood_pressure(self, v: dict[str, float], ts: DateTime | None, p: frozenset[str]) -> bytes:
        sbp, dbp = v["sbp"], v["dbp"]
        mean = (sbp + 2 * dbp) / 3

        def unit(x: float) -> SFloatValue:
            if "nan" in p:
                return SFloatSpecial.NAN
            return round(x / KPA_TO_MMHG, 1) if self.kpa else round(x)

        status = (
            (BP_BODY_MOVEMENT if "body_movement" in p else 0)
            | (BP_CUFF_LOOSE if "cuff_loose" in p else 0)
            | (BP_IMPROPER_POSITION if "improper_position" in p else 0)
        )
        hr = v.get("hr")
        return encode_blood_pressure(
            BloodPressureMeasurement(
                unit(sbp),
                unit(dbp),
                unit(mean),
                kpa=self.kpa,
                timestamp=ts,
                pulse_rate=None if hr is None else float(round(hr)),
                user_id=self.user_id,
                status=status,
            )
        )

    def _thermometer(self, v: dict[str, float], ts: DateTime | None, p: frozenset[str]) -> bytes:
        c = v["temperature"]
        value: SFloatValue = round(c * 9 / 5 + 32, 1) if self.fahrenheit else round(c, 2)
        if "nan" in p:
            value = SFloatSpecial.NAN
        return encode_temperature(
            TemperatureMeasurement(value, self.fahrenheit, ts, int(TemperatureType.TYMPANUM))
        )

    def _weight(self, v: dict[str, float], ts: DateTime | None, p: frozenset[str]) -> bytes:
        kg = v["weight"]
        raw = round(kg / LB_TO_KG / 0.01) if self.imperial else round(kg / 0.005)
        if p & {"unsuccessful", "nan"}:
            raw = WEIGHT_UNSUCCESSFUL
        return encode_weight(WeightMeasurement(raw, self.imperial, ts, self.user_id))

    def _plx_spot_check(self, v: dict[str, float], ts: DateTime | None, p: frozenset[str]) -> bytes:
        nan = "nan" in p
        return encode_plx_spot_check(
            PlxSpotCheck(
                SFloatSpecial.NAN if nan else float(round(v["spo2"])),
                SFloatSpecial.NAN if nan else float(round(v["hr"])),
                timestamp=ts,
                measurement_status=MEAS_ONGOING if "ongoing" in p else MEAS_VALIDATED,
                device_status=DEV_SENSOR_DISPLACED if "sensor_displaced" in p else 0,
            )
        )
