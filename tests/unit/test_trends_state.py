"""Personal trends across restarts: `TrendDetector.to_json` / `from_json`, and the agent's
`TrendsAdapter` (readings in, trend alarms out, state persisted atomically)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pytest

from edge.config import EdgeSettings, load_settings
from edge.detection import Finding
from edge.detectors.trends import (
    DEFAULT_RULES,
    Metric,
    RuleKind,
    TrendDetector,
    TrendSample,
    day_start,
)
from edge.errors import ConfigError
from edge.trends_adapter import TrendsAdapter, load_state, trends_config
from sensors import contract
from sensors.readings import Reading

TZ = "Europe/Amsterdam"
D0 = date(2026, 2, 2)
BAND = "band-1"


def hr_day(i: int, hr: float, n: int = 40) -> list[TrendSample]:
    t0 = day_start(D0 + timedelta(days=i), TZ) + 3 * 3600
    return [TrendSample(t0 + 60 * k, Metric.RESTING_HR, hr + (k % 3)) for k in range(n)]


def test_to_json_round_trip_keeps_daily_values_day_pending_and_raised_rules() -> None:
    det = TrendDetector(TZ)
    for i in range(9):
        det.update(hr_day(i, 60.0))
    for i in (9, 10):
        det.update(hr_day(i, 80.0))
    det.update(hr_day(11, 60.0, n=5))  # closes day 10 (raises) and starts day 11
    det.update([TrendSample(day_start(D0 + timedelta(days=11), TZ) + 9 * 3600, Metric.SPO2, 97.0)])
    assert det.active == {"resting_hr_up"}
    text = det.to_json()
    back = TrendDetector.from_json(text, TZ)
    assert back.daily == det.daily
    assert back.day == det.day == D0 + timedelta(days=11)
    assert back.pending == det.pending and len(back.pending[Metric.RESTING_HR]) == 5
    assert back.active == det.active
    assert back.to_json() == text
    assert json.loads(text)["version"] == 1


def test_a_restored_detector_decides_as_the_one_that_kept_running() -> None:
    running = TrendDetector(TZ)
    for i in range(9):
        running.update(hr_day(i, 60.0))
    restored = TrendDetector.from_json(running.to_json(), TZ)
    out = {}
    for name, det in (("running", running), ("restored", restored)):
        found = []
        for i in (9, 10, 11):
            found += det.update(hr_day(i, 80.0))
        out[name] = [(f.day, f.rule, f.action) for f in found]
    assert (
        out["running"] == out["restored"] == [(D0 + timedelta(days=10), "resting_hr_up", "raise")]
    )


def test_a_fresh_detector_without_the_history_would_not_raise() -> None:
    # The restart test above can fail: without the saved baseline nothing is raised.
    det = TrendDetector(TZ)
    found = [f for i in (9, 10, 11) for f in det.update(hr_day(i, 80.0))]
    assert found == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[]",
        '{"version": 2}',
        '{"version": 1}',
        '{"version": 1, "day": null, "pending": {}, "daily": {"bogus": {}}, "active": []}',
        '{"version": 1, "day": "2026-13-01", "pending": {}, "daily": {}, "active": []}',
        '{"version": 1, "day": null, "pending": {"spo2": ["x"]}, "daily": {}, "active": []}',
        '{"version": 1, "day": null, "pending": {}, "daily": {"spo2": {"2026-02-02": 1e999}},'
        ' "active": []}',
    ],
)
def test_from_json_refuses_what_it_did_not_write(text: str) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        TrendDetector.from_json(text, TZ)


def test_rules_no_longer_in_the_care_plan_are_not_kept_active() -> None:
    det = TrendDetector(TZ)
    det.active = {"resting_hr_up", "gone_rule"}
    back = TrendDetector.from_json(det.to_json(), TZ)
    assert back.active == {"resting_hr_up"}


# ---------------------------------------------------------------------------- adapter


def settings(tmp_path: Path, **extra: object) -> EdgeSettings:
    return load_settings(
        None,
        dwelling="dw-001",
        password="pw",
        broker_url="mqtt://127.0.0.1",
        spool={"path": str(tmp_path / "spool.sqlite")},
        devices=[
            {
                "id": BAND,
                "kind": "wearable",
                "address": "C2:00:00:00:00:01",
                "accelerometer": False,
                "health": ["heart_rate", "plx_continuous"],
                "role": "vitals",
            },
            {"id": "vitals-1", "kind": "vitals", "transport": "serial", "port": "/dev/ttyUSB0"},
            {"id": "room-1", "kind": "bthome", "address": "A4:C1:38:00:00:02"},
        ],
        **extra,
    )


def band_day(adapter: TrendsAdapter, i: int, hr: float, *, every_s: float = 5.0) -> list[Finding]:
    """An hour of 1-per-`every_s` heart-rate frames at 03:00 on day `i`, as the codec
    gives them (value + frame status), then the agent's clock at 04:00."""
    out: list[Finding] = []
    t0 = day_start(D0 + timedelta(days=i), TZ) + 3 * 3600
    k = 0
    while k * every_s < 3600:
        t = t0 + k * every_s
        frame = [Reading(BAND, "hr", t, hr + (k % 3)), Reading(BAND, "status", t, 0.0)]
        out += adapter.update(frame, t)
        k += 1
    out += adapter.advance(t0 + 3600)
    return out


