"""Routine/inactivity detector: each rule on synthetic edge cases, plus the learned model."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge.detectors.routine import (
    AmbientEvent,
    FindingKind,
    RoutineDetector,
    RoutineFinding,
    SensorKind,
)
from edge.detectors.routine_model import DayRecord, RoutineConfig, RoutineModel
from sensors.contract import AlarmKind, Severity

TZ = "Europe/Amsterdam"
DAY = date(2026, 3, 4)  # a Wednesday; no DST change nearby
ROOMS = {
    "pir_kitchen": (SensorKind.MOTION, "kitchen"),
    "pir_bathroom": (SensorKind.MOTION, "bathroom"),
    "pir_bedroom": (SensorKind.MOTION, "bedroom"),
    "pir_living": (SensorKind.MOTION, "living"),
    "front_door": (SensorKind.DOOR, "entrance"),
    "bed_mat": (SensorKind.BED, "bedroom"),
    "fridge": (SensorKind.OTHER, "kitchen"),
}


def at(hour: float, day: date = DAY) -> float:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(TZ)).timestamp() + hour * 3600


def ev(t: float, sensor: str, value: int = 1) -> AmbientEvent:
    kind, room = ROOMS[sensor]
    return AmbientEvent(t, sensor, kind, room, value)


def pulse(t: float, sensor: str) -> list[AmbientEvent]:
    return [ev(t, sensor, 1), ev(t + 2, sensor, 0)]


def record(i: int, quiet_day_h: float = 1.0, sensors: tuple[str, ...] = ()) -> DayRecord:
    """A learned day: quiet at most `quiet_day_h` in the daytime, 8 h asleep at night."""
    quiet = tuple(
        (8.0 if (b < 14 or b >= 46) else quiet_day_h) * 3600.0 for b in range(48)
    )  # buckets of 30 min: asleep 23:00..07:00
    return DayRecord(
        day=(DAY - timedelta(days=20 - i)).isoformat(),
        activations=200,
        home_night=True,
        up_min=7 * 60 + (i % 3) * 10,  # 07:00 .. 07:20
        sleep_min=-60.0,  # 23:00
        quiet_s=quiet,
        night_exits_s=(300.0, 420.0, 360.0),
        night_exits_unreturned=0,
        sensors=sensors or ("pir_kitchen", "pir_bathroom", "pir_bedroom", "front_door"),
    )


def learned_model(cfg: RoutineConfig | None = None, **kw: float) -> RoutineModel:
    m = RoutineModel(cfg or RoutineConfig())
    for i in range(10):
        m.add_day(record(i, **kw))  # type: ignore[arg-type]
    return m


def raised(findings: list[RoutineFinding], kind: FindingKind | None = None) -> list[RoutineFinding]:
    return [f for f in findings if f.action == "raise" and (kind is None or f.kind is kind)]


def detector(start: float, model: RoutineModel | None = None) -> RoutineDetector:
    return RoutineDetector(model or learned_model(), TZ, start)


def morning_and_noon() -> list[AmbientEvent]:
    """Up at 07:10 (kitchen), about until 10:00."""
    out = pulse(at(7.1), "pir_kitchen") + pulse(at(8.0), "pir_bathroom")
    return out + pulse(at(9.0), "pir_kitchen") + pulse(at(10.0), "pir_living")


# ------------------------------------------------------------------ the learned model
def test_model_learns_thresholds_from_day_records() -> None:
    th = learned_model().thresholds
    assert th.learned
    noon = 24  # bucket 12:00
    cfg = RoutineConfig()
    # factor * 1 h + margin, clipped to [quiet_min, quiet_max]
    assert th.quiet_s[noon] == pytest.approx(
        max(cfg.quiet_factor * 3600 + cfg.quiet_margin_s, 5400)
    )
    # q90 of 07:00/07:10/07:20 plus the margin
    assert th.up_by_min == pytest.approx(7 * 60 + 20 + cfg.up_margin_min)
    assert th.night_start_min == -60.0
    assert th.out_of_bed_s == pytest.approx(cfg.out_of_bed_min_s)  # 2 x 7 min -> min 20 min
    assert dict(th.silent_after_s)["pir_kitchen"] == cfg.sensor_silent_s


def test_cold_start_uses_care_plan_defaults() -> None:
    m = RoutineModel()
    m.add_day(record(0))
    th = m.thresholds
    assert not th.learned
    assert th.quiet_s[24] == RoutineConfig().default_quiet_day_s
    assert th.up_by_min == RoutineConfig().default_up_by_min


def test_model_round_trips_through_json() -> None:
    m = learned_model()
    text = m.to_json()
    back = RoutineModel.from_json(text)
    assert back.days == m.days
    assert back.thresholds == m.thresholds
    with pytest.raises(ValueError, match="version"):
        RoutineModel.from_json('{"version": 99, "config": {}, "days": []}')


def test_old_records_without_the_awake_asleep_split_still_load() -> None:
    m = learned_model()
    data = json.loads(m.to_json())
    for d in data["days"]:
        del d["awake_quiet_s"], d["sleep_quiet_s"]
    back = RoutineModel.from_json(json.dumps(data))
    assert back.thresholds.quiet_s == m.thresholds.quiet_s  # quiet_s stands in for awake


def _day(i: int, awake: dict[int, float], sleep_h: float = 8.0) -> DayRecord:
    """A learned day with the awake silences given per bucket (others 30 min)."""
    aw = tuple(awake.get(b, 0.5) * 3600.0 if 14 <= b < 46 else -1.0 for b in range(48))
    sl = tuple(sleep_h * 3600.0 if (b < 14 or b >= 46) else -1.0 for b in range(48))
    return replace(record(i), quiet_s=aw, awake_quiet_s=aw, sleep_quiet_s=sl)


def test_a_variable_slot_gets_a_longer_threshold_than_a_steady_one() -> None:
    cfg = RoutineConfig(quiet_smooth_buckets=0)
    m = RoutineModel(cfg)
    for i in range(10):  # 12:00 always 1.5 h; 16:00 anywhere between 0.5 and 1.5 h
        m.add_day(_day(i, {24: 1.5, 32: 0.5 + (i % 5) / 4}))
    th = m.thresholds.quiet_s
    assert th[32] > th[24]  # same 90th percentile, but 16:00 is the less predictable
    assert th[20] < th[24]  # a quiet 10:00 keeps a short threshold


def test_a_slot_seen_on_few_days_borrows_from_this_homes_pool() -> None:
    cfg = RoutineConfig(quiet_smooth_buckets=0)
    m = RoutineModel(cfg)
    for i in range(10):  # 15:00 seen at home on one day only, silent for 6 h then
        days = _day(i, {30: 6.0} if i == 0 else {})
        if i:
            days = replace(
                days,
                awake_quiet_s=tuple(
                    -1.0 if b == 30 else x for b, x in enumerate(days.awake_quiet_s)
                ),
            )
        m.add_day(days)
    th = m.thresholds.quiet_s
    assert th[28] < th[30] < 6.0 * 3600.0 + cfg.quiet_margin_s  # shrunk toward the pool
    never = RoutineModel(cfg)
    for i in range(10):
        d = _day(i, {})
        never.add_day(
            replace(
                d,
                awake_quiet_s=tuple(-1.0 if b == 30 else x for b, x in enumerate(d.awake_quiet_s)),
            )
        )
    assert never.thresholds.quiet_s[30] == pytest.approx(never.thresholds.quiet_s[28])


def test_sleeping_in_does_not_stretch_the_awake_morning_threshold() -> None:
    m = RoutineModel()
    for i in range(10):  # asleep 23:00 .. 07:00, and until 10:00 every other day
        d = _day(i, {})
        if i % 2:
            sl = tuple(x if b != 18 else 10 * 3600.0 for b, x in enumerate(d.sleep_quiet_s))
            aw = tuple(x if b != 18 else -1.0 for b, x in enumerate(d.awake_quiet_s))
            d = replace(d, sleep_quiet_s=sl, awake_quiet_s=aw)
        m.add_day(d)
    th = m.thresholds
    assert th.quiet_s[18] < 2 * 3600.0  # 09:00, awake: short
    assert th.sleep_quiet_s[18] > 8 * 3600.0  # 09:00, still asleep: most of the night


def test_a_day_cap_bounds_daytime_thresholds_only() -> None:
    m = learned_model(RoutineConfig(quiet_day_cap_s=5000.0), quiet_day_h=5.0)
    th = m.thresholds.quiet_s
    assert th[24] == 5400.0  # capped, but never below the care-plan minimum
    assert th[2] > 5400.0  # 01:00: the cap is for the daytime


def test_a_day_with_too_few_activations_is_not_learned() -> None:
    m = learned_model()
    empty = DayRecord("2026-03-05", 3, False, None, None, (-1.0,) * 48, (), 0, ())
    before = m.thresholds
    m.add_day(empty)
    assert m.thresholds == before


# ------------------------------------------------------------------ inactivity
def test_inactivity_alarm_when_silent_far_longer_than_usual_then_cancel() -> None:
    det = detector(at(6.0))
    out = det.update(morning_and_noon())
    assert raised(out) == []
    th = det.model.thresholds.quiet_s[20]  # 10:00 bucket
    out = det.advance(at(10.0) + th - 1)
    assert raised(out) == []
    out = det.advance(at(10.0) + th + 1)
    alarms = raised(out, FindingKind.INACTIVITY)
    assert len(alarms) == 1
    assert alarms[0].t == pytest.approx(at(10.0) + th)
    assert (alarms[0].alarm_kind, alarms[0].severity) == (AlarmKind.INACTIVITY, Severity.HIGH)
    assert raised(det.advance(at(15.0))) == []  # raised once per silence
    out = det.update(pulse(at(15.5), "pir_kitchen"))
    assert [(f.kind, f.action) for f in out] == [(FindingKind.INACTIVITY, "cancel")]


def test_advance_in_small_steps_gives_the_same_findings_as_one_call() -> None:
    a, b = detector(at(6.0)), detector(at(6.0))
    a.update(morning_and_noon())
    b.update(morning_and_noon())
    one = a.advance(at(30.0))
    many: list[RoutineFinding] = []
    t = at(10.0)
    while t < at(30.0):
        t += 97.0
        many += b.advance(min(t, at(30.0)))
    assert [(f.kind, f.t) for f in one] == [(f.kind, f.t) for f in many]
    assert raised(one, FindingKind.INACTIVITY)


def test_gone_out_through_the_front_door_is_not_inactive() -> None:
    det = detector(at(6.0))
    det.update(morning_and_noon() + pulse(at(10.5), "front_door"))
    assert raised(det.advance(at(20.0))) == []
    assert det.away
    out = det.update(pulse(at(20.5), "front_door") + pulse(at(20.51), "pir_kitchen"))
    assert not det.away
    assert raised(out) == []


def test_arrival_then_silence_is_watched_again() -> None:
    det = detector(at(6.0))
    det.update(morning_and_noon() + pulse(at(10.5), "front_door"))
    det.advance(at(12.0))
    assert det.away
    det.update(pulse(at(12.0), "front_door"))  # coming home
    out = det.advance(at(18.0))
    assert raised(out, FindingKind.INACTIVITY)


def test_out_of_order_events_are_dropped_and_counted() -> None:
    det = detector(at(6.0))
    det.update(pulse(at(8.0), "pir_kitchen"))
    det.update(pulse(at(7.0), "pir_kitchen"))
    assert det.events_dropped == 2
    assert det.last_act_t == at(8.0)


def test_asleep_silence_far_longer_than_learned_alarms_before_the_up_by_time() -> None:
    """Where a bedroom PIR or movement mat splits the night, the home learns how long
    it is silent while asleep; a silence far longer than that alarms before up-by."""
    m = RoutineModel()
    for i in range(10):
        m.add_day(_day(i, {}, sleep_h=1.0))  # something in the bedroom at least hourly
    limit = m.thresholds.sleep_quiet_s[4]
    assert limit < 3 * 3600.0
    det = detector(at(22.0, DAY - timedelta(days=1)), m)
    det.update(pulse(at(23.0, DAY - timedelta(days=1)), "pir_bedroom"))
    det.update(pulse(at(1.0), "pir_bedroom"))  # then nothing
    alarms = raised(det.advance(at(7.0)))
    assert [a.kind for a in alarms] == [FindingKind.INACTIVITY]
    assert alarms[0].t < at(1.0) + 3 * 3600.0 < at(m.thresholds.up_by_min / 60)


def test_without_bedroom_sensing_a_sleeper_is_left_to_the_not_up_rule() -> None:
    m = RoutineModel()
    for i in range(10):
        m.add_day(_day(i, {}, sleep_h=1.0))
    det = detector(at(22.0, DAY - timedelta(days=1)), m)
    det.update(pulse(at(23.0, DAY - timedelta(days=1)), "pir_bathroom"))
    assert not det.bedroom_sensing  # a silent night says nothing here
    alarms = raised(det.advance(at(12.0)))
    assert [a.kind for a in alarms] == [FindingKind.NOT_UP]


# ------------------------------------------------------------------ not up
def test_not_up_by_the_usual_time_plus_margin() -> None:
    det = detector(at(22.0, DAY - timedelta(days=1)))
    det.update(pulse(at(22.5, DAY - timedelta(days=1)), "pir_bedroom"))
    det.update(pulse(at(3.0), "pir_bathroom") + pulse(at(3.1), "pir_bedroom"))
    out = det.advance(at(12.0))
    alarms = raised(out)
    assert [a.kind for a in alarms] == [FindingKind.NOT_UP]
    up_by = det.model.thresholds.up_by_min
    assert alarms[0].t == pytest.approx(at(up_by / 60))


def test_up_in_the_kitchen_in_time_is_no_alarm() -> None:
    det = detector(at(22.0, DAY - timedelta(days=1)))
    det.update(pulse(at(22.5, DAY - timedelta(days=1)), "pir_bedroom"))
    det.update(pulse(at(7.2), "pir_kitchen") + pulse(at(8.3), "pir_kitchen"))
    assert raised(det.advance(at(9.0)), FindingKind.NOT_UP) == []


def test_an_agent_started_after_the_night_does_not_claim_not_up() -> None:
    """Started (or restarted) at 09:30, after the up-by time: the detector did not watch
    the night, so "not up" cannot be judged this morning; the next night it can."""
    up_by_h = learned_model().thresholds.up_by_min / 60
    assert up_by_h < 9.5  # the start really is past the deadline
    det = detector(at(9.5))
    assert raised(det.advance(at(10.0)), FindingKind.NOT_UP) == []
    det.update(pulse(at(22.5), "pir_bedroom"))  # that evening to bed, and not up next day
    nxt = DAY + timedelta(days=1)
    alarms = raised(det.advance(at(12.0, nxt)), FindingKind.NOT_UP)
    assert [a.t for a in alarms] == [pytest.approx(at(up_by_h, nxt))]


def test_away_overnight_is_no_not_up_alarm() -> None:
    det = detector(at(20.0, DAY - timedelta(days=1)))
    det.update(pulse(at(20.5, DAY - timedelta(days=1)), "pir_kitchen"))
    det.update(pulse(at(21.0, DAY - timedelta(days=1)), "front_door"))
    assert raised(det.advance(at(12.0))) == []


# ------------------------------------------------------------------ night door
def test_front_door_at_night_with_no_sign_inside_afterwards() -> None:
    det = detector(at(22.0, DAY - timedelta(days=1)))
    det.update(pulse(at(22.5, DAY - timedelta(days=1)), "pir_bedroom"))
    out = det.update(pulse(at(2.0), "pir_bedroom") + pulse(at(2.05), "front_door"))
    out += det.advance(at(2.05) + 14 * 60)
    assert raised(out) == []
    out = det.advance(at(2.05) + 15 * 60 + 1)
    assert [a.kind for a in raised(out)] == [FindingKind.NIGHT_DOOR]


def test_late_return_followed_by_movement_inside_is_no_alarm() -> None:
    det = detector(at(19.0, DAY - timedelta(days=1)))
    det.update(pulse(at(19.5, DAY - timedelta(days=1)), "pir_kitchen"))
    det.update(pulse(at(20.0, DAY - timedelta(days=1)), "front_door"))  # goes out
    out = det.update(pulse(at(1.5), "front_door") + pulse(at(1.52), "pir_kitchen"))
    out += det.update(pulse(at(1.6), "pir_bedroom"))
    out += det.advance(at(3.0))
    assert raised(out) == []


# ------------------------------------------------------------------ out of bed at night
def occupancy_history(det: RoutineDetector) -> None:
    """Five long bed-mat stays: the detector learns that this mat reports presence."""
    d0 = DAY - timedelta(days=6)
    for k in range(5):
        d = d0 + timedelta(days=k)
        det.update([ev(at(13.0, d), "bed_mat", 1), ev(at(13.5, d), "bed_mat", 0)])
        det.update(pulse(at(13.6, d), "pir_kitchen"))


def test_out_of_bed_at_night_and_not_back() -> None:
    det = detector(at(12.0, DAY - timedelta(days=6)))
    occupancy_history(det)
    det.update(pulse(at(22.8, DAY - timedelta(days=1)), "pir_bedroom"))
    det.update([ev(at(23.0, DAY - timedelta(days=1)), "bed_mat", 1)])
    out = det.update([ev(at(2.0), "bed_mat", 0), *pulse(at(2.01), "pir_bathroom")])
    assert det.exit_t == at(2.01)  # out of bed for sure: someone in the bathroom
    limit = det.model.thresholds.out_of_bed_s
    out += det.advance(at(2.01) + limit - 1)
    assert [a for a in raised(out) if a.alarm_kind is AlarmKind.INACTIVITY] == []
    out = det.advance(at(2.01) + limit + 1)
    alarms = [a for a in raised(out) if a.alarm_kind is AlarmKind.INACTIVITY]
    assert [a.kind for a in alarms] == [FindingKind.OUT_OF_BED]
    # back to bed: cancelled
    out = det.update([ev(at(3.0), "bed_mat", 1)])
    assert [(f.kind, f.action) for f in out] == [(FindingKind.OUT_OF_BED, "cancel")]


def test_a_flickering_mat_is_not_a_bed_exit() -> None:
    det = detector(at(12.0, DAY - timedelta(days=6)))
    occupancy_history(det)
    det.update([ev(at(23.0, DAY - timedelta(days=1)), "bed_mat", 1)])
    events = []
    for k in range(20):  # a restless sleeper: 20 s empty, then occupied again
        t = at(1.0) + k * 300
        events += [ev(t, "bed_mat", 0), ev(t + 20, "bed_mat", 1)]
    out = det.update(events) + det.advance(at(6.0))
    assert raised(out, FindingKind.OUT_OF_BED) == []
    assert det.exit_t is None


def test_stuck_mat_is_overruled_by_activity_outside_the_bedroom() -> None:
    det = detector(at(12.0, DAY - timedelta(days=6)))
    occupancy_history(det)
    det.update([ev(at(23.0, DAY - timedelta(days=1)), "bed_mat", 1)])
    # the mat keeps reading "occupied", but someone moves in the bathroom
    out = det.update(pulse(at(2.0), "pir_bathroom"))
    out += det.advance(at(2.0) + det.model.thresholds.out_of_bed_s + 1)
    resident = [a.kind for a in raised(out) if a.alarm_kind is AlarmKind.INACTIVITY]
    assert resident == [FindingKind.OUT_OF_BED]


def test_no_out_of_bed_rule_without_a_bed_or_bedroom_sensor() -> None:
    det = detector(at(22.0, DAY - timedelta(days=1)))
    rooms_only = [e for e in pulse(at(2.0), "pir_bathroom")]
    det.update([ev(at(23.0, DAY - timedelta(days=1)), "front_door", 0)])  # a door, no PIR
    det.update(rooms_only)
    assert not det.bedroom_sensing
    assert raised(det.advance(at(4.0)), FindingKind.OUT_OF_BED) == []


# ------------------------------------------------------------------ technical
def test_silent_sensor_is_a_technical_finding_not_inactivity() -> None:
    det = detector(at(6.0))
    events: list[AmbientEvent] = []
    for day in range(3):  # resident active, but the kitchen PIR never fires
        d = DAY + timedelta(days=day)
        for k in range(31):  # every half hour, 07:10 .. 22:10
            h = 7.17 + k / 2
            events += pulse(at(h, d), "pir_bathroom" if h < 8 else "pir_living")
        events += pulse(at(22.5, d), "pir_bedroom")
    out = det.update(events)
    silent = raised(out, FindingKind.SENSOR_SILENT)
    assert sorted(s.sensor or "" for s in silent) == ["front_door", "pir_kitchen"]
    assert all(s.alarm_kind is AlarmKind.TECHNICAL and s.severity is Severity.LOW for s in silent)
    assert raised(out, FindingKind.INACTIVITY) == []


def test_stuck_pir_is_reported_once_and_gives_no_activity() -> None:
    det = detector(at(6.0))
    det.update(morning_and_noon())
    out = det.update([ev(at(10.5), "pir_living", 1)])  # and never off again
    out += det.update([ev(at(11.0), "pir_living", 1)])  # repeated "on": no new evidence
    assert det.last_act_t == at(10.5)
    out += det.advance(at(13.0))
    stuck = raised(out, FindingKind.SENSOR_STUCK)
    assert [s.sensor for s in stuck] == ["pir_living"]
    assert stuck[0].alarm_kind is AlarmKind.TECHNICAL


def test_detector_state_is_deep_copyable_and_independent() -> None:
    det = detector(at(6.0))
    det.update(morning_and_noon())
    twin = copy.deepcopy(det)
    det.update(pulse(at(11.0), "pir_kitchen"))
    assert twin.last_act_t == at(10.0)
    assert det.last_act_t == at(11.0)


def test_day_boundary_adds_a_record_to_the_model() -> None:
    det = detector(at(6.0), RoutineModel())
    det.update(morning_and_noon() + [e for h in range(13, 23) for e in pulse(at(h), "pir_living")])
    det.advance(at(12.5, DAY + timedelta(days=1)))
    assert len(det.model.days) == 1
    rec = det.model.days[0]
    assert rec.day == (DAY + timedelta(days=1)).isoformat()
    assert "pir_living" in rec.sensors
    assert rec.quiet_s[26] == pytest.approx(1800.0, abs=5)  # 13:00..13:30: 30 min at most
    assert rec.quiet_s[27] == pytest.approx(3600.0, abs=5)  # 13:30..14:00: up to 1 h
