"""Vital-signs pipeline at the edge: readings in, NEWS2 band changes and alarms out.

Pure and streaming: `update(readings)` with readings in time order, `advance(t)` when
time passes (spot checks age out, so the score can change with no new reading). No I/O,
no clock reads.

- Spot-check devices (BP cuff, pulse oximeter, thermometer, scale) give one reading
  that counts for `spot_max_age_s` (per quantity).
- Continuous devices (wearable heart rate, SpO2) are windowed: the median of the valid
  samples in the last `window_s`, only if there are enough of them spread over the
  window (one motion artefact must not move the score).
- Invalid readings (device status bits set, NaN, outside the physiological range, too
  old on arrival, from the future) are excluded and reported as findings.
- An event when the NEWS2 band changes; an alarm for routing when the severity rises:
  aggregate >= 5 or a 3 in one parameter -> HIGH (mantelzorger), >= 7 -> CRITICAL
  (alarm centre). Partial scores (usual at home: no respiration rate, no ACVPU) are
  lower bounds, so they may raise an alarm but never prove that all is well.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Literal

from edge.detectors.news2 import (
    VALID_RANGE,
    Acvpu,
    Band,
    Invalid,
    News2Score,
    Param,
    SpO2Scale,
    VitalSigns,
    score,
)
from sensors.contract import AlarmKind, Severity

logger = logging.getLogger(__name__)


class Quantity(StrEnum):
    HR = "hr"  # beats/min
    SPO2 = "spo2"  # %
    SBP = "sbp"  # mmHg
    DBP = "dbp"  # mmHg (not in NEWS2; kept for trends)
    TEMP = "temp"  # degrees C
    RR = "rr"  # breaths/min
    WEIGHT = "weight"  # kg (not in NEWS2; trends)
    O2 = "o2"  # 1 = on supplemental oxygen, 0 = air (oxygen concentrator or carer entry)
    ACVPU = "acvpu"  # 0 A, 1 C, 2 V, 3 P, 4 U (carer entry)


class Source(StrEnum):
    SPOT = "spot"
    CONTINUOUS = "continuous"


_ACVPU_CODES: Final = (Acvpu.A, Acvpu.C, Acvpu.V, Acvpu.P, Acvpu.U)
_TO_PARAM: Final = {
    Quantity.HR: Param.HR,
    Quantity.SPO2: Param.SPO2,
    Quantity.SBP: Param.SBP,
    Quantity.TEMP: Param.TEMP,
    Quantity.RR: Param.RR,
    Quantity.O2: Param.O2,
    Quantity.ACVPU: Param.ACVPU,
}
_EXTRA_RANGE: Final[dict[Quantity, tuple[float, float]]] = {
    Quantity.DBP: (20.0, 200.0),
    Quantity.WEIGHT: (20.0, 300.0),
    Quantity.O2: (0.0, 1.0),
    Quantity.ACVPU: (0.0, 4.0),
}


@dataclass(frozen=True, slots=True)
class VitalReading:
    t: float  # POSIX seconds, when measured
    quantity: Quantity
    value: float
    source: Source = Source.SPOT
    sensor: str = ""
    status: int = 0  # device status bits (e.g. GATT measurement status); 0 = all good


@dataclass(frozen=True, slots=True)
class VitalsConfig:
    scale: SpO2Scale = SpO2Scale.SCALE_1  # scale 2 only if prescribed (hypercapnic failure)
    # Care plan: on air unless home oxygen is prescribed; None = unknown (then "air or
    # oxygen" is a missing parameter until an oxygen reading arrives).
    on_oxygen: bool | None = False
    # Spot checks count this long (seconds): a BP taken this morning still says something
    # tonight; a temperature from yesterday does not.
    spot_max_age_s: tuple[tuple[Quantity, float], ...] = (
        (Quantity.HR, 4 * 3600.0),
        (Quantity.SPO2, 4 * 3600.0),
        (Quantity.SBP, 12 * 3600.0),
        (Quantity.TEMP, 8 * 3600.0),
        (Quantity.RR, 4 * 3600.0),
        (Quantity.ACVPU, 4 * 3600.0),
        (Quantity.O2, 24 * 3600.0),
    )
    window_s: float = 300.0  # continuous data: median over this window
    min_samples: int = 5
    min_coverage: float = 0.5  # samples must span this share of the window
    status_mask: int = 0xFFFF  # any of these status bits set: reading invalid
    max_future_s: float = 120.0  # clock skew allowed for a device timestamp
    # Same band, but the score or the parameters present changed: a parameter that
    # became available (a band put on) is reported at once, other changes (a score
    # moving, a spot check ageing out) at most this often (s), so the hub's "latest
    # NEWS2" does not go stale and a flapping window does not flood it.
    update_interval_s: float = 600.0

    def max_age(self, q: Quantity) -> float:
        return dict(self.spot_max_age_s).get(q, 4 * 3600.0)


class VitalsFindingKind(StrEnum):
    BAND_CHANGED = "news2_band_changed"
    UPDATED = "news2_updated"  # same band, other score or other parameters present
    ALARM = "vitals_alarm"
    READING_INVALID = "reading_invalid"


@dataclass(frozen=True, slots=True)
class VitalsFinding:
    t: float
    kind: VitalsFindingKind
    action: Literal["raise", "cancel", "event"]
    severity: Severity | None
    alarm_kind: AlarmKind = AlarmKind.VITALS
    news2: News2Score | None = None
    previous_band: Band | None = None
    sensor: str | None = None
    detail: tuple[tuple[str, float | int | str | bool], ...] = ()


def plausible(q: Quantity, value: float) -> bool:
    """Inside the physiological range the pipeline accepts for `q` (NaN: False)."""
    param = _TO_PARAM.get(q)
    lo, hi = (
        VALID_RANGE[param]
        if param is not None and param in VALID_RANGE
        else _EXTRA_RANGE.get(q, (-math.inf, math.inf))
    )
    return lo <= value <= hi


def severity_for(result: News2Score) -> Severity | None:
    """Routing: >= 7 alarm centre at once; >= 5 or a single 3 the mantelzorger now."""
    if result.score >= 7:
        return Severity.CRITICAL
    if result.score >= 5 or result.red_flag:
        return Severity.HIGH
    return None


_SEV_RANK: Final = {None: 0, Severity.HIGH: 1, Severity.CRITICAL: 2}


@dataclass(slots=True)
class _Continuous:
    samples: deque[tuple[float, float]] = field(default_factory=deque)


class VitalsPipeline:
    """One resident's vital signs. Not thread-safe."""

    def __init__(self, config: VitalsConfig | None = None) -> None:
        self.cfg = config or VitalsConfig()
        self.now = -math.inf  # latest time seen (readings or the agent's clock)
        self.clock: float | None = None  # latest time given by `advance`
        self.spot: dict[Quantity, tuple[float, float]] = {}
        self.cont: dict[Quantity, _Continuous] = {}
        self.band: Band | None = None
        self.severity: Severity | None = None
        self.last: News2Score | None = None
        # what the last band/update event said, and when (rate limit of UPDATED)
        self._reported: tuple[int, frozenset[Param]] | None = None
        self._reported_t = -math.inf

    # ------------------------------------------------------------------ validation
    def _check(self, r: VitalReading) -> str | None:
        """Why a reading is unusable, or None."""
        if r.status & self.cfg.status_mask:
            return "device_status"
        if not math.isfinite(r.value) or not math.isfinite(r.t):
            return "nan"
        if not plausible(r.quantity, r.value):
            return "out_of_range"
        max_age = (
            self.cfg.window_s if r.source is Source.CONTINUOUS else self.cfg.max_age(r.quantity)
        )
        if self.now - r.t > max_age:
            return "stale"
        return None

    # ------------------------------------------------------------------ public API
    def restore_spot(
        self, values: Iterable[tuple[Quantity, float, float]], now: float | None = None
    ) -> int:
        """Values (quantity, time, value) an earlier run scored with (`in_use`): they count
        again as spot checks until they age out, as if never forgotten, so a restart does
        not cancel an alarm on the strength of one fine reading while the bad one is still
        current. `now`: the agent's clock, if known; a value ahead of it by more than
        `max_future_s` (a device or a clock that was wrong) or already too old is left out,
        as is one that is not finite or plausible. Returns how many were taken; no finding
        is made until the next reading or tick."""
        taken = 0
        for q, t, v in values:
            if not (math.isfinite(t) and math.isfinite(v) and plausible(q, v)):
                continue
            if now is not None and (
                t > now + self.cfg.max_future_s or now - t > self.cfg.max_age(q)
            ):
                continue
            prev = self.spot.get(q)
            if prev is None or t > prev[0]:
                self.spot[q] = (t, v)
                taken += 1
        return taken

    def in_use(self) -> list[tuple[Quantity, float, float]]:
        """(quantity, time, value) of each value the score uses now: the freshest spot
        check or continuous window still within its age limit (what `restore_spot` takes
        back after a restart)."""
        out = []
        for q in sorted({*self.spot, *self.cont}):
            best = self._in_use(q)
            if best is not None:
                out.append((q, best[0], best[1]))
        return out

    def update(self, readings: Iterable[VitalReading]) -> list[VitalsFinding]:
        out: list[VitalsFinding] = []
        for r in readings:
            # A device clock far ahead of the agent's clock (the last `advance`) must
            # not drag the pipeline's time along.
            future = self.clock is not None and r.t > self.clock + self.cfg.max_future_s
            if r.t > self.now and not future and math.isfinite(r.t):
                out.extend(self._evaluate(r.t))  # readings that aged out meanwhile
            reason = "future" if future else self._check(r)
            if reason is not None:
                logger.debug("reading %s from %s excluded: %s", r.quantity, r.sensor, reason)
                out.append(
                    VitalsFinding(
                        self.now,
                        VitalsFindingKind.READING_INVALID,
                        "event",
                        None,
                        AlarmKind.TECHNICAL,
                        sensor=r.sensor or None,
                        detail=(("quantity", r.quantity.value), ("reason", reason))
                        + ((("status", r.status),) if r.status else ()),
                    )
                )
                continue
            if r.source is Source.CONTINUOUS:
                self.cont.setdefault(r.quantity, _Continuous()).samples.append((r.t, r.value))
            else:
                prev = self.spot.get(r.quantity)
                if prev is None or r.t >= prev[0]:
                    self.spot[r.quantity] = (r.t, r.value)
            out.extend(self._evaluate(self.now))
        return out

    def advance(self, t: float) -> list[VitalsFinding]:
        """The agent's clock: time passes (spot checks age out)."""
        self.clock = t if self.clock is None else max(self.clock, t)
        return self._evaluate(t)

    def _evaluate(self, t: float) -> list[VitalsFinding]:
        self.now = max(self.now, t)
        result = score(self.current(), self.cfg.scale, self._stale())
        self.last = result
        out: list[VitalsFinding] = []
        if result.band is not self.band:
            out.append(
                VitalsFinding(
                    self.now,
                    VitalsFindingKind.BAND_CHANGED,
                    "event",
                    None,
                    news2=result,
                    previous_band=self.band,
                )
            )
            self.band = result.band
            self._report(result)
        elif self._reported is not None and self._worth_reporting(result, *self._reported):
            out.append(
                VitalsFinding(self.now, VitalsFindingKind.UPDATED, "event", None, news2=result)
            )
            self._report(result)
        sev = severity_for(result)
        if _SEV_RANK[sev] > _SEV_RANK[self.severity]:
            assert sev is not None
            logger.info("NEWS2 %d (%s): vitals alarm %s", result.score, result.band, sev)
            out.append(VitalsFinding(self.now, VitalsFindingKind.ALARM, "raise", sev, news2=result))
        elif sev is None and self.severity is not None:
            out.append(
                VitalsFinding(
                    self.now, VitalsFindingKind.ALARM, "cancel", self.severity, news2=result
                )
            )
        self.severity = sev
        return out

    def _worth_reporting(self, result: News2Score, score: int, missing: frozenset[Param]) -> bool:
        """A parameter that became available is news at once; any other change (a
        score moving within the band, a parameter lost) at most every interval."""
        now_missing = frozenset(result.missing)
        if (result.score, now_missing) == (score, missing):
            return False
        return now_missing < missing or self.now - self._reported_t >= self.cfg.update_interval_s

    def _report(self, result: News2Score) -> None:
        self._reported = (result.score, frozenset(result.missing))
        self._reported_t = self.now

    # ------------------------------------------------------------------ current values
    def _window_value(self, q: Quantity) -> tuple[float, float] | None:
        """(time, median) of the continuous window ending now, if it is well filled."""
        c = self.cont.get(q)
        if c is None:
            return None
        start = self.now - self.cfg.window_s
        while c.samples and c.samples[0][0] < start:
            c.samples.popleft()
        if len(c.samples) < self.cfg.min_samples:
            return None
        span = c.samples[-1][0] - c.samples[0][0]
        if span < self.cfg.min_coverage * self.cfg.window_s:
            return None
        return c.samples[-1][0], statistics.median(v for _, v in c.samples)

    def value(self, q: Quantity) -> float | None:
        """The value in use now for `q` (the freshest spot check or continuous window
        still within its age limit), or None."""
        return self._value(q)

    def _value(self, q: Quantity) -> float | None:
        best = self._in_use(q)
        return None if best is None else best[1]

    def _in_use(self, q: Quantity) -> tuple[float, float] | None:
        """(time, value) of the freshest spot check or continuous window within its age."""
        best: tuple[float, float] | None = None
        spot = self.spot.get(q)
        if spot is not None and self.now - spot[0] <= self.cfg.max_age(q):
            best = spot
        win = self._window_value(q)
        if win is not None and (best is None or win[0] >= best[0]):
            best = win  # the freshest of spot check and continuous window
        return best

    def _stale(self) -> tuple[Invalid, ...]:
        out = []
        for q, (t, v) in self.spot.items():
            param = _TO_PARAM.get(q)
            stale = param is not None and self.now - t > self.cfg.max_age(q)
            if stale and param is not None and self._window_value(q) is None:
                out.append(Invalid(param, "stale", v))
        return tuple(out)

    def current(self) -> VitalSigns:
        o2 = self._value(Quantity.O2)
        acvpu = self._value(Quantity.ACVPU)
        return VitalSigns(
            rr=self._value(Quantity.RR),
            spo2=self._value(Quantity.SPO2),
            o2=self.cfg.on_oxygen if o2 is None else o2 >= 0.5,
            sbp=self._value(Quantity.SBP),
            hr=self._value(Quantity.HR),
            acvpu=None if acvpu is None else _ACVPU_CODES[round(acvpu)],
            temp=self._value(Quantity.TEMP),
        )