def alarms(found: Sequence[Finding]) -> list[Finding]:
    """The conditions said on (the first tick after a start also says every rule not held
    "off": a no-op for the alarm book unless one is open)."""
    return [f for f in found if f.alarm is not None and f.on]


def offs(found: Sequence[Finding], rule: str) -> list[Finding]:
    return [f for f in found if f.alarm is not None and not f.on and f.condition == rule]


def test_adapter_raises_a_trend_alarm_with_flat_detail_and_cancels_it(tmp_path: Path) -> None:
    s = settings(tmp_path)
    adapter = TrendsAdapter.from_settings(s)
    assert adapter is not None
    assert adapter.continuous == {BAND} and adapter.sensors == {BAND, "vitals-1"}
    found: list[Finding] = []
    for i in range(9):
        found += band_day(adapter, i, 60.0)
    for i in (9, 10):
        found += band_day(adapter, i, 80.0)
    found += adapter.advance(day_start(D0 + timedelta(days=11), TZ) + 60)  # day 10 closes
    (raised,) = alarms(found)
    assert raised.kind == "trend_alarm" and raised.on and raised.condition == "resting_hr_up"
    assert (raised.alarm, raised.severity) == (contract.AlarmKind.VITALS, contract.Severity.MEDIUM)
    assert raised.sensor is None
    d = raised.detail
    assert d["rule"] == "resting_hr_up" and d["metric"] == "resting_hr"
    assert d["baseline_median"] == pytest.approx(60.0, abs=1.0)
    assert d["baseline_days"] == 9 and float(d["value"] or 0) >= 75
    assert set(d) == {
        "rule",
        "metric",
        "value",
        "baseline_median",
        "baseline_mad",
        "baseline_days",
        "day",
    }
    assert all(isinstance(v, str | int | float) for v in d.values())  # flat numbers
    # The resting heart rate comes back down: the same condition is off.
    later = band_day(adapter, 11, 60.0) + list(
        adapter.advance(day_start(D0 + timedelta(12), TZ) + 60)
    )
    (cancel,) = offs(later, raised.condition)
    assert cancel.kind == "trend_alarm_cancelled"


def test_continuous_samples_are_thinned_and_spot_pulse_is_not_resting_hr(tmp_path: Path) -> None:
    adapter = TrendsAdapter.from_settings(settings(tmp_path))
    assert adapter is not None
    band_day(adapter, 0, 60.0, every_s=1.0)  # 3600 frames in the hour
    assert len(adapter.detector.pending[Metric.RESTING_HR]) == 60  # one a minute
    t = day_start(D0, TZ) + 9 * 3600
    adapter.update([Reading("vitals-1", "hr", t, 140.0), Reading("vitals-1", "status", t, 0)], t)
    assert len(adapter.detector.pending[Metric.RESTING_HR]) == 60
    # Flagged, implausible or non-finite readings never reach the baseline.
    for frame in (
        [Reading(BAND, "hr", t + 120, 200.0), Reading(BAND, "status", t + 120, 1.0)],
        [Reading(BAND, "spo2", t + 240, float("nan")), Reading(BAND, "status", t + 240, 0)],
        [Reading(BAND, "spo2", t + 360, 30.0), Reading(BAND, "status", t + 360, 0)],
    ):
        adapter.update(frame, t)
    assert len(adapter.detector.pending[Metric.RESTING_HR]) == 60
    assert Metric.SPO2 not in adapter.detector.pending
    # Spot SpO2, temperature and weight do count (daily medians).
    adapter.update(
        [
            Reading("vitals-1", "spo2", t, 96.0),
            Reading("vitals-1", "weight", t, 74.0),
            Reading("vitals-1", "temperature", t, 36.8),
            Reading("vitals-1", "status", t, 0),
        ],
        t,
    )
    assert {m: len(v) for m, v in adapter.detector.pending.items()} == {
        Metric.RESTING_HR: 60,
        Metric.SPO2: 1,
        Metric.WEIGHT: 1,
        Metric.TEMP: 1,
    }
    assert adapter.update([Reading("room-1", "temperature", t, 39.0)], t) == []


