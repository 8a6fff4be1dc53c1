"""Vitals pipeline: validation, spot-check ageing, continuous windows, band events, routing."""

from __future__ import annotations

import math

from edge.detectors.news2 import Band, Param, SpO2Scale
from edge.detectors.vitals import (
    Quantity,
    Source,
    VitalReading,
    VitalsConfig,
    VitalsFinding,
    VitalsFindingKind,
    VitalsPipeline,
)
from sensors.contract import AlarmKind, Severity

T0 = 1_767_600_000.0


def spot(t: float, q: Quantity, v: float, status: int = 0) -> VitalReading:
    return VitalReading(T0 + t, q, v, Source.SPOT, "dev", status)


def kinds(findings: list[VitalsFinding], kind: VitalsFindingKind) -> list[VitalsFinding]:
    return [f for f in findings if f.kind is kind]


def normal_round(t: float = 0.0) -> list[VitalReading]:
    return [
        spot(t, Quantity.SBP, 128),
        spot(t + 1, Quantity.SPO2, 97),
        spot(t + 2, Quantity.HR, 70),
        spot(t + 3, Quantity.TEMP, 36.8),
    ]


def test_normal_round_scores_zero_partial_without_rr_and_acvpu() -> None:
    p = VitalsPipeline()
    out = p.update(normal_round())
    assert p.last is not None
    assert p.last.score == 0
    assert p.last.missing == (Param.RR, Param.ACVPU)  # o2 from the care plan: on air
    assert not kinds(out, VitalsFindingKind.ALARM)
    assert kinds(out, VitalsFindingKind.BAND_CHANGED)[0].news2 is not None


def test_band_change_events_and_routing_high_then_critical_then_cancel() -> None:
    p = VitalsPipeline()
    p.update(normal_round())
    out = p.update([spot(100, Quantity.SPO2, 91)])  # SpO2 <= 91: a single 3
    alarm = kinds(out, VitalsFindingKind.ALARM)
    assert [(a.action, a.severity) for a in alarm] == [("raise", Severity.HIGH)]
    assert alarm[0].alarm_kind is AlarmKind.VITALS
    band = kinds(out, VitalsFindingKind.BAND_CHANGED)
    assert band[0].news2 is not None and band[0].news2.band is Band.LOW_MEDIUM
    assert band[0].previous_band is Band.ZERO
    # hr 131 (3) + temp 39.1 (2) + spo2 91 (3): 8 -> critical, at once to the alarm centre
    out = p.update([spot(200, Quantity.HR, 131), spot(201, Quantity.TEMP, 39.1)])
    assert [(a.action, a.severity) for a in kinds(out, VitalsFindingKind.ALARM)] == [
        ("raise", Severity.CRITICAL)
    ]
    out = p.update(
        [spot(300, Quantity.SPO2, 97), spot(301, Quantity.HR, 70), spot(302, Quantity.TEMP, 36.8)]
    )
    assert [a.action for a in kinds(out, VitalsFindingKind.ALARM)] == ["cancel"]


def test_aggregate_five_without_red_flag_is_high() -> None:
    p = VitalsPipeline()
    # sbp 100 (2) + hr 115 (2) + temp 38.5 (1) = 5, no single 3
    out = p.update(
        [spot(0, Quantity.SBP, 100), spot(1, Quantity.HR, 115), spot(2, Quantity.TEMP, 38.5)]
    )
    assert p.last is not None and (p.last.score, p.last.red_flag) == (5, False)
    assert [a.severity for a in kinds(out, VitalsFindingKind.ALARM)] == [Severity.HIGH]


def test_invalid_readings_are_excluded_and_flagged() -> None:
    p = VitalsPipeline()
    p.update(normal_round())
    out = p.update(
        [
            spot(10, Quantity.HR, 180, status=0x04),  # device reports motion artefact
            spot(11, Quantity.SPO2, math.nan),
            spot(12, Quantity.TEMP, 12.0),  # not a living resident's temperature
        ]
    )
    reasons = [dict(f.detail)["reason"] for f in kinds(out, VitalsFindingKind.READING_INVALID)]
    assert reasons == ["device_status", "nan", "out_of_range"]
    assert p.last is not None and p.last.score == 0  # the earlier valid values stand


