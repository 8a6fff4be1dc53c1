"""A scenario per incident type: normal days to learn from, then the incident.

Each scenario is `learn_days` ordinary days from the routine generator followed by an
incident on the day after, as in the evaluation on real homes: the event stream is cut
at the incident time T (every sensor keeps its state at T) and, for night incidents,
the resident's last movements are scripted. Vital-sign scenarios drift the readings.

Pure: same arguments and seed, same scenario.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from edge.detectors.routine import AmbientEvent
from edge.detectors.vitals import Quantity, VitalReading
from simulators.residents import routine, vitals
from simulators.residents.routine import SENSORS


class Incident(StrEnum):
    NONE = "none"
    COLLAPSE = "collapse"  # daytime: no activity from T on
    NOT_UP = "not_up"  # never gets up in the morning
    OUT_OF_BED = "out_of_bed"  # leaves the bed at night, falls in the bathroom
    NIGHT_DOOR = "night_door"  # leaves through the front door at night
    SENSOR_SILENT = "sensor_silent"  # the kitchen PIR's battery dies
    STUCK_SENSOR = "stuck_sensor"  # the living-room PIR sticks at "on"
    DETERIORATING_VITALS = "deteriorating_vitals"  # NEWS2 rising over days
    WEIGHT_GAIN = "weight_gain"  # fluid retention: heart-failure sign


@dataclass(frozen=True, slots=True)
class Scenario:
    incident: Incident
    incident_t: float | None  # POSIX time of the incident (None: no incident)
    events: tuple[AmbientEvent, ...]
    vitals: tuple[VitalReading, ...]
    expect: tuple[str, ...]  # finding kinds a detector should report


def _ev(t: float, sensor: str, value: int) -> AmbientEvent:
    kind, room = SENSORS[sensor]
    return AmbientEvent(t, sensor, kind, room, value)


def _at(day: date, hour: float, tz: str) -> float:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).timestamp() + hour * 3600.0


def _cut(events: list[AmbientEvent], t: float) -> list[AmbientEvent]:
    return [e for e in events if e.t <= t]


def _last_in_bed(events: list[AmbientEvent], before: float) -> float:
    """The time the bed mat last became occupied before `before`."""
    return max(e.t for e in events if e.sensor == "bed_mat" and e.value == 1 and e.t <= before)


def build(
    incident: Incident,
    *,
    start: date = date(2026, 1, 5),
    learn_days: int = 10,
    seed: int = 1,
    tz: str = "Europe/Amsterdam",
) -> Scenario:
    rng = random.Random(seed * 7919 + len(incident.value))
    days = learn_days + 1
    events = routine.generate(start, days, seed, tz)
    day = start + timedelta(days=learn_days)  # the incident day
    drifts: tuple[vitals.Drift, ...] = ()
    t: float | None = None
    expect: tuple[str, ...] = ()
    if incident is Incident.COLLAPSE:
        t = _at(day, rng.uniform(10.0, 17.0), tz)
        events = _cut(events, t)
        expect = ("inactivity",)
    elif incident is Incident.NOT_UP:
        # In bed (the last time the mat became occupied before 03:00), never gets up.
        t = _last_in_bed(events, _at(day, 3.0, tz))
        events = _cut(events, t)
        expect = ("not_up",)
    elif incident is Incident.OUT_OF_BED:
        t = _at(day, 2.5, tz)
        events = _cut(events, _last_in_bed(events, t - 1800))  # asleep until then
        events += [
            _ev(t, "bed_mat", 0),
            _ev(t + 20, "pir_bedroom", 1),
            _ev(t + 22, "pir_bedroom", 0),
            _ev(t + 60, "pir_bathroom", 1),
            _ev(t + 63, "pir_bathroom", 0),
        ]
        expect = ("out_of_bed_night",)
    elif incident is Incident.NIGHT_DOOR:
        t = _at(day, 3.0, tz)
        events = _cut(events, _last_in_bed(events, t - 1800))
        events += [
            _ev(t, "bed_mat", 0),
            _ev(t + 20, "pir_bedroom", 1),
            _ev(t + 22, "pir_bedroom", 0),
            _ev(t + 90, "pir_living", 1),
            _ev(t + 93, "pir_living", 0),
            _ev(t + 150, "front_door", 1),
            _ev(t + 160, "front_door", 0),
        ]
        expect = ("night_door",)
    elif incident is Incident.SENSOR_SILENT:
        t = _at(day - timedelta(days=2), 12.0, tz)
        events = [e for e in events if not (e.sensor == "pir_kitchen" and e.t > t)]
        expect = ("sensor_silent",)
    elif incident is Incident.STUCK_SENSOR:
        t = _at(day, 11.0, tz)
        events = [e for e in events if not (e.sensor == "pir_living" and e.t >= t)]
        last = [e for e in events if e.sensor == "pir_living" and e.t < t]
        if last and last[-1].value == 1:
            events.append(_ev(last[-1].t + 1.0, "pir_living", 0))
        events.append(_ev(t, "pir_living", 1))  # and never an "off" again
        expect = ("sensor_stuck",)
    elif incident is Incident.DETERIORATING_VITALS:
        t = _at(day - timedelta(days=3), 9.0, tz)
        k = learn_days - 3
        drifts = (
            vitals.Drift(Quantity.SPO2, -1.5, k),
            vitals.Drift(Quantity.HR, 9.0, k),
            vitals.Drift(Quantity.TEMP, 0.6, k),
            vitals.Drift(Quantity.SBP, -9.0, k),
        )
        expect = ("news2_band_changed", "vitals_alarm")
    elif incident is Incident.WEIGHT_GAIN:
        t = _at(day - timedelta(days=3), 9.0, tz)
        drifts = (vitals.Drift(Quantity.WEIGHT, 0.9, learn_days - 3),)
        expect = ("weight_gain",)
    readings = vitals.generate(
        start,
        days,
        seed,
        tz,
        vitals.VitalsParams(drifts=drifts, wearable_every_s=None, device_error_rate=0.0),
    )
    events.sort(key=lambda e: (e.t, e.value))
    return Scenario(incident, t, tuple(events), tuple(readings), expect)
