"""Simulated residents: the generators are deterministic and each incident is detected."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from edge.detectors.routine import FindingKind, RoutineDetector, RoutineFinding
from edge.detectors.routine_model import RoutineModel
from edge.detectors.trends import Metric, TrendDetector, TrendSample
from edge.detectors.vitals import Quantity, VitalsFindingKind, VitalsPipeline
from simulators.residents import routine, vitals
from simulators.residents.scenarios import Incident, build
from tests.unit.test_routine import TZ

ROUTINE_INCIDENTS = {
    Incident.COLLAPSE: FindingKind.INACTIVITY,
    Incident.NOT_UP: FindingKind.NOT_UP,
    Incident.OUT_OF_BED: FindingKind.OUT_OF_BED,
    Incident.NIGHT_DOOR: FindingKind.NIGHT_DOOR,
    Incident.SENSOR_SILENT: FindingKind.SENSOR_SILENT,
    Incident.STUCK_SENSOR: FindingKind.SENSOR_STUCK,
}


def run(incident: Incident, seed: int = 1) -> tuple[list[RoutineFinding], float, float]:
    s = build(incident, seed=seed)
    det = RoutineDetector(RoutineModel(), TZ, s.events[0].t)
    out = det.update(s.events)
    assert s.incident_t is not None
    out += det.advance(s.incident_t + 12 * 3600)
    return out, s.incident_t, s.events[-1].t


def test_generators_are_deterministic_and_alternate_per_sensor() -> None:
    a = routine.generate(date(2026, 1, 5), 3, seed=7)
    b = routine.generate(date(2026, 1, 5), 3, seed=7)
    c = routine.generate(date(2026, 1, 5), 3, seed=8)
    assert a == b
    assert a != c
    assert all(x.t <= y.t for x, y in itertools.pairwise(a))
    kinds = {e.kind.value for e in a}
    assert {"bed", "motion", "door", "chair", "other"} <= kinds
    v1 = vitals.generate(date(2026, 1, 5), 2, seed=3)
    assert v1 == vitals.generate(date(2026, 1, 5), 2, seed=3)
    assert {r.quantity for r in v1} >= {Quantity.HR, Quantity.SPO2, Quantity.WEIGHT}


@pytest.mark.parametrize("incident", list(ROUTINE_INCIDENTS))
def test_each_routine_incident_is_detected_after_it_happens(incident: Incident) -> None:
    out, t_inc, _ = run(incident)
    kind = ROUTINE_INCIDENTS[incident]
    hits = [f for f in out if f.action == "raise" and f.kind is kind and f.t >= t_inc]
    assert hits, f"{incident.value}: no {kind.value} after the incident"
    if incident is Incident.COLLAPSE:
        assert hits[0].t - t_inc <= 3 * 3600  # within the 3 h of the evaluation


def test_a_normal_incident_day_raises_no_resident_alarm() -> None:
    s = build(Incident.NONE, seed=1)
    det = RoutineDetector(RoutineModel(), TZ, s.events[0].t)
    out = det.update(s.events)
    last_day_start = s.events[-1].t - 16 * 3600
    late = [f for f in out if f.action == "raise" and f.t >= last_day_start]
    assert [f for f in late if f.alarm_kind.value == "inactivity"] == []


def test_deteriorating_vitals_raise_a_news2_alarm() -> None:
    s = build(Incident.DETERIORATING_VITALS)
    p = VitalsPipeline()
    out = p.update(s.vitals)
    alarms = [f for f in out if f.kind is VitalsFindingKind.ALARM and f.action == "raise"]
    assert alarms
    assert s.incident_t is not None and alarms[0].t >= s.incident_t


def test_weight_gain_scenario_raises_the_heart_failure_rule() -> None:
    s = build(Incident.WEIGHT_GAIN)
    det = TrendDetector(TZ)
    samples = [
        TrendSample(r.t, Metric.WEIGHT, r.value) for r in s.vitals if r.quantity is Quantity.WEIGHT
    ]
    out = det.update(samples) + det.advance(s.vitals[-1].t + 86400)
    assert [f.rule for f in out if f.action == "raise"] == ["weight_gain"]