def test_stale_on_arrival_and_from_the_future() -> None:
    p = VitalsPipeline()
    p.advance(T0 + 10 * 3600)
    out = p.update([spot(0, Quantity.HR, 70)])  # measured 10 h ago, HR counts 4 h
    assert dict(kinds(out, VitalsFindingKind.READING_INVALID)[0].detail)["reason"] == "stale"
    out = p.update([spot(10 * 3600 + 3600, Quantity.HR, 70)])  # an hour ahead of the clock
    assert dict(kinds(out, VitalsFindingKind.READING_INVALID)[0].detail)["reason"] == "future"
    assert p.now == T0 + 10 * 3600  # a bad device clock does not move the pipeline's time


def test_spot_checks_age_out_and_are_then_missing_not_zero() -> None:
    p = VitalsPipeline()
    p.update([spot(0, Quantity.SPO2, 91)])
    assert p.severity is Severity.HIGH
    out = p.advance(T0 + 4 * 3600 + 1)  # SpO2 spot checks count for 4 h
    assert p.last is not None
    assert Param.SPO2 in p.last.missing
    assert any(i.reason == "stale" and i.param is Param.SPO2 for i in p.last.invalid)
    assert [a.action for a in kinds(out, VitalsFindingKind.ALARM)] == ["cancel"]


def test_continuous_window_needs_enough_samples_and_takes_the_median() -> None:
    cfg = VitalsConfig(window_s=300.0, min_samples=5, min_coverage=0.5)
    p = VitalsPipeline(cfg)

    def hr(t: float, v: float) -> VitalReading:
        return VitalReading(T0 + t, Quantity.HR, v, Source.CONTINUOUS, "band")

    p.update([hr(0, 140), hr(10, 72)])  # too few samples: not scored
    assert p.last is not None and Param.HR in p.last.missing
    p.update([hr(t, 72) for t in (60, 120, 180, 240)] + [hr(250, 160)])  # one artefact
    assert p.last.subscore(Param.HR) == 0  # median 72
    p.update([hr(t, 135) for t in range(300, 700, 30)])
    assert p.last.subscore(Param.HR) == 3
    assert p.severity is Severity.HIGH


def test_scale2_and_oxygen_reading() -> None:
    p = VitalsPipeline(VitalsConfig(scale=SpO2Scale.SCALE_2))
    p.update([spot(0, Quantity.O2, 1.0), spot(1, Quantity.SPO2, 97)])
    assert p.last is not None
    assert p.last.subscore(Param.SPO2) == 3  # >= 97 on oxygen, scale 2
    assert p.last.subscore(Param.O2) == 2


def test_unknown_oxygen_is_missing_when_care_plan_does_not_say() -> None:
    p = VitalsPipeline(VitalsConfig(on_oxygen=None))
    p.update([spot(0, Quantity.HR, 70)])
    assert p.last is not None and Param.O2 in p.last.missing


def test_same_band_new_parameters_at_once_other_changes_rate_limited() -> None:
    """A band put on after the first score: still band `zero`, but heart rate and SpO2
    are no longer missing; the hub hears of it at once (else its "latest NEWS2" would
    keep saying they are missing). Losing them again (band off) waits for the interval,
    so a band put on and off does not flood the hub."""
    p = VitalsPipeline(VitalsConfig(update_interval_s=600.0))
    out = p.advance(T0)
    assert [f.kind for f in out] == [VitalsFindingKind.BAND_CHANGED]

    def cont(t: float, q: Quantity, v: float) -> VitalReading:
        return VitalReading(T0 + t, q, v, Source.CONTINUOUS, "band")

    def wear(start: int, end: int) -> list[VitalsFinding]:
        out = []
        for t in range(start, end, 20):  # as the agent does: its clock, then the readings
            out += p.advance(T0 + t)
            out += p.update([cont(t, Quantity.HR, 70), cont(t, Quantity.SPO2, 97)])
        return out

    updated = kinds(wear(0, 400), VitalsFindingKind.UPDATED)
    assert len(updated) == 2  # heart rate, then SpO2 (its sample comes second)
    assert T0 + 140 <= updated[0].t <= T0 + 160  # >= 5 samples over half the window
    last = updated[-1].news2
    assert last is not None and last.band is Band.ZERO
    assert Param.HR not in last.missing and Param.SPO2 not in last.missing
    # Band off at 400 s: the window empties at ~600 s, but the loss is held back
    # until 600 s after the last report.
    out = [f for t in range(400, 1000, 20) for f in p.advance(T0 + t)]
    lost = kinds(out, VitalsFindingKind.UPDATED)
    assert len(lost) == 1 and lost[0].t >= updated[-1].t + 600
    assert lost[0].news2 is not None and Param.HR in lost[0].news2.missing
    assert not kinds(out, VitalsFindingKind.BAND_CHANGED)
