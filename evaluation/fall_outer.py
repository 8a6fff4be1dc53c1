"""The nested protocol's outer loop for falls: the only figure that is reported.

Leave one person out (outer): every choice is made by `fall_nested.fit_params` on the
other people only; the held-out person's recordings are then streamed through the real
`FallDetector` with those params, in each test set:

* SisFall as recorded (200 Hz) and as a 20 Hz BLE link delivers it (another seed than the
  training variants), split young / elderly;
* UMAFall's SensorTag (~20 Hz, real BLE arrival times) at the waist and at the chest;
* a *continuous ADL stream*: the person's everyday activities back to back as one stream
  (1 s blend between recordings, no recording ends; 200 Hz, 20 Hz BLE, UMAFall) - false
  alarms per hour of wear, without the end-of-recording decisions.

Figures are pooled over the people; the 95 % interval is a bootstrap over people
(resampling whole people, `BOOTSTRAP` times), and the per-person spread is given.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.detectors.fall import FEATURES, FallDetector, FallEventKind, FallParams
from edge.detectors.fall.alarm import FallAlarmConfig
from evaluation.fall_cache import SEED_TEST, Candidates, variant
from evaluation.fall_eval import Recording, ble_link, stream, supported
from evaluation.fall_nested import Spy, fit_params

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

BOOTSTRAP = 2000
BLEND_S = 1.0  # linear blend between two ADL recordings of a continuous stream
JOIN_S = 3.0  # a stream's false alarm with its impact this close to a join: "at a join"
CI_SEED = 7


@dataclass(slots=True)
class Counts:
    """One person's outcome in one test set."""

    falls: int = 0
    detected: int = 0
    adls: int = 0
    adl_alarmed: int = 0  # ADL recordings with at least one fall_confirmed
    false_alarms: int = 0  # fall_confirmed events in ADLs
    self_cancelled: int = 0  # ... withdrawn (up again within the cancel window): no alarm
    at_joins: int = 0  # ... of an ADL stream, with the impact within JOIN_S of a join
    hours: float = 0.0  # ADL hours
    delays: list[float] = field(default_factory=list)
    wrong: dict[str, int] = field(default_factory=dict)  # per activity: missed / alarmed
    of: dict[str, int] = field(default_factory=dict)  # per activity: recordings

    @property
    def raised(self) -> int:
        """False alarms that reach someone (not withdrawn within the cancel window)."""
        return self.false_alarms - self.self_cancelled


