"""A reference for the fall model: a peak-plus-stillness rule, scored by the same protocol.

Does the model (nine features, a fitted logistic score, a gate, a recovery watch) buy
anything over two thresholds on people it has not seen? This rule is the usual simple
detector: an |a| peak of at least P g, then the movement stops (the smallest standard
deviation of |a| over a 1 s window starting 1 to 5 s after the peak is at most S g).
P and S are chosen per device class (200 Hz; below the detector's `slow_rate_hz`) on the
training people only, on the same recordings and device variants the model trains on,
by the model's rule (`fall_nested.FA_BUDGET`; then the best sensitivity, the fewest false
alarms, the middle one of the ties). There is nothing to fit, so no inner folds. The
held-out person's test sets are the model's (`fall_outer.test_sets`), counted the same
way, so `fall_outer.compare` pairs the two by person (docs/falls.md, "Reference").
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.detectors.fall import FallParams
from edge.detectors.fall.features import retime_bursts
from evaluation.fall_cache import SEED_TRAIN, TRAIN_VARIANTS, variant
from evaluation.fall_eval import Recording, supported
from evaluation.fall_nested import FA_BUDGET
from evaluation.fall_outer import Counts, Outer, tally, test_sets

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: R2 (docs/falls.md): R1's grid (P to 5 g, S from 0.01 g) widened after its choice sat at
#: the corner (5 g, 0.01 g) in every fold; every R1 rule is still on offer.
PEAK_GRID: FloatArray = np.array([1.6, 1.8, 2.0, 2.2, 2.4, 2.7, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0])
STILL_GRID: FloatArray = np.array([0.005, 0.0075, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2])
PEAK_SEARCH_S = 1.0  # the peak: the largest |a| this long after the first sample >= P
REFRACTORY_S = 10.0  # the next candidate no earlier than this after a peak
STILL_STARTS_S: FloatArray = np.arange(1.0, 5.0001, 0.25)  # window starts after the peak
STILL_WINDOW_S = 1.0


@dataclass(frozen=True, slots=True)
class Rule:
    peak_g: float
    still_g: float


@dataclass(frozen=True, slots=True)
class Impact:
    """One candidate of the rule at one peak threshold."""

    t_peak: float
    window_sd: tuple[float, ...]  # SD of |a| of each window (STILL_STARTS_S after the peak)

    @property
    def still_g(self) -> float:
        """The smallest SD of |a| over the windows after it (inf: none had 1 s of data)."""
        return min(self.window_sd, default=math.inf)

    def confirmed_at(self, still_g: float) -> float | None:
        """When a rule with stillness `still_g` confirms it: the end of the first window
        that still (None: never)."""
        for off, sd in zip(STILL_STARTS_S.tolist(), self.window_sd, strict=True):
            if sd <= still_g + 1e-12:
                return self.t_peak + float(off) + STILL_WINDOW_S
        return None


def _stillness(t: FloatArray, mag: FloatArray, t_peak: float) -> FloatArray:
    """SD of |a| of each window after `t_peak` (inf where the stream has no full second)."""
    sd = np.full(STILL_STARTS_S.shape[0], math.inf)
    t_end = float(t[-1])
    for k, off in enumerate(STILL_STARTS_S.tolist()):
        a = t_peak + off
        if a + STILL_WINDOW_S > t_end:
            break
        i0, i1 = np.searchsorted(t, (a, a + STILL_WINDOW_S))
        if i1 - i0 >= 2:
            sd[k] = float(np.std(mag[i0:i1]))
    return sd


def signal(r: Recording) -> tuple[FloatArray, FloatArray]:
    """The times (a BLE burst re-timed as the detector does) and |a| of `r`."""
    t = retime_bursts(np.asarray(r.t, dtype=np.float64))
    return t, np.sqrt(np.einsum("ij,ij->i", r.accel, r.accel))


def impacts(t: FloatArray, mag: FloatArray, peak_g: float) -> list[Impact]:
    """The rule's candidates in one recording (`signal`) at threshold `peak_g`."""
    if t.shape[0] < 2:
        return []
    over = np.flatnonzero(mag >= peak_g)
    out: list[Impact] = []
    j = 0
    while j < over.shape[0]:
        i = int(over[j])
        i_end = int(np.searchsorted(t, t[i] + PEAK_SEARCH_S, side="right"))
        t_peak = float(t[i + int(np.argmax(mag[i:i_end]))])
        sd = _stillness(t, mag, t_peak)
        out.append(Impact(t_peak, tuple(sd.tolist())))
        # The next candidate starts at the first sample over P after the refractory time.
        j = int(np.searchsorted(over, np.searchsorted(t, t_peak + REFRACTORY_S, side="left")))
    return out


@dataclass(frozen=True, slots=True)
class Table:
    """Every candidate of a set of recordings at every peak threshold of PEAK_GRID."""

    rec: IntArray  # [m] recording index
    p_idx: IntArray  # [m] index into PEAK_GRID
    still: FloatArray  # [m] smallest window SD, g
    r_subject: npt.NDArray[np.str_]  # [R]
    r_label: IntArray  # [R]
    r_slow: npt.NDArray[np.bool_]  # [R]
    r_hours: FloatArray  # [R]


