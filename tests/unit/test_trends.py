"""Personal trends: robust baseline and the care plan's sustained-deviation rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import pytest

from edge.detectors.trends import (
    Metric,
    RuleKind,
    TrendDetector,
    TrendRule,
    TrendSample,
    TrendsConfig,
    day_start,
    robust_baseline,
)

TZ = "Europe/Amsterdam"
D0 = date(2026, 2, 2)


def day_samples(i: int, metric: Metric, values: list[float]) -> list[TrendSample]:
    t0 = day_start(D0 + timedelta(days=i), TZ) + 8 * 3600
    return [TrendSample(t0 + 60 * k, metric, v) for k, v in enumerate(values)]


def feed_daily(det: TrendDetector, metric: Metric, per_day: Sequence[float]) -> list[str]:
    raised = []
    for i, v in enumerate(per_day):
        values = [v] if metric is not Metric.RESTING_HR else [v] * 20 + [v + 30] * 20
        for f in det.update(day_samples(i, metric, values)):
            raised.append(f"{f.day.isoformat()}:{f.rule}:{f.action}")
    for f in det.advance(day_start(D0 + timedelta(days=len(per_day)), TZ) + 3600):
        raised.append(f"{f.day.isoformat()}:{f.rule}:{f.action}")
    return raised


def test_robust_baseline_ignores_an_outlier() -> None:
    b = robust_baseline([70, 71, 69, 70, 72, 70, 130])
    assert b is not None
    assert b.median == 70
    assert b.mad == 1
    assert robust_baseline([]) is None
    floored = robust_baseline([70, 70, 70], mad_floor=2.0)
    assert floored is not None and floored.mad == 2.0


def test_resting_hr_up_15_for_two_days_raises_once_then_cancels() -> None:
    det = TrendDetector(TZ)
    per_day = [62, 63, 61, 62, 64, 62, 63, 62, 61, 63, 62, 62, 63, 62]  # 14 baseline days
    per_day += [79, 80, 81, 62]
    out = feed_daily(det, Metric.RESTING_HR, per_day)
    day14, day15, day17 = (D0 + timedelta(days=k) for k in (14, 15, 17))
    assert f"{day15.isoformat()}:resting_hr_up:raise" in out
    assert not any(s.startswith(day14.isoformat()) for s in out)  # one day is not sustained
    assert out.count(f"{day15.isoformat()}:resting_hr_up:raise") == 1
    assert f"{day17.isoformat()}:resting_hr_up:cancel" in out


def test_resting_hr_rise_of_14_is_not_enough() -> None:
    det = TrendDetector(TZ)
    out = feed_daily(det, Metric.RESTING_HR, [62.0] * 14 + [76.0, 76.0, 76.0])
    assert out == []


def test_resting_hr_is_a_low_percentile_not_the_mean() -> None:
    det = TrendDetector(TZ)
    det.update(day_samples(0, Metric.RESTING_HR, [60.0] * 30 + [120.0] * 30))
    det.advance(day_start(D0 + timedelta(days=1), TZ))
    assert det.daily[Metric.RESTING_HR][D0] == pytest.approx(60.0)


def test_no_baseline_rule_before_enough_days() -> None:
    det = TrendDetector(TZ)
    out = feed_daily(det, Metric.RESTING_HR, [62.0] * 3 + [90.0, 90.0])
    assert out == []


@pytest.mark.parametrize(
    ("weights", "raised_on"),
    [
        ([80.0, 80.0, 80.9, 81.6, 82.1], 4),  # +2.1 over the last 3 days
        ([80.0, 80.2, 80.9, 81.6, 82.1], None),  # +1.9 in 3 days, +2.1 only in 4
        ([80.0, 80.0, 80.0, 80.0, 81.9], None),  # +1.9: below the rule
        ([80.0, 81.0, 82.0, 80.5, 80.5], 2),  # +2.0 within 2 days
        ([80.0, 80.5, 81.0, 81.5, 82.0, 82.5], None),  # slow: 0.5 kg/day is 1.5 in 3 days
    ],
)
def test_weight_up_2kg_in_3_days(weights: list[float], raised_on: int | None) -> None:
    det = TrendDetector(TZ)
    out = [s for s in feed_daily(det, Metric.WEIGHT, weights) if s.endswith(":raise")]
    if raised_on is None:
        assert out == []
    else:
        assert out[0] == f"{(D0 + timedelta(days=raised_on)).isoformat()}:weight_gain:raise"


def test_care_plan_rules_are_configurable() -> None:
    cfg = TrendsConfig(
        min_baseline_days=5,
        rules=(TrendRule("temp_z", Metric.TEMP, RuleKind.ROBUST_Z, 4.0, 1),),
    )
    det = TrendDetector(TZ, cfg)
    out = feed_daily(det, Metric.TEMP, [36.6, 36.7, 36.6, 36.5, 36.6, 36.7, 37.6])
    assert out == [f"{(D0 + timedelta(days=6)).isoformat()}:temp_z:raise"]


def test_late_samples_for_a_closed_day_are_ignored() -> None:
    det = TrendDetector(TZ)
    det.update(day_samples(1, Metric.WEIGHT, [80.0]))
    det.update(day_samples(0, Metric.WEIGHT, [99.0]))
    det.advance(day_start(D0 + timedelta(days=2), TZ))
    assert det.daily[Metric.WEIGHT] == {D0 + timedelta(days=1): 80.0}
