"""Gone out: the away state is reported, and a resident not back at night alarms (issue 14)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from edge.detectors.routine import FindingKind, RoutineDetector, RoutineFinding
from edge.detectors.routine_model import RoutineConfig, RoutineModel
from edge.routine_adapter import RoutineAdapter
from sensors.contract import AlarmKind, Severity
from tests.unit.test_routine import DAY, TZ, at, detector, morning_and_noon, pulse, raised, record

EVE = DAY - timedelta(days=1)
LOW = Severity.LOW


def night_owl(
    returns: tuple[float, ...] = (-60.0, 30.0, 90.0), overnight: int = -1
) -> RoutineModel:
    """Ten learned days; out in the evening on four, back at 23:00, 00:30, 01:30, 23:00."""
    m = RoutineModel()
    for i in range(10):
        r = replace(record(i), night_returns_min=(returns[i // 3 % 3],) if i % 3 == 0 else ())
        m.add_day(replace(r, out_overnight=i == overnight))
    return m


def states(out: list[RoutineFinding]) -> list[str]:
    return [str(dict(f.detail)["state"]) for f in out if f.kind is FindingKind.AWAY]


def test_the_away_state_is_reported_and_no_alarm_while_away() -> None:
    det = detector(at(6.0))
    out = det.update(morning_and_noon() + pulse(at(10.5), "front_door"))
    out += det.advance(at(20.0))
    assert states(out) == ["away"]
    away = next(f for f in out if f.kind is FindingKind.AWAY)
    assert away.action == "state" and away.alarm_kind is AlarmKind.TECHNICAL
    assert dict(away.detail)["since"] == round(at(10.5))  # from the door, not 10 min later
    assert raised(out) == []
    back = det.update(pulse(at(20.5), "front_door"))
    assert states(back) == ["home"] and not det.away


def test_the_usual_latest_return_is_learned_from_night_outings() -> None:
    th = night_owl().thresholds
    assert th.return_by_min is not None
    # the 90th percentile of the returns plus the 60-min margin
    assert th.return_by_min == pytest.approx(np.quantile([-60, 30, 90, -60], 0.9) + 60)
    # a night out that lasted until the morning: the rule stands down for this resident
    assert night_owl(overnight=4).thresholds.return_by_min is None
    assert RoutineModel().thresholds.return_by_min is None  # cold start: not known


def test_not_back_by_the_usual_time_at_night_alarms_and_cancels_on_return() -> None:
    m = night_owl()
    rb = m.thresholds.return_by_min
    assert rb is not None
    det = RoutineDetector(m, TZ, at(18.0, EVE))
    det.update(pulse(at(19.0, EVE), "pir_kitchen") + pulse(at(21.0, EVE), "front_door"))
    assert raised(det.advance(at(rb / 60.0) - 60)) == []
    out = det.advance(at(rb / 60.0) + 60)
    alarm = raised(out, FindingKind.NOT_BACK)
    assert len(alarm) == 1 and alarm[0].alarm_kind is AlarmKind.INACTIVITY
    assert alarm[0].t == at(rb / 60.0)
    back = det.update(pulse(at(4.0), "front_door"))
    assert [f.kind for f in back if f.action == "cancel"] == [FindingKind.NOT_BACK]


def test_back_in_time_is_no_alarm_and_the_return_is_learned() -> None:
    m = night_owl()
    det = RoutineDetector(m, TZ, at(18.0, EVE))
    det.update(pulse(at(19.0, EVE), "pir_kitchen") + pulse(at(21.0, EVE), "front_door"))
    out = det.advance(at(0.5)) + det.update(pulse(at(0.5), "front_door"))
    day = morning_and_noon() + pulse(at(11.0), "pir_kitchen") + pulse(at(11.9), "pir_kitchen")
    out += det.update(pulse(at(0.52), "pir_bathroom") + day)
    out += det.advance(at(12.1))
    assert raised(out) == []
    assert m.days[-1].night_returns_min == (30.0,)
    assert not m.days[-1].out_overnight


def test_a_night_away_on_a_quiet_day_is_not_forgotten() -> None:
    """A day with too few activations to learn a routine from (a day away, a room with no
    sensor) still says that this resident stays out whole nights (trial T6)."""
    m = night_owl()
    assert m.thresholds.return_by_min is not None
    quiet_day = replace(record(11), activations=3, out_overnight=True)
    m.add_day(quiet_day)
    assert m.thresholds.return_by_min is None  # the rule stands down, as for a full day
    assert quiet_day not in m.days  # ...and nothing else is learned from that day
    assert m.thresholds.days == 10
    restored = RoutineModel.from_json(m.to_json())
    assert restored.short_days == [quiet_day]
    assert restored.thresholds.return_by_min is None


def test_a_quiet_day_leaves_the_window_with_the_days_around_it() -> None:
    cfg = RoutineConfig(history_days=5)
    m = RoutineModel(cfg)
    m.add_day(replace(record(0), activations=2, out_overnight=True))
    for i in range(1, 5):
        m.add_day(replace(record(i), night_returns_min=(-60.0,)))
    assert m.thresholds.return_by_min is None  # the night away is still in the window
    for i in range(5, 7):
        m.add_day(replace(record(i), night_returns_min=(-60.0,)))
    assert m.short_days == []  # older than every learned day kept
    assert m.thresholds.return_by_min == pytest.approx(-60.0 + 60)


def test_a_quiet_day_that_says_nothing_about_outings_is_not_kept() -> None:
    m = night_owl()
    m.add_day(replace(record(11), activations=3))
    assert m.short_days == []


def test_a_day_with_no_activation_at_all_is_an_outage_as_much_as_a_trip() -> None:
    m = night_owl()
    m.add_day(replace(record(11), activations=0, out_overnight=True))
    assert m.short_days == [] and m.thresholds.not_back_state == "on"


def test_a_trip_of_several_days_stands_the_rule_down_only_where_it_was_seen() -> None:
    """Out at 21:00 and back two days later at 15:00: the first night's record holds the
    departure (the rule learns that he stays out nights); the silent days between, with
    no activation, teach nothing (an outage would look the same)."""
    m = night_owl()
    det = RoutineDetector(m, TZ, at(18.0, EVE))
    det.update(pulse(at(19.0, EVE), "pir_kitchen") + pulse(at(21.0, EVE), "front_door"))
    det.advance(at(12.5, DAY + timedelta(days=1)))
    assert m.thresholds.not_back_state == "nights_away" and m.thresholds.return_by_min is None
    assert [d.activations for d in m.short_days] == [2]  # the evening in, then the door


def test_a_short_day_from_long_ago_leaves_a_window_that_is_not_full() -> None:
    m = RoutineModel(RoutineConfig(history_days=28))
    m.add_day(replace(record(0), day="2024-01-01", activations=2, out_overnight=True))
    for i in range(5):
        m.add_day(replace(record(i), day=f"2024-03-0{i + 1}", night_returns_min=(-60.0,)))
    assert m.short_days == []  # 60 days before the newest record: out of the 28-day window
    assert m.thresholds.not_back_state == "on"


def test_the_model_does_not_trim_the_callers_list() -> None:
    days = [record(i) for i in range(8)]
    m = RoutineModel(RoutineConfig(history_days=5), days=days)
    assert len(m.days) == 5 and len(days) == 8


def test_the_rule_can_be_switched_off() -> None:
    m = RoutineModel(RoutineConfig(not_back=False))
    assert m.thresholds.not_back_state == "off"
    for d in night_owl().days:
        m.add_day(d)
    assert m.thresholds.return_by_min is None and m.thresholds.not_back_state == "off"


def test_the_adapter_reports_away_as_an_event_and_not_back_as_an_alarm_condition() -> None:
    adapter = RoutineAdapter({}, tz=TZ, start_t=at(18.0, EVE), state_path=None, model=night_owl())
    t = at(1.0)
    detail = (("state", "away"), ("since", round(t)))
    away = RoutineFinding(t, FindingKind.AWAY, "state", AlarmKind.TECHNICAL, LOW, None, detail)
    (event,) = adapter._findings([away])
    assert event.kind == "away" and event.alarm is None and event.detail["state"] == "away"
    alarm = RoutineFinding(t, FindingKind.NOT_BACK, "raise", AlarmKind.INACTIVITY, Severity.HIGH)
    (raised_alarm,) = adapter._findings([alarm])
    assert raised_alarm.alarm is AlarmKind.INACTIVITY and raised_alarm.on
    assert raised_alarm.condition == "not_back_night"
    # the resident seen again: the alarm book is told the condition is off
    off = [f for f in adapter._seen(t + 60, {}) if f.condition == "not_back_night"]
    assert len(off) == 1 and not off[0].on
