"""Train the fall detector's small logistic model (numpy only, deterministic).

1. Every recording is streamed through the real `FallDetector` (with an untrained model)
   and the features of every candidate impact it evaluates are logged, so training sees
   exactly what the edge computes.
2. Labels: in a fall recording the candidate nearest to the largest-|a| sample (within
   `MATCH_S`) is the fall; its other candidates (walking before, moving on the mat after)
   are left out. Every candidate in an ADL recording is a non-fall.
3. Augmentation: SisFall (200 Hz) is also used block-averaged to 20 and 25 Hz with
   timestamp jitter, and once more as a 20 Hz BLE link delivers it (`ble_link`: arrival
   jitter, late samples, stalls with bursts or losses, +-16 g quantisation), so the same
   model works for the ~20 Hz BLE wearable.
4. L2-regularised logistic regression by Newton's method on standardised features
   (clipped to +-`FEATURE_CLIP` SD) of the candidates that pass the detector's physical
   gate, class weights balanced; a fixed decision threshold (`THRESHOLD_LOGIT`).
5. The soft-fall stress test (`stress_cv`: falls made softer and slower, never trained
   on), leave-one-subject-out with the fixed thresholds above.

Since issue 14 the shipped model and the reported figures come from the nested protocol
(`evaluation.fall_nested`, `evaluation.fall_outer`), which reuses `fit_logistic` and
`subject_folds` from here and chooses the thresholds, ridge and weights inside the folds;
the fixed constants below serve `stress_cv` only.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.detectors.fall import FEATURES, CandidateFeatures, FallDetector, FallParams
from evaluation.fall_eval import (
    Recording,
    RecordingResult,
    ble_link,
    downsample,
    run_recordings,
    soften,
    stream,
    summarize,
    supported,
)

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MATCH_S = 1.5  # a candidate this close to the largest |a| of a fall recording is the fall
L2 = 1.0  # ridge penalty on standardised weights (features are few and correlated)
# Decision threshold on the class-balanced model's logit. Fixed, not fitted: choosing it
# from the training ADLs' top scores made it hinge on one or two extreme recordings (the
# LOSO results swung by 0.5 % with the augmentation seed). A sweep of fixed values in
# leave-subjects-out CV (docs/falls.md) showed the knee between -1 (specificity first)
# and -2; -1 keeps SisFall specificity >= 99.7 % with sensitivity >= 99 %.
THRESHOLD_LOGIT = -1.0
# Input slower than FallParams.slow_rate_hz (the ~20 Hz BLE wearable): falls score lower
# (impacts smeared); the same sweep put the knee there one logit lower.
THRESHOLD_LOGIT_SLOW = -2.0
SEED = 20261125
AUGMENT_RATES = (20.0, 25.0)  # fast recordings are also trained on at these rates, Hz
BLE_RATE = 20.0  # ... and once more as a ~20 Hz BLE wearable delivers them (`ble_link`)
# Train on the BLE-link version too. Leave-one-dataset-out (two augmentation seeds): the
# SisFall-only model then finds 17/18 UMAFall chest falls instead of 15-16/18, at the
# cost of one more UMAFall waist ADL ("lying down on a bed") in the LOSO figures.
AUGMENT_BLE = True
SLOW_DEVICE_WEIGHT = 5.0  # weight of ~20 Hz BLE wearable candidates (few, and the product)
# Standardised features are clipped to +-FEATURE_CLIP (in training and in the detector):
# a linear model extrapolates without bound, and one feature far outside its training
# range decided alone. Leave-subjects-out, UMAFall waist "lying down on a bed" (turn
# share 1.5, 10 standard deviations out) scored logit +2 from `turn_before` alone.
FEATURE_CLIP = 3.0


@dataclass(frozen=True, slots=True)
class CandidateSet:
    """Features of every candidate: X [m, k], the recording index [m], label [m]."""

    x: FloatArray
    rec: IntArray
    y: IntArray  # 1 fall impact, 0 ADL candidate
    gate: npt.NDArray[np.bool_]  # passed the detector's physical gate

    def take(self, sel: npt.NDArray[np.bool_]) -> CandidateSet:
        return CandidateSet(self.x[sel], self.rec[sel], self.y[sel], self.gate[sel])


def collect(
    recs: Sequence[Recording],
    params: FallParams,
    progress: Callable[[int], None] | None = None,
) -> CandidateSet:
    xs: list[FloatArray] = []
    ri: list[int] = []
    ys: list[int] = []
    gs: list[bool] = []
    untrained = replace(params, bias=-50.0, weights=(0.0,) * len(FEATURES))
    for i, r in enumerate(recs):
        got: list[tuple[FloatArray, float, bool]] = []

        def sink(
            cf: CandidateFeatures,
            t_peak: float,
            peak: float,
            got: list[tuple[FloatArray, float, bool]] = got,
        ) -> None:
            f = cf.features if cf.features is not None else np.full(len(FEATURES), np.nan)
            got.append((f, t_peak, cf.gate))

        stream(FallDetector(untrained, feature_sink=sink), r.t, r.accel)
        if r.label == 1:
            if not got:
                continue
            m2 = np.einsum("ij,ij->i", r.accel, r.accel)
            t_max = float(r.t[int(np.nanargmax(m2))])
            d = [abs(tp - t_max) for _, tp, _ in got]
            j = int(np.argmin(d))
            if d[j] <= MATCH_S:
                xs.append(got[j][0])
                ri.append(i)
                ys.append(1)
                gs.append(got[j][2])
        else:
            for f, _, g in got:
                xs.append(f)
                ri.append(i)
                ys.append(0)
                gs.append(g)
        if progress is not None:
            progress(1)
    k = len(FEATURES)
    return CandidateSet(
        x=np.array(xs).reshape(-1, k),
        rec=np.array(ri, dtype=np.int64),
        y=np.array(ys, dtype=np.int64),
        gate=np.array(gs, dtype=np.bool_),
    )


def augment(
    recs: Sequence[Recording],
    rates: Sequence[float] = AUGMENT_RATES,
    ble_rate: float | None = BLE_RATE,
) -> list[Recording]:
    """The recordings plus jittered versions at `rates` of those more than 1.5 x faster,
    and BLE-link versions at `ble_rate` (quantised, late samples, stalls: `ble_link`)."""
    rng = np.random.default_rng(SEED)
    out = list(recs)
    for hz in rates:
        out += [downsample(r, hz, rng) for r in recs if r.fs > 1.5 * hz]
    if ble_rate is not None:
        out += [ble_link(r, ble_rate, rng) for r in recs if r.fs > 1.5 * ble_rate]
    return out


def fit_logistic(
    x: FloatArray,
    y: IntArray,
    l2: float = L2,
    sample_weight: FloatArray | None = None,
    clip: float = 0.0,
) -> tuple[FloatArray, FloatArray, FloatArray, float]:
    """Returns (mean, scale, weights, bias) of a class-balanced ridge logistic model on
    standardised features (clipped to +-`clip` standard deviations when `clip` > 0)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    if clip > 0.0:
        z = np.clip(z, -clip, clip)
    n, k = z.shape
    zb = np.hstack([z, np.ones((n, 1))])
    pos = max(1, int(y.sum()))
    neg = max(1, n - pos)
    sw = np.where(y == 1, n / (2.0 * pos), n / (2.0 * neg))
    if sample_weight is not None:
        sw = sw * sample_weight
    w = np.zeros(k + 1)
    reg = np.full(k + 1, l2)
    reg[-1] = 0.0  # no penalty on the bias
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(zb @ w, -50, 50)))
        g = zb.T @ (sw * (p - y)) + reg * w
        h = (zb * (sw * p * (1 - p))[:, None]).T @ zb + np.diag(reg + 1e-9)
        step = np.linalg.solve(h, g)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return mean, scale, w[:-1], float(w[-1])


