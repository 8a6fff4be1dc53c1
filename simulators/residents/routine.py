"""A resident's daily routine as ambient-sensor events (the homes dataset's vocabulary).

One resident living alone in a Mobiele Zorg unit with a bed mat (presence), a chair mat,
PIRs in bedroom, bathroom, kitchen and living room, a front-door contact, a fridge
contact and a toilet-flush sensor. Each day: getting up (later at the weekend), bathroom,
breakfast, sitting in the living room with short walks, lunch, sometimes a nap in the
chair, sometimes an outing through the front door, dinner, evening, bed; night-time
toilet visits. PIRs send short 1/0 pulses when someone moves; mats report presence.

Pure: `generate(...)` with a seed gives the same events every time.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from edge.detectors.routine import AmbientEvent, SensorKind

SENSORS: Final[dict[str, tuple[SensorKind, str]]] = {
    "bed_mat": (SensorKind.BED, "bedroom"),
    "pir_bedroom": (SensorKind.MOTION, "bedroom"),
    "pir_bathroom": (SensorKind.MOTION, "bathroom"),
    "toilet_flush": (SensorKind.OTHER, "bathroom"),
    "pir_kitchen": (SensorKind.MOTION, "kitchen"),
    "fridge": (SensorKind.OTHER, "kitchen"),
    "pir_living": (SensorKind.MOTION, "living"),
    "chair_mat": (SensorKind.CHAIR, "living"),
    "front_door": (SensorKind.DOOR, "entrance"),
}


@dataclass(frozen=True, slots=True)
class RoutineParams:
    """Habits, in hours after midnight (means and standard deviations)."""

    wake_weekday_h: float = 7.25
    wake_weekend_h: float = 8.0
    wake_sd_h: float = 0.35
    bed_h: float = 22.5
    bed_sd_h: float = 0.3
    night_toilet_per_night: float = 1.2  # Poisson mean
    nap_probability: float = 0.5
    outing_probability_weekday: float = 0.5
    outing_probability_weekend: float = 0.25
    move_interval_min: float = 4.0  # PIR pulse every few minutes while moving about
    seated_pulse_min: float = 25.0  # an occasional PIR pulse while seated


class _Timeline:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.events: list[AmbientEvent] = []

    def set(self, t: float, sensor: str, value: int) -> None:
        kind, room = SENSORS[sensor]
        self.events.append(AmbientEvent(t, sensor, kind, room, value))

    def pulse(self, t: float, sensor: str, length_s: float = 2.0) -> None:
        self.set(t, sensor, 1)
        self.set(t + length_s, sensor, 0)

    def move(self, start: float, end: float, pir: str, interval_min: float) -> None:
        """PIR pulses while someone moves about a room from start to end."""
        t = start
        while t < end:
            self.pulse(t, pir, self.rng.uniform(1.0, 5.0))
            t += self.rng.expovariate(1.0 / (interval_min * 60.0)) + 10.0


def _at(day: date, hour: float, tz: ZoneInfo) -> float:
    return datetime.combine(day, time(0), tzinfo=tz).timestamp() + hour * 3600.0


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small means of night-time toilet visits.
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _day(tl: _Timeline, day: date, p: RoutineParams, tz: ZoneInfo, wake: float) -> float:
    """One day from getting up to going to bed; returns the bedtime (POSIX)."""
    rng = tl.rng
    weekend = day.weekday() >= 5
    tl.set(wake, "bed_mat", 0)
    tl.move(wake + 5, wake + 60, "pir_bedroom", 1.0)
    t = wake + 90
    tl.move(t, t + 15 * 60, "pir_bathroom", 1.0)  # wash
    tl.pulse(t + 5 * 60, "toilet_flush")
    t += 20 * 60
    tl.move(t, t + 25 * 60, "pir_kitchen", 2.0)  # breakfast
    tl.pulse(t + 3 * 60, "fridge", 20.0)
    t += 30 * 60
    lunch = _at(day, rng.gauss(12.5, 0.25), tz)
    dinner = _at(day, rng.gauss(18.0, 0.3), tz)
    bedtime = _at(day, rng.gauss(p.bed_h, p.bed_sd_h), tz)
    outing_p = p.outing_probability_weekend if weekend else p.outing_probability_weekday
    outing = None
    if rng.random() < outing_p:
        start = _at(day, rng.uniform(9.5, 11.0), tz) if rng.random() < 0.5 else lunch + 5400
        outing = (start, start + rng.uniform(1.0, 3.0) * 3600.0)
    nap = rng.random() < p.nap_probability
    # Each block ends early enough for its last walk about and for the evening routine.
    blocks = ((t, lunch - 2400), (lunch + 1800, dinner - 2400), (dinner + 2400, bedtime - 1800))
    for i, (block_start, block_end) in enumerate(blocks):
        if block_start >= block_end:
            continue
        if i > 0:  # the meal before this block
            tl.move(block_start - 1800, block_start - 300, "pir_kitchen", p.move_interval_min)
            tl.pulse(block_start - 1500, "fridge", 15.0)
        _living(tl, block_start, block_end, p, outing, nap and i == 1)
    # evening: bathroom, to bed
    tl.move(bedtime - 1200, bedtime - 600, "pir_bathroom", 1.0)
    tl.pulse(bedtime - 900, "toilet_flush")
    tl.move(bedtime - 540, bedtime - 30, "pir_bedroom", 1.5)
    tl.set(bedtime, "bed_mat", 1)
    return bedtime


def _living(
    tl: _Timeline,
    start: float,
    end: float,
    p: RoutineParams,
    outing: tuple[float, float] | None,
    nap: bool,
) -> None:
    """Sitting in the living room, up now and then (bathroom, kitchen, a walk)."""
    rng = tl.rng
    t = start
    while t < end - 600:
        if outing is not None and outing[0] <= t < outing[1]:
            back = min(outing[1], end - 900)
            tl.pulse(max(t, outing[0]), "front_door", 8.0)
            tl.pulse(back, "front_door", 8.0)
            tl.move(back + 30, back + 600, "pir_kitchen", 1.0)
            t = back + 600
            outing = None
            continue
        sit = min(rng.uniform(20, 70) * 60.0, end - t)
        if nap:
            sit = min(rng.uniform(40, 90) * 60.0, end - t)
            nap = False
        tl.pulse(t, "pir_living")
        tl.set(t + 20, "chair_mat", 1)
        s = t + 20 + rng.expovariate(1 / (p.seated_pulse_min * 60))
        while s < t + sit:
            tl.pulse(s, "pir_living")
            s += rng.expovariate(1 / (p.seated_pulse_min * 60)) + 60
        tl.set(t + sit, "chair_mat", 0)
        t += sit + 10
        where = rng.random()
        if where < 0.35:
            tl.move(t, t + 240, "pir_bathroom", 1.0)
            tl.pulse(t + 120, "toilet_flush")
            t += 300
        elif where < 0.6:
            tl.move(t, t + 300, "pir_kitchen", 1.0)
            t += 330
        else:
            tl.move(t, t + 180, "pir_living", 1.0)
            t += 200


def _night(tl: _Timeline, bedtime: float, wake: float, p: RoutineParams) -> None:
    rng = tl.rng
    for _ in range(_poisson(rng, p.night_toilet_per_night)):
        t = rng.uniform(bedtime + 3600, wake - 3600)
        if t <= bedtime:
            continue
        tl.set(t, "bed_mat", 0)
        tl.pulse(t + 20, "pir_bedroom")
        dur = rng.uniform(3, 9) * 60
        tl.move(t + 60, t + dur - 60, "pir_bathroom", 0.7)
        tl.pulse(t + dur / 2, "toilet_flush")
        tl.pulse(t + dur - 30, "pir_bedroom")
        tl.set(t + dur, "bed_mat", 1)


def generate(
    start: date,
    days: int,
    seed: int,
    tz: str = "Europe/Amsterdam",
    params: RoutineParams | None = None,
) -> list[AmbientEvent]:
    """Events for `days` days from `start` (the first night begins the evening before)."""
    p = params or RoutineParams()
    zone = ZoneInfo(tz)
    rng = random.Random(seed)
    tl = _Timeline(rng)
    bedtime = _at(start - timedelta(days=1), p.bed_h, zone)
    tl.set(bedtime, "bed_mat", 1)
    for i in range(days):
        day = start + timedelta(days=i)
        mean = p.wake_weekend_h if day.weekday() >= 5 else p.wake_weekday_h
        wake = _at(day, rng.gauss(mean, p.wake_sd_h), zone)
        _night(tl, bedtime, wake, p)
        bedtime = _day(tl, day, p, zone, wake)
    return sorted(tl.events, key=lambda e: (e.t, e.value))


def iter_until(events: list[AmbientEvent], t_end: float) -> Iterator[AmbientEvent]:
    """The events before `t_end` (a collapse at t_end: nothing more happens)."""
    return (e for e in events if e.t <= t_end)