def table(recs: Sequence[Recording], slow_rate_hz: float) -> Table:
    rec: list[int] = []
    p_idx: list[int] = []
    still: list[float] = []
    for i, r in enumerate(recs):
        t, mag = signal(r)
        for pi, pg in enumerate(PEAK_GRID.tolist()):
            for imp in impacts(t, mag, pg):
                rec.append(i)
                p_idx.append(pi)
                still.append(imp.still_g)
    dur = [float(r.t[-1] - r.t[0]) / 3600.0 if r.t.shape[0] > 1 else 0.0 for r in recs]
    return Table(
        rec=np.array(rec, dtype=np.int64),
        p_idx=np.array(p_idx, dtype=np.int64),
        still=np.array(still, dtype=np.float64),
        r_subject=np.array([r.subject for r in recs], dtype=np.str_),
        r_label=np.array([r.label for r in recs], dtype=np.int64),
        r_slow=np.array([r.fs < slow_rate_hz for r in recs], dtype=np.bool_),
        r_hours=np.array(dur, dtype=np.float64),
    )


def training_recordings(recs: Sequence[Recording]) -> list[Recording]:
    """The recordings and device variants the model trains on (`fall_cache`)."""
    out: list[Recording] = []
    for name in TRAIN_VARIANTS:
        out += [v for v in (variant(r, name, SEED_TRAIN) for r in recs) if v is not None]
    return out


def choose(tab: Table, subjects: Sequence[str], slow: bool) -> tuple[Rule, dict[str, float]]:
    """P and S for one device class from `subjects`' recordings (module docstring)."""
    rsel = np.isin(tab.r_subject, list(subjects)) & (tab.r_slow == slow)
    falls, adls = rsel & (tab.r_label == 1), rsel & (tab.r_label == 0)
    n_falls = max(1, int(falls.sum()))
    hours = float(tab.r_hours[adls].sum())
    n_p, n_s = PEAK_GRID.shape[0], STILL_GRID.shape[0]
    sens = np.zeros((n_p, n_s))
    fa_h = np.zeros((n_p, n_s))
    for pi in range(n_p):
        m = tab.p_idx == pi
        hit = tab.still[m][:, None] <= STILL_GRID[None, :] + 1e-12  # [m, S]
        rec = tab.rec[m]
        det = np.zeros((tab.r_label.shape[0], n_s), dtype=np.bool_)
        np.logical_or.at(det, rec, hit)
        sens[pi] = det[falls].sum(axis=0) / n_falls
        fa = hit[adls[rec]].sum(axis=0)
        fa_h[pi] = fa / hours if hours > 0 else 0.0
    flat_s, flat_f = sens.ravel(), fa_h.ravel()
    ok = flat_f <= FA_BUDGET + 1e-12
    if not ok.any():
        ok = flat_f <= flat_f.min() + 1e-12
    best = flat_s[ok].max()
    ok &= flat_s >= best - 1e-12
    ok &= flat_f <= flat_f[ok].min() + 1e-12
    tied = np.flatnonzero(ok)
    i = int(tied[len(tied) // 2])
    pi, si = divmod(i, n_s)
    rule = Rule(float(PEAK_GRID[pi]), float(STILL_GRID[si]))
    return rule, {"sensitivity": float(flat_s[i]), "fa_per_hour": float(flat_f[i])}


def count(
    batch: Sequence[Recording],
    rules: dict[bool, Rule],
    slow_rate_hz: float,
    joins: dict[str, FloatArray] | None = None,
) -> Counts:
    """The rule on each recording, counted as `fall_outer._count` counts the model (the
    rule has no recovery watch, so nothing is withdrawn)."""
    c = Counts()
    for r in batch:
        rule = rules[r.fs < slow_rate_hz]
        t, mag = signal(r)
        at = [(i.confirmed_at(rule.still_g), i.t_peak) for i in impacts(t, mag, rule.peak_g)]
        conf = [(c_t, p_t) for c_t, p_t in at if c_t is not None]
        tally(c, r, [c_t for c_t, _ in conf], [p_t for _, p_t in conf], 0, joins)
    return c


def nested_cv(
    recs: Sequence[Recording],
    base: FallParams,
    test_subjects: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Outer:
    """Leave each person out: choose P and S on the others, count the person's test sets."""
    body = [r for r in recs if supported(r)]
    slow_hz = base.slow_rate_hz
    tab = table(training_recordings(body), slow_hz)
    everyone = sorted({r.subject for r in body})
    counts: dict[str, dict[str, Counts]] = defaultdict(dict)
    choices: dict[str, dict[str, object]] = {}
    for s in test_subjects if test_subjects is not None else everyone:
        train = [x for x in everyone if x != s]
        rules: dict[bool, Rule] = {}
        inner: dict[str, dict[str, float]] = {}
        for slow in (False, True):
            rules[slow], inner["slow" if slow else "fast"] = choose(tab, train, slow)
        choices[s] = {
            "peak_g_fast": rules[False].peak_g,
            "still_g_fast": rules[False].still_g,
            "peak_g_slow": rules[True].peak_g,
            "still_g_slow": rules[True].still_g,
            "inner": inner,
        }
        sets, joins = test_sets([r for r in body if r.subject == s])
        for name, batch in sets:
            if batch:
                counts[name][s] = count(batch, rules, slow_hz, joins)
        if progress is not None:
            progress(1)
    return Outer(dict(counts), choices)