def train_params(
    base: FallParams, cs: CandidateSet, weight: FloatArray | None = None
) -> FallParams:
    """Fit the model on the gated candidates of `cs` and return params that use it."""
    g = cs.gate
    sub = cs.take(g)
    mean, scale, w, b = fit_logistic(
        sub.x, sub.y, sample_weight=None if weight is None else weight[g], clip=FEATURE_CLIP
    )
    return replace(
        base,
        feature_mean=tuple(float(v) for v in mean),
        feature_scale=tuple(float(v) for v in scale),
        feature_clip=FEATURE_CLIP,
        weights=tuple(float(v) for v in w),
        bias=b,
        threshold=1.0 / (1.0 + math.exp(-THRESHOLD_LOGIT)),
        threshold_slow=1.0 / (1.0 + math.exp(-THRESHOLD_LOGIT_SLOW)),
    )


@dataclass(frozen=True, slots=True)
class TrainingData:
    """Recordings used for training (wrist excluded) and their candidates."""

    recs: list[Recording]
    cs: CandidateSet
    weight: FloatArray  # per candidate


def training_data(
    recs: Sequence[Recording],
    params: FallParams,
    progress: Callable[[int], None] | None = None,
) -> TrainingData:
    """Waist/chest recordings plus 20 and 25 Hz versions of the fast ones, and candidates.

    Wrist recordings are left out: the product is worn at the waist or chest and arm
    gestures are a different problem. Recordings of slow (BLE, ~20 Hz) devices weigh
    `SLOW_DEVICE_WEIGHT` times more: few of them, and they are what the product uses.
    """
    body = [r for r in recs if supported(r)]
    full = augment(body, ble_rate=BLE_RATE if AUGMENT_BLE else None)
    cs = collect(full, params, progress)
    slow = np.array([r.fs < 50.0 and r.source != "SisFall" for r in full], dtype=np.bool_)
    weight = np.where(slow[cs.rec], SLOW_DEVICE_WEIGHT, 1.0) if cs.rec.size else np.ones(0)
    return TrainingData(full, cs, weight)


