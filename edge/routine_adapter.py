"""The routine/inactivity detector in the agent: ambient readings in, findings out.

    adapter = RoutineAdapter.from_settings(settings, start_t=now)   # loads the learned state
    adapter.update(readings, t); adapter.advance(now)                # the `Detector` protocol

- **Readings -> `AmbientEvent`s.** Only devices with an ambient `role` (motion, door,
  bed, chair) and a `room` count, and only their binary quantities (BTHome motion,
  opening/door/window, occupancy). A BTHome sensor repeats its state in every
  advertisement; the detector treats a repeated 1 as no new evidence, so the adapter
  passes only changes (and the first value) - a PIR that re-reports "motion" while the
  resident moves about is still seen through the 0 -> 1 edges it sends.
- **Findings.** Resident rules (inactivity, not up, out of bed at night, front door at
  night) become alarm conditions (`edge.alarm_book`): on when the detector raises, off for
  every resident rule whenever the resident is seen (an activation of an ambient sensor),
  so an alarm a previous run raised is still cancelled by the first sign of life after a
  restart. Technical findings
  (`sensor_silent`, `sensor_stuck`) are events only (`detail.source = "routine"`): a
  silent sensor is a technical matter, never an inactivity alarm.
- **Learned state survives restarts.** `RoutineModel` JSON is written atomically (temp
  file, fsync, rename) at every routine-day boundary (the detector's daily refresh) and
  read at start. A corrupt or incompatible file is set aside (`.bad`) and learning starts
  over from the care-plan defaults: better than not watching at all.
- **The hub keeps a copy** of the essentials: a `routine_profile` event per day with flat
  numbers (usual wake time, usual bedtime, days learned, the up-by deadline, the quiet-gap
  thresholds per time-of-day bucket as comma-separated minutes), and one at start-up when
  learned days were loaded, so a restarted agent does not leave the hub waiting a day.

The file write is the only I/O, once a day; everything else is the pure detector.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from edge.config import EdgeSettings
from edge.detection import DetailValue, Finding
from edge.detectors.routine import (
    RESIDENT_RULES,
    AmbientEvent,
    RoutineDetector,
    RoutineFinding,
    SensorKind,
)
from edge.detectors.routine_model import RoutineConfig, RoutineModel
from edge.state_file import read_state, set_aside, write_atomic
from sensors.contract import AlarmKind, Severity
from sensors.readings import Reading

log = logging.getLogger(__name__)

# Reading quantities (BTHome binary sensors) that are ambient evidence.
AMBIENT_QUANTITIES: Final = frozenset({"motion", "opening", "door", "window", "occupancy"})
KIND_BY_ROLE: Final = {
    "motion": SensorKind.MOTION,
    "door": SensorKind.DOOR,
    "bed": SensorKind.BED,
    "chair": SensorKind.CHAIR,
}
_TECHNICAL: Final = frozenset({"sensor_silent", "sensor_stuck"})


@dataclass(frozen=True, slots=True)
class AmbientSensor:
    kind: SensorKind
    room: str


def load_model(path: Path, config: RoutineConfig | None = None) -> RoutineModel:
    """The learned model from `path`, or a fresh one (cold start: care-plan defaults) if
    there is none or it cannot be used."""
    text = read_state(path, "routine")
    if text is None:
        return RoutineModel(config or RoutineConfig())
    try:
        model = RoutineModel.from_json(text, config)
    except (ValueError, KeyError, TypeError) as exc:
        set_aside(path, "routine", exc)
        return RoutineModel(config or RoutineConfig())
    log.info("routine: %d learned days loaded from %s", len(model.days), path)
    return model


def save_model(path: Path, model: RoutineModel) -> None:
    """Atomic: a crash leaves the old file or the new one, never half of one."""
    write_atomic(path, model.to_json())


# Detail strings are at most 200 characters (sensors.contract.ShortText): 48 half-hour
# thresholds of 90..720 min fit (<= 191 characters); a finer bucketing would not.
_DETAIL_TEXT_MAX: Final = 200


def minutes_csv(seconds: Sequence[float]) -> str | None:
    """Durations as whole minutes, comma-separated, "" for none (inf: not watched there);
    None when there is nothing or it would not fit a detail string."""
    if not seconds:
        return None
    text = ",".join(str(round(s / 60)) if math.isfinite(s) else "" for s in seconds)
    return text if len(text) <= _DETAIL_TEXT_MAX else None


def profile(model: RoutineModel) -> dict[str, DetailValue]:
    """Flat values for the hub's copy (minutes after local midnight; bedtime and the night
    start may be < 0, i.e. before midnight).

    `quiet_awake_min` / `quiet_asleep_min`: the quiet-gap thresholds per `quiet_bucket_min`
    bucket of the day from 00:00, in whole minutes, comma-separated; an empty item is a
    bucket without an asleep threshold; `quiet_asleep_min` is None until learned.
    """
    ups = [d.up_min for d in model.days if d.up_min is not None]
    sleeps = [d.sleep_min for d in model.days if d.sleep_min is not None]
    th = model.thresholds
    cfg = model.config
    return {
        "days_learned": len(model.days),
        "days_needed": cfg.min_learned_days,
        "learned": th.learned,
        "wake_min": round(statistics.median(ups), 1) if ups else None,
        "bedtime_min": round(statistics.median(sleeps), 1) if sleeps else None,
        "up_by_min": round(th.up_by_min, 1),
        "out_of_bed_limit_s": round(th.out_of_bed_s, 1),
        "out_of_bed_enabled": th.out_of_bed_enabled,
        # Not back at night: the usual latest return plus the margin, and why it is off.
        "return_by_min": None if th.return_by_min is None else round(th.return_by_min, 1),
        "not_back": th.not_back_state,
        "night_start_min": round(th.night_start_min, 1),
        "night_end_min": round(th.night_end_min, 1),
        "quiet_bucket_min": cfg.bucket_min,
        "quiet_awake_min": minutes_csv(th.quiet_s),
        "quiet_asleep_min": minutes_csv(th.sleep_quiet_s),
    }


class RoutineAdapter:
    """`edge.detection.Detector` around `RoutineDetector`, with persistence."""

    def __init__(
        self,
        sensors: Mapping[str, AmbientSensor],
        *,
        tz: str,
        start_t: float,
        state_path: Path | None,
        model: RoutineModel | None = None,
    ) -> None:
        self.sensors = dict(sensors)
        self.tz = tz
        self.state_path = state_path
        if model is None:
            model = load_model(state_path) if state_path is not None else RoutineModel()
        self.model = model
        self.detector = RoutineDetector(model, tz, start_t)
        self._value: dict[str, int] = {}
        self._next_refresh = self._boundary_after(start_t)
        self.saves = 0
        # Learned days loaded: tell the hub at the first tick, not only at the next noon.
        self._announce = bool(model.days)

    @classmethod
    def from_settings(cls, settings: EdgeSettings, start_t: float) -> RoutineAdapter | None:
        sensors = {
            d.id: AmbientSensor(KIND_BY_ROLE[d.role], d.room)
            for d in settings.devices
            if d.role in KIND_BY_ROLE and d.room is not None
        }
        if not sensors:
            return None
        return cls(
            sensors,
            tz=settings.timezone,
            start_t=start_t,
            state_path=settings.routine_state_path,
        )

    @property
    def name(self) -> str:
        return "routine"

    # -- the Detector protocol ----------------------------------------------------------

    def update(self, readings: Sequence[Reading], t: float) -> Sequence[Finding]:
        events: list[AmbientEvent] = []
        for r in readings:
            sensor = self.sensors.get(r.sensor)
            if sensor is None or r.quantity not in AMBIENT_QUANTITIES:
                continue
            value = int(r.value >= 0.5)
            if self._value.get(r.sensor) == value:
                continue  # a repeated state: no new evidence
            self._value[r.sensor] = value
            events.append(AmbientEvent(r.t, r.sensor, sensor.kind, sensor.room, value))
        if not events:
            return []
        seen = next((e for e in events if e.value == 1), None)
        # The resident is seen: every resident condition is off (before what the detector
        # makes of the same events, which may start a new one).
        out = [] if seen is None else self._seen(seen.t, {})
        return out + self._findings(self.detector.update(events))

    def advance(self, t: float) -> Sequence[Finding]:
        out = self._findings(self.detector.advance(t))
        if t >= self._next_refresh:
            # The detector adds the finished routine day to the model at this boundary.
            self._next_refresh = self._boundary_after(t)
            out.extend(self.refreshed(t))
        elif self._announce:
            out.append(Finding("routine_profile", t, None, profile(self.model)))
        self._announce = False
        return out

    # -- daily refresh ------------------------------------------------------------------

    def refreshed(self, t: float) -> list[Finding]:
        """Persist the model and tell the hub its essentials."""
        if self.state_path is not None:
            try:
                save_model(self.state_path, self.model)
                self.saves += 1
            except OSError as exc:
                # Not fatal: the detector keeps its state in memory; tomorrow tries again.
                log.error("routine: cannot save learned state to %s: %s", self.state_path, exc)
        return [Finding("routine_profile", t, None, profile(self.model))]

    def _boundary_after(self, t: float) -> float:
        tz = ZoneInfo(self.tz)
        local = datetime.fromtimestamp(t, tz)
        minute = self.model.config.day_boundary_min
        b = local.replace(hour=minute // 60, minute=minute % 60, second=0, microsecond=0)
        if b.timestamp() <= t:
            b = (b + timedelta(days=1)).replace(hour=minute // 60, minute=minute % 60)
        # A minute's margin: the detector closes its day when time reaches the boundary.
        return b.timestamp() + 60.0

    # -- findings -----------------------------------------------------------------------

    def _findings(self, found: Sequence[RoutineFinding]) -> list[Finding]:
        out: list[Finding] = []
        for f in found:
            detail: dict[str, DetailValue] = {
                k: (v if not isinstance(v, float) or math.isfinite(v) else None)
                for k, v in f.detail[:30]
            }
            kind = f.kind.value
            if kind in _TECHNICAL or f.alarm_kind is AlarmKind.TECHNICAL:
                out.append(Finding(kind, f.t, f.sensor, {**detail, "source": "routine"}))
                continue
            if f.action == "raise":
                out.append(
                    Finding(kind, f.t, f.sensor, detail, f.alarm_kind, f.severity, rule=kind)
                )
            # The detector's cancel comes with an activation (the resident is seen
            # again), which `update` has already turned into every resident rule's "off"
            # (its cancel names one rule, but being seen ends them all, not-up included).
        return out

    @staticmethod
    def _seen(t: float, detail: dict[str, DetailValue]) -> list[Finding]:
        """Every resident rule's condition off (the book cancels those that are open)."""
        return [
            Finding(
                f"{rule.value}_cancelled",
                t,
                None,
                detail,
                AlarmKind.INACTIVITY,
                Severity.LOW,
                on=False,
                rule=rule.value,
            )
            for rule in RESIDENT_RULES
        ]
