"""NEWS2 against the RCP 2017 chart: both sides of every band boundary of every row."""

from __future__ import annotations

import math

import pytest

from edge.detectors.news2 import (
    Acvpu,
    Band,
    Invalid,
    Param,
    SpO2Scale,
    VitalSigns,
    band_for,
    score,
    score_acvpu,
    score_hr,
    score_o2,
    score_rr,
    score_sbp,
    score_spo2,
    score_temp,
)

# (value, expected sub-score): each boundary from both sides, plus the extremes.
RR_CASES = [(3, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)]
SBP_CASES = [
    (60, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3), (280, 3),
]  # fmt: skip
HR_CASES = [
    (30, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1),
    (111, 2), (130, 2), (131, 3), (200, 3),
]  # fmt: skip
TEMP_CASES = [
    (33.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0),
    (38.1, 1), (39.0, 1), (39.1, 2), (41.0, 2),
]  # fmt: skip
SPO2_SCALE1_CASES = [(80, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
# Scale 2: (spo2, on_oxygen, expected)
SPO2_SCALE2_CASES = [
    (80, False, 3), (83, False, 3), (84, False, 2), (85, False, 2), (86, False, 1),
    (87, False, 1), (88, False, 0), (92, False, 0), (93, False, 0), (97, False, 0),
    (100, False, 0),
    (83, True, 3), (84, True, 2), (86, True, 1), (88, True, 0), (92, True, 0),
    (93, True, 1), (94, True, 1), (95, True, 2), (96, True, 2), (97, True, 3), (100, True, 3),
]  # fmt: skip


@pytest.mark.parametrize(("value", "expected"), RR_CASES)
def test_respiration_rate_row(value: float, expected: int) -> None:
    assert score_rr(value) == expected


@pytest.mark.parametrize(("value", "expected"), SBP_CASES)
def test_systolic_bp_row(value: float, expected: int) -> None:
    assert score_sbp(value) == expected


@pytest.mark.parametrize(("value", "expected"), HR_CASES)
def test_pulse_row(value: float, expected: int) -> None:
    assert score_hr(value) == expected


@pytest.mark.parametrize(("value", "expected"), TEMP_CASES)
def test_temperature_row(value: float, expected: int) -> None:
    assert score_temp(value) == expected


@pytest.mark.parametrize(("value", "expected"), SPO2_SCALE1_CASES)
@pytest.mark.parametrize("on_oxygen", [False, True, None])
def test_spo2_scale1_row_ignores_oxygen(
    value: float, expected: int, on_oxygen: bool | None
) -> None:
    assert score_spo2(value, SpO2Scale.SCALE_1, on_oxygen) == expected


@pytest.mark.parametrize(("value", "on_oxygen", "expected"), SPO2_SCALE2_CASES)
def test_spo2_scale2_row(value: float, on_oxygen: bool, expected: int) -> None:
    assert score_spo2(value, SpO2Scale.SCALE_2, on_oxygen) == expected


def test_spo2_scale2_above_92_needs_air_or_oxygen() -> None:
    assert score_spo2(95, SpO2Scale.SCALE_2, None) is None
    assert score_spo2(90, SpO2Scale.SCALE_2, None) == 0
    result = score(VitalSigns(spo2=95, o2=None), SpO2Scale.SCALE_2)
    assert Param.SPO2 in result.missing
    assert Invalid(Param.SPO2, "o2_unknown_on_scale_2", 95) in result.invalid


def test_oxygen_and_consciousness_rows() -> None:
    assert score_o2(True) == 2
    assert score_o2(False) == 0
    assert score_acvpu(Acvpu.A) == 0
    for level in (Acvpu.C, Acvpu.V, Acvpu.P, Acvpu.U):
        assert score_acvpu(level) == 3  # new confusion counts as 3, like V, P, U


@pytest.mark.parametrize(
    ("value", "fn", "expected"),
    [
        (35.04, score_temp, 3),  # rounds to 35.0
        (35.05, score_temp, 1),  # rounds half-up to 35.1
        (38.04, score_temp, 0),
        (38.05, score_temp, 1),
        (90.4, score_hr, 0),
        (90.5, score_hr, 1),
        (20.5, score_rr, 2),
    ],
)
def test_readings_are_rounded_half_up_to_chart_resolution(
    value: float, fn: object, expected: int
) -> None:
    assert callable(fn)
    assert fn(value) == expected


@pytest.mark.parametrize(
    ("total", "red", "band"),
    [
        (0, False, Band.ZERO),
        (1, False, Band.LOW),
        (4, False, Band.LOW),
        (3, True, Band.LOW_MEDIUM),
        (4, True, Band.LOW_MEDIUM),
        (5, False, Band.MEDIUM),
        (5, True, Band.MEDIUM),
        (6, True, Band.MEDIUM),
        (7, False, Band.HIGH),
        (7, True, Band.HIGH),
        (20, True, Band.HIGH),
    ],
)
def test_clinical_response_bands(total: int, red: bool, band: Band) -> None:
    assert band_for(total, red) is band


FULL_NORMAL = VitalSigns(rr=16, spo2=97, o2=False, sbp=125, hr=72, acvpu=Acvpu.A, temp=36.8)


def test_full_normal_set_scores_zero_and_is_complete() -> None:
    result = score(FULL_NORMAL)
    assert result.score == 0
    assert result.band is Band.ZERO
    assert not result.partial
    assert result.missing == ()
    assert len(result.subscores) == 7


def test_aggregate_sums_every_row() -> None:
    # rr 22 -> 2, spo2 93 (scale 1) -> 2, oxygen -> 2, sbp 105 -> 1, hr 115 -> 2,
    # A -> 0, temp 38.5 -> 1: total 10
    v = VitalSigns(rr=22, spo2=93, o2=True, sbp=105, hr=115, acvpu=Acvpu.A, temp=38.5)
    result = score(v)
    assert result.score == 10
    assert result.band is Band.HIGH
    assert not result.red_flag
    assert result.subscore(Param.O2) == 2


def test_single_red_parameter_gives_low_medium() -> None:
    v = VitalSigns(rr=16, spo2=97, o2=False, sbp=125, hr=72, acvpu=Acvpu.C, temp=36.8)
    result = score(v)
    assert (result.score, result.red_flag, result.band) == (3, True, Band.LOW_MEDIUM)


def test_scale2_on_oxygen_over_target_scores() -> None:
    v = VitalSigns(rr=16, spo2=97, o2=True, sbp=125, hr=72, acvpu=Acvpu.A, temp=36.8)
    on_scale2 = score(v, SpO2Scale.SCALE_2)
    assert on_scale2.subscore(Param.SPO2) == 3
    assert on_scale2.score == 5  # 3 for SpO2 + 2 for oxygen
    assert score(v, SpO2Scale.SCALE_1).score == 2


def test_missing_parameters_give_a_partial_score_not_zero() -> None:
    v = VitalSigns(spo2=97, o2=False, sbp=125, hr=72, temp=36.8)  # usual at home: no rr, acvpu
    result = score(v)
    assert result.partial
    assert result.missing == (Param.RR, Param.ACVPU)
    assert result.subscore(Param.RR) is None
    assert result.score == 0


def test_nothing_measured_is_all_missing() -> None:
    result = score(VitalSigns())
    assert result.partial
    assert result.missing == tuple(Param)
    assert result.subscores == ()


@pytest.mark.parametrize(
    ("vitals", "param", "reason"),
    [
        (VitalSigns(hr=math.nan), Param.HR, "nan"),
        (VitalSigns(hr=math.inf), Param.HR, "nan"),
        (VitalSigns(hr=0.0), Param.HR, "out_of_range"),
        (VitalSigns(spo2=127.0), Param.SPO2, "out_of_range"),
        (VitalSigns(temp=20.0), Param.TEMP, "out_of_range"),
        (VitalSigns(sbp=500.0), Param.SBP, "out_of_range"),
        (VitalSigns(rr=-1.0), Param.RR, "out_of_range"),
    ],
)
def test_invalid_readings_are_excluded_and_flagged(
    vitals: VitalSigns, param: Param, reason: str
) -> None:
    result = score(vitals)
    assert param in result.missing
    assert [i.reason for i in result.invalid if i.param is param] == [reason]
    assert result.subscore(param) is None


def test_extra_invalid_from_pipeline_is_reported() -> None:
    stale = Invalid(Param.SBP, "stale", 130.0)
    result = score(VitalSigns(hr=70), extra_invalid=(stale,))
    assert stale in result.invalid
    assert Param.SBP in result.missing
