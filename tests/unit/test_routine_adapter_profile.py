"""The routine adapter's copy for the hub: `profile()` carries the quiet-gap thresholds in
a flat field that fits the wire contract, the hub reads it back bucket for bucket, and a
restarted agent with learned days sends it at once instead of at the next noon."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge.detection import DetailValue
from edge.detectors.routine import SensorKind
from edge.detectors.routine_model import DayRecord, RoutineConfig, RoutineModel
from edge.routine_adapter import AmbientSensor, RoutineAdapter, minutes_csv, profile, save_model
from hub.api.overview import RoutineProfile, routine_profile
from hub.console.charts import clock
from hub.console.dwelling_view import routine_view
from hub.storage.base import StoredEvent
from sensors import contract

TZ = "Europe/Amsterdam"
SENSORS = {"pir_living": AmbientSensor(SensorKind.MOTION, "living")}


def learned_model(days: int = 8) -> RoutineModel:
    model = RoutineModel()
    for i in range(days):
        # Quiet for 1-2 h by day, 8 h through the night; up at ~07:30, asleep at ~22:45.
        quiet = tuple(8 * 3600.0 if b < 14 else 3600.0 + 600.0 * (b % 7) for b in range(48))
        model.add_day(
            DayRecord(
                day=date(2024, 3, 4 + i).isoformat(),
                activations=200,
                home_night=True,
                up_min=450.0 + 5 * i,
                sleep_min=-75.0 + i,
                quiet_s=quiet,
                night_exits_s=(300.0, 420.0),
                night_exits_unreturned=0,
                sensors=("pir_living",),
                awake_quiet_s=tuple(-1.0 if b < 14 else q for b, q in enumerate(quiet)),
                sleep_quiet_s=tuple(q if b < 14 else -1.0 for b, q in enumerate(quiet)),
            )
        )
    return model


def wire(detail: dict[str, DetailValue]) -> contract.Event:
    """The profile as the pipeline sends it: must pass the wire contract."""
    event = contract.Event(
        id=contract.new_id(), dwelling="dw-001", ts=1.7e9, kind="routine_profile", detail=detail
    )
    _, decoded = contract.decode(*contract.encode(event))
    assert isinstance(decoded, contract.Event)
    return decoded


def test_cold_start_profile_carries_the_care_plan_defaults() -> None:
    p = profile(RoutineModel())
    assert (
        p["learned"] is False
        and p["days_learned"] == 0
        and p["days_needed"] == RoutineConfig().min_learned_days
    )
    assert p["quiet_bucket_min"] == 30 and p["quiet_asleep_min"] is None
    awake = str(p["quiet_awake_min"]).split(",")
    assert len(awake) == 48
    assert awake[0] == "660" and awake[14] == "240"  # 11 h at night, 4 h by day (minutes)
    assert p["up_by_min"] == 600


def test_learned_profile_fits_the_wire_and_the_hub_reads_it_back() -> None:
    model = learned_model()
    th = model.thresholds
    assert th.learned
    p = profile(model)
    text = str(p["quiet_awake_min"])
    assert len(text) <= 200
    assert p["quiet_asleep_min"] is not None
    decoded = wire(p)
    assert decoded.detail == p
    back = routine_profile(StoredEvent("e1", "dw-001", "routine_profile", 1.7e9, 1.7e9, None, p))
    assert back.learned is True and back.days_learned == 8 and back.bucket_min == 30
    assert back.quiet_awake_min == tuple(round(s / 60) for s in th.quiet_s)
    assert len(back.quiet_asleep_min) == 48
    assert back.wake_min is not None and 450 <= back.wake_min <= 490
    assert back.bedtime_min is not None and back.bedtime_min < 0  # before midnight


def hub_copy(model: RoutineModel) -> RoutineProfile:
    p = wire(profile(model)).detail
    return routine_profile(StoredEvent("e1", "dw-001", "routine_profile", 1.7e9, 1.7e9, None, p))


def test_the_not_back_rule_and_why_it_is_off_reach_the_dwelling_page() -> None:
    model = learned_model()
    assert hub_copy(model).not_back == "learning"  # no night-time outing known yet
    for i, back in enumerate((30.0, 60.0)):
        model.add_day(replace(model.days[-1], day=f"2024-03-{12 + i}", night_returns_min=(back,)))
    copy = hub_copy(model)
    assert copy.not_back == "on" and copy.return_by_min == pytest.approx(
        model.thresholds.return_by_min, abs=0.1
    )
    facts = {f.label: f.value for f in routine_view(copy, "nl", TZ, 1.7e9).facts}
    assert facts["'s Nachts niet thuis, alarm om"] == clock(copy.return_by_min or 0)
    # A night away, even on a day too quiet to learn a routine from: the rule stands down,
    # and the page says why.
    model.add_day(replace(model.days[-1], day="2024-03-14", activations=4, out_overnight=True))
    copy = hub_copy(model)
    assert copy.not_back == "nights_away" and copy.return_by_min is None
    facts = {f.label: f.value for f in routine_view(copy, "en", TZ, 1.7e9).facts}
    assert facts["Not home at night, alarm at"] == "off (sometimes stays out a night)"


def test_an_unknown_not_back_state_from_an_edge_is_not_shown() -> None:
    detail = profile(learned_model()) | {"not_back": "<b>on</b>"}
    copy = routine_profile(
        StoredEvent("e1", "dw-001", "routine_profile", 1.7e9, 1.7e9, None, detail)
    )
    assert copy.not_back is None
    labels = [f.label for f in routine_view(copy, "nl", TZ, 1.7e9).facts]
    assert "'s Nachts niet thuis, alarm om" not in labels


def test_minutes_csv_marks_unwatched_buckets_and_refuses_what_does_not_fit() -> None:
    assert minutes_csv([5400.0, float("inf"), 720 * 60.0]) == "90,,720"
    assert minutes_csv([]) is None
    assert minutes_csv([36000.0] * 96) is None  # 15-min buckets would not fit 200 chars


def test_restart_with_learned_days_sends_the_profile_at_the_first_tick(tmp_path: Path) -> None:
    state = tmp_path / "routine.json"
    save_model(state, learned_model())
    t0 = datetime(2024, 3, 20, 8, 0, tzinfo=ZoneInfo(TZ)).timestamp()
    adapter = RoutineAdapter(SENSORS, tz=TZ, start_t=t0, state_path=state)
    first = [f for f in adapter.advance(t0 + 1) if f.kind == "routine_profile"]
    assert len(first) == 1 and first[0].detail["days_learned"] == 8
    # Once: the next ticks before noon send nothing more.
    assert not [f for f in adapter.advance(t0 + 600) if f.kind == "routine_profile"]


def test_cold_start_sends_no_profile_at_start_up(tmp_path: Path) -> None:
    t0 = datetime(2024, 3, 20, 8, 0, tzinfo=ZoneInfo(TZ)).timestamp()
    adapter = RoutineAdapter(SENSORS, tz=TZ, start_t=t0, state_path=tmp_path / "none.json")
    assert not [f for f in adapter.advance(t0 + 1) if f.kind == "routine_profile"]
