"""The peak-plus-stillness reference rule: what it counts as a fall, and that the rule
chosen for a person is chosen without them (docs/falls.md, "Reference")."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from edge.detectors.fall import FallParams
from evaluation.fall_baseline import Rule, choose, count, impacts, nested_cv, signal, table
from evaluation.fall_eval import Recording

FS = 200.0


def recording(
    peaks: list[tuple[float, float]],
    *,
    label: int,
    subject: str = "S1",
    name: str = "r",
    after_sd: float = 0.002,
    moving_sd: float = 0.1,
    duration: float = 20.0,
    fs: float = FS,
) -> Recording:
    """Upright movement (|a| about 1 g with `moving_sd`), an impact of g at each time of
    `peaks`, then only `after_sd` of noise after the last one (a still wearer)."""
    rng = np.random.default_rng(zlib.crc32(f"{subject}/{name}".encode()))
    t = np.arange(0.0, duration, 1.0 / fs)
    last = max((at for at, _ in peaks), default=math.inf)
    sd = np.where(t > last + 0.5, after_sd, moving_sd)
    z = 1.0 + rng.normal(0.0, 1.0, t.shape[0]) * sd
    for at, g in peaks:
        z[np.argmin(np.abs(t - at))] = g
    acc = np.zeros((t.shape[0], 3))
    acc[:, 2] = z
    return Recording(
        t=t,
        accel=acc,
        fs=fs,
        label=label,
        code="F01" if label else "D01",
        activity="",
        subject=subject,
        age_group="young",
        position="WAIST",
        source="SisFall",
        filename=f"{subject}-{name}",
    )


def found(r: Recording, peak_g: float) -> list[float]:
    t, mag = signal(r)
    return [i.t_peak for i in impacts(t, mag, peak_g)]


def test_an_impact_then_stillness_is_a_candidate_with_a_small_spread() -> None:
    r = recording([(8.0, 3.0)], label=1)
    t, mag = signal(r)
    (imp,) = impacts(t, mag, 2.5)
    assert imp.t_peak == pytest.approx(8.0, abs=0.01)
    assert imp.still_g < 0.01
    # Confirmed at the end of the first 1 s window that is still enough (1-5 s after).
    assert imp.confirmed_at(0.05) == pytest.approx(8.0 + 1.0 + 1.0, abs=0.01)
    assert imp.confirmed_at(imp.still_g / 2) is None
    assert impacts(t, mag, 3.5) == []  # below the threshold: no candidate


def test_movement_after_the_impact_is_not_still() -> None:
    r = recording([(8.0, 3.0)], label=0, after_sd=0.15)
    t, mag = signal(r)
    (imp,) = impacts(t, mag, 2.5)
    assert imp.still_g > 0.1
    c = count([r], {False: Rule(2.5, 0.05), True: Rule(2.5, 0.05)}, FallParams().slow_rate_hz)
    assert (c.adls, c.false_alarms, c.hours > 0) == (1, 0, True)


def test_one_event_one_candidate_within_the_refractory_time() -> None:
    assert len(found(recording([(5.0, 3.0), (9.0, 3.2)], label=0), 2.5)) == 1
    assert len(found(recording([(3.0, 3.0), (15.0, 3.2)], label=0, duration=25.0), 2.5)) == 2


def test_a_stream_that_ends_right_after_the_impact_cannot_confirm() -> None:
    r = recording([(19.0, 3.0)], label=1, duration=20.5)  # 1.5 s after: no full window
    t, mag = signal(r)
    (imp,) = impacts(t, mag, 2.5)
    assert math.isinf(imp.still_g)
    c = count([r], {False: Rule(2.5, 0.2), True: Rule(2.5, 0.2)}, FallParams().slow_rate_hz)
    assert (c.falls, c.detected) == (1, 0)


def people(hard_sitter: str | None = None) -> list[Recording]:
    """Four people: falls of 3.2 g then still; ADLs of 1.9 g then still (sitting down
    hard). `hard_sitter` sits down at 3.0 g: only a rule at 3.2 g would spare him."""
    out: list[Recording] = []
    for s in "ABCD":
        for k in range(3):
            out.append(recording([(8.0, 3.2)], label=1, subject=s, name=f"f{k}"))
            g = 3.0 if s == hard_sitter else 1.9
            out.append(recording([(8.0, g)], label=0, subject=s, name=f"d{k}"))
    return out


def test_the_choice_keeps_within_the_budget_and_finds_every_fall() -> None:
    recs = people()
    tab = table(recs, FallParams().slow_rate_hz)
    rule, inner = choose(tab, list("ABCD"), slow=False)
    assert inner == {"sensitivity": 1.0, "fa_per_hour": 0.0}
    assert 1.9 < rule.peak_g <= 3.2
    c = count(recs, {False: rule, True: rule}, FallParams().slow_rate_hz)
    assert (c.detected, c.falls, c.false_alarms) == (12, 12, 0)


def test_the_rule_chosen_for_a_person_is_chosen_without_them() -> None:
    recs = people(hard_sitter="D")
    slow_hz = FallParams().slow_rate_hz
    leaky, _ = choose(table(recs, slow_hz), list("ABCD"), slow=False)
    honest, _ = choose(table(recs, slow_hz), list("ABC"), slow=False)
    # D's hard sitting down would have pushed the threshold up had it been seen ...
    assert leaky.peak_g > honest.peak_g
    outer = nested_cv(recs, FallParams(), test_subjects=["D"])
    # ... and D's fold uses the rule chosen without D, so his sitting down is an alarm.
    assert outer.choices["D"]["peak_g_fast"] == honest.peak_g
    assert outer.counts["SisFall 200 Hz"]["D"].false_alarms == 3