def adl_stream(recs: Sequence[Recording]) -> tuple[Recording, FloatArray] | None:
    """The ADL recordings of one wearer as one continuous stream (sorted by file name),
    each joined to the next by a `BLEND_S` linear blend at the recording's rate; and the
    times of the joins (the middle of each blend)."""
    adls = sorted((r for r in recs if r.label == 0 and r.t.shape[0] > 1), key=lambda r: r.filename)
    if not adls:
        return None
    ts: list[np.ndarray] = []
    accs: list[np.ndarray] = []
    joins: list[float] = []
    t0 = 0.0
    for k, r in enumerate(adls):
        dt = 1.0 / r.fs
        if k:
            nb = max(1, round(BLEND_S * r.fs))
            w = (np.arange(1, nb + 1) / (nb + 1))[:, None]
            accs.append((1.0 - w) * accs[-1][-1] + w * r.accel[0])
            ts.append(t0 + dt * np.arange(1, nb + 1))
            joins.append(float(ts[-1][nb // 2]))
            t0 = float(ts[-1][-1])
        ts.append(t0 + dt + (r.t - r.t[0]))
        accs.append(r.accel)
        t0 = float(ts[-1][-1])
    first = adls[0]
    st = replace(
        first,
        t=np.concatenate(ts),
        accel=np.concatenate(accs),
        code="ADL stream",
        activity="everyday activities back to back",
        filename=f"{first.subject}-{first.position}-adl-stream",
    )
    return st, np.array(joins)


def test_sets(
    own: Sequence[Recording],
) -> tuple[list[tuple[str, list[Recording]]], dict[str, FloatArray]]:
    """The named test sets of one person's (supported) recordings, and the join times of
    the ADL streams among them (by file name)."""
    out: list[tuple[str, list[Recording]]] = []
    joins: dict[str, FloatArray] = {}
    sis = [r for r in own if r.source == "SisFall"]
    if sis:
        grp = sis[0].age_group
        ble = [v for v in (variant(r, "ble20", SEED_TEST) for r in sis) if v is not None]
        made = adl_stream(sis)
        rng = np.random.default_rng((SEED_TEST, sum(map(ord, sis[0].subject))))
        streams = [] if made is None else [made[0]]
        streams_ble = [] if made is None else [ble_link(made[0], 20.0, rng)]
        if made is not None:
            joins[made[0].filename] = made[1]
        for name, batch in (
            ("SisFall 200 Hz", sis),
            ("SisFall 20 Hz BLE", ble),
            ("ADL stream SisFall 200 Hz", streams),
            ("ADL stream SisFall 20 Hz BLE", streams_ble),
        ):
            out += [(name, batch), (f"{name} {grp}", batch)]
    for pos in sorted({r.position.upper() for r in own if r.source != "SisFall"}):
        mine = [r for r in own if r.source != "SisFall" and r.position.upper() == pos]
        src = mine[0].source
        dev = " (SensorTag ~20 Hz)" if src == "UMAFall" else ""
        out.append((f"{src} {pos.lower()}{dev}", mine))
        made = adl_stream(mine)
        if made is not None:
            out.append((f"ADL stream {src} {pos.lower()}", [made[0]]))
            joins[made[0].filename] = made[1]
    return out, joins


def tally(
    c: Counts,
    r: Recording,
    confirmed: Sequence[float],
    impacts: Sequence[float],
    withdrawn: int = 0,
    joins: dict[str, FloatArray] | None = None,
) -> None:
    """Count one recording's outcome into `c`: `confirmed` the times the falls were
    confirmed at, `impacts` their impact times (the same order), `withdrawn` how many of
    them were withdrawn within the cancel window."""
    key = f"{r.code} {r.activity}"[:70]
    c.of[key] = c.of.get(key, 0) + 1
    if bool(confirmed) != (r.label == 1):
        c.wrong[key] = c.wrong.get(key, 0) + 1
    if r.label == 1:
        c.falls += 1
        c.detected += int(bool(confirmed))
        if confirmed:
            m2 = np.einsum("ij,ij->i", r.accel, r.accel)
            c.delays.append(confirmed[0] - float(r.t[int(np.nanargmax(m2))]))
        return
    c.adls += 1
    c.adl_alarmed += int(bool(confirmed))
    c.false_alarms += len(confirmed)
    c.self_cancelled += withdrawn
    j = (joins or {}).get(r.filename)
    if j is not None and j.size:
        c.at_joins += sum(bool(np.any(np.abs(j - x) <= JOIN_S)) for x in impacts)
    c.hours += float(r.t[-1] - r.t[0]) / 3600.0 if r.t.shape[0] > 1 else 0.0


def _count(
    batch: Sequence[Recording], params: FallParams, joins: dict[str, FloatArray] | None = None
) -> Counts:
    """Stream each recording through a fresh detector (as `run_recordings` does); a false
    alarm is *withdrawn* when the detector reports the wearer up again (`fall_cancelled`)
    within the alarm policy's cancel window: then no alarm is raised."""
    window = FallAlarmConfig().cancel_window_s
    c = Counts()
    for r in batch:
        ev = stream(FallDetector(params), r.t, r.accel)
        found = [e for e in ev if e.kind is FallEventKind.FALL_CONFIRMED]
        conf = [e.time for e in found]
        canc = [e.time for e in ev if e.kind is FallEventKind.FALL_CANCELLED]
        withdrawn = sum(any(t <= u <= t + window for u in canc) for t in conf)
        tally(c, r, conf, [e.impact_time for e in found], withdrawn, joins)
    return c


@dataclass(frozen=True, slots=True)
class Outer:
    """Per test set, per person: the counts; per person: the choice made without them."""

    counts: dict[str, dict[str, Counts]]
    choices: dict[str, dict[str, Any]]


def nested_cv(
    recs: Sequence[Recording],
    c: Candidates,
    base: FallParams,
    test_subjects: Sequence[str] | None = None,
    spy: Spy | None = None,
    progress: Callable[[int], None] | None = None,
) -> Outer:
    """Leave each person out: choose and train on the others, stream the person."""
    everyone = c.subjects()
    counts: dict[str, dict[str, Counts]] = defaultdict(dict)
    choices: dict[str, dict[str, Any]] = {}
    for s in test_subjects if test_subjects is not None else everyone:
        train = [x for x in everyone if x != s]
        params, ch = fit_params(base, c, train, spy)
        choices[s] = ch.to_json()
        own = [r for r in recs if r.subject == s and supported(r)]
        sets, joins = test_sets(own)
        for name, batch in sets:
            if batch:
                counts[name][s] = _count(batch, params, joins)
        if progress is not None:
            progress(1)
        logger.info("outer fold %s: %s", s, ch.to_json())
    return Outer(dict(counts), choices)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return out


def summarize_set(per_subject: dict[str, Counts], seed: int = CI_SEED) -> dict[str, Any]:
    """Pooled figures, bootstrap-over-people 95 % intervals and the per-person spread."""
    people = sorted(per_subject)
    cs = [per_subject[p] for p in people]
    a = np.array(
        [
            (x.falls, x.detected, x.adls, x.adl_alarmed, x.false_alarms, x.hours, x.raised)
            for x in cs
        ],
        dtype=np.float64,
    ).reshape(-1, 7)
    tot = a.sum(axis=0)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(people), (BOOTSTRAP, len(people)))
    b = a[idx].sum(axis=1)  # [B, 7]
    # name: (numerator column, denominator column, column subtracted from the numerator)
    cols = {
        "sensitivity": (1, 0, None),
        "specificity": (2, 2, 3),
        "fa_per_hour": (4, 5, None),
        "raised_per_hour": (6, 5, None),
    }
    out: dict[str, Any] = {
        "people": len(people),
        "falls": int(tot[0]),
        "detected": int(tot[1]),
        "adls": int(tot[2]),
        "adl_alarmed": int(tot[3]),
        "false_alarms": int(tot[4]),
        "self_cancelled": int(sum(x.self_cancelled for x in cs)),
        "at_joins": int(sum(x.at_joins for x in cs)),
        "adl_hours": float(tot[5]),
    }
    for name, (i_num, i_den, i_sub) in cols.items():
        num, den = tot[i_num] - (0.0 if i_sub is None else tot[i_sub]), tot[i_den]
        v = float(num / den) if den > 0 else None
        r = _ratio(b[:, i_num] - (0.0 if i_sub is None else b[:, i_sub]), b[:, i_den])
        r = r[np.isfinite(r)]
        ci = [float(np.percentile(r, 2.5)), float(np.percentile(r, 97.5))] if r.size else None
        per = _ratio(a[:, i_num] - (0.0 if i_sub is None else a[:, i_sub]), a[:, i_den])
        per = per[np.isfinite(per)]
        out[name] = v
        out[f"{name}_ci95"] = ci if v is not None else None
        out[f"{name}_per_person"] = (
            {
                "min": float(per.min()),
                "median": float(np.median(per)),
                "max": float(per.max()),
            }
            if per.size
            else None
        )
    if out["sensitivity_per_person"] is not None:
        worst = min(
            (p for p in people if per_subject[p].falls), key=lambda p: _sens(per_subject[p])
        )
        out["weakest_person"] = worst
    wrong: dict[str, int] = defaultdict(int)
    of: dict[str, int] = defaultdict(int)
    for x in cs:
        for k, v in x.wrong.items():
            wrong[k] += v
        for k, v in x.of.items():
            of[k] += v
    out["worst"] = [
        {"activity": k, "wrong": wrong[k], "of": of[k]}
        for k in sorted(wrong, key=lambda k: (-wrong[k], k))[:6]
    ]
    delays = [d for x in cs for d in x.delays]
    out["delay_median_s"] = float(np.median(delays)) if delays else None
    return out


def _sens(c: Counts) -> float:
    return c.detected / c.falls if c.falls else math.nan


def counts_to_json(outer: Outer) -> dict[str, Any]:
    """Per test set, per person: the counts (stored, so a later trial can be compared)."""
    return {
        name: {p: asdict(c) for p, c in sorted(per.items())}
        for name, per in sorted(outer.counts.items())
    }


def outer_from_json(doc: dict[str, Any]) -> Outer:
    counts = {
        name: {p: Counts(**c) for p, c in per.items()}
        for name, per in doc.get("outer_counts", {}).items()
    }
    return Outer(counts, doc.get("outer_choices", {}))


#: The figures a trial is judged on (docs/falls.md, "Protocol").
PRIMARY_SETS = (
    "SisFall 200 Hz",
    "SisFall 20 Hz BLE",
    "UMAFall waist (SensorTag ~20 Hz)",
    "UMAFall chest (SensorTag ~20 Hz)",
    "ADL stream SisFall 200 Hz",
    "ADL stream SisFall 20 Hz BLE",
)


def format_compare(a: Outer, b: Outer, what: str = "change against the earlier run") -> list[str]:
    """The paired change from `a` to `b` (b - a) on each primary figure, one line each."""
    lines = [f"{what} (paired by person, 95 % bootstrap interval):"]
    for name in PRIMARY_SETS:
        d = compare(a, b, name)
        for metric in ("sensitivity", "fa_per_hour"):
            if metric in d:
                v, (lo, hi) = d[metric]["change"], d[metric]["ci95"]
                k = 100.0 if metric == "sensitivity" else 1.0
                unit = " points" if metric == "sensitivity" else " /h"
                sig = "" if lo <= 0.0 <= hi else "  (beyond noise)"
                lines.append(
                    f"  {name:<34} {metric:<12} {k * v:+.2f}{unit}"
                    f" [{k * lo:+.2f}, {k * hi:+.2f}]{sig}"
                )
    return lines


def compare(a: Outer, b: Outer, name: str, seed: int = CI_SEED) -> dict[str, Any]:
    """Change from `a` to `b` in test set `name`, paired by person: the difference of the
    pooled sensitivity and false alarms per hour, with 95 % bootstrap intervals over the
    people (the same resampled people for both). The rule to keep a change: the interval
    of the figure it targets excludes zero, and no other figure gets worse beyond its."""
    people = sorted(set(a.counts.get(name, {})) & set(b.counts.get(name, {})))
    if not people:
        return {}

    def arr(o: Outer) -> np.ndarray:
        return np.array(
            [
                (x.falls, x.detected, x.hours, x.false_alarms)
                for x in (o.counts[name][p] for p in people)
            ],
            dtype=np.float64,
        )

    xa, xb = arr(a), arr(b)
    idx = np.random.default_rng(seed).integers(0, len(people), (BOOTSTRAP, len(people)))
    out: dict[str, Any] = {"people": len(people)}
    for label, i_num, i_den in (("sensitivity", 1, 0), ("fa_per_hour", 3, 2)):
        if xa[:, i_den].sum() <= 0:
            continue
        d = xb[:, i_num].sum() / xb[:, i_den].sum() - xa[:, i_num].sum() / xa[:, i_den].sum()
        sa, sb = xa[idx].sum(axis=1), xb[idx].sum(axis=1)
        bd = _ratio(sb[:, i_num], sb[:, i_den]) - _ratio(sa[:, i_num], sa[:, i_den])
        bd = bd[np.isfinite(bd)]
        out[label] = {
            "change": float(d),
            "ci95": [float(np.percentile(bd, 2.5)), float(np.percentile(bd, 97.5))],
        }
    return out


def summarize(outer: Outer) -> dict[str, Any]:
    return {name: summarize_set(per) for name, per in sorted(outer.counts.items())}


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def _ci(ci: list[float] | None, pct: bool = True) -> str:
    if ci is None:
        return ""
    if pct:
        return f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
    return f" [{ci[0]:.2f}, {ci[1]:.2f}]"


def format_table(summary: dict[str, Any]) -> list[str]:
    """Lines of the outer-figure table (plain text, for the CLI)."""
    lines = [
        "outer figures (nested leave-one-person-out; 95 % bootstrap interval over people;"
        " per person min / median / max)",
    ]
    for name, s in summary.items():
        fa = s["fa_per_hour"]
        fa_s = "-" if fa is None else f"{fa:.2f}"
        lines.append(
            f"  {name:<34} people {s['people']:>2}  falls {s['falls']:>4}  ADL h"
            f" {s['adl_hours']:6.2f}"
        )
        line = "   "
        if s["falls"]:
            line += f" sens {_pct(s['sensitivity'])} %{_ci(s['sensitivity_ci95'])}"
        if s["adls"] > s["people"]:  # not a continuous stream (one "ADL" per person)
            line += f"  spec {_pct(s['specificity'])} %{_ci(s['specificity_ci95'])}"
        if s["adls"]:
            line += f"  FA/h {fa_s}{_ci(s['fa_per_hour_ci95'], False)}"
            ra = s["raised_per_hour"]
            line += f"  raised/h {ra:.2f}{_ci(s['raised_per_hour_ci95'], False)}"
            line += f" ({s['false_alarms']} FA, {s['self_cancelled']} withdrawn"
            line += f", {s['at_joins']} at a join)" if s["adls"] == s["people"] else ")"
        lines.append(line)
        pp = s["sensitivity_per_person"]
        if pp is not None:
            lines.append(
                f"    per person sens {100 * pp['min']:.1f} / {100 * pp['median']:.1f} /"
                f" {100 * pp['max']:.1f} % (weakest {s['weakest_person']})"
            )
        for w in s.get("worst", [])[:4] if s["adls"] > s["people"] or s["falls"] else []:
            lines.append(f"    worst: {w['wrong']}/{w['of']} {w['activity']}")
        fp = s["fa_per_hour_per_person"]
        if fp is not None:
            lines.append(
                f"    per person FA/h {fp['min']:.2f} / {fp['median']:.2f} / {fp['max']:.2f}"
            )
    return lines


#: `--quick`: a few people only (mechanics and smoke tests, not a figure).
QUICK_SUBJECTS = ("SA01", "SA02", "SA03", "SE01", "UMA03")


def run(
    recs: Sequence[Recording],
    base: FallParams,
    cv: bool = True,
    quick: bool = False,
    cache_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[FallParams, dict[str, Any]]:
    """The shipped params (every choice made by inner CV over all the people given) and,
    with `cv`, the nested outer figures. `quick`: `QUICK_SUBJECTS` only."""
    from evaluation.fall_cache import CACHE_DIR, candidates

    body = [r for r in recs if supported(r)]
    if quick:
        body = [r for r in body if r.subject in QUICK_SUBJECTS]
    c = candidates(body, base, cache_dir=CACHE_DIR if cache_dir is None else cache_dir)
    params, ch = fit_params(base, c, c.subjects())
    doc: dict[str, Any] = {
        "features": list(FEATURES),
        "choice": ch.to_json(),
        "people": c.subjects(),
        "candidates": int(c.rec.shape[0]),
        "gated_candidates": int(c.gate.sum()),
        "recordings_with_variants": c.n_recordings,
    }
    if cv:
        outer = nested_cv(body, c, base, progress=progress)
        doc["outer"] = summarize(outer)
        doc["outer_choices"] = outer.choices
        doc["outer_counts"] = counts_to_json(outer)
    return params, doc
