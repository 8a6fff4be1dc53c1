"""The personal-trends detector in the agent: vital-sign readings in, trend alarms out.

    adapter = TrendsAdapter.from_settings(settings)   # loads the saved daily values
    adapter.update(readings, t); adapter.advance(now)  # the `Detector` protocol

- **Readings -> `TrendSample`s.** Only vital-signs devices (`role = "vitals"`, the serial
  gateway) count, and only usable readings (frame `status` 0, finite, inside the
  physiological range): resting heart rate from a wearable's continuous `hr` (a spot
  check's pulse is taken sitting up after a walk to the cuff: not resting), `spo2` from
  any of them, body `temperature`, `weight`. Continuous samples are thinned to one per
  `sample_period_s` per sensor and metric: the day's 10th percentile is the same, and a
  day of 1 Hz samples would otherwise sit in memory until midnight.
- **Findings.** A rule that starts to hold raises an AlarmMessage (`trend_alarm`, kind
  `vitals`, the rule's severity) with flat numbers: `rule`, `metric`, `value`,
  `baseline_median`, `baseline_mad`, `baseline_days` (None for a rise-within rule, which
  has no baseline) and `day`; when it no longer holds, `trend_alarm_cancelled` cancels
  it. Each rule is a condition in the agent's alarm book (`edge.alarm_book`), which keeps
  the alarm ids; at the first tick after a start every configured rule the detector does
  not hold is said "off", so an alarm left open by a lost state file is cancelled.
- **State survives restarts.** The detector's daily values, the day in progress and its
  raised rules are written atomically (temp file, fsync, rename) to
  `trends_state` (beside the routine state) whenever a day closes or an alarm changes,
  and read at start. A corrupt or incompatible file is set aside (`.bad`), logged, and
  the baseline starts over.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Final

from edge.care_plan import CarePlan, care_plan
from edge.config import EdgeSettings
from edge.detection import DetailValue, Finding
from edge.detectors.trends import (
    Metric,
    TrendDetector,
    TrendFinding,
    TrendSample,
    TrendsConfig,
)
from edge.detectors.vitals import Quantity, Source, plausible
from edge.state_file import read_state, set_aside, write_atomic
from edge.vitals_adapter import vital_readings, vitals_sources
from sensors.contract import AlarmKind
from sensors.readings import Reading

log = logging.getLogger(__name__)

STATE_VERSION: Final = 1
SAMPLE_PERIOD_S: Final = 60.0

_METRIC: Final = {
    Quantity.SPO2: Metric.SPO2,
    Quantity.TEMP: Metric.TEMP,
    Quantity.WEIGHT: Metric.WEIGHT,
}


def trends_config(settings: EdgeSettings) -> TrendsConfig:
    """The care plan's trend rules (edge.care_plan: the hub's last update, else edge.toml's,
    else the defaults)."""
    t = settings.trends
    return TrendsConfig(
        baseline_days=t.baseline_days,
        min_baseline_days=t.min_baseline_days,
        rules=care_plan(settings).trend_rules,
    )


def load_state(path: Path, tz: str, config: TrendsConfig | None = None) -> TrendDetector:
    """The saved detector, or a fresh start. (Files of earlier agents also held alarm ids;
    the alarm book keeps those now, and they are ignored.)"""
    text = read_state(path, "trends")
    if text is None:
        return TrendDetector(tz, config)
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
            raise ValueError("not a trends state file of version 1")
        detector = TrendDetector.from_json(json.dumps(raw["detector"]), tz, config)
    except (ValueError, KeyError, TypeError) as exc:
        set_aside(path, "trends", exc)
        return TrendDetector(tz, config)
    days = sum(len(s) for s in detector.daily.values())
    log.info("trends: %d daily values loaded from %s", days, path)
    return detector


def save_state(path: Path, detector: TrendDetector) -> None:
    """Atomic: a crash leaves the old file or the new one, never half of one."""
    text = json.dumps(
        {"version": STATE_VERSION, "detector": json.loads(detector.to_json())},
        separators=(",", ":"),
    )
    write_atomic(path, text)


class TrendsAdapter:
    """`edge.detection.Detector` around `TrendDetector`, with persistence."""

    def __init__(
        self,
        sensors: frozenset[str],
        *,
        continuous: frozenset[str] = frozenset(),
        tz: str,
        state_path: Path | None,
        config: TrendsConfig | None = None,
        sample_period_s: float = SAMPLE_PERIOD_S,
    ) -> None:
        self.sensors = sensors
        self.continuous = continuous
        self.state_path = state_path
        self.sample_period_s = sample_period_s
        self.detector = (
            load_state(state_path, tz, config)
            if state_path is not None
            else TrendDetector(tz, config)
        )
        self._reconciled = False
        self._last_fed: dict[tuple[str, Metric], float] = {}
        self._day: date | None = self.detector.day
        self.saves = 0

    @classmethod
    def from_settings(cls, settings: EdgeSettings) -> TrendsAdapter | None:
        sensors, continuous = vitals_sources(settings)
        if not sensors:
            return None
        return cls(
            sensors,
            continuous=continuous,
            tz=settings.timezone,
            state_path=settings.trends_state_path,
            config=trends_config(settings),
        )

    @property
    def name(self) -> str:
        return "trends"

    def apply_care_plan(self, plan: CarePlan) -> None:
        """The hub changed the care plan (edge.commands): these rules from now on. A rule
        the plan drops is no longer raised; an alarm it had raised stays open at the hub
        for the operators to close (never withdrawn behind their backs)."""
        rules = plan.trend_rules
        self.detector.cfg = replace(self.detector.cfg, rules=rules)
        names = {r.name for r in rules}
        self.detector.active &= names
        self.save()

    # -- the Detector protocol ----------------------------------------------------------

    def update(self, readings: Sequence[Reading], t: float) -> Sequence[Finding]:
        samples: list[TrendSample] = []
        for v in vital_readings(readings, self.sensors, self.continuous):
            if v.status or not math.isfinite(v.value) or not plausible(v.quantity, v.value):
                continue  # unusable: the vitals detector reports it
            continuous = v.source is Source.CONTINUOUS
            if v.quantity is Quantity.HR:
                if not continuous:
                    continue  # a spot check's pulse is not a resting heart rate
                metric = Metric.RESTING_HR
            elif v.quantity in _METRIC:
                metric = _METRIC[v.quantity]
            else:
                continue
            if continuous:
                key = (v.sensor, metric)
                last = self._last_fed.get(key)
                if last is not None and 0 <= v.t - last < self.sample_period_s:
                    continue
                self._last_fed[key] = v.t
            samples.append(TrendSample(v.t, metric, v.value))
        if not samples:
            return []
        return self._after(self.detector.update(samples), t)

    def advance(self, t: float) -> Sequence[Finding]:
        out = self._after(self.detector.advance(t), t)
        if not self._reconciled:
            self._reconciled = True
            out.extend(
                Finding(
                    "trend_alarm_cancelled",
                    t,
                    None,
                    {"rule": rule.name, "reason": "not_held"},
                    AlarmKind.VITALS,
                    rule.severity,
                    on=False,
                    rule=rule.name,
                )
                for rule in self.detector.cfg.rules
                if rule.name not in self.detector.active
            )
        return out

    # -- findings and persistence -------------------------------------------------------

    def _after(self, found: Sequence[TrendFinding], t: float) -> list[Finding]:
        out = [self._finding(f, t) for f in found]
        day, self._day = self._day, self.detector.day
        if found or (day is not None and self.detector.day != day):  # a day closed
            self.save()
        return out

    def save(self) -> None:
        if self.state_path is None:
            return
        try:
            save_state(self.state_path, self.detector)
            self.saves += 1
        except OSError as exc:
            # Not fatal: the detector keeps its state in memory; the next day tries again.
            log.error("trends: cannot save state to %s: %s", self.state_path, exc)

    def _finding(self, f: TrendFinding, t: float) -> Finding:
        b = f.baseline
        detail: dict[str, DetailValue] = {
            "rule": f.rule,
            "metric": f.metric.value,
            "value": round(f.value, 2),
            "baseline_median": None if b is None else round(b.median, 2),
            "baseline_mad": None if b is None else round(b.mad, 2),
            "baseline_days": None if b is None else b.days,
            "day": f.day.isoformat(),
        }
        raised = f.action == "raise"
        if raised:
            log.info("trends: %s raised (%s %.1f)", f.rule, f.metric.value, f.value)
        return Finding(
            "trend_alarm" if raised else "trend_alarm_cancelled",
            t,
            None,
            detail,
            f.alarm_kind,
            f.severity,
            on=raised,
            rule=f.rule,
        )
