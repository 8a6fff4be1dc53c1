"""Replay recorded homes through the routine detector: false alarms and injected incidents.

Format: /work/shared/datasets/homes/ (`<id>.events.csv.gz`, optional `<id>.meta.json`
and `<id>.activities.csv.gz`). Method (see docs/early-warning.md):

1. Trim to the meta's `usable_window` if it has one.
2. Replay the first `learn_days` days through the detector (it learns; alarms there are
   not counted), then replay the rest untouched: every resident alarm there is false
   (nothing happened to these residents), reported per week of replayed time.
3. Inject incidents with a fixed seed, each replayed from a snapshot of the detector
   taken during the clean replay (so the detector has exactly the state it would have
   had), dropping every event after T; every sensor keeps its state at T:
   - daytime collapses: T uniform 08:00-21:00 on replayed days, outside annotated
     absences; detected if any resident alarm is raised within 3 h after T;
   - not getting up: T between 03:00 and that morning's real getting-up time;
   - out of bed and not back: T just after a night-time (02:00-05:00) bed-mat exit or
     the first activation outside the bedroom after bedroom activity; also reported for
     the incidents where a return would have been seen (`sees_returns` at T), the only
     ones the out-of-bed rule judges;
   - front door at night: T just after a night-time (22:00-06:00) front-door opening.

The thresholds are learned per home from its own first days; nothing here is tuned to
the replayed days.
"""

from __future__ import annotations

import copy
import csv
import gzip
import json
import logging
import math
import random
import re
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from edge.detectors.routine import (
    RESIDENT_RULES,
    AmbientEvent,
    FindingKind,
    RoutineDetector,
    RoutineFinding,
    SensorKind,
)
from edge.detectors.routine_model import RoutineConfig, RoutineModel

logger = logging.getLogger(__name__)

DEFAULT_TZ: Final = "Europe/Amsterdam"
SNAPSHOT_EVERY_S: Final = 3 * 3600.0
ABSENCE_LABEL: Final = re.compile(r"leav", re.IGNORECASE)

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class DatasetError(Exception):
    """A home's files are missing or malformed."""


@dataclass(frozen=True, slots=True)
class Home:
    id: str
    tz: str
    events: tuple[AmbientEvent, ...]
    absences: tuple[tuple[float, float], ...]
    window: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class EvalOptions:
    learn_days: float = 7.0
    collapses: int = 60
    not_up_per_day: int = 3
    max_night_incidents: int = 60
    seed: int = 20260101
    collapse_horizon_s: float = 3 * 3600.0
    not_up_horizon_s: float = 9 * 3600.0
    out_of_bed_horizon_s: float = 3 * 3600.0
    night_door_horizon_s: float = 1 * 3600.0
    not_back_horizon_s: float = 24 * 3600.0
    # A changed sensor kit (`KITS`): "" as recorded.
    kit: str = ""
    config: RoutineConfig = field(default_factory=RoutineConfig)
    # Also inject the daytime collapses with this many further seeds (seed+1 ..) and
    # report the spread of the detection rate (the clean replay is seed-independent).
    spread_seeds: int = 0


@dataclass(frozen=True, slots=True)
class RuleResult:
    n: int
    detected: int
    median_delay_min: float | None
    by_rule: tuple[tuple[str, int], ...]
    delays_min: tuple[float, ...] = ()
    # Per local day of T: (day, incidents, detected). Incidents on one day share that
    # day's behaviour, so the effective sample size is nearer the number of days.
    by_day: tuple[tuple[str, int, int], ...] = ()
    # Per incident: (T, delay in minutes or None if missed), for paired comparisons.
    incidents: tuple[tuple[float, float | None], ...] = ()

    @property
    def rate(self) -> float | None:
        return None if self.n == 0 else self.detected / self.n

    def to_json(self) -> dict[str, Any]:
        lo, hi = wilson(self.detected, self.n)
        return {
            "n": self.n,
            "detected": self.detected,
            "rate": None if self.rate is None else round(self.rate, 4),
            "rate_ci95": None if self.n == 0 else [round(lo, 4), round(hi, 4)],
            "median_delay_min": self.median_delay_min,
            "detected_by": dict(self.by_rule),
            "by_day": {d: [n, k] for d, n, k in self.by_day},
        }


