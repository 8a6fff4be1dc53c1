"""The out-of-bed rule judges "not back in bed" only where a return would be seen.

kasteren_b 2009-08-01: the bedroom PIR had stopped reporting two days before, the bed
mats only pulse when the sleeper moves, and a return to bed at 06:20 was seen 92 min
later: an out-of-bed alarm. Both sides on synthetic streams: with the bedroom PIR dead
the rule stands down (a technical finding names the PIR, once); with it working, or
with an occupancy mat, the real incident still alarms."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from edge.detectors.routine import AmbientEvent, FindingKind, RoutineDetector, RoutineFinding
from edge.detectors.routine_model import RoutineConfig, RoutineModel
from sensors.contract import AlarmKind, Severity
from tests.unit.test_routine import (
    DAY,
    TZ,
    at,
    ev,
    learned_model,
    occupancy_history,
    pulse,
    raised,
    record,
)

EVE = DAY - timedelta(days=1)
EVE2 = DAY - timedelta(days=2)


def resident(out: list[RoutineFinding]) -> list[FindingKind]:
    return [f.kind for f in raised(out) if f.alarm_kind is AlarmKind.INACTIVITY]


def night(pir_last: float | None) -> list[AmbientEvent]:
    """The bedroom PIR last fired at `pir_last`; a day in the kitchen (07:30-22:30), in
    bed from 23:00 seen only by the movement mat (2-s pulses), to the bathroom at 02:00."""
    events = [] if pir_last is None else pulse(pir_last, "pir_bedroom")
    for k in range(31):
        events += pulse(at(7.5 + k / 2, EVE), "pir_kitchen")
    for h in (23.0, 24.5, 25.5):
        events += pulse(at(h, EVE), "bed_mat")
    events += pulse(at(2.0), "pir_bathroom")
    return sorted(events, key=lambda e: e.t)


def start(model: RoutineModel | None = None) -> RoutineDetector:
    return RoutineDetector(model or learned_model(), TZ, at(21.0, EVE2))


def test_bedroom_pir_dead_no_out_of_bed_alarm_but_one_technical_finding() -> None:
    det = start()
    # The PIR's last activation is 28 h before the exit: > 24 h, < its 36-h silent limit.
    out = det.update(night(at(22.0, EVE2)))
    assert det.exit_t == at(2.0) and not det.exit_watched
    # Back in bed, seen by the movement mat only when he moves 100 min later.
    out += det.advance(at(3.6)) + det.update(pulse(at(3.65), "bed_mat"))
    assert resident(out) == []
    tech = raised(out, FindingKind.SENSOR_SILENT)
    assert [(f.sensor, f.t) for f in tech] == [("pir_bedroom", at(2.0))]
    assert tech[0].alarm_kind is AlarmKind.TECHNICAL and tech[0].severity is Severity.LOW
    assert dict(tech[0].detail)["reason"] == "no_return_sensing"
    # The blind exit is not learned as a trip of 100 min.
    assert det.acc.exits == []
    # The day goes on, the PIR stays dead: the sensor_silent rule does not report it again.
    later: list[AmbientEvent] = []
    for k in range(40):
        later += pulse(at(8.0) + k * 1800.0, "pir_kitchen")
    out = det.update(later) + det.advance(at(4.0, DAY + timedelta(days=1)))
    assert "pir_bedroom" not in [f.sensor for f in raised(out, FindingKind.SENSOR_SILENT)]


def test_bedroom_pir_dead_and_never_back_is_left_to_the_not_up_rule() -> None:
    det = start()
    out = det.update(night(at(22.0, EVE2))) + det.advance(at(9.0))
    assert resident(out) == [FindingKind.NOT_UP]
    assert len(raised(out, FindingKind.SENSOR_SILENT)) == 1


def test_bedroom_pir_working_the_real_incident_still_alarms() -> None:
    det = start()
    out = det.update(night(at(22.8, EVE)))  # seen going to bed tonight
    assert det.exit_watched
    out += det.advance(at(4.0))
    alarms = [f for f in raised(out) if f.alarm_kind is AlarmKind.INACTIVITY]
    assert [a.kind for a in alarms] == [FindingKind.OUT_OF_BED]
    assert alarms[0].t == pytest.approx(at(2.0) + det.model.thresholds.out_of_bed_s)
    assert raised(out, FindingKind.SENSOR_SILENT) == []


def test_recent_means_at_home_time() -> None:
    """Two days away do not make the bedroom PIR look dead: 42 h of clock time since it
    last fired, 32 h of them away."""
    det = start()
    events = pulse(at(8.0, EVE2), "pir_bedroom") + pulse(at(8.5, EVE2), "pir_kitchen")
    events += pulse(at(9.0, EVE2), "front_door")  # gone out ...
    events += pulse(at(17.0, EVE), "front_door")  # ... back 32 h later
    det = RoutineDetector(learned_model(), TZ, at(7.0, EVE2))
    det.update(events)
    out = det.update([e for e in night(None) if e.t > at(17.0, EVE)])
    assert det.away_total == pytest.approx(32 * 3600.0)
    assert det.exit_watched
    assert resident(out + det.advance(at(4.0))) == [FindingKind.OUT_OF_BED]


def test_an_occupancy_mat_shows_returns_whatever_the_bedroom_pir_does() -> None:
    det = RoutineDetector(learned_model(), TZ, at(12.0, DAY - timedelta(days=6)))
    det.update(pulse(at(12.5, DAY - timedelta(days=6)), "pir_bedroom"))  # then dead
    occupancy_history(det)
    det.update([ev(at(23.0, EVE), "bed_mat", 1)])
    out = det.update([ev(at(2.0), "bed_mat", 0), *pulse(at(2.01), "pir_bathroom")])
    assert det.exit_watched
    out += det.advance(at(4.0))
    assert resident(out) == [FindingKind.OUT_OF_BED]
    assert [f for f in raised(out) if dict(f.detail).get("reason")] == []


def test_a_bedroom_pir_learning_does_not_expect_daily_stands_down_silently() -> None:
    m = RoutineModel()
    for i in range(10):
        m.add_day(record(i, sensors=("pir_kitchen", "pir_bathroom", "front_door")))
    det = start(m)
    out = det.update(night(at(22.0, EVE2))) + det.advance(at(4.0))
    assert not det.exit_watched
    assert resident(out) == []
    assert raised(out, FindingKind.SENSOR_SILENT) == []  # its silence is nothing unusual


def test_a_pir_already_reported_silent_is_not_reported_twice() -> None:
    det = start()
    events = night(at(22.0, EVE2))
    det.update([e for e in events if e.t < at(1.9)])
    det.silent_raised.add("pir_bedroom")  # as if the sensor_silent rule had fired
    out = det.update([e for e in events if e.t >= at(1.9)]) + det.advance(at(4.0))
    assert resident(out) == []
    assert raised(out, FindingKind.SENSOR_SILENT) == []


def test_a_stuck_bedroom_pir_is_no_return_sensor_and_not_reported_again() -> None:
    det = start()
    stuck_on = ev(at(20.5, EVE), "pir_bedroom", 1)  # "on" and never off: stuck after 2 h
    events = sorted([stuck_on, *night(None)], key=lambda e: e.t)
    out = det.update(events) + det.advance(at(4.0))
    assert [f.sensor for f in raised(out, FindingKind.SENSOR_STUCK)] == ["pir_bedroom"]
    assert not det.exit_watched
    assert resident(out) == []
    assert raised(out, FindingKind.SENSOR_SILENT) == []


def test_the_rule_before_is_a_setting() -> None:
    cfg = RoutineConfig(out_of_bed_needs_return_sensor=False)
    det = start(learned_model(cfg))
    out = det.update(night(at(22.0, EVE2))) + det.advance(at(4.0))
    assert resident(out) == [FindingKind.OUT_OF_BED]
    assert raised(out, FindingKind.SENSOR_SILENT) == []


def test_unwatched_exits_are_not_counted_as_unreturned() -> None:
    """Exits that never came back while the PIR was dead say nothing about whether this
    home senses returns: they must not switch the rule off for the weeks after."""
    det = start()
    det.update(night(at(22.0, EVE2)))
    det.advance(at(8.0))  # night over, never seen back in bed
    assert det.acc.unreturned == 0


def test_a_state_file_from_before_the_return_sensor_settings_still_loads() -> None:
    m = learned_model()
    data = json.loads(m.to_json())
    for key in ("return_sensor_recent_s", "out_of_bed_needs_return_sensor"):
        del data["config"][key]
    back = RoutineModel.from_json(json.dumps(data))
    assert back.config == RoutineConfig()
    assert back.thresholds == m.thresholds
    assert replace(back.config, return_sensor_recent_s=1.0).return_sensor_recent_s == 1.0
