"""A sensor that fires around the clock is no evidence of life (issue 14, trial T5)."""

from __future__ import annotations

from dataclasses import replace

from edge.detectors.routine import FindingKind, RoutineDetector
from edge.detectors.routine_model import RoutineConfig, RoutineModel
from sensors.contract import AlarmKind
from tests.unit.test_routine import TZ, at, morning_and_noon, pulse, raised, record


def model_with(hours: int, cfg: RoutineConfig | None = None) -> RoutineModel:
    """Ten learned days on which the living-room PIR fired in `hours` clock hours."""
    m = RoutineModel(cfg or RoutineConfig())
    for i in range(10):
        m.add_day(replace(record(i), sensor_hours=(("pir_living", hours), ("pir_kitchen", 14))))
    return m


def chatter(start: float, end: float) -> list:  # type: ignore[type-arg]
    out = []
    t = start
    while t < end:
        out += pulse(t, "pir_living")
        t += 20 * 60
    return out


def test_a_sensor_active_around_the_clock_is_learned_as_noisy() -> None:
    assert model_with(23).thresholds.noisy == ("pir_living",)
    assert model_with(16).thresholds.noisy == ()  # a busy room, but he sleeps: real
    assert model_with(23, RoutineConfig(noisy_hours=None)).thresholds.noisy == ()


def test_a_collapse_is_found_though_a_noisy_sensor_keeps_firing() -> None:
    det = RoutineDetector(model_with(23), TZ, at(6.0))
    events = sorted(morning_and_noon() + chatter(at(6.1), at(16.0)), key=lambda e: e.t)
    out = det.update(events) + det.advance(at(16.0))
    alarms = raised(out, FindingKind.INACTIVITY)
    assert alarms and alarms[0].t - at(10.0) <= 3 * 3600  # silent since 10:00 in the living room
    noisy = [f for f in out if f.kind is FindingKind.SENSOR_NOISY]
    assert len(noisy) == 1 and noisy[0].sensor == "pir_living"
    assert noisy[0].alarm_kind is AlarmKind.TECHNICAL


def test_without_the_rule_the_same_sensor_hides_the_collapse() -> None:
    det = RoutineDetector(model_with(23, RoutineConfig(noisy_hours=None)), TZ, at(6.0))
    events = sorted(morning_and_noon() + chatter(at(6.1), at(16.0)), key=lambda e: e.t)
    out = det.update(events) + det.advance(at(16.0))
    assert raised(out, FindingKind.INACTIVITY) == []


def test_a_day_record_counts_the_hours_each_sensor_was_active() -> None:
    det = RoutineDetector(RoutineModel(), TZ, at(6.0))
    for k in range(12):  # enough activations for the day to be learned
        det.update(pulse(at(7.0 + k * 0.15), "pir_kitchen"))  # 07:00 .. 08:39
    det.update(pulse(at(9.2), "pir_bathroom"))
    det.advance(at(12.1))
    assert dict(det.model.days[-1].sensor_hours) == {"pir_kitchen": 2, "pir_bathroom": 1}