@dataclass(frozen=True, slots=True)
class HomeResult:
    home: str
    days: float  # replayed (not learning) days
    learned_days: int
    false_alarms: int
    false_alarms_by_rule: tuple[tuple[str, int], ...]
    false_alarms_in_absence: int
    technical: tuple[tuple[str, int], ...]
    collapse: RuleResult
    not_up: RuleResult
    out_of_bed: RuleResult
    night_door: RuleResult
    out_of_bed_rule_enabled: bool
    # Detection rate of the daytime collapses per extra seed (EvalOptions.spread_seeds).
    collapse_by_seed: tuple[tuple[int, float], ...] = ()
    # The out-of-bed incidents at a time when a return to bed would have been seen (a
    # working bedroom PIR or occupancy mat): the ones the out-of-bed rule judges.
    out_of_bed_return_sensed: RuleResult | None = None
    # Share of the annotated absences (in the replayed days) the detector read as away.
    absence_seen: float | None = None
    # The false alarms themselves: (time, rule), to list and to pair trials.
    false_alarm_times: tuple[tuple[float, str], ...] = ()
    # Gone out and never back: T just after each departure the detector saw.
    not_back: RuleResult | None = None

    @property
    def false_alarms_per_week(self) -> float:
        return self.false_alarms / (self.days / 7.0) if self.days > 0 else 0.0

    def false_alarms_per_week_ci95(self) -> tuple[float, float]:
        """Exact (Garwood) Poisson 95 % interval of the false alarms per week."""
        lo, hi = poisson_ci(self.false_alarms)
        weeks = self.days / 7.0
        return (lo / weeks, hi / weeks) if weeks > 0 else (0.0, math.inf)

    def seed_spread(self) -> dict[str, Any] | None:
        if not self.collapse_by_seed:
            return None
        rates = [r for _, r in self.collapse_by_seed]
        return {
            "seeds": [s for s, _ in self.collapse_by_seed],
            "rates": [round(r, 4) for r in rates],
            "min": round(min(rates), 4),
            "mean": round(statistics.mean(rates), 4),
            "max": round(max(rates), 4),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "home": self.home,
            "days": round(self.days, 2),
            "learned_days": self.learned_days,
            "false_alarms": self.false_alarms,
            "false_alarms_per_week": round(self.false_alarms_per_week, 3),
            "false_alarms_per_week_ci95": [round(x, 3) for x in self.false_alarms_per_week_ci95()],
            "false_alarms_by_rule": dict(self.false_alarms_by_rule),
            "false_alarms_in_annotated_absence": self.false_alarms_in_absence,
            "technical_findings": dict(self.technical),
            "detection_rate": _r(self.collapse.rate),
            "median_delay_min": self.collapse.median_delay_min,
            "collapses": self.collapse.to_json(),
            "collapse_seed_spread": self.seed_spread(),
            "not_up_rate": _r(self.not_up.rate),
            "out_of_bed_rate": _r(self.out_of_bed.rate),
            "night_door_rate": _r(self.night_door.rate),
            "night_rules": {
                FindingKind.NOT_UP.value: self.not_up.to_json(),
                FindingKind.OUT_OF_BED.value: self.out_of_bed.to_json(),
                FindingKind.NIGHT_DOOR.value: self.night_door.to_json(),
                **(
                    {}
                    if self.not_back is None
                    else {FindingKind.NOT_BACK.value: self.not_back.to_json()}
                ),
            },
            "out_of_bed_rule_enabled": self.out_of_bed_rule_enabled,
            "absence_seen": _r(self.absence_seen),
            "out_of_bed_return_sensed": None
            if self.out_of_bed_return_sensed is None
            else self.out_of_bed_return_sensed.to_json(),
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (treats incidents as independent,
    which incidents sharing a day are not: read it as a lower bound on uncertainty)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def _poisson_cdf(k: int, mu: float) -> float:
    term = total = math.exp(-mu)
    for i in range(1, k + 1):
        term *= mu / i
        total += term
    return total


def poisson_ci(k: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson mean from k observed counts (bisection)."""

    def solve(f: Callable[[float], bool]) -> float:
        lo, hi = 0.0, 10.0 * (k + 5)
        for _ in range(200):
            mid = (lo + hi) / 2
            if f(mid):
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    upper = solve(lambda mu: _poisson_cdf(k, mu) > alpha / 2)
    lower = 0.0 if k == 0 else solve(lambda mu: 1 - _poisson_cdf(k - 1, mu) < alpha / 2)
    return lower, upper


# ------------------------------------------------------------------------ loading
def _open_text(path: Path) -> Iterator[str]:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", newline="", encoding="utf-8") as f:
            yield from f
    else:
        with path.open(newline="", encoding="utf-8") as f:
            yield from f


def _tz_from_meta(meta: dict[str, Any]) -> str:
    m = re.search(r"\b([A-Z][A-Za-z]+/[A-Za-z_]+)\b", str(meta.get("timezone", "")))
    return m.group(1) if m else DEFAULT_TZ


def _posix(naive: str, tz: ZoneInfo) -> float:
    return datetime.fromisoformat(naive).replace(tzinfo=tz).timestamp()


def find_homes(path: Path) -> list[Path]:
    """The events files under `path` (a folder of homes, or one events file)."""
    if path.is_dir():
        files = sorted(path.glob("*.events.csv.gz")) + sorted(path.glob("*.events.csv"))
        if not files:
            raise DatasetError(f"no *.events.csv[.gz] in {path}")
        return files
    if not path.exists():
        raise DatasetError(f"{path} does not exist")
    return [path]


def load_home(events_path: Path, tz_override: str | None = None) -> Home:
    name = events_path.name
    home_id = name.split(".events.")[0] if ".events." in name else events_path.stem
    folder = events_path.parent
    meta: dict[str, Any] = {}
    meta_path = folder / f"{home_id}.meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text("utf-8"))
    tz_name = tz_override or _tz_from_meta(meta)
    tz = ZoneInfo(tz_name)
    events: list[AmbientEvent] = []
    try:
        for row in csv.DictReader(_open_text(events_path)):
            try:
                kind = SensorKind(row["sensor_kind"])
            except ValueError:
                kind = SensorKind.OTHER
            events.append(
                AmbientEvent(
                    t=_posix(row["timestamp_iso"], tz),
                    sensor=row["sensor_id"],
                    kind=kind,
                    room=row["room"],
                    value=int(row["value"]),
                )
            )
    except (KeyError, ValueError, OSError) as exc:
        raise DatasetError(f"{events_path}: {exc}") from exc
    events.sort(key=lambda e: e.t)
    absences: list[tuple[float, float]] = []
    for act in (folder / f"{home_id}.activities.csv.gz", folder / f"{home_id}.activities.csv"):
        if act.exists():
            for row in csv.DictReader(_open_text(act)):
                if ABSENCE_LABEL.search(row.get("activity", "")):
                    absences.append((_posix(row["start_iso"], tz), _posix(row["end_iso"], tz)))
            break
    window = None
    uw = meta.get("usable_window")
    if isinstance(uw, dict) and "from" in uw and "to" in uw:
        window = (_posix(uw["from"], tz), _posix(uw["to"], tz))
    return Home(home_id, tz_name, tuple(events), tuple(absences), window)


# ------------------------------------------------------------------------ replay
@dataclass(slots=True)
class _Baseline:
    findings: list[RoutineFinding]
    snapshots: list[tuple[float, int, RoutineDetector]]  # (time, next event index, state)
    learned_days: int
    out_of_bed_enabled: bool
    away_changes: list[tuple[float, bool]] = field(default_factory=list)
    # Events that go on whatever happens to the resident (a sensor firing on its own):
    # kept after an injected T.
    keep: tuple[AmbientEvent, ...] = ()


def _replay_clean(
    events: tuple[AmbientEvent, ...],
    start: float,
    learn_end: float,
    end: float,
    tz: str,
    cfg: RoutineConfig,
    progress: Progress | None,
) -> _Baseline:
    det = RoutineDetector(RoutineModel(cfg), tz, start)
    findings: list[RoutineFinding] = []
    snapshots: list[tuple[float, int, RoutineDetector]] = []
    next_snap = learn_end
    learned = 0
    n = len(events)
    away: list[tuple[float, bool]] = [(start, False)]

    def note_away(t: float) -> None:
        if det.away != away[-1][1]:
            # The away state began at the departure, not when it was recognised.
            away.append((det.away_since if det.away else t, det.away))

    for i, ev in enumerate(events):
        while ev.t >= next_snap and next_snap <= end:
            fs = det.advance(next_snap)
            note_away(next_snap)
            if next_snap > learn_end:
                findings.extend(fs)
            else:
                learned = det.model.thresholds.days
            snapshots.append((next_snap, i, copy.deepcopy(det)))
            next_snap += SNAPSHOT_EVERY_S
        fs = det.update([ev])
        note_away(ev.t)
        if ev.t >= learn_end:
            findings.extend(fs)
        if progress is not None and i % 2000 == 0:
            progress("replay", i, n)
    findings.extend(det.advance(end))
    note_away(end)
    oob = det.bedroom_sensing and det.model.thresholds.out_of_bed_enabled
    return _Baseline(findings, snapshots, learned, oob, away)


def _absence_seen(
    changes: list[tuple[float, bool]],
    absences: tuple[tuple[float, float], ...],
    lo: float,
    hi: float,
) -> float | None:
    """Share of the annotated absence time in [lo, hi] that the detector read as away."""
    spans = []
    for (t0, a), (t1, _) in zip(changes, [*changes[1:], (hi, False)], strict=True):
        if a:
            spans.append((t0, t1))
    total = seen = 0.0
    for a0, a1 in absences:
        a0, a1 = max(a0, lo), min(a1, hi)
        if a1 <= a0:
            continue
        total += a1 - a0
        seen += sum(max(0.0, min(a1, s1) - max(a0, s0)) for s0, s1 in spans)
    return seen / total if total > 0 else None


def _replay_to(
    base: _Baseline, events: tuple[AmbientEvent, ...], t_cut: float
) -> RoutineDetector | None:
    """The detector as it was at `t_cut` (from the last snapshot before it)."""
    snap = None
    for s in base.snapshots:
        if s[0] <= t_cut:
            snap = s
        else:
            break
    if snap is None:
        return None
    _, idx, state = snap
    det = copy.deepcopy(state)
    batch = []
    while idx < len(events) and events[idx].t <= t_cut:
        batch.append(events[idx])
        idx += 1
    det.update(batch)
    det.advance(t_cut)
    return det


def _inject(
    base: _Baseline,
    events: tuple[AmbientEvent, ...],
    t_cut: float,
    horizon_s: float,
    det: RoutineDetector | None = None,
    rule: FindingKind | None = None,
) -> RoutineFinding | None:
    """Replay with every event after `t_cut` dropped; first resident alarm after it.
    `det`: the detector already replayed to `t_cut` (`_replay_to`), if at hand."""
    if det is None:
        det = _replay_to(base, events, t_cut)
    if det is None:
        return None
    found: list[RoutineFinding] = []
    for e in base.keep:
        if t_cut < e.t <= t_cut + horizon_s:
            found.extend(det.update([e]))
    found.extend(det.advance(t_cut + horizon_s))
    for f in found:
        alarm = f.action == "raise" and f.kind in RESIDENT_RULES and f.t > t_cut
        if alarm and (rule is None or f.kind is rule):
            return f
    return None


def _summarise(
    results: list[tuple[float, RoutineFinding | None]], tz: ZoneInfo | None = None
) -> RuleResult:
    delays = [(f.t - t) / 60.0 for t, f in results if f is not None]
    by: dict[str, int] = {}
    for _, f in results:
        if f is not None:
            by[f.kind.value] = by.get(f.kind.value, 0) + 1
    days: dict[str, list[int]] = {}
    if tz is not None:
        for t, f in results:
            nk = days.setdefault(datetime.fromtimestamp(t, tz).date().isoformat(), [0, 0])
            nk[0] += 1
            nk[1] += f is not None
    return RuleResult(
        n=len(results),
        detected=len(delays),
        median_delay_min=round(statistics.median(delays), 1) if delays else None,
        by_rule=tuple(sorted(by.items())),
        delays_min=tuple(delays),
        by_day=tuple((d, nk[0], nk[1]) for d, nk in sorted(days.items())),
        incidents=tuple((t, None if f is None else (f.t - t) / 60.0) for t, f in results),
    )


def _local_days(start: float, end: float, tz: ZoneInfo) -> list[date]:
    d = datetime.fromtimestamp(start, tz).date()
    last = datetime.fromtimestamp(end, tz).date()
    out = []
    while d <= last:
        out.append(d)
        d += timedelta(days=1)
    return out


def _at(d: date, hour: float, tz: ZoneInfo) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp() + hour * 3600.0


def _in_any(t: float, spans: tuple[tuple[float, float], ...]) -> bool:
    return any(a <= t <= b for a, b in spans)


KITS: Final = ("", "no_kitchen", "chatter")


def _with_kit(
    events: tuple[AmbientEvent, ...], kit: str, start: float, end: float, seed: int
) -> tuple[tuple[AmbientEvent, ...], tuple[AmbientEvent, ...]]:
    """The home with a changed sensor kit, and the events that go on regardless:
    `no_kitchen` removes every kitchen sensor (a missing room); `chatter` adds a
    living-room PIR firing on its own every 20 +- 10 min, day and night."""
    if kit == "":
        return events, ()
    if kit == "no_kitchen":
        return tuple(e for e in events if e.room != "kitchen"), ()
    if kit == "chatter":
        rng = random.Random(seed + 4)
        extra: list[AmbientEvent] = []
        t = start + rng.uniform(600.0, 1800.0)
        while t < end:
            for dt, v in ((0.0, 1), (2.0, 0)):
                extra.append(AmbientEvent(t + dt, "pir_chatter", SensorKind.MOTION, "living", v))
            t += rng.uniform(600.0, 1800.0)
        return tuple(sorted((*events, *extra), key=lambda e: e.t)), tuple(extra)
    raise DatasetError(f"unknown sensor kit {kit!r} (one of {', '.join(k for k in KITS if k)})")


def evaluate_home(home: Home, opts: EvalOptions, progress: Progress | None = None) -> HomeResult:
    events = home.events
    if home.window is not None:
        lo, hi = home.window
        events = tuple(e for e in events if lo <= e.t < hi)
    if not events:
        raise DatasetError(f"{home.id}: no events (in the usable window)")
    tz = ZoneInfo(home.tz)
    start = home.window[0] if home.window else events[0].t
    end = home.window[1] if home.window else events[-1].t
    learn_end = start + opts.learn_days * 86400.0
    if learn_end >= end:
        raise DatasetError(f"{home.id}: shorter than the {opts.learn_days} learning days")
    events, keep = _with_kit(events, opts.kit, start, end, opts.seed)
    base = _replay_clean(events, start, learn_end, end, home.tz, opts.config, progress)
    base.keep = keep
    resident = [f for f in base.findings if f.action == "raise" and f.kind in RESIDENT_RULES]
    by_rule: dict[str, int] = {}
    for f in resident:
        by_rule[f.kind.value] = by_rule.get(f.kind.value, 0) + 1
    tech: dict[str, int] = {}
    for f in base.findings:
        if f.kind not in RESIDENT_RULES and f.kind is not FindingKind.AWAY:
            tech[f.kind.value] = tech.get(f.kind.value, 0) + 1
    in_absence = sum(1 for f in resident if _in_any(f.t, home.absences))

    rng = random.Random(opts.seed)
    replay_days = [d for d in _local_days(learn_end, end, tz)]
    last_event_t = events[-1].t

    def inject_collapses(r: random.Random, report: Progress | None) -> RuleResult:
        """Daytime collapses: T uniform 08:00-21:00 on replayed days, not away."""
        out: list[tuple[float, RoutineFinding | None]] = []
        tries = 0
        while len(out) < opts.collapses and tries < opts.collapses * 50:
            tries += 1
            d = r.choice(replay_days)
            t = _at(d, r.uniform(8.0, 21.0), tz)
            if not (learn_end <= t <= last_event_t) or _in_any(t, home.absences):
                continue
            out.append((t, _inject(base, events, t, opts.collapse_horizon_s)))
            if report is not None:
                report("collapses", len(out), opts.collapses)
        return _summarise(out, tz)

    collapse = inject_collapses(rng, progress)
    by_seed: list[tuple[int, float]] = []
    for k in range(1, opts.spread_seeds + 1):
        extra = inject_collapses(random.Random(opts.seed + k), None)
        by_seed.append((opts.seed + k, extra.rate or 0.0))
        if progress is not None:
            progress("seeds", k, opts.spread_seeds)

    # Not getting up: T between 03:00 and that morning's first getting-up activity.
    not_up: list[tuple[float, RoutineFinding | None]] = []
    for d in replay_days:
        lo_t, hi_t = _at(d, 3.0, tz), _at(d, 12.0, tz)
        if lo_t < learn_end or _in_any(lo_t, home.absences):
            continue
        first_up = next(
            (
                e.t
                for e in events
                if lo_t + 3600.0 <= e.t < hi_t
                and e.value == 1
                and e.room not in ("bedroom", "bathroom")
            ),
            None,
        )
        if first_up is None:
            continue
        for _ in range(opts.not_up_per_day):
            t = rng.uniform(lo_t, first_up - 60.0)
            not_up.append((t, _inject(base, events, t, opts.not_up_horizon_s)))

    # Out of bed at night (02:00-05:00): just after the resident leaves the bedroom,
    # i.e. an occupancy mat emptied after >= 10 min in bed, or the first activation
    # outside the bedroom (bathroom, toilet door, ...) after activity in the bedroom.
    # (A mat that only pulses when the sleeper turns says nothing about leaving.)
    oob_candidates = []
    prev_room = ""
    on_since: dict[str, float] = {}
    for e in events:
        if e.kind is SensorKind.BED and e.value == 1:
            on_since[e.sensor] = e.t
        if e.t >= learn_end and not _in_any(e.t, home.absences):
            h = datetime.fromtimestamp(e.t, tz).hour
            if 2 <= h < 5:
                since = on_since.get(e.sensor)
                bed_exit = (
                    e.kind is SensorKind.BED
                    and e.value == 0
                    and since is not None
                    and e.t - since >= 600.0
                )
                left_room = e.value == 1 and e.room != "bedroom" and prev_room == "bedroom"
                if bed_exit or left_room:
                    oob_candidates.append(e.t + 1.0)
        if e.value == 1:
            prev_room = e.room
    oob_candidates = _thin(oob_candidates, 10 * 60.0)
    if len(oob_candidates) > opts.max_night_incidents:
        oob_candidates = sorted(rng.sample(oob_candidates, opts.max_night_incidents))
    out_of_bed: list[tuple[float, RoutineFinding | None]] = []
    oob_sensed: list[tuple[float, RoutineFinding | None]] = []
    for t in oob_candidates:
        at_t = _replay_to(base, events, t)
        sensed = at_t is not None and at_t.sees_returns(t)
        found = _inject(base, events, t, opts.out_of_bed_horizon_s, at_t)
        out_of_bed.append((t, found))
        if sensed:
            oob_sensed.append((t, found))

    # Front door at night.
    door_candidates = []
    for e in events:
        if e.t < learn_end or e.value != 1 or e.kind is not SensorKind.DOOR:
            continue
        if e.room != "entrance":
            continue
        h = datetime.fromtimestamp(e.t, tz).hour
        if h >= 22 or h < 6:
            door_candidates.append(e.t + 1.0)
    door_candidates = _thin(door_candidates, 10 * 60.0)
    night_door = [(t, _inject(base, events, t, opts.night_door_horizon_s)) for t in door_candidates]

    # Gone out and not back: T just after each departure (the front door, then the away
    # state), every event after it dropped.
    departures = [t + 1.0 for t, away in base.away_changes if away and t >= learn_end]
    not_back = [
        (t, _inject(base, events, t, opts.not_back_horizon_s, rule=FindingKind.NOT_BACK))
        for t in departures
    ]

    return HomeResult(
        home=home.id,
        days=(end - learn_end) / 86400.0,
        learned_days=base.learned_days,
        false_alarms=len(resident),
        false_alarms_by_rule=tuple(sorted(by_rule.items())),
        false_alarms_in_absence=in_absence,
        technical=tuple(sorted(tech.items())),
        collapse=collapse,
        not_up=_summarise(not_up, tz),
        out_of_bed=_summarise(out_of_bed, tz),
        night_door=_summarise(night_door, tz),
        out_of_bed_rule_enabled=base.out_of_bed_enabled,
        collapse_by_seed=tuple(by_seed),
        out_of_bed_return_sensed=_summarise(oob_sensed, tz),
        absence_seen=_absence_seen(base.away_changes, home.absences, learn_end, end),
        false_alarm_times=tuple((f.t, f.kind.value) for f in resident),
        not_back=_summarise(not_back, tz),
    )


def _thin(ts: list[float], min_gap: float) -> list[float]:
    """Keep one candidate per burst (a door opened and closed gives two activations)."""
    out: list[float] = []
    for t in ts:
        if not out or t - out[-1] >= min_gap:
            out.append(t)
    return out


def pooled(results: list[HomeResult]) -> dict[str, Any]:
    """Top-level figures over all homes (alarms over all replayed weeks, pooled rates)."""
    days = sum(r.days for r in results)
    alarms = sum(r.false_alarms for r in results)

    def pool(attr: str) -> tuple[float | None, int]:
        n = sum(getattr(r, attr).n for r in results)
        d = sum(getattr(r, attr).detected for r in results)
        return (None if n == 0 else round(d / n, 4)), n

    rate, n = pool("collapse")
    weeks = days / 7.0
    lo, hi = poisson_ci(alarms)
    delays = [x for r in results for x in r.collapse.delays_min]
    out: dict[str, Any] = {
        "false_alarms_per_week": round(alarms / weeks, 3) if days else 0.0,
        "false_alarms_per_week_ci95": [round(lo / weeks, 3), round(hi / weeks, 3)]
        if days
        else None,
        "detection_rate": rate,
        "median_delay_min": round(statistics.median(delays), 1) if delays else None,
        "days": round(days, 2),
        "collapses": n,
    }
    for key, attr in (
        ("not_up_rate", "not_up"),
        ("out_of_bed_rate", "out_of_bed"),
        ("night_door_rate", "night_door"),
    ):
        out[key] = pool(attr)[0]
    out["homes"] = [r.to_json() for r in results]
    return out


# ------------------------------------------------------------------ leave one home out
# Candidate settings of the quiet-gap and night rules. `evaluation.routine_protocol`
# chooses one on the training homes and reports it on the held-out home only, so no
# reported figure is in-sample for its choice.
LOHO_GRID: Final[tuple[tuple[str, dict[str, Any]], ...]] = (
    ("default", {}),
    ("quantile 0.75", {"quiet_quantile": 0.75}),
    ("spread z 0", {"quiet_spread_z": 0.0}),
    ("spread z 2", {"quiet_spread_z": 2.0}),
    ("margin 0", {"quiet_margin_s": 0.0}),
    ("margin 60 min", {"quiet_margin_s": 3600.0}),
    ("no day cap", {"quiet_day_cap_s": None}),
    ("day cap 2 h", {"quiet_day_cap_s": 2 * 3600.0}),
    ("day cap 2.5 h", {"quiet_day_cap_s": 2.5 * 3600.0}),
    ("day cap 4 h", {"quiet_day_cap_s": 4 * 3600.0}),
    # The night rules: each entry puts back the rule as it was before.
    ("night door from 23:00", {"night_door_from_onset": False}),
    ("exit min 0", {"exit_min_s": 0.0}),
    ("return sensor unchecked", {"out_of_bed_needs_return_sensor": False}),
)
