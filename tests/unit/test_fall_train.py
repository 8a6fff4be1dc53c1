"""Training pieces: deterministic, numpy-only, and consistent with the detector."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

import numpy as np
import pytest

from edge.detectors.fall import FEATURES, FallParams
from evaluation.fall_eval import Recording, ble_link, soften, warmups
from evaluation.fall_train import (
    CandidateSet,
    augment,
    collect,
    fit_logistic,
    stress_cv,
    subject_folds,
    train_params,
    training_data,
)
from tests.unit.test_fall_detector import synth


def rec(fall: bool, subject: str, seed: int, fs: float = 100.0) -> Recording:
    t, a = synth(fs, fall_at=7.0 if fall else None, duration=14.0, seed=seed)
    return Recording(
        t=t,
        accel=a,
        fs=fs,
        label=int(fall),
        code="F01" if fall else "D01",
        activity="",
        subject=subject,
        age_group="young",
        position="WAIST",
        source="SisFall",
        filename=f"{subject}-{seed}",
    )


def test_fit_logistic_separates_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 1, (200, 3)), rng.normal(3, 1, (50, 3))])
    y = np.r_[np.zeros(200), np.ones(50)].astype(np.int64)
    m1 = fit_logistic(x, y)
    m2 = fit_logistic(x, y)
    np.testing.assert_array_equal(m1[2], m2[2])
    mean, scale, w, b = m1
    logit = ((x - mean) / scale) @ w + b
    assert ((logit > 0) == (y == 1)).mean() > 0.95


def test_collect_labels_the_impact_and_trains() -> None:
    recs = [rec(True, "S1", 1), rec(False, "S1", 2), rec(True, "S2", 3), rec(False, "S2", 4)]
    cs = collect(recs, FallParams())
    assert cs.y.sum() == 2  # one labelled impact per fall recording
    assert cs.gate[cs.y == 1].all()
    # jogging-free walking yields no candidates at all
    assert set(cs.rec[cs.y == 0].tolist()) <= {1, 3}
    p = train_params(FallParams(), cs)
    assert len(p.weights) == len(FEATURES)
    assert 0.0 < p.threshold < 1.0 and 0.0 < p.threshold_slow <= p.threshold


def test_augment_is_deterministic() -> None:
    recs = [rec(True, "S1", 1, fs=200.0)]
    a1, a2 = augment(recs), augment(recs)
    assert [r.fs for r in a1] == [200.0, 20.0, 25.0, 20.0]  # the last: BLE link
    assert [r.fs for r in augment(recs, ble_rate=None)] == [200.0, 20.0, 25.0]
    for r1, r2 in zip(a1, a2, strict=True):
        np.testing.assert_array_equal(r1.t, r2.t)


def test_subject_folds() -> None:
    assert subject_folds(["b", "a", "c", "a"]) == [["a"], ["b"], ["c"]]
    assert subject_folds(["b", "a", "c", "d"], 2) == [["a", "c"], ["b", "d"]]


def test_candidate_set_take() -> None:
    cs = CandidateSet(
        np.zeros((3, len(FEATURES))),
        np.array([0, 1, 2]),
        np.array([0, 1, 0]),
        np.array([True, False, True]),
    )
    sub = cs.take(cs.gate)
    assert sub.rec.tolist() == [0, 2]


def test_shipped_params_file_documents_its_training() -> None:
    doc = json.loads(
        resources.files("edge.detectors").joinpath("fall_params.json").read_text("utf-8")
    )
    assert doc["training"]["features"] == list(FEATURES)
    # every choice made by inner CV, and the nested protocol's outer figures with intervals
    assert {"l2", "threshold_logit", "partial_margin_logit"} <= set(doc["training"]["choice"])
    outer = doc["training"]["outer"]["SisFall 200 Hz"]
    lo, hi = outer["sensitivity_ci95"]
    assert lo <= outer["sensitivity"] <= hi
    # the per-person record (for comparing later trials) is kept out of the edge's file
    from evaluation.fall_cli import OUTER_RECORD

    assert "outer_counts" not in doc["training"]
    record = json.loads(OUTER_RECORD.read_text("utf-8"))["training"]
    assert set(record["outer_counts"]["SisFall 200 Hz"]) == set(outer_people(record))
    p = FallParams.from_json(doc["params"])
    assert p.history_s >= p.pre_s + p.post_s + p.peak_search_s


def outer_people(training: dict[str, object]) -> list[str]:
    choices = training["outer_choices"]
    assert isinstance(choices, dict)
    return [p for p in choices if not p.startswith("UMA")]


def test_ble_link_is_a_realistic_20hz_stream() -> None:
    r = rec(True, "S1", 1, fs=200.0)
    b1 = ble_link(r, 20.0, np.random.default_rng(3))
    b2 = ble_link(r, 20.0, np.random.default_rng(3))
    np.testing.assert_array_equal(b1.t, b2.t)  # deterministic for a seed
    assert b1.fs == 20.0
    assert np.all(np.diff(b1.t) > 0)
    counts = b1.accel * 2048.0
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-6)  # +-16 g, 2048 counts/g
    d = np.diff(b1.t)
    assert 0.04 < float(np.median(d)) < 0.06
    # late samples: some intervals near 2 x 50 ms followed by a short one, as on the BLE link
    many = [ble_link(r, 20.0, np.random.default_rng(s)) for s in range(20)]
    dd = np.concatenate([np.diff(m.t) for m in many])
    assert 0.02 < float(np.mean(dd > 0.08)) < 0.15
    assert float(np.mean(dd < 0.02)) > 0.02


def test_warmups_pick_each_wearers_walk() -> None:
    walk = replace(rec(False, "S1", 5), code="D01", filename="a")
    other = replace(rec(False, "S1", 6), code="D01", filename="b")
    sitting = replace(rec(False, "S2", 2), code="D07")
    w = warmups([other, walk, rec(True, "S1", 1), sitting])
    assert set(w) == {("S1", "WAIST")}
    assert w[("S1", "WAIST")].filename == "a"  # the first walk by file name


def test_soften_weakens_and_slows_a_fall() -> None:
    r = rec(True, "S1", 1, fs=200.0)  # impact ~4 g at 7 s, 0.2 g free fall before it
    m = np.linalg.norm(r.accel, axis=1)
    s = soften(r, 0.5)
    ms = np.linalg.norm(s.accel, axis=1)
    np.testing.assert_array_equal(s.t, r.t)
    assert float(ms.max()) - 1.0 == pytest.approx(0.5 * (float(m.max()) - 1.0), rel=1e-6)
    ff = (r.t > 6.7) & (r.t < 6.95)
    assert float(ms[ff].min()) == pytest.approx(1.0 - 0.5 * (1.0 - float(m[ff].min())), rel=1e-6)
    far = np.abs(r.t - 7.0) > 2.0  # outside the span (and its taper): untouched
    np.testing.assert_array_equal(s.accel[far], r.accel[far])
    # directions kept: the posture change is the same
    cos = np.einsum("ij,ij->i", s.accel, r.accel) / (ms * m)
    assert float(cos.min()) > 1.0 - 1e-9
    slow = soften(r, 0.5, 1.5)
    assert slow.t[-1] - r.t[-1] == pytest.approx(0.5 * 2.5, abs=0.01)  # the span, 50 % longer
    assert float(np.median(np.diff(slow.t))) == pytest.approx(1 / 200.0)
    adl = rec(False, "S1", 2)
    assert soften(adl, 0.5, 1.5) is adl


def test_stress_cv_scores_soft_falls_of_held_out_people() -> None:
    recs = [rec(True, "S1", 1), rec(False, "S1", 2), rec(True, "S2", 3), rec(False, "S2", 4)]
    data = training_data(recs, FallParams())
    out = stress_cv(FallParams(), recs, data)
    assert set(out) == {
        f"stress: falls x{a:g}{f', {b:g}x slower' if b != 1 else ''}{suffix}"
        for a, b in ((0.7, 1.0), (0.5, 1.0), (0.7, 1.5), (0.5, 1.5))
        for suffix in (", 200 Hz", ", 20 Hz BLE")
    }
    for s in out.values():
        assert s["falls"] == 2 and s["adls"] == 0
