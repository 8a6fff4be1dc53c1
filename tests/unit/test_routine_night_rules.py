"""The night rules on synthetic event streams: the night door follows this resident's
learned sleep, and flicker exits do not shorten the out-of-bed limit. Each change is
tested on both sides: the false-alarm pattern no longer alarms, the incident still does."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from edge.detectors.routine import AmbientEvent, FindingKind, RoutineDetector
from edge.detectors.routine_model import DayRecord, RoutineConfig, RoutineModel
from sensors.contract import AlarmKind
from tests.unit.test_routine import DAY, TZ, at, pulse, raised, record

EVE = DAY - timedelta(days=1)


def late_sleeper(cfg: RoutineConfig | None = None) -> RoutineModel:
    """Ten learned days of a resident who usually falls asleep at 00:30."""
    m = RoutineModel(cfg or RoutineConfig())
    for i in range(10):
        m.add_day(replace(record(i), sleep_min=30.0))
    return m


def resident_alarms(det: RoutineDetector, events: list[AmbientEvent], until: float) -> list[str]:
    out = det.update(events) + det.advance(until)
    return [f.kind.value for f in raised(out) if f.alarm_kind is AlarmKind.INACTIVITY]


def evening_out_and_back(back: float) -> list[AmbientEvent]:
    """In the kitchen at 19:00, out through the front door at 19:30, back at `back`."""
    return (
        pulse(at(19.0, EVE), "pir_kitchen")
        + pulse(at(19.5, EVE), "front_door")
        + pulse(back, "front_door")
    )


# ------------------------------------------------------------------ night door
def test_late_sleeper_returning_before_his_bedtime_is_no_night_door() -> None:
    """kasteren_a 2008-03-18: home at 23:39, then an hour in an unsensed living room."""
    m = late_sleeper()
    assert m.thresholds.night_start_min == 30.0
    det = RoutineDetector(m, TZ, at(18.0, EVE))
    assert resident_alarms(det, evening_out_and_back(at(23.65, EVE)), at(0.75)) == []
    assert not det.away  # home again: watched by the inactivity rules


def test_a_pir_a_moment_before_the_door_on_coming_home_is_no_night_door() -> None:
    """kasteren_b 2009-07-31: the kitchen PIR fires 15 s before the front door at 01:01
    on coming home (learned onset 02:00), then 20 min of nothing."""
    m = RoutineModel()
    for i in range(10):
        m.add_day(replace(record(i), sleep_min=120.0))
    det = RoutineDetector(m, TZ, at(18.0, EVE))
    events = pulse(at(19.0, EVE), "pir_kitchen") + pulse(at(19.5, EVE), "front_door")
    events += pulse(at(1.0), "pir_kitchen") + pulse(at(1.0) + 15, "front_door")
    events += pulse(at(1.0) + 20 * 60, "pir_kitchen")
    assert resident_alarms(det, events, at(1.75)) == []


def test_returning_after_his_usual_bedtime_with_no_sign_inside_still_alarms() -> None:
    det = RoutineDetector(late_sleeper(), TZ, at(18.0, EVE))
    alarms = resident_alarms(det, evening_out_and_back(at(1.5)), at(1.5) + 16 * 60)
    assert alarms == [FindingKind.NIGHT_DOOR.value]


def test_out_of_bed_and_out_of_the_house_before_his_usual_bedtime_still_alarms() -> None:
    """Early to bed tonight, then through the living room and out of the front door at
    23:40, not back: he has been in the bedroom since bedtime drew near (22:30 for an
    00:30 sleeper), so it is a night door whatever his usual bedtime."""
    det = RoutineDetector(late_sleeper(), TZ, at(18.0, EVE))
    events = pulse(at(21.0, EVE), "pir_kitchen") + pulse(at(22.75, EVE), "pir_bedroom")
    events += pulse(at(23.6, EVE), "pir_living") + pulse(at(23.65, EVE), "front_door")
    alarms = resident_alarms(det, events, at(23.65, EVE) + 16 * 60)
    assert alarms == [FindingKind.NIGHT_DOOR.value]


def test_a_bedroom_visit_in_the_early_evening_does_not_make_the_outing_a_night_door() -> None:
    det = RoutineDetector(late_sleeper(), TZ, at(18.0, EVE))
    events = pulse(at(21.0, EVE), "pir_bedroom") + pulse(at(23.4, EVE), "pir_kitchen")
    events += pulse(at(23.5, EVE), "front_door")
    assert resident_alarms(det, events, at(1.0)) == []


def test_an_evening_outing_before_his_bedtime_is_no_night_door() -> None:
    det = RoutineDetector(late_sleeper(), TZ, at(18.0, EVE))
    events = pulse(at(23.4, EVE), "pir_kitchen") + pulse(at(23.5, EVE), "front_door")
    assert resident_alarms(det, events, at(1.0)) == []
    assert det.away  # gone out: not inactive either


def test_cold_start_keeps_the_care_plan_night_for_the_door() -> None:
    det = RoutineDetector(RoutineModel(), TZ, at(18.0, EVE))
    alarms = resident_alarms(det, evening_out_and_back(at(23.65, EVE)), at(0.5))
    assert alarms == [FindingKind.NIGHT_DOOR.value]


def test_the_rule_before_is_a_setting() -> None:
    m = late_sleeper(RoutineConfig(night_door_from_onset=False))
    det = RoutineDetector(m, TZ, at(18.0, EVE))
    alarms = resident_alarms(det, evening_out_and_back(at(23.65, EVE)), at(0.5))
    assert alarms == [FindingKind.NIGHT_DOOR.value]


# ------------------------------------------------------------------ out of bed
# Per learned night: eight flicker "exits" (a PIR seeing through the doorway, the
# bedroom sensor again within seconds) and two real trips of 15 and 30 min.
FLICKERS = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0)
TRIPS = (900.0, 1800.0)


def restless_home(cfg: RoutineConfig | None = None, exits: tuple[float, ...] = ()) -> RoutineModel:
    m = RoutineModel(cfg or RoutineConfig())
    for i in range(10):
        m.add_day(replace(record(i), night_exits_s=exits or FLICKERS + TRIPS))
    return m


def test_flicker_exits_do_not_shorten_the_out_of_bed_limit() -> None:
    new = restless_home().thresholds
    old = restless_home(RoutineConfig(exit_min_s=0.0)).thresholds
    assert new.out_of_bed_s == pytest.approx(2 * 1800.0)  # 2 x q90 of the trips
    assert old.out_of_bed_s < 0.6 * new.out_of_bed_s  # the flickers pulled q90 down
    assert new.out_of_bed_enabled and old.out_of_bed_enabled


def test_flickers_are_no_evidence_that_returns_to_bed_are_seen() -> None:
    """Ten flicker 'returns' and three exits that never came back: returns are not
    sensed here, and the rule switches off (it counted 10/13 returned before)."""
    days = [
        replace(record(i), night_exits_s=(20.0,), night_exits_unreturned=int(i < 3))
        for i in range(10)
    ]
    assert not RoutineModel(RoutineConfig(), days).thresholds.out_of_bed_enabled
    assert RoutineModel(RoutineConfig(exit_min_s=0.0), days).thresholds.out_of_bed_enabled


def night_exit() -> list[AmbientEvent]:
    """In bed (bedroom PIR) from 23:00, to the bathroom at 02:00."""
    return (
        pulse(at(22.0, EVE), "pir_kitchen")
        + pulse(at(23.0, EVE), "pir_bedroom")
        + pulse(at(1.9), "pir_bedroom")
        + pulse(at(2.0), "pir_bathroom")
    )


def test_a_return_to_bed_seen_late_is_no_out_of_bed_alarm() -> None:
    """kasteren_b-like: back in bed after the bathroom, but the bedroom sensor sees him
    only 50 min later. Inside this resident's learned limit: no alarm (before: one)."""
    events = night_exit() + pulse(at(2.0) + 50 * 60, "pir_bedroom")
    det = RoutineDetector(restless_home(), TZ, at(21.0, EVE))
    assert resident_alarms(det, events, at(4.0)) == []
    old = RoutineDetector(restless_home(RoutineConfig(exit_min_s=0.0)), TZ, at(21.0, EVE))
    assert resident_alarms(old, events, at(4.0)) == [FindingKind.OUT_OF_BED.value]


def test_out_of_bed_and_not_back_still_alarms_within_the_limit() -> None:
    det = RoutineDetector(restless_home(), TZ, at(21.0, EVE))
    out = det.update(night_exit()) + det.advance(at(5.0))
    alarms = [f for f in raised(out) if f.alarm_kind is AlarmKind.INACTIVITY]
    assert [a.kind for a in alarms] == [FindingKind.OUT_OF_BED]
    assert alarms[0].t == pytest.approx(at(2.0) + det.model.thresholds.out_of_bed_s)
    assert alarms[0].t - at(2.0) <= RoutineConfig().out_of_bed_max_s


# ------------------------------------------------------------------ state files
def test_a_state_file_from_before_these_settings_still_loads() -> None:
    m = late_sleeper()
    data = json.loads(m.to_json())
    for key in ("night_door_from_onset", "exit_min_s"):
        del data["config"][key]
    back = RoutineModel.from_json(json.dumps(data))
    assert back.config == RoutineConfig()
    assert back.thresholds == m.thresholds
    assert all(isinstance(d, DayRecord) for d in back.days)
