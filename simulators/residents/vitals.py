"""Vital signs of a simulated resident: daily spot checks, a wearable, slow drifts.

Spot checks each morning (BP cuff: systolic; pulse oximeter: SpO2 and pulse;
thermometer; scale: weight) and, optionally, a wearable's heart rate every
`wearable_every_s`. `ContinuousVitals` is the same wearable as a stream: heart rate and
SpO2 at any moment asked for (a simulated health band samples it as it goes).

A `Drift` adds a slow linear change from a given day (a weight gain of 0.8 kg/day
from day 10: fluid retention in heart failure; a resting heart rate creeping up), and
`device_error_rate` sets the device status bit on a few readings so the pipeline's
validation is exercised.

Pure: `generate(...)` with a seed gives the same readings every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from edge.detectors.vitals import Quantity, Source, VitalReading


@dataclass(frozen=True, slots=True)
class Drift:
    quantity: Quantity
    per_day: float  # units of the quantity per day
    from_day: int  # days after the start
    to_day: int | None = None  # stops changing after this day (None: keeps going)


@dataclass(frozen=True, slots=True)
class VitalsParams:
    hr_rest: float = 68.0
    spo2: float = 96.0
    sbp: float = 132.0
    temp: float = 36.7
    weight: float = 74.0
    spot_hour: float = 9.0  # local time of the morning round
    wearable_every_s: float | None = 60.0  # None: no wearable
    device_error_rate: float = 0.01
    drifts: tuple[Drift, ...] = field(default_factory=tuple)


def _offset(p: VitalsParams, q: Quantity, day: float) -> float:
    total = 0.0
    for d in p.drifts:
        if d.quantity is q and day > d.from_day:
            end = day if d.to_day is None else min(day, d.to_day)
            total += d.per_day * (end - d.from_day)
    return total


# Lower at night, higher when active: the resting heart rate is the low part of the day.
_ACTIVE_HR: Final = 12.0
_NIGHT_SPO2: Final = -0.5  # a little lower asleep


def _asleep(hour: float) -> bool:
    return hour < 7 or hour >= 23


def _wearable_hr(p: VitalsParams, hour: float, day: float, rng: random.Random) -> float:
    active = 0.0 if _asleep(hour) else _ACTIVE_HR
    return p.hr_rest + active + rng.gauss(0, 3) + _offset(p, Quantity.HR, day)


class ContinuousVitals:
    """A wearable's heart rate and SpO2 as a stream, with the params' drifts counted from
    `start` (POSIX s; day 0). `params` may be replaced as the stream goes (an acute
    change). Pure: time comes in as an argument; seeded."""

    def __init__(
        self,
        start: float,
        seed: int = 0,
        tz: str = "Europe/Amsterdam",
        params: VitalsParams | None = None,
    ) -> None:
        self.start = start
        self.zone = ZoneInfo(tz)
        self.params = params or VitalsParams()
        self._rng = random.Random(seed)

    def sample(self, t: float) -> tuple[float, float]:
        """(heart rate /min, SpO2 %) at `t`."""
        p = self.params
        local = datetime.fromtimestamp(t, self.zone)
        hour = local.hour + local.minute / 60.0
        day = (t - self.start) / 86400.0
        hr = _wearable_hr(p, hour, day, self._rng)
        spo2 = (
            p.spo2
            + (_NIGHT_SPO2 if _asleep(hour) else 0.0)
            + self._rng.gauss(0, 0.6)
            + _offset(p, Quantity.SPO2, day)
        )
        return max(hr, 25.0), min(max(spo2, 60.0), 100.0)


def generate(
    start: date,
    days: int,
    seed: int,
    tz: str = "Europe/Amsterdam",
    params: VitalsParams | None = None,
) -> list[VitalReading]:
    p = params or VitalsParams()
    zone = ZoneInfo(tz)
    rng = random.Random(seed)
    out: list[VitalReading] = []

    def status() -> int:
        return 1 if rng.random() < p.device_error_rate else 0

    t0 = datetime.combine(start, time(0), tzinfo=zone).timestamp()
    for i in range(days):
        day = start + timedelta(days=i)
        midnight = datetime.combine(day, time(0), tzinfo=zone).timestamp()
        t = midnight + (p.spot_hour + rng.uniform(-0.3, 0.3)) * 3600.0
        d = (t - t0) / 86400.0
        spot = (
            (Quantity.SBP, p.sbp + rng.gauss(0, 6), "bp_cuff"),
            (Quantity.SPO2, p.spo2 + rng.gauss(0, 0.8), "oximeter"),
            (Quantity.HR, p.hr_rest + 6 + rng.gauss(0, 4), "oximeter"),
            (Quantity.TEMP, p.temp + rng.gauss(0, 0.15), "thermometer"),
            (Quantity.WEIGHT, p.weight + rng.gauss(0, 0.25), "scale"),
        )
        for k, (q, base, sensor) in enumerate(spot):
            value = base + _offset(p, q, d)
            if q is Quantity.SPO2:
                value = min(value, 100.0)
            out.append(VitalReading(t + 30 * k, q, round(value, 1), Source.SPOT, sensor, status()))
        if p.wearable_every_s:
            s = midnight
            while s < midnight + 86400.0:
                dd = (s - t0) / 86400.0
                hour = ((s - midnight) / 3600.0) % 24
                hr = _wearable_hr(p, hour, dd, rng)
                out.append(
                    VitalReading(s, Quantity.HR, round(hr), Source.CONTINUOUS, "wearable", status())
                )
                s += p.wearable_every_s
    out.sort(key=lambda r: r.t)
    return out
