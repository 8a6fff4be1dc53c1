"""Trial T7: a threshold of its own for the sensor an awake daytime silence began with."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from edge.detectors.routine import FindingKind, RoutineDetector
from edge.detectors.routine_model import DayRecord, RoutineConfig, RoutineModel
from tests.unit.test_routine import DAY, TZ, at, pulse, raised, record

MIN = 60.0


ON = RoutineConfig(sensor_quiet=True)  # not kept: off by default (docs/early-warning.md)


def learned(cfg: RoutineConfig = ON, days: int = 10) -> RoutineModel:
    """Daytime silences of up to 3 h, but never more than 20-40 min after the fridge
    (the kitchen PIR begins the long ones)."""
    m = RoutineModel(cfg)
    for i in range(days):
        r = record(i, quiet_day_h=3.0)
        m.add_day(
            replace(
                r,
                sensor_quiet_s=(("fridge", (20 + 2 * i) * MIN), ("pir_kitchen", 3 * 3600.0)),
            )
        )
    return m


def test_a_sensor_after_which_silences_are_short_gets_a_shorter_threshold() -> None:
    th = learned().thresholds
    own = dict(th.sensor_quiet_s)
    cfg = RoutineConfig()
    assert own["fridge"] < own["pir_kitchen"]
    assert own["fridge"] >= cfg.quiet_min_s  # clipped as every threshold is
    assert own["fridge"] < th.quiet_s[24]  # shorter than the noon slot's


def test_a_silence_after_that_sensor_alarms_at_its_threshold() -> None:
    m = learned()
    own = dict(m.thresholds.sensor_quiet_s)["fridge"]
    slot = m.thresholds.quiet_s[22]  # 11:00
    assert own < slot
    det = RoutineDetector(m, TZ, at(6.0))
    det.update(pulse(at(7.1), "pir_kitchen") + pulse(at(11.0), "fridge"))
    assert raised(det.advance(at(11.0) + own - 1)) == []
    alarms = raised(det.advance(at(11.0) + own + 1), FindingKind.INACTIVITY)
    assert [a.t for a in alarms] == [pytest.approx(at(11.0) + own)]
    assert dict(alarms[0].detail)["threshold_s"] == pytest.approx(own)


def test_a_silence_after_another_sensor_keeps_the_slot_threshold() -> None:
    m = learned()
    slot = m.thresholds.quiet_s[22]
    det = RoutineDetector(m, TZ, at(6.0))
    det.update(pulse(at(7.1), "pir_kitchen") + pulse(at(11.0), "pir_kitchen"))
    assert raised(det.advance(at(11.0) + slot - 1)) == []
    assert raised(det.advance(at(11.0) + slot + 1), FindingKind.INACTIVITY)


def test_after_22_00_the_sensor_threshold_does_not_apply() -> None:
    m = learned(replace(ON, bedtime_slack_s=0.0))  # the night (asleep) begins at 23:00
    own = dict(m.thresholds.sensor_quiet_s)["fridge"]
    det = RoutineDetector(m, TZ, at(6.0))
    det.update(pulse(at(7.1), "pir_kitchen") + pulse(at(22.5), "fridge"))
    assert not det._asleep_gap(at(22.5))  # awake: only the 07:00-22:00 window holds it
    assert raised(det.advance(at(22.5) + own + 60)) == []


def test_a_sensor_seen_on_too_few_days_has_no_threshold_and_the_switch_turns_it_off() -> None:
    assert "fridge" not in dict(learned(days=2).thresholds.sensor_quiet_s)
    assert learned(RoutineConfig()).thresholds.sensor_quiet_s == ()  # the default: off


def test_the_day_record_keeps_the_longest_silence_each_sensor_began() -> None:
    det = RoutineDetector(RoutineModel(), TZ, at(12.0))  # a routine day runs noon to noon
    events = pulse(at(12.5), "pir_kitchen") + pulse(at(13.0), "fridge")  # 30 min after it
    events += pulse(at(14.5), "fridge") + pulse(at(15.0), "pir_kitchen")  # 90, then 30 min
    events += [e for h in (18, 19, 20, 21, 21.5) for e in pulse(at(h), "pir_living")]  # 3 h, 1 h
    events += pulse(at(0.5, DAY + timedelta(days=1)), "pir_kitchen")  # 3 h after 21:30
    det.update(events)
    det.advance(at(12.5, DAY + timedelta(days=1)))
    rec = det.model.days[0]
    got = dict(rec.sensor_quiet_s)
    assert got["fridge"] == pytest.approx(90 * MIN, abs=5)
    assert got["pir_kitchen"] == pytest.approx(3 * 3600.0, abs=5)  # 15:00 .. 18:00
    # 18:00-21:00 began awake (1 h each); from 21:00 on, bedtime: asleep, so the 3 h
    # from 21:30 are not counted
    assert got["pir_living"] == pytest.approx(3600.0, abs=5)
    back = DayRecord.from_json(json.loads(json.dumps(rec.to_json())))
    assert back == rec
    old = rec.to_json()
    del old["sensor_quiet_s"]  # a record written before T7
    assert DayRecord.from_json(old).sensor_quiet_s == ()
