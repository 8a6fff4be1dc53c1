"""The honest protocol for the routine detector: leave one home out (issue 14).

Each home in turn is held out. Every choice (a setting of `LOHO_GRID`: thresholds,
rules, learning parameters) is made on the *other* homes only (the training folds);
the held-out home is replayed once, with the setting chosen without it. Only these
outer replays are reported: pooled over the held-out homes, with 95 % intervals and the
per-home spread, per rule, and with the delay distribution of the daytime collapses.

    outer = nested_loho(homes, opts)                 # every choice inside the folds
    outer.summary()                                  # the figure to report
    compare(before, after)                           # is a trial beyond the noise?

`evaluate` is injectable (the tests check the mechanics with it) and `cached` keeps
replays under a gitignored folder, keyed by the home's file, the options and the source
of the detector and the replay, so a trial re-runs only what it changed.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import pickle  # nosec B403 - a local cache this module writes itself
import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from evaluation.routine_eval import (
    LOHO_GRID,
    EvalOptions,
    Home,
    HomeResult,
    RuleResult,
    evaluate_home,
    poisson_ci,
)

Evaluate = Callable[[Home, EvalOptions], HomeResult]
Grid = tuple[tuple[str, dict[str, Any]], ...]

# The daytime collapses' delay histogram (minutes), up to the 3-h horizon.
DELAY_BINS: Final = (0, 30, 60, 90, 120, 150, 180)
BOOTSTRAP: Final = 2000
QUICK_GRID: Final[Grid] = (("default", {}), ("margin 0", {"quiet_margin_s": 0.0}))
#: The reference (docs/early-warning.md, "Reference"): nothing is ever learned, so every
#: threshold is the care-plan default; its one daytime quiet timer is chosen on the other
#: homes like any setting.
NEVER_LEARNED: Final = 10**6
REFERENCE_GRID: Final[Grid] = tuple(
    (f"timer {h:g} h", {"min_learned_days": NEVER_LEARNED, "default_quiet_day_s": h * 3600.0})
    for h in (1.5, 2.0, 2.5, 3.0, 4.0)
)
_SOURCES: Final = (
    Path(__file__).with_name("routine_eval.py"),
    Path(__file__).parents[1] / "edge" / "detectors" / "routine.py",
    Path(__file__).parents[1] / "edge" / "detectors" / "routine_model.py",
)


def with_setting(opts: EvalOptions, overrides: dict[str, Any]) -> EvalOptions:
    return replace(opts, config=replace(opts.config, **overrides), spread_seeds=0)


# ------------------------------------------------------------------------ choice
def _night(rs: Sequence[HomeResult]) -> tuple[int, int]:
    k = sum(r.not_up.detected + r.out_of_bed.detected + r.night_door.detected for r in rs)
    n = sum(r.not_up.n + r.out_of_bed.n + r.night_door.n for r in rs)
    return k, n


def score(rs: Sequence[HomeResult], fa_target: float) -> tuple[bool, float, float, float]:
    """How good a setting is on the training homes, pooled (bigger is better): meet the
    false-alarm target, then detect most daytime collapses, then most night incidents;
    if it is not met, fewest false alarms per week first."""
    weeks = sum(r.days for r in rs) / 7.0
    alarms = sum(r.false_alarms for r in rs)
    fa = alarms / weeks if weeks > 0 else math.inf
    n = sum(r.collapse.n for r in rs)
    rate = sum(r.collapse.detected for r in rs) / n if n else 0.0
    k, m = _night(rs)
    night = k / m if m else 0.0
    if fa <= fa_target:
        return (True, rate, night, -fa)
    return (False, -fa, rate, night)


def choose(train: Mapping[str, Sequence[HomeResult]], grid: Grid, fa_target: float) -> str:
    """The setting that scores best on the training homes; ties go to the earlier
    entry of the grid (the default first)."""
    best = grid[0][0]
    for name, _ in grid[1:]:
        if score(train[name], fa_target) > score(train[best], fa_target):
            best = name
    return best


# ------------------------------------------------------------------------ protocol
@dataclass(frozen=True, slots=True)
class Fold:
    held_out: str
    setting: str  # chosen on the other homes
    train_score: tuple[bool, float, float, float]
    outer: HomeResult


@dataclass(frozen=True, slots=True)
class Outer:
    folds: tuple[Fold, ...]
    learn_days: float

    def summary(self) -> dict[str, Any]:
        return outer_summary([f.outer for f in self.folds]) | {
            "learn_days": self.learn_days,
            "folds": [
                {"held_out": f.held_out, "setting": f.setting, "home": brief(f.outer)}
                for f in self.folds
            ],
        }


def nested_loho(
    homes: Sequence[Home],
    opts: EvalOptions,
    grid: Grid = LOHO_GRID,
    evaluate: Evaluate = evaluate_home,
    fa_target: float = 1.0,
    progress: Callable[[str, int, int], None] | None = None,
) -> Outer:
    """Leave one home out; the held-out home is replayed only with the chosen setting."""
    if len(homes) < 2:
        raise ValueError("leave one home out needs at least two homes")
    memo: dict[tuple[str, str], HomeResult] = {}

    def run(home: Home, name: str) -> HomeResult:
        key = (home.id, name)
        if key not in memo:
            memo[key] = evaluate(home, with_setting(opts, dict(grid)[name]))
        return memo[key]

    folds = []
    for i, held in enumerate(homes):
        train_homes = [h for h in homes if h.id != held.id]
        train = {name: [run(h, name) for h in train_homes] for name, _ in grid}
        chosen = choose(train, grid, fa_target)
        folds.append(Fold(held.id, chosen, score(train[chosen], fa_target), run(held, chosen)))
        if progress is not None:
            progress("leave one home out", i + 1, len(homes))
    return Outer(tuple(folds), opts.learn_days)


# ------------------------------------------------------------------------ figures
def delay_distribution(delays: Sequence[float], n: int) -> dict[str, Any]:
    """Quantiles of the detection delays (minutes) and a histogram with the misses."""
    out: dict[str, Any] = {"n": n, "missed": n - len(delays)}
    if delays:
        qs = statistics.quantiles(delays, n=10, method="inclusive") if len(delays) > 1 else []
        out["p10"] = round(qs[0], 1) if qs else round(delays[0], 1)
        out["median"] = round(statistics.median(delays), 1)
        out["p90"] = round(qs[-1], 1) if qs else round(delays[0], 1)
        out["max"] = round(max(delays), 1)
    bins = {}
    for lo, hi in itertools.pairwise(DELAY_BINS):
        bins[f"{lo}-{hi}"] = sum(1 for d in delays if lo <= d < hi)
    bins[f">={DELAY_BINS[-1]}"] = sum(1 for d in delays if d >= DELAY_BINS[-1])
    out["histogram_min"] = bins
    return out


def day_bootstrap_ci(
    by_day: Sequence[tuple[int, int]], seed: int = 14, reps: int = BOOTSTRAP
) -> tuple[float, float]:
    """95 % interval of a detection rate, resampling whole days (incidents on one day
    share that day's behaviour, so the day is the unit, not the incident)."""
    if not by_day:
        return 0.0, 1.0
    rng = random.Random(seed)
    rates = []
    for _ in range(reps):
        pick = [by_day[rng.randrange(len(by_day))] for _ in by_day]
        n = sum(p[0] for p in pick)
        rates.append(sum(p[1] for p in pick) / n if n else 0.0)
    rates.sort()
    return rates[int(0.025 * reps)], rates[int(0.975 * reps) - 1]


def _rule(rs: Sequence[RuleResult]) -> dict[str, Any]:
    n = sum(r.n for r in rs)
    k = sum(r.detected for r in rs)
    delays = [d for r in rs for d in r.delays_min]
    by: dict[str, int] = {}
    for r in rs:
        for rule, c in r.by_rule:
            by[rule] = by.get(rule, 0) + c
    days = [(dn, dk) for r in rs for _, dn, dk in r.by_day]
    lo, hi = day_bootstrap_ci(days)
    return {
        "detected": k,
        "n": n,
        "rate": None if n == 0 else round(k / n, 4),
        "rate_ci95": None if n == 0 else [round(lo, 4), round(hi, 4)],
        "days": len(days),
        "detected_by": by,
        "delay_min": delay_distribution(delays, n),
    }


def brief(r: HomeResult) -> dict[str, Any]:
    lo, hi = r.false_alarms_per_week_ci95()
    return {
        "days": round(r.days, 2),
        "false_alarms": r.false_alarms,
        "false_alarms_per_week": round(r.false_alarms_per_week, 3),
        "false_alarms_per_week_ci95": [round(lo, 3), round(hi, 3)],
        "false_alarms_by_rule": dict(r.false_alarms_by_rule),
        "false_alarms_in_annotated_absence": r.false_alarms_in_absence,
        "absence_seen": None if r.absence_seen is None else round(r.absence_seen, 3),
        "collapse": _rule([r.collapse]),
        "not_up": _rule([r.not_up]),
        "out_of_bed_night": _rule([r.out_of_bed]),
        "night_door": _rule([r.night_door]),
        "not_back_night": _rule([r.not_back] if r.not_back else []),
        "technical": dict(r.technical),
    }


def outer_summary(rs: Sequence[HomeResult]) -> dict[str, Any]:
    """Pooled over the held-out homes, with intervals and the per-home spread."""
    days = sum(r.days for r in rs)
    weeks = days / 7.0
    alarms = sum(r.false_alarms for r in rs)
    lo, hi = poisson_ci(alarms)
    by_rule: dict[str, int] = {}
    for r in rs:
        for rule, c in r.false_alarms_by_rule:
            by_rule[rule] = by_rule.get(rule, 0) + c
    per_home_fa = [r.false_alarms_per_week for r in rs]
    per_home_det = [r.collapse.rate for r in rs if r.collapse.rate is not None]
    return {
        "days": round(days, 2),
        "false_alarms": alarms,
        "false_alarms_per_week": round(alarms / weeks, 3) if weeks else None,
        "false_alarms_per_week_ci95": [round(lo / weeks, 3), round(hi / weeks, 3)]
        if weeks
        else None,
        "false_alarms_by_rule": by_rule,
        "false_alarms_in_annotated_absence": sum(r.false_alarms_in_absence for r in rs),
        "collapse": _rule([r.collapse for r in rs]),
        "not_up": _rule([r.not_up for r in rs]),
        "out_of_bed_night": _rule([r.out_of_bed for r in rs]),
        "night_door": _rule([r.night_door for r in rs]),
        "not_back_night": _rule([r.not_back for r in rs if r.not_back]),
        "spread": {
            "false_alarms_per_week": [round(min(per_home_fa), 3), round(max(per_home_fa), 3)],
            "collapse_rate": [round(min(per_home_det), 4), round(max(per_home_det), 4)]
            if per_home_det
            else None,
        },
    }


# ------------------------------------------------------------------------ trials
def _binom_two_sided(k: int, n: int) -> float:
    """Two-sided exact p-value of k successes in n at p = 1/2."""
    if n == 0:
        return 1.0
    pk = [math.comb(n, i) / float(2**n) for i in range(n + 1)]
    return min(1.0, float(sum(p for p in pk if p <= pk[k] * (1 + 1e-9))))


def compare(before: Outer, after: Outer, seed: int = 14) -> dict[str, Any]:
    """Is the trial's outer figure better beyond the noise?

    Daytime collapses are paired (the same injected T on the same held-out days, since
    the incidents do not depend on the detector): the 95 % interval of the change in
    detection rate resamples whole days. False alarms: the exact conditional test of two
    Poisson counts over the same weeks (given the total, the trial's share is binomial
    with p = 1/2 under no change). `beyond_noise` when either improves with the interval
    (or p < 0.05) clear of zero and neither gets worse beyond the noise."""
    pairs: dict[str, list[tuple[int, int]]] = {}
    for fb, fa in zip(before.folds, after.folds, strict=True):
        if fb.held_out != fa.held_out:
            raise ValueError("trials must hold out the same homes")
        b = dict(fb.outer.collapse.incidents)
        for t, d in fa.outer.collapse.incidents:
            if t in b:
                day = f"{fa.held_out}:{int(t // 86400)}"
                pairs.setdefault(day, []).append((b[t] is not None, d is not None))
    days = list(pairs.values())
    diff = sum(a - b for ps in days for b, a in ps)
    n = sum(len(ps) for ps in days)
    rng = random.Random(seed)
    boots = []
    for _ in range(BOOTSTRAP if days else 0):
        pick = [days[rng.randrange(len(days))] for _ in days]
        m = sum(len(p) for p in pick)
        boots.append(sum(a - b for p in pick for b, a in p) / m if m else 0.0)
    boots.sort()
    lo, hi = (
        (boots[int(0.025 * len(boots))], boots[-int(0.025 * len(boots)) - 1])
        if boots
        else (0.0, 0.0)
    )
    fa_b = sum(f.outer.false_alarms for f in before.folds)
    fa_a = sum(f.outer.false_alarms for f in after.folds)
    p_fa = _binom_two_sided(fa_a, fa_a + fa_b)
    det_better, det_worse = lo > 0, hi < 0
    fa_better, fa_worse = fa_a < fa_b and p_fa < 0.05, fa_a > fa_b and p_fa < 0.05
    return {
        "collapse_rate_change": round(diff / n, 4) if n else None,
        "collapse_rate_change_ci95": [round(lo, 4), round(hi, 4)],
        "paired_collapses": n,
        "false_alarms": [fa_b, fa_a],
        "false_alarms_p": round(p_fa, 4),
        "beyond_noise": (det_better or fa_better) and not (det_worse or fa_worse),
    }


# ------------------------------------------------------------------------ cache
def source_hash() -> str:
    h = hashlib.sha256()
    for p in _SOURCES:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def cached(
    cache_dir: Path, home_files: dict[str, Path], evaluate: Evaluate = evaluate_home
) -> Evaluate:
    """`evaluate` remembered on disk: a replay is redone only when the home's file, the
    options (the detector's configuration included) or the code changed."""
    code = source_hash()

    def run(home: Home, opts: EvalOptions) -> HomeResult:
        f = home_files.get(home.id)
        stamp = f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" if f else home.id
        key = hashlib.sha256(f"{code}|{stamp}|{opts!r}".encode()).hexdigest()[:24]
        path = cache_dir / f"{home.id}-{key}.pickle"
        if path.exists():
            try:
                result = pickle.loads(path.read_bytes())  # noqa: S301  # nosec B301 - our own cache
            except (pickle.UnpicklingError, EOFError, AttributeError, TypeError):
                result = None
            if isinstance(result, HomeResult):
                return result
        result = evaluate(home, opts)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(result))
        tmp.replace(path)
        return result

    return run
