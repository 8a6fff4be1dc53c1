"""Personal trends: a robust per-resident baseline and sustained deviations from it.

Raw samples (heart rate, SpO2, temperature, weight) are reduced to one value per local
calendar day; a day is closed when a sample of a later day arrives or `advance(t)`
passes midnight. The baseline of a metric is the median and MAD (median absolute
deviation) of the daily values of the `baseline_days` days before the days under
test, so a slow deterioration does not drag its own baseline along with it.

Rules come from the care plan (`TrendRule`, dataclass config). Defaults:
- resting heart rate up 15 bpm on 2 consecutive days (infection, heart failure,
  dehydration);
- weight up 2 kg within 3 days (fluid retention: a heart-failure sign, as in the
  ESC heart-failure self-care advice);
- SpO2 down 3 points on 2 consecutive days; temperature up 1.0 C on 2 days.

State (`to_json` / `from_json`): the daily values (the last `KEEP_DAYS` days), the day
in progress and its samples so far, and the rules that are raised, so that the agent
carries its baseline (and its open alarms) across a restart.

Pure: no I/O, no clock; the time zone comes in at construction.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

import numpy as np

from sensors.contract import AlarmKind, Severity

logger = logging.getLogger(__name__)

MAD_TO_SD: Final = 1.4826  # MAD of a normal distribution times this is its SD
STATE_VERSION: Final = 1
KEEP_DAYS: Final = 400  # daily values kept in the saved state (baselines use ~3 weeks)


class Metric(StrEnum):
    RESTING_HR = "resting_hr"  # from heart-rate samples: a low percentile of the day
    SPO2 = "spo2"  # daily median
    TEMP = "temp"  # daily median
    WEIGHT = "weight"  # daily median of weighings


class RuleKind(StrEnum):
    ABOVE_BASELINE = "above_baseline"  # value >= median + delta on `days` days running
    BELOW_BASELINE = "below_baseline"  # value <= median - delta on `days` days running
    RISE_WITHIN = "rise_within"  # value - min(previous `days` days) >= delta
    ROBUST_Z = "robust_z"  # |value - median| / (1.4826 MAD) >= delta on `days` days


@dataclass(frozen=True, slots=True)
class TrendRule:
    name: str
    metric: Metric
    kind: RuleKind
    delta: float
    days: int
    severity: Severity = Severity.MEDIUM


DEFAULT_RULES: Final = (
    TrendRule("resting_hr_up", Metric.RESTING_HR, RuleKind.ABOVE_BASELINE, 15.0, 2),
    TrendRule("weight_gain", Metric.WEIGHT, RuleKind.RISE_WITHIN, 2.0, 3, Severity.HIGH),
    TrendRule("spo2_down", Metric.SPO2, RuleKind.BELOW_BASELINE, 3.0, 2),
    TrendRule("temp_up", Metric.TEMP, RuleKind.ABOVE_BASELINE, 1.0, 2),
)


@dataclass(frozen=True, slots=True)
class TrendsConfig:
    baseline_days: int = 14
    min_baseline_days: int = 7  # fewer: no baseline rules yet (rise_within still works)
    rules: tuple[TrendRule, ...] = DEFAULT_RULES
    resting_hr_percentile: float = 10.0
    min_hr_samples: int = 30  # a day with fewer heart-rate samples has no resting HR
    # MAD floors (units of the metric): a very steady baseline must not turn noise
    # into a robust-z deviation.
    mad_floor: tuple[tuple[Metric, float], ...] = (
        (Metric.RESTING_HR, 2.0),
        (Metric.SPO2, 0.7),
        (Metric.TEMP, 0.15),
        (Metric.WEIGHT, 0.3),
    )


@dataclass(frozen=True, slots=True)
class TrendSample:
    t: float  # POSIX seconds
    metric: Metric
    value: float


@dataclass(frozen=True, slots=True)
class Baseline:
    median: float
    mad: float
    days: int


@dataclass(frozen=True, slots=True)
class TrendFinding:
    day: date
    rule: str
    metric: Metric
    action: Literal["raise", "cancel"]
    value: float
    baseline: Baseline | None
    severity: Severity
    alarm_kind: AlarmKind = AlarmKind.VITALS


def robust_baseline(values: Iterable[float], mad_floor: float = 0.0) -> Baseline | None:
    arr = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if arr.size == 0:
        return None
    med = float(np.median(arr))
    mad = float(np.median(np.abs(arr - med)))
    return Baseline(med, max(mad, mad_floor), int(arr.size))


class TrendDetector:
    """Daily values per metric and the care plan's trend rules. Not thread-safe."""

    def __init__(self, tz: str, config: TrendsConfig | None = None) -> None:
        self.cfg = config or TrendsConfig()
        self.tz = ZoneInfo(tz)
        self.day: date | None = None
        self.pending: dict[Metric, list[float]] = {}
        self.daily: dict[Metric, dict[date, float]] = {m: {} for m in Metric}
        self.active: set[str] = set()

    # -- state ----------------------------------------------------------------------------

    def to_json(self) -> str:
        """The detector's state as JSON (finite numbers only; dates in ISO form)."""
        last = max((d for series in self.daily.values() for d in series), default=None)
        keep = None if last is None else last - timedelta(days=KEEP_DAYS)
        state: dict[str, Any] = {
            "version": STATE_VERSION,
            "tz": self.tz.key,
            "day": None if self.day is None else self.day.isoformat(),
            "pending": {m.value: v for m, v in self.pending.items() if v},
            "daily": {
                m.value: {
                    d.isoformat(): v for d, v in sorted(series.items()) if keep is None or d > keep
                }
                for m, series in self.daily.items()
                if series
            },
            "active": sorted(self.active),
        }
        return json.dumps(state, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str, tz: str, config: TrendsConfig | None = None) -> TrendDetector:
        """A detector from `to_json`'s output. Raises ValueError (or KeyError/TypeError)
        on anything that is not a state this version wrote. The time zone given wins (the
        dwelling's setting); rules no longer in `config` are dropped from `active`."""
        raw = json.loads(text)
        if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
            raise ValueError("not a trends state of version 1")
        det = cls(tz, config)
        day = raw["day"]
        det.day = None if day is None else date.fromisoformat(day)
        for name, values in dict(raw["pending"]).items():
            det.pending[Metric(name)] = [_finite(v) for v in values]
        for name, series in dict(raw["daily"]).items():
            det.daily[Metric(name)] = {
                date.fromisoformat(d): _finite(v) for d, v in dict(series).items()
            }
        names = {r.name for r in det.cfg.rules}
        det.active = {str(n) for n in raw["active"]} & names
        return det

    def _date(self, t: float) -> date:
        return datetime.fromtimestamp(t, self.tz).date()

    def update(self, samples: Iterable[TrendSample]) -> list[TrendFinding]:
        out: list[TrendFinding] = []
        for s in samples:
            if not np.isfinite(s.value):
                continue
            d = self._date(s.t)
            if self.day is not None and d < self.day:
                continue  # late sample for a closed day: the day's value is final
            if self.day is not None and d > self.day:
                out.extend(self._close_day())
            self.day = d
            self.pending.setdefault(s.metric, []).append(s.value)
        return out

    def advance(self, t: float) -> list[TrendFinding]:
        if self.day is not None and self._date(t) > self.day:
            out = self._close_day()
            self.day = self._date(t)
            return out
        return []

    def add_daily(self, day: date, metric: Metric, value: float) -> list[TrendFinding]:
        """Feed an already aggregated daily value (e.g. from the hub's history)."""
        self.daily[metric][day] = value
        return self._evaluate(day)

    def _aggregate(self, metric: Metric, values: list[float]) -> float | None:
        if metric is Metric.RESTING_HR:
            if len(values) < self.cfg.min_hr_samples:
                return None
            return float(np.percentile(values, self.cfg.resting_hr_percentile))
        return float(np.median(values))

    def _close_day(self) -> list[TrendFinding]:
        assert self.day is not None
        for metric, values in self.pending.items():
            v = self._aggregate(metric, values)
            if v is not None:
                self.daily[metric][self.day] = v
        self.pending = {}
        return self._evaluate(self.day)

    def baseline(self, metric: Metric, before: date) -> Baseline | None:
        """Median/MAD over the `baseline_days` days before `before`."""
        series = self.daily[metric]
        lo = before - timedelta(days=self.cfg.baseline_days)
        vals = [v for d, v in series.items() if lo <= d < before]
        if len(vals) < self.cfg.min_baseline_days:
            return None
        return robust_baseline(vals, dict(self.cfg.mad_floor).get(metric, 0.0))

    def _rule_holds(self, rule: TrendRule, day: date) -> tuple[bool, float | None, Baseline | None]:
        series = self.daily[rule.metric]
        value = series.get(day)
        if value is None:
            return False, None, None
        if rule.kind is RuleKind.RISE_WITHIN:
            earlier = [
                series[d]
                for d in (day - timedelta(days=k) for k in range(1, rule.days + 1))
                if d in series
            ]
            return bool(earlier) and value - min(earlier) >= rule.delta, value, None
        run = [day - timedelta(days=k) for k in range(rule.days)]
        if any(d not in series for d in run):
            return False, value, None
        base = self.baseline(rule.metric, run[-1])
        if base is None:
            return False, value, None
        vals = [series[d] for d in run]
        if rule.kind is RuleKind.ABOVE_BASELINE:
            ok = all(v >= base.median + rule.delta for v in vals)
        elif rule.kind is RuleKind.BELOW_BASELINE:
            ok = all(v <= base.median - rule.delta for v in vals)
        else:
            sd = MAD_TO_SD * base.mad
            ok = sd > 0 and all(abs(v - base.median) / sd >= rule.delta for v in vals)
        return ok, value, base

    def _evaluate(self, day: date) -> list[TrendFinding]:
        out: list[TrendFinding] = []
        for rule in self.cfg.rules:
            if day not in self.daily[rule.metric]:
                continue  # no measurement that day: the rule's state stays as it was
            ok, value, base = self._rule_holds(rule, day)
            assert value is not None
            if ok and rule.name not in self.active:
                self.active.add(rule.name)
                logger.info("trend rule %s raised", rule.name)
                out.append(
                    TrendFinding(day, rule.name, rule.metric, "raise", value, base, rule.severity)
                )
            elif not ok and rule.name in self.active:
                self.active.discard(rule.name)
                out.append(
                    TrendFinding(day, rule.name, rule.metric, "cancel", value, base, rule.severity)
                )
        return out


def _finite(v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"not a finite number: {v!r}")
    return float(v)


def day_start(day: date, tz: str) -> float:
    """POSIX time of local midnight starting `day` (for tests and simulators)."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).timestamp()