def test_state_survives_a_restart_with_its_open_alarm(tmp_path: Path) -> None:
    s = settings(tmp_path)
    first = TrendsAdapter.from_settings(s)
    assert first is not None
    found: list[Finding] = []
    for i in range(9):
        found += band_day(first, i, 60.0)
    for i in (9, 10):
        found += band_day(first, i, 80.0)
    found += first.advance(day_start(D0 + timedelta(days=11), TZ) + 60)
    (raised,) = alarms(found)
    assert s.trends_state_path == tmp_path / "trends.json" and s.trends_state_path.is_file()
    assert first.saves >= 11 and not list(tmp_path.glob("*.tmp"))  # atomic: no temp left
    # The agent restarts: the new adapter carries the baseline and the open alarm.
    second = TrendsAdapter.from_settings(s)
    assert second is not None
    assert second.detector.daily == first.detector.daily
    assert second.detector.active == {"resting_hr_up"}
    later = band_day(second, 11, 60.0) + list(
        second.advance(day_start(D0 + timedelta(12), TZ) + 60)
    )
    # The second adapter never raised it, and still says it off (the book cancels it).
    (cancel,) = offs(later, raised.condition)
    assert cancel.kind == "trend_alarm_cancelled"


@pytest.mark.parametrize(
    "content",
    [
        b'{"version": 1, "detector": {"version": 1, "day": 5}',  # torn
        b'{"version": 1, "detector": {"version": 1, "day": 5}, "alarms": {}}',  # bad day
        b"\xff\xfe\x00garbage",  # not text
        b'{"version": 7}',  # a later version
    ],
)
def test_corrupt_state_is_set_aside_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    s = settings(tmp_path)
    s.trends_state_path.write_bytes(content)
    with caplog.at_level(logging.ERROR, logger="edge.trends_adapter"):
        adapter = TrendsAdapter.from_settings(s)
    assert adapter is not None and adapter.detector.day is None
    assert "unreadable" in caplog.text
    assert (tmp_path / "trends.json.bad").is_file() and not s.trends_state_path.exists()
    # ... and it keeps working and saving.
    band_day(adapter, 0, 60.0)
    adapter.advance(day_start(D0 + timedelta(days=1), TZ) + 60)
    assert load_state(s.trends_state_path, TZ).daily[Metric.RESTING_HR]


def test_unwritable_state_is_logged_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    adapter = TrendsAdapter.from_settings(settings(tmp_path, trends_state=str(blocker / "t.json")))
    assert adapter is not None
    with caplog.at_level(logging.ERROR, logger="edge.trends_adapter"):
        band_day(adapter, 0, 60.0)
        band_day(adapter, 1, 60.0)  # day 0 closes: a save is tried
    assert "cannot save" in caplog.text and adapter.saves == 0
    assert adapter.detector.daily[Metric.RESTING_HR]  # it goes on in memory


def test_trend_rules_from_the_care_plan(tmp_path: Path) -> None:
    assert trends_config(settings(tmp_path)).rules == DEFAULT_RULES
    rules = [
        {"name": "rhr", "metric": "resting_hr", "kind": "above_baseline", "delta": 10, "days": 1},
        {"name": "wt", "metric": "weight", "kind": "rise_within", "delta": 1.5, "days": 2,
         "severity": "high"},
    ]  # fmt: skip
    cfg = trends_config(settings(tmp_path, trends={"rules": rules, "baseline_days": 10}))
    assert [(r.name, r.metric, r.kind, r.delta, r.days, r.severity) for r in cfg.rules] == [
        ("rhr", Metric.RESTING_HR, RuleKind.ABOVE_BASELINE, 10.0, 1, contract.Severity.MEDIUM),
        ("wt", Metric.WEIGHT, RuleKind.RISE_WITHIN, 1.5, 2, contract.Severity.HIGH),
    ]
    assert cfg.baseline_days == 10
    assert trends_config(settings(tmp_path, trends={"rules": []})).rules == ()


@pytest.mark.parametrize(
    ("trends", "message"),
    [
        ({"rules": [{"name": "x", "metric": "bp", "kind": "robust_z", "delta": 3, "days": 2}]},
         "metric"),
        ({"rules": [{"name": "x", "metric": "spo2", "kind": "drop", "delta": 3, "days": 2}]},
         "kind"),
        ({"rules": [{"name": "x", "metric": "spo2", "kind": "robust_z", "delta": 0, "days": 2}]},
         "delta"),
        ({"rules": [{"name": "x", "metric": "spo2", "kind": "robust_z", "delta": 3, "days": 0}]},
         "days"),
        ({"rules": [{"name": "x", "metric": "spo2", "kind": "robust_z", "delta": 3, "days": 2,
                     "severity": "urgent"}]}, "severity"),
        ({"rules": [{"name": "x", "metric": "spo2", "kind": "robust_z", "delta": 3,
                     "days": 2}] * 2}, "unique"),
        ({"baseline_days": 5, "min_baseline_days": 7}, "min_baseline_days"),
        ({"rulez": []}, "rulez"),
    ],
)  # fmt: skip
def test_bad_trend_rules_are_refused_with_a_clear_error(
    tmp_path: Path, trends: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(tmp_path, trends=trends)


def test_config_literals_match_the_detector_enums() -> None:
    from typing import get_args

    from edge.config import TrendRuleSettings

    fields = TrendRuleSettings.model_fields
    assert set(get_args(fields["metric"].annotation)) == {m.value for m in Metric}
    assert set(get_args(fields["kind"].annotation)) == {k.value for k in RuleKind}
    assert set(get_args(fields["severity"].annotation)) == {s.value for s in contract.Severity}