def subject_folds(subjects: Sequence[str], k: int | None = None) -> list[list[str]]:
    """Deterministic subject folds (sorted names dealt round-robin); None: one per subject."""
    uniq = sorted(set(subjects))
    k = len(uniq) if k is None else max(1, min(k, len(uniq)))
    return [uniq[i::k] for i in range(k)]


def fold_params(base: FallParams, data: TrainingData, held_out: Sequence[str]) -> FallParams:
    """Params trained without the people in `held_out`."""
    subj = np.array([data.recs[i].subject for i in data.cs.rec], dtype=object)
    keep = ~np.isin(subj, list(held_out))
    return train_params(base, data.cs.take(keep), data.weight[keep])


class _ResultSets:
    """Recordings and their results per named evaluation set (rec_index per set)."""

    def __init__(self) -> None:
        self._sets: dict[str, tuple[list[Recording], list[RecordingResult]]] = defaultdict(
            lambda: ([], [])
        )

    def add(self, name: str, r: Recording, rr: RecordingResult) -> None:
        recs, res = self._sets[name]
        res.append(replace(rr, rec_index=len(recs)))
        recs.append(r)

    def summaries(self) -> dict[str, dict[str, Any]]:
        return {name: summarize(gr, gs) for name, (gr, gs) in sorted(self._sets.items())}


#: Soft-fall stress test settings: (deviation-from-1-g scale, slow-down factor).
STRESS_SOFT = ((0.7, 1.0), (0.5, 1.0), (0.7, 1.5), (0.5, 1.5))


def stress_cv(
    base: FallParams,
    recs: Sequence[Recording],
    data: TrainingData,
    progress: Callable[[int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Soft-fall *stress test*, leave-one-subject-out: each person's SisFall falls made
    softer and slower (`soften`), at 200 Hz and through the 20 Hz BLE link, scored by a
    model trained without them. Not the elderly figure (there are no elderly falls on
    dev): it shows how sensitivity degrades as impact and free fall weaken. Never
    trained on."""
    by_subject: dict[str, list[Recording]] = defaultdict(list)
    for r in recs:
        if r.source == "SisFall" and r.label == 1:
            by_subject[r.subject].append(r)
    groups = _ResultSets()
    rng = np.random.default_rng(SEED + 4)
    for subject in sorted(by_subject):
        params = fold_params(base, data, [subject])
        for scale, stretch in STRESS_SOFT:
            soft = [soften(r, scale, stretch) for r in by_subject[subject]]
            name = f"stress: falls x{scale:g}" + (f", {stretch:g}x slower" if stretch != 1 else "")
            for suffix, batch in (
                (", 200 Hz", soft),
                (", 20 Hz BLE", [ble_link(r, BLE_RATE, rng) for r in soft]),
            ):
                res = run_recordings(batch, params, progress)
                for r, rr in zip(batch, res, strict=True):
                    groups.add(name + suffix, r, rr)
    return groups.summaries()
