"""Every choice the fall model makes, made from training people only (issue 14, item 1).

`choose(c, subjects)` picks the model's settings by an *inner* subject-wise
cross-validation over `subjects` alone: the ridge penalty, the weight of the slow BLE
device's candidates, the decision thresholds (200 Hz and ~20 Hz input separately) and the
margin a window cut short by the end of the stream must clear (`partial_margin_logit`).
`fit_params` then trains on all of `subjects` with those settings. The nested protocol
(`evaluation.fall_outer`) calls both without the outer test person; `mz train fall`
calls them on everyone to make the shipped model.

The choice rule, declared before any run (docs/falls.md, "Protocol"): per device class,
the thresholds whose inner false-alarm rate is within `FA_BUDGET` per ADL hour, and among
them those with the best inner sensitivity; of those, the middle one (on the logit grid).
The configuration with the best summed sensitivity (then fewest false alarms) wins.
Inner figures are recording-level from the cached candidates (a recording is detected
when any candidate would confirm); the outer figure streams the real detector.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.detectors.fall import FEATURES, FallParams
from evaluation.fall_cache import Candidates
from evaluation.fall_train import fit_logistic, subject_folds

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

FA_BUDGET = 0.3  # false alarms per ADL hour the inner choice may spend (issue 14 target)
INNER_FOLDS = 5
L2_GRID: tuple[float, ...] = (0.3, 1.0, 3.0)
SLOW_WEIGHT_GRID: tuple[float, ...] = (1.0, 5.0)
MARGIN_GRID: tuple[float, ...] = (0.0, 1.0, 2.0)
THRESHOLD_GRID: FloatArray = np.round(np.arange(-4.0, 3.0001, 0.25), 2)
FEATURE_CLIP = 3.0
#: Feature sets the inner CV chooses among (a left-out feature gets weight 0 in the
#: detector). Trial T3 (docs/falls.md) also offered the model without `log_peak` and
#: `log_energy` and the one without `turn_before`/`turn_after`: the inner CV chose all
#: nine in 25 of 26 folds and the outer figure did not move, so only "all" is left.
FEATURE_SETS: dict[str, tuple[str, ...]] = {"all": FEATURES}

#: Test hook: called with the subjects whose candidates a fit or a choice is about to see.
Spy = Callable[[str, frozenset[str]], None]


@dataclass(frozen=True, slots=True)
class Choice:
    features: str  # a key of FEATURE_SETS
    l2: float
    slow_weight: float
    margin: float  # partial_margin_logit
    thr_fast: float  # logit
    thr_slow: float  # logit
    inner: dict[str, float]  # inner-CV figures at the choice

    def to_json(self) -> dict[str, Any]:
        return {
            "features": self.features,
            "l2": self.l2,
            "slow_device_weight": self.slow_weight,
            "partial_margin_logit": self.margin,
            "threshold_logit": self.thr_fast,
            "threshold_logit_slow": self.thr_slow,
            "inner": self.inner,
        }


@dataclass(frozen=True, slots=True)
class Model:
    """A logistic model over all FEATURES (a left-out one: mean 0, scale 1, weight 0)."""

    mean: FloatArray
    scale: FloatArray
    w: FloatArray
    b: float

    def logit(self, x: FloatArray) -> FloatArray:
        z = np.clip((x - self.mean) / self.scale, -FEATURE_CLIP, FEATURE_CLIP)
        used = self.w != 0.0
        out: FloatArray = z[:, used] @ self.w[used] + self.b
        return out


def _mask(c: Candidates, subjects: Sequence[str]) -> BoolArray:
    """Candidates of recordings of `subjects`."""
    m: BoolArray = np.isin(c.r_subject, list(subjects))[c.rec]
    return m


def fit(
    c: Candidates,
    subjects: Sequence[str],
    l2: float,
    slow_weight: float,
    spy: Spy | None = None,
    features: str = "all",
) -> Model:
    """The logistic model on the gated candidates of `subjects` (a fall recording's own
    impact, every ADL candidate), class-balanced, slow-device candidates weighted."""
    if spy is not None:
        spy("fit", frozenset(subjects))
    sel = _mask(c, subjects) & c.gate & (c.impact | (c.r_label[c.rec] == 0))
    y = c.r_label[c.rec[sel]]
    wt = np.where(c.r_device[c.rec[sel]], slow_weight, 1.0)
    cols = np.array([f in FEATURE_SETS[features] for f in FEATURES])
    mean, scale, w, b = fit_logistic(
        c.x[sel][:, cols], y, l2=l2, sample_weight=wt, clip=FEATURE_CLIP
    )
    k = len(FEATURES)
    full = [np.zeros(k), np.ones(k), np.zeros(k)]
    for dst, src in zip(full, (mean, scale, w), strict=True):
        dst[cols] = src
    return Model(full[0], full[1], full[2], b)


@dataclass(frozen=True, slots=True)
class _Curve:
    """Inner figures over THRESHOLD_GRID for one device class."""

    sens: FloatArray  # share of fall recordings detected
    fa_h: FloatArray  # false alarms per ADL hour
    falls: int
    hours: float


def _curve(c: Candidates, eff: FloatArray, subjects: Sequence[str], slow: bool) -> _Curve:
    """Recording-level sensitivity and false alarms per ADL hour of `subjects`' recordings
    of one device class, for each threshold. `eff`: the logit each candidate must clear a
    threshold with (+inf: confirmed anyway, -inf: never). A fall recording without a
    candidate is missed at every threshold."""
    rec_sel = np.isin(c.r_subject, list(subjects)) & (c.r_slow == slow)
    cand = rec_sel[c.rec]
    falls = rec_sel & (c.r_label == 1)
    adls = rec_sel & (c.r_label == 0)
    rmax = np.full(c.n_recordings, -np.inf)
    np.maximum.at(rmax, c.rec[cand], eff[cand])
    det = (rmax[falls][None, :] >= THRESHOLD_GRID[:, None]).sum(axis=1)
    e_adl = np.sort(eff[cand & adls[c.rec]])
    fa = e_adl.size - np.searchsorted(e_adl, THRESHOLD_GRID, side="left")
    n_falls = int(falls.sum())
    hours = float(c.r_hours[adls].sum())
    return _Curve(
        sens=det / max(1, n_falls),
        fa_h=fa / hours if hours > 0 else np.zeros(THRESHOLD_GRID.shape[0]),
        falls=n_falls,
        hours=hours,
    )


def _pick(curve: _Curve) -> tuple[int, float, float]:
    """Index of the chosen threshold, its sensitivity and false alarms per hour."""
    ok = curve.fa_h <= FA_BUDGET + 1e-12
    if not ok.any():
        ok = curve.fa_h <= curve.fa_h.min() + 1e-12
    best = float(curve.sens[ok].max())
    tied = np.flatnonzero(ok & (curve.sens >= best - 1e-12))
    i = int(tied[len(tied) // 2])
    return i, best, float(curve.fa_h[i])


def choose(
    c: Candidates,
    subjects: Sequence[str],
    folds: int = INNER_FOLDS,
    spy: Spy | None = None,
) -> Choice:
    """Settings chosen by an inner subject-wise CV over `subjects` only (see module doc)."""
    subjects = sorted(set(subjects))
    if spy is not None:
        spy("choose", frozenset(subjects))
    inner = subject_folds(subjects, min(folds, len(subjects)))
    best: tuple[tuple[float, float, int], Choice] | None = None
    order = 0
    for fs_name, l2, sw in (
        (f, l2, sw) for f in FEATURE_SETS for l2 in L2_GRID for sw in SLOW_WEIGHT_GRID
    ):
        z = np.full(c.x.shape[0], -np.inf)
        for held in inner:
            rest = [s for s in subjects if s not in held]
            if not rest:
                continue
            m = fit(c, rest, l2, sw, spy, fs_name)
            sel = _mask(c, held) & c.gate
            z[sel] = m.logit(c.x[sel])
        for margin in MARGIN_GRID:
            eff = np.where(c.partial, z - margin, z)
            eff = np.where(c.got_up, np.inf, eff)
            picks: dict[bool, tuple[int, float, float]] = {}
            for slow in (False, True):
                picks[slow] = _pick(_curve(c, eff, subjects, slow))
            score = picks[False][1] + picks[True][1]
            fa = picks[False][2] + picks[True][2]
            key = (score, -fa, -order)
            order += 1
            ch = Choice(
                features=fs_name,
                l2=l2,
                slow_weight=sw,
                margin=margin,
                thr_fast=float(THRESHOLD_GRID[picks[False][0]]),
                thr_slow=float(THRESHOLD_GRID[picks[True][0]]),
                inner={
                    "sensitivity_fast": picks[False][1],
                    "fa_per_hour_fast": picks[False][2],
                    "sensitivity_slow": picks[True][1],
                    "fa_per_hour_slow": picks[True][2],
                },
            )
            if best is None or key > best[0]:
                best = (key, ch)
    assert best is not None
    return best[1]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def fit_params(
    base: FallParams, c: Candidates, subjects: Sequence[str], spy: Spy | None = None
) -> tuple[FallParams, Choice]:
    """Choose on `subjects` (inner CV), then train on all of them: the detector's params."""
    ch = choose(c, subjects, spy=spy)
    m = fit(c, subjects, ch.l2, ch.slow_weight, spy, ch.features)
    p = replace(
        base,
        feature_mean=tuple(float(v) for v in m.mean),
        feature_scale=tuple(float(v) for v in m.scale),
        feature_clip=FEATURE_CLIP,
        weights=tuple(float(v) for v in m.w),
        bias=m.b,
        threshold=_sigmoid(ch.thr_fast),
        threshold_slow=_sigmoid(ch.thr_slow),
        partial_margin_logit=ch.margin,
    )
    assert len(p.weights) == len(FEATURES)
    return p, ch
