"""A simulated health band: heart rate and pulse oximetry over GATT, as real bytes.

It notifies the Bluetooth SIG Heart Rate Measurement (0x2A37: u8 heart rate, sensor
contact detected, RR-intervals) and PLX Continuous Measurement (0x2A5F: SpO2 and pulse
rate as SFLOATs, measurement status and device-and-sensor status) encoded with
`sensors.codecs.ble_health`, so the edge decodes exactly what a real band sends. The
values come from the simulated resident's vital-sign stream
(`simulators.residents.vitals.ContinuousVitals`, with its drifts).

`set(...)` changes what the band sees: the resident's levels (an acute deterioration)
or the contact with the skin (taken off: the heart rate says "contact not detected", the
oximeter "sensor unconnected to user" with NaN values, as real ones do).

Pure: `notifications(t)` is called with the time; no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Final

from sensors.codecs.ble_health import (
    DEV_SENSOR_UNCONNECTED,
    HEART_RATE_MEASUREMENT,
    MEAS_UNAVAILABLE,
    MEAS_VALIDATED,
    PLX_CONTINUOUS_MEASUREMENT,
    HeartRateMeasurement,
    PlxContinuous,
    SensorContact,
    SFloatSpecial,
    encode_heart_rate,
    encode_plx_continuous,
)
from simulators.residents.vitals import ContinuousVitals

HEALTH_CHARACTERISTICS: Final = ("heart_rate", "plx_continuous")  # what a band notifies


class SimulatedHealthBand:
    def __init__(
        self,
        device_id: str,
        address: str,
        signal: ContinuousVitals,
        *,
        health: Collection[str] = HEALTH_CHARACTERISTICS,
    ) -> None:
        unknown = set(health) - set(HEALTH_CHARACTERISTICS)
        if unknown:
            raise ValueError(f"{device_id}: unknown health characteristics {sorted(unknown)}")
        self.id = device_id
        self.address = address.upper()
        self.signal = signal
        self.health = frozenset(health)
        self.worn = True
        self.sent = 0

    def set(
        self,
        *,
        hr: float | None = None,
        spo2: float | None = None,
        worn: bool | None = None,
    ) -> None:
        """From now on: the resident's resting heart rate / SpO2 level, the band worn."""
        if hr is not None:
            self.signal.params = dataclasses.replace(self.signal.params, hr_rest=hr)
        if spo2 is not None:
            self.signal.params = dataclasses.replace(self.signal.params, spo2=spo2)
        if worn is not None:
            self.worn = worn

    def notifications(self, t: float) -> list[tuple[str, bytes]]:
        """(characteristic UUID, value) of what the band notifies at `t`."""
        hr, spo2 = self.signal.sample(t)
        out: list[tuple[str, bytes]] = []
        if "heart_rate" in self.health:
            if self.worn:
                rr = round(60.0 / hr * 1024)  # the one beat-to-beat interval of this second
                m = HeartRateMeasurement(round(hr), SensorContact.DETECTED, rr_1024=(rr,))
            else:
                m = HeartRateMeasurement(0, SensorContact.NOT_DETECTED)
            out.append((HEART_RATE_MEASUREMENT, encode_heart_rate(m)))
        if "plx_continuous" in self.health:
            if self.worn:
                plx = PlxContinuous(
                    float(round(spo2)), float(round(hr)), measurement_status=MEAS_VALIDATED
                )
            else:
                plx = PlxContinuous(
                    SFloatSpecial.NAN,
                    SFloatSpecial.NAN,
                    measurement_status=MEAS_UNAVAILABLE,
                    device_status=DEV_SENSOR_UNCONNECTED,
                )
            out.append((PLX_CONTINUOUS_MEASUREMENT, encode_plx_continuous(plx)))
        self.sent += len(out)
        return out
